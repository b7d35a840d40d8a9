"""Perturbed copies of benchmark items, with their new correct answers.

- Multiple choice (a sample with a ``choices`` list and a letter target): the options are reordered, seeded
  per item, so that the right answer moves to another letter; every field the question template may read
  (``choices``, ``choices_raw``, the letter fields ``A``, ``B``, ..., a pre-rendered ``options`` block) follows.
- Math word problems with calculator annotations (GSM8K's ``<<48/2=24>>``): the numbers written in the question
  are changed, and the answer is recomputed by replaying the annotated calculations with the new values (a
  literal of a calculation that equals a changed question number takes its new value, one that equals an
  earlier calculation's result takes that result's new value, any other literal, such as the 2 of "half", is
  a constant). An item is left unperturbed (None) when replaying the original numbers does not reproduce the
  original results, when a literal could be either a question number or an earlier result, when no
  calculation uses a question number, or when ten draws of new numbers give no whole, positive answer.

A model that has learnt an item rather than its skill answers the original correctly and the copy wrongly
(often with the original's answer).
"""

from __future__ import annotations

import ast
import json
import operator
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from tianping.core import Sample

_ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>]*)>>")
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\w])")
_OPS: dict[type, Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
TRIES = 10


@dataclass(frozen=True)
class Perturbed:
    """A perturbed copy: its sample (new fields and target) and what was changed."""

    sample: Sample
    change: str


def shuffle_options(sample: Sample, seed: int) -> Perturbed | None:
    """The options reordered so that the right one moves (None: not a lettered multiple-choice sample)."""
    choices = sample.fields.get("choices")
    if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
        return None
    letters = sample.fields.get("letters") or [chr(ord("A") + i) for i in range(len(choices))]
    if sample.target not in letters or len(letters) != len(choices):
        return None
    right = letters.index(sample.target)
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(len(choices)))
    if order.index(right) == right:  # the right answer must move: swap it with a seeded other place
        other = (right + 1 + int(rng.integers(len(choices) - 1))) % len(choices)
        a, b = order.index(right), other
        order[a], order[b] = order[b], order[a]
    fields = dict(sample.fields)
    fields["choices"] = [choices[i] for i in order]
    raw = sample.fields.get("choices_raw")
    if isinstance(raw, list) and len(raw) == len(choices):
        fields["choices_raw"] = [raw[i] for i in order]
    for pos, i in enumerate(order):
        if letters[pos] in fields:
            fields[letters[pos]] = choices[i]
    if isinstance(fields.get("options"), str):
        fields["options"] = "\n".join(f"{letters[p]}. {c}" for p, c in enumerate(fields["choices"]))
    target = letters[order.index(right)]
    moved = Sample(id=sample.id, fields=fields, target=target, meta=dict(sample.meta))
    return Perturbed(moved, f"options reordered; answer {sample.target} -> {target}")


def _evaluate(expression: str, values: dict[int, Fraction]) -> Fraction:
    """The value of an arithmetic expression; ``values`` maps a literal's position in the text to its value."""
    tree = ast.parse(expression.strip(), mode="eval")

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return values.get(node.col_offset, Fraction(str(node.value)))
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and (right.denominator != 1 or abs(right) > 12):
                raise ValueError("power out of range")
            return Fraction(_OPS[type(node.op)](left, right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            inner = walk(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        raise ValueError(f"unsupported expression {expression!r}")

    return walk(tree)


def _literals(expression: str) -> list[tuple[int, Fraction]]:
    """(position, value) of each number literal of an expression, as the parser sees them."""
    tree = ast.parse(expression.strip(), mode="eval")
    return [
        (n.col_offset, Fraction(str(n.value)))
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, int | float) and not isinstance(n.value, bool)
    ]


def _question_numbers(question: str) -> list[tuple[int, int, Fraction]]:
    """(start, end, value) of every number written in digits in the question."""
    found = []
    for m in _NUMBER.finditer(question):
        whole = m.group(1).replace(",", "")
        value = Fraction(whole + ("." + m.group(2) if m.group(2) else ""))
        found.append((m.start(), m.end(), value))
    return found


def _new_value(value: Fraction, rng: np.random.Generator, taken: set[Fraction]) -> Fraction | None:
    if value.denominator != 1 or value < 2:
        return None  # fractions and the 0s and 1s of wording ("1 hour") are left alone
    span = max(2, int(value) // 2)
    for _ in range(20):
        delta = int(rng.integers(1, span + 1)) * (1 if rng.random() < 0.5 or value - span < 2 else -1)
        candidate = value + delta
        if candidate >= 2 and candidate not in taken:
            return candidate
    return None


def perturb_numbers(sample: Sample, raw_answer: str, seed: int) -> Perturbed | None:
    """The question with new numbers and the answer recomputed (see the module docstring); None when the
    item cannot be replayed safely."""
    question = sample.fields.get("question")
    if not isinstance(question, str):
        return None
    steps = _ANNOTATION.findall(raw_answer)
    if not steps:
        return None
    try:
        parsed = [(expr, Fraction(result.replace(",", "").strip()), _literals(expr)) for expr, result in steps]
        if any(_evaluate(expr, {}) != result for expr, result, _ in parsed):
            return None  # the annotations do not reproduce themselves: nothing to replay
    except (ValueError, SyntaxError, ZeroDivisionError, OverflowError):
        return None
    numbers = _question_numbers(question)
    original_values = {v for _, _, v in numbers}
    used = {v for _, _, lits in parsed for _, v in lits} & original_values
    if not used:
        return None
    try:
        final = Fraction(sample.target)
    except ValueError:
        return None
    rng = np.random.default_rng(seed)
    for _ in range(TRIES):
        mapping: dict[Fraction, Fraction] = {}
        taken = set(original_values)
        for value in sorted(used):
            new = _new_value(value, rng, taken)
            if new is not None:
                mapping[value] = new
                taken.add(new)
        if not mapping:
            return None
        answer = _replay(parsed, mapping, final)
        if answer is None:
            return None
        if answer.denominator == 1 and answer > 0 and answer != final:
            break
    else:
        return None
    fields = dict(sample.fields)
    fields["question"] = _rewrite(question, numbers, mapping)
    fields.pop("rationale", None)  # the worked solution belongs to the old numbers
    fields["answer"] = str(int(answer))
    changed = ", ".join(f"{_show(k)}->{_show(v)}" for k, v in mapping.items())
    return Perturbed(Sample(sample.id, fields, str(int(answer)), dict(sample.meta)), f"numbers {changed}")


def _replay(
    parsed: list[tuple[str, Fraction, list[tuple[int, Fraction]]]], mapping: dict[Fraction, Fraction], final: Fraction
) -> Fraction | None:
    """The new final answer, or None when a literal's role is ambiguous or the answer is not a result."""
    results: dict[Fraction, Fraction] = {}
    unclear: set[Fraction] = set()
    answer: Fraction | None = None
    for expr, result, literals in parsed:
        values = {}
        for pos, value in literals:
            if value in unclear or (value in mapping and value in results and mapping[value] != results[value]):
                return None  # a question number and an earlier result, or two results: which is meant is unknown
            if value in results:
                values[pos] = results[value]
            elif value in mapping:
                values[pos] = mapping[value]
        try:
            new = _evaluate(expr, values)
        except (ValueError, ZeroDivisionError, OverflowError):
            return None
        if result in results and results[result] != new:
            unclear.add(result)
        results.setdefault(result, new)
        if result == final:
            answer = new
    return answer


def _show(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else str(float(value))


def _rewrite(question: str, numbers: list[tuple[int, int, Fraction]], mapping: dict[Fraction, Fraction]) -> str:
    parts, last = [], 0
    for start, end, value in numbers:
        if value in mapping:
            original = question[start:end]
            new = int(mapping[value])
            parts.append(question[last:start])
            parts.append(f"{new:,}" if "," in original else str(new))
            last = end
    parts.append(question[last:])
    return "".join(parts)


def raw_rows(path: Path) -> dict[int, str]:
    """Line number -> the raw ``answer`` of a GSM8K-style JSONL file (with its calculator annotations)."""
    rows: dict[int, str] = {}
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("answer"), str):
                rows[line_no] = row["answer"]
    return rows
