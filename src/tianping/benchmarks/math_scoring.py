"""Free-form math answers (MATH, MATH-500, AGIEval math): the ``math`` scorer and the ``math_jsonl`` loader.

The ``math`` scorer reads the final answer of a response and compares it with the gold answer by mathematical
equivalence (:func:`tianping.scoring.math_equiv.math_equal`), so that tuples, intervals, sets, matrices,
complex numbers, radicals and numerals in a base keep their whole value.  GSM8K's ``number_then_math`` reads
the first number instead, which loses most of such answers: ``(-1,6)`` -> ``-1``, ``6\\sqrt{2}`` -> ``6``,
``52_8`` -> ``52``, ``6+9i`` -> ``6``.

Which answer is read, in order (the first that gives one decides):

1. the last non-empty ``\\boxed{...}`` / ``\\fbox{...}``;
2. the last answer statement: "The (final) answer is ...", "Final Answer: ...", "Answer: ...", "答案是/为/：";
3. the final line, when it reads as a result: the whole line when it is an expression (``(3, 4]``,
   ``x = 2 or x = 3``); in a sentence, what follows its last ``=``, "is", "are", "equals" or ": " (``So the
   area is $6\\sqrt{2}$.``) if that is an expression rather than prose (a number may carry a unit:
   ``12 cm``), or else a number that ends it (``The angle measures 156°.``);
4. the last ``$...$``, ``$$...$$``, ``\\(...\\)`` or ``\\[...\\]`` span.

The gold answer goes through the same normalisation as the response (``\\text{}``, ``\\$``, units, degrees,
``\\!`` thousands separators, ``\\left( \\right)``), so ``11,\\! 111,\\! 111,\\! 100`` equals ``11111111100``.
The equivalence rules themselves (intervals, percentages, decimals, bases, ...) are documented in
:mod:`tianping.scoring.math_equiv`.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import LoadedDataset, iter_jsonl, register_loader
from tianping.benchmarks.scorers import ScoringContext, register_scorer
from tianping.core import Response, Sample, Score
from tianping.scoring.math_equiv import (
    _FUNCTION_WORDS,
    _last_boxed,
    _looks_like_prose,
    _math_spans,
    _statement_answer,
    _strip_decoration,
    _strip_trailing_punctuation,
    math_equal,
)

__all__ = ["extract_final_answer", "load_math", "score_math"]

# --------------------------------------------------------------------------------------------------
# Reading the final answer
# --------------------------------------------------------------------------------------------------

_LINE_LIMIT = 300  # a final line longer than this is a paragraph, not a stated result
_DELIMITER_ONLY = re.compile(r"^(?:\$\$|\\\[|\\\]|\\\(|\\\)|```\w*|-{3,}|\*{3,})$")
_MARKDOWN_LEAD = re.compile(r"^(?:#{1,6}\s+|>\s*|[-*+]\s+|\d{1,2}[.)]\s+)+")
_MATH_DELIMITER = re.compile(r"(?<!\\)\$|\\[()\[\]]")
# the last "=", "is / are / equals / be" or ": " of a sentence: the result follows it
_RESULT_LEAD = re.compile(r"=|\b(?:is|are|equals|be)\b|[:：](?=\s)|是|为|等于")
# a number with up to three unit words ("6 square units") is an answer although it reads as prose
_NUMBER_WITH_UNIT = re.compile(r"[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)\s*[A-Za-z]+\.?(?:\s+[A-Za-z]+\.?){0,2}")
# a line that opens with a word (not a function name) or has Chinese in it is a sentence; one that does
# not may be the answer itself
_FIRST_WORD = re.compile(r"^([A-Za-z]{2,})\b")
# closing remarks whose last word would otherwise pass for a one-word answer ("That is all.")
_NOT_AN_ANSWER = frozenset(
    ["all", "it", "this", "that", "correct", "right", "done", "clear", "complete", "shown", "needed", "required"]
)
_CJK = re.compile(r"[\u3400-\u9fff]")
_ENDING_NUMBER = re.compile(r"(?<![\w.^_/])[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)\s*(?:°|\^\s*\{?\\circ\}?|\\?%)?$")


def _is_sentence(line: str) -> bool:
    first = _FIRST_WORD.match(line)
    opens_with_word = first is not None and first.group(1).lower() not in _FUNCTION_WORDS
    return opens_with_word or _CJK.search(line) is not None or _looks_like_prose(line)


def _final_line(text: str) -> str | None:
    """The result stated by the last line that has content (see the module docstring), or None."""
    line = ""
    for raw in reversed(text.splitlines()):
        stripped = raw.strip()
        if stripped and not _DELIMITER_ONLY.match(stripped):
            line = stripped
            break
    if not line or len(line) > _LINE_LIMIT:
        return None
    line = _MATH_DELIMITER.sub(" ", _MARKDOWN_LEAD.sub("", line)).strip()
    # "x = 2 or x = 3" and "(3, 4]" are answers as they stand; "So the area is 6\sqrt2" states one at its end
    if _is_sentence(line):
        leads = list(_RESULT_LEAD.finditer(line))
        if leads:
            line = line[leads[-1].end() :]
        else:  # "The angle measures 156°." ends with its result; "Hence $x \in (3, 4]$." is read by its span
            ending = _ENDING_NUMBER.search(_strip_trailing_punctuation(line))
            return ending.group().strip() if ending else None
    candidate = _strip_trailing_punctuation(_strip_decoration(line).strip()).strip()
    if not candidate or not any(ch.isalnum() for ch in candidate) or candidate.lower() in _NOT_AN_ANSWER:
        return None
    if _looks_like_prose(candidate) and not _NUMBER_WITH_UNIT.fullmatch(candidate):
        return None
    return candidate


def extract_final_answer(text: str) -> str | None:
    """The final answer expression of a free-form math response (verbatim LaTeX, stripped), or None."""
    if not isinstance(text, str) or not text.strip():
        return None
    for found in (_last_boxed(text), _statement_answer(text), _final_line(text)):
        if found is not None:
            return found
    for _start, _end, content in reversed(_math_spans(text)):
        if content.strip():
            return content.strip()
    return None


# --------------------------------------------------------------------------------------------------
# The scorer
# --------------------------------------------------------------------------------------------------


@register_scorer("math")
async def score_math(sample: Sample, response: Response, context: ScoringContext) -> Score:
    """1.0 when the response's final answer equals ``sample.target`` mathematically, else 0.0."""
    first = response.first
    if first.incomplete:
        return Score(value=None, status="incomplete", reason="reasoning did not finish before the token limit")
    expression = extract_final_answer(first.text)
    if expression is None:
        return Score(value=0.0, extraction_failed=True, reason="no answer found in output")
    # math_equal blocks for up to its timeout while a worker process decides: keep the event loop free
    equal = await asyncio.to_thread(math_equal, expression, sample.target)
    return Score(value=float(equal), extracted=expression, reason="compared by mathematical equivalence")


# --------------------------------------------------------------------------------------------------
# The loader
# --------------------------------------------------------------------------------------------------

_KEYS = {"question_key": ("problem", "question"), "answer_key": ("answer",), "solution_key": ("solution",)}


def _lookup(row: dict[str, Any], names: tuple[str, ...]) -> Any:
    """The first of ``names`` present in the row, or in its ``other`` object (where AGIEval keeps the solution)."""
    nested = row.get("other") if isinstance(row.get("other"), dict) else {}
    for name in names:
        for source in (row, nested):
            if source.get(name) is not None:
                return source[name]
    return None


@register_loader("math_jsonl")
def load_math(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """One JSON Lines file of free-form math problems, in the layouts of MATH / MATH-500
    (``{"problem", "solution", "answer", "subject", "level", "unique_id"}``) and AGIEval
    (``{"passage", "question", "answer", "other": {"solution", "type", "level"}}``).

    Options: ``question_key`` (default ``problem``, else ``question``), ``answer_key`` (default ``answer``) and
    ``solution_key`` (default ``solution``; also looked up inside ``other``).  A row without an answer takes
    the last ``\\boxed{}`` of its solution, as the original MATH files need.

    Fields: ``question``, ``passage`` ("" when absent), ``solution`` ("" when absent) and ``answer``, the gold
    as written, which is also the target: the ``math`` scorer normalises it as it does a response.  Sample
    ids: ``unique_id`` when rows have one, else the row index.  Meta: ``subject`` (``subject`` or ``type``),
    ``level``, ``file`` and ``line``.
    """
    unknown = sorted(set(options) - set(_KEYS))
    if unknown:
        raise DatasetError(f"{path}: unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    keys = {name: (str(options[name]),) if name in options else default for name, default in _KEYS.items()}
    samples: list[Sample] = []
    seen: dict[str, int] = {}
    for index, (line_no, row) in enumerate(iter_jsonl(path)):
        where = f"{path}:{line_no}"
        question = _lookup(row, keys["question_key"])
        if not isinstance(question, str) or not question.strip():
            raise DatasetError(f"{where}: field '{'/'.join(keys['question_key'])}' is missing or empty")
        solution = _lookup(row, keys["solution_key"])
        solution = solution if isinstance(solution, str) else ""
        answer = _lookup(row, keys["answer_key"])
        if answer is None and solution:
            answer = _last_boxed(solution)
        if isinstance(answer, int | float) and not isinstance(answer, bool):
            answer = str(answer)
        if not isinstance(answer, str) or not answer.strip():
            raise DatasetError(f"{where}: field '{'/'.join(keys['answer_key'])}' is missing or empty")
        sample_id = row.get("unique_id")
        sample_id = str(sample_id) if isinstance(sample_id, str | int) and str(sample_id).strip() else str(index)
        if sample_id in seen:
            raise DatasetError(f"{where}: id '{sample_id}' already used on line {seen[sample_id]}")
        seen[sample_id] = line_no
        passage = row.get("passage")
        subject = _lookup(row, ("subject", "type"))
        level = _lookup(row, ("level",))
        samples.append(
            Sample(
                id=sample_id,
                fields={
                    "question": question.strip(),
                    "passage": passage.strip() if isinstance(passage, str) else "",
                    "solution": solution.strip(),
                    "answer": answer.strip(),
                },
                target=answer.strip(),
                meta={
                    "subject": str(subject) if subject is not None else "unknown",
                    "level": str(level) if level is not None else "unknown",
                    "file": path.name,
                    "line": line_no,
                },
            )
        )
    return LoadedDataset(tuple(samples), (path,))
