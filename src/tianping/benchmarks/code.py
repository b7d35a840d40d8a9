"""Code generation benchmarks scored by running the model's program against the tests: HumanEval, MBPP.

Loaders
    ``humaneval_jsonl_gz``  openai/human-eval's ``HumanEval.jsonl.gz`` (164 tasks).
    ``mbpp_jsonl``          the full MBPP ``mbpp.jsonl`` (974 tasks; ``task_ids: [11, 510]`` keeps
                            the 500-task test split).
    ``mbpp_sanitized_json`` the hand-verified ``sanitized-mbpp.json`` (427 tasks; ``task_ids: [11, 510]``
                            keeps its 257-task test split).

Scorer ``code_exec``
    Every completion of a response (``generation.n`` of them) is turned into a program, run in the
    sandbox with the task's tests appended, and passes iff the run ends normally after the last test.
    ``value`` is pass@1 = c / n; ``metrics`` adds pass@k for k in (1, 5, 10) that fit in n.

Program assembly
    HumanEval: when the answer's code defines the entry point, the program is the prompt without
    its entry-point function (imports, helpers such as ``encode_cyclic``, constants) followed by
    that code; otherwise the answer is read as the continuation of the prompt (what a completion
    model returns, or a fenced function body) and the program is ``prompt + continuation``. Then
    the task's ``test`` and ``check(entry_point)``, as in human-eval's ``check_correctness``.
    MBPP: ``test_imports`` + the answer's code + ``test_setup_code`` (it may use classes the
    solution defines) + the ``test_list`` asserts.
    Top-level demonstration code in an answer (``print(f(3))``, example asserts, an
    ``if __name__ == "__main__":`` block) is removed first, as evalplus's sanitiser does.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import json
import re
import secrets
import textwrap
from functools import lru_cache
from pathlib import Path
from typing import Any

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import LoadedDataset, iter_jsonl, register_loader
from tianping.benchmarks.scorers import ScoringContext, register_scorer
from tianping.core import Completion, Response, Sample, Score
from tianping.scoring.code_extract import defines, extract_code, find_blocks, strip_top_level_calls
from tianping.scoring.passk import pass_at_k

__all__ = [
    "PASS_AT",
    "assemble_program",
    "humaneval_program",
    "load_humaneval",
    "load_mbpp",
    "load_mbpp_sanitized",
    "mbpp_program",
    "score_code",
]

PASS_AT = (1, 5, 10)
"""The k of the pass@k metrics reported when the response has at least k completions."""

INCOMPLETE_REASON = "reasoning did not finish before the token limit"
NO_CODE_REASON = "no code block"


# --------------------------------------------------------------------------------------------------
# loaders


def _task_id_filter(options: dict[str, Any], where: str) -> tuple[int, int] | None:
    """``task_ids: [first, last]``, an inclusive range of MBPP task ids (the test split is [11, 510])."""
    value = options.get("task_ids")
    if value is None:
        return None
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        or value[0] > value[1]
    ):
        raise DatasetError(
            f"{where}: option 'task_ids' must be [first, last], an inclusive range of ints; got {value!r}"
        )
    return value[0], value[1]


def _require_str(row: dict[str, Any], key: str, where: str, *, allow_empty: bool = False) -> str:
    value = row.get(key)
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise DatasetError(f"{where}: field '{key}' is missing or empty")
    return value


def _require_str_list(row: dict[str, Any], key: str, where: str, *, allow_empty: bool = False) -> list[str]:
    value = row.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (not allow_empty and not value):
        raise DatasetError(f"{where}: field '{key}' must be a non-empty list of strings")
    return list(value)


@register_loader("humaneval_jsonl_gz")
def load_humaneval(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """HumanEval rows ``{task_id, prompt, canonical_solution, test, entry_point}`` (gzip or plain JSONL).

    Sample id = ``task_id``; target = the entry point; fields: ``prompt``, ``entry_point``, ``test``,
    ``canonical_solution``, ``task_id``.
    """
    samples: list[Sample] = []
    seen: set[str] = set()
    for line_no, row in iter_jsonl(path):
        where = f"{path}:{line_no}"
        task_id = _require_str(row, "task_id", where)
        prompt = _require_str(row, "prompt", where)
        entry_point = _require_str(row, "entry_point", where).strip()
        test = _require_str(row, "test", where)
        solution = _require_str(row, "canonical_solution", where, allow_empty=True)
        if not entry_point.isidentifier():
            raise DatasetError(f"{where}: entry_point {entry_point!r} is not a Python identifier")
        if task_id in seen:
            raise DatasetError(f"{where}: duplicate task_id {task_id!r}")
        seen.add(task_id)
        samples.append(
            Sample(
                id=task_id,
                fields={
                    "task_id": task_id,
                    "prompt": prompt,
                    "entry_point": entry_point,
                    "test": test,
                    "canonical_solution": solution,
                },
                target=entry_point,
                meta={"file": path.name, "line": line_no},
            )
        )
    if not samples:
        raise DatasetError(f"{path}: no tasks")
    return LoadedDataset(tuple(samples), (path,))


def _called_names(source: str) -> list[str]:
    """Names called as plain functions in ``source``, in source order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return re.findall(r"\b([A-Za-z_]\w*)\s*\(", source)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    return [c.func.id for c in calls]  # type: ignore[attr-defined]


def mbpp_entry_point(tests: list[str], code: str) -> str:
    """The function under test: the first function the first assert calls that the reference defines.

    Falls back to the first called name that is not a builtin; ``""`` when there is none.
    """
    called = _called_names(tests[0]) if tests else []
    defined = set(re.findall(r"^(?:async\s+)?def\s+([A-Za-z_]\w*)", code, flags=re.MULTILINE))
    for name in called:
        if name in defined:
            return name
    for name in called:
        if not hasattr(builtins, name):
            return name
    return ""


def _mbpp_sample(row: dict[str, Any], where: str, file: str, line: int, *, sanitized: bool) -> Sample:
    task_id = row.get("task_id")
    if not isinstance(task_id, int) or isinstance(task_id, bool):
        raise DatasetError(f"{where}: field 'task_id' must be an integer")
    text = _require_str(row, "prompt" if sanitized else "text", where).strip()
    code = _require_str(row, "code", where).replace("\r\n", "\n").replace("\r", "\n")
    tests = _require_str_list(row, "test_list", where)
    if sanitized:
        imports = _require_str_list(row, "test_imports", where, allow_empty=True)
        setup = ""
        challenge: list[str] = []
    else:
        imports = []
        setup = _require_str(row, "test_setup_code", where, allow_empty=True).replace("\r\n", "\n")
        challenge = _require_str_list(row, "challenge_test_list", where, allow_empty=True)
    entry_point = mbpp_entry_point(tests, code)
    return Sample(
        id=str(task_id),
        fields={
            "task_id": task_id,
            "text": text,
            "tests": tests,
            "test_imports": imports,
            "test_setup_code": setup,
            "challenge_tests": challenge,
            "entry_point": entry_point,
            "code": code,
        },
        target=entry_point,
        meta={"file": file, "line": line},
    )


@register_loader("mbpp_jsonl")
def load_mbpp(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """The full MBPP file: rows ``{text, code, task_id, test_setup_code, test_list, challenge_test_list}``.

    Option ``task_ids: [first, last]`` keeps an inclusive range (test split: ``[11, 510]``, 500 tasks;
    the paper's prompt split: ``[1, 10]``). Sample id = ``str(task_id)``; fields: ``text``, ``tests``,
    ``test_imports`` (empty), ``test_setup_code``, ``challenge_tests``, ``entry_point`` (from the first
    assert), ``code`` (the reference, LF line breaks), ``task_id``.
    """
    keep = _task_id_filter(options, str(path))
    samples: list[Sample] = []
    for line_no, row in iter_jsonl(path):
        where = f"{path}:{line_no}"
        sample = _mbpp_sample(row, where, path.name, line_no, sanitized=False)
        if keep is None or keep[0] <= sample.fields["task_id"] <= keep[1]:
            samples.append(sample)
    return _checked(samples, path)


def _iter_json_array(path: Path) -> list[tuple[int, Any]]:
    """The items of a JSON array file with the line each starts on (for error messages)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from None
    decoder = json.JSONDecoder()
    space = re.compile(r"[ \t\r\n]*")
    pos = space.match(text, 0).end()  # type: ignore[union-attr]
    if not text.startswith("[", pos):
        raise DatasetError(f"{path}:1: expected a JSON array")
    pos = space.match(text, pos + 1).end()  # type: ignore[union-attr]
    items: list[tuple[int, Any]] = []
    while not text.startswith("]", pos):
        line = text.count("\n", 0, pos) + 1
        try:
            item, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        items.append((line, item))
        pos = space.match(text, pos).end()  # type: ignore[union-attr]
        if text.startswith(",", pos):
            pos = space.match(text, pos + 1).end()  # type: ignore[union-attr]
        elif not text.startswith("]", pos):
            raise DatasetError(f"{path}:{text.count(chr(10), 0, pos) + 1}: expected ',' or ']' in the JSON array")
    return items


@register_loader("mbpp_sanitized_json")
def load_mbpp_sanitized(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """The sanitized MBPP file, one JSON array of ``{source_file, task_id, prompt, code, test_imports, test_list}``.

    Option ``task_ids: [first, last]`` as for ``mbpp_jsonl`` (test split ``[11, 510]``: 257 tasks).
    Fields as for ``mbpp_jsonl``; ``text`` is the row's ``prompt``, ``test_setup_code`` is empty.
    """
    keep = _task_id_filter(options, str(path))
    samples: list[Sample] = []
    for index, (line, row) in enumerate(_iter_json_array(path)):
        where = f"{path}:{line} (item {index})"
        if not isinstance(row, dict):
            raise DatasetError(f"{where}: expected a JSON object, got {type(row).__name__}")
        sample = _mbpp_sample(row, where, path.name, line, sanitized=True)
        if keep is None or keep[0] <= sample.fields["task_id"] <= keep[1]:
            samples.append(sample)
    return _checked(samples, path)


def _checked(samples: list[Sample], path: Path) -> LoadedDataset:
    if not samples:
        raise DatasetError(f"{path}: no tasks (check the 'task_ids' option)")
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise DatasetError(f"{path}: duplicate task_id {duplicate}")
    return LoadedDataset(tuple(samples), (path,))


# --------------------------------------------------------------------------------------------------
# program assembly


@lru_cache(maxsize=512)
def _prompt_preamble(prompt: str, entry_point: str) -> str:
    """The HumanEval prompt without its entry-point function: imports, helpers and constants."""
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        imports = [line for line in prompt.splitlines() if re.match(r"\s*(?:import |from \S+ import )", line)]
        return "\n".join(line.strip() for line in imports)
    lines = prompt.split("\n")
    parts = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == entry_point:
            continue
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        last = node.end_lineno if node.end_lineno is not None else node.lineno
        parts.append("\n".join(lines[first - 1 : last]))
    return "\n\n".join(parts)


def _compiles(source: str) -> bool:
    try:
        compile(source, "<candidate>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False
    return True


def _first_code_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")


def humaneval_program(fields: dict[str, Any], text: str) -> tuple[str | None, str | None]:
    """(program without the tests, None) or (None, why there is no program)."""
    prompt: str = fields["prompt"]
    entry_point: str = fields["entry_point"]
    code = extract_code(text, entry_point)
    if code is not None and defines(code, entry_point):
        preamble = _prompt_preamble(prompt, entry_point)
        body = strip_top_level_calls(code)
        return (f"{preamble}\n\n\n{body}" if preamble else body), None
    head = prompt if prompt.endswith("\n") else prompt + "\n"
    blocks = [b for b in find_blocks(text) if b.is_python and b.code.strip()]
    if blocks:
        # a fenced function body: fences are dedented, so indent it back under the signature
        body = code if code is not None else blocks[0].code
        if not _first_code_line(body)[:1].isspace():
            body = textwrap.indent(body, "    ")
        return head + body, None
    # a completion model's continuation of the prompt, taken as it is
    if _compiles(head + text) or (code is not None or _first_code_line(text)[:1].isspace()):
        return head + text, None
    return None, NO_CODE_REASON


def mbpp_program(fields: dict[str, Any], text: str) -> tuple[str | None, str | None]:
    code = extract_code(text, fields.get("entry_point") or None)
    if code is None:
        return None, NO_CODE_REASON
    parts = [
        "\n".join(fields.get("test_imports") or []),
        strip_top_level_calls(code),
        fields.get("test_setup_code", ""),
    ]
    return "\n\n".join(p for p in parts if p.strip()), None


def _tests(fields: dict[str, Any]) -> str:
    if "tests" in fields:
        return "\n".join(fields["tests"])
    return f"{fields['test']}\n\ncheck({fields['entry_point']})"


def assemble_program(sample: Sample, text: str) -> tuple[str | None, str | None]:
    """The whole program to run for one answer (code + tests), or None and the reason there is none."""
    fields = sample.fields
    if not text.strip():
        return None, NO_CODE_REASON
    if "tests" in fields:
        program, why = mbpp_program(fields, text)
    elif "test" in fields and "prompt" in fields and "entry_point" in fields:
        program, why = humaneval_program(fields, text)
    else:
        raise ValueError(
            f"sample {sample.id}: code_exec needs HumanEval fields (prompt, test, entry_point) or MBPP fields (tests)"
        )
    if program is None:
        return None, why
    return f"{program}\n\n\n{_tests(fields)}\n", None


# --------------------------------------------------------------------------------------------------
# scoring


def _failure_reason(result: Any) -> str:
    status = getattr(result, "status", "error")
    detail = (getattr(result, "reason", "") or "").strip()
    if status == "timeout":
        return f"timeout: {detail}" if detail else "timeout"
    if status == "memory":
        return detail or "memory limit exceeded"
    if status == "output_limit":
        return f"output limit: {detail}" if detail else "output limit exceeded"
    if status == "killed":
        return detail or "killed"
    lines = [line.strip() for line in (getattr(result, "stderr", "") or "").splitlines() if line.strip()]
    if lines:
        # the exception line of the traceback, e.g. "AssertionError" or "NameError: name 'x' is not defined"
        for line in reversed(lines):
            if re.match(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Iteration)\b", line):
                return line[:300]
        return lines[-1][:300]
    if detail:
        return detail[:300]
    return f"exit code {getattr(result, 'returncode', '?')}"


async def _run(sandbox: Any, program: str, marker: str, limits: Any) -> tuple[bool, str | None]:
    # the marker printed after the last test tells a full run from an early exit(0) in the answer
    source = f"{program}\nprint({marker!r})\n"
    if limits is None:
        result = await sandbox.run_python(source)
    else:
        result = await sandbox.run_python(source, limits=limits)
    if getattr(result, "status", None) == "ok":
        if marker in (getattr(result, "stdout", "") or ""):
            return True, None
        return False, "exited before the tests finished"
    return False, _failure_reason(result)


def _limits(sandbox: Any, options: dict[str, Any] | None) -> Any:
    """Per-program limits from ``options['timeout_s']`` (CPU seconds; wall = that + 5), else the sandbox's own."""
    timeout = (options or {}).get("timeout_s")
    if timeout is None:
        return None
    import dataclasses

    from tianping.scoring.sandbox import Limits

    base = getattr(sandbox, "limits", None) or Limits()
    return dataclasses.replace(base, cpu_s=float(timeout), wall_s=float(timeout) + 5.0)


@register_scorer("code_exec")
async def score_code(sample: Sample, response: Response, ctx: ScoringContext) -> Score:
    """Run every completion against the task's tests; value = pass@1, metrics = pass@k for k <= n."""
    sandbox = ctx.sandbox
    if sandbox is None:
        raise RuntimeError(
            "the code_exec scorer runs model-written code and needs a sandbox: "
            "pass ScoringContext(sandbox=tianping.scoring.sandbox.Sandbox(...))"
        )
    completions: tuple[Completion, ...] = response.completions
    n = len(completions)
    if n == 0:
        return Score(value=0.0, extraction_failed=True, reason="no completions", extracted="0/0 passed")
    if all(c.incomplete for c in completions):
        return Score(value=None, status="incomplete", reason=INCOMPLETE_REASON)
    limits = _limits(sandbox, ctx.options)
    marker = f"__tianping_tests_done_{secrets.token_hex(8)}__"

    plans: list[tuple[str | None, str | None]] = []
    for completion in completions:
        if completion.incomplete:
            plans.append((None, INCOMPLETE_REASON))
        else:
            plans.append(assemble_program(sample, completion.text))
    # identical programs (frequent at low temperature) run once
    unique = sorted({program for program, _ in plans if program is not None})
    outcomes = await asyncio.gather(*(_run(sandbox, program, marker, limits) for program in unique))
    by_program = dict(zip(unique, outcomes, strict=True))

    passed = 0
    reason: str | None = None
    for program, why in plans:
        ok, failure = by_program[program] if program is not None else (False, why)
        if ok:
            passed += 1
        elif reason is None:
            reason = failure
    metrics = {f"pass@{k}": pass_at_k(n, passed, k) for k in PASS_AT if k <= n}
    metrics["pass@1"] = passed / n  # exact, not via the product
    return Score(
        value=passed / n,
        extracted=f"{passed}/{n} passed",
        extraction_failed=all(why == NO_CODE_REASON for _, why in plans),
        reason=reason,
        metrics=metrics,
    )
