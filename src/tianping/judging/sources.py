"""The data of the judged benchmarks, read from the shared datasets folder into samples.

* MT-Bench (FastChat ``llm_judge/data/mt_bench``): 80 two-turn questions; GPT-4 reference answers for the 30
  math, reasoning and coding questions (``reference_answer/gpt-4.jsonl``, as FastChat's judge takes them).
* Arena-Hard-Auto: v0.1 (500 prompts, baseline ``gpt-4-0314``) and v2.0 (750 prompts, baseline
  ``o3-mini-2025-01-31``). An answer file keeps the text in ``messages[-1].content.answer`` (a dict, not a string).
* AlpacaEval 2.0: the 805 instructions with the reference outputs of ``gpt4_1106_preview``
  (``results/gpt4_1106_preview/model_outputs.json``).

Every malformed row is a ``DatasetError`` naming the file, the line (or array index) and the field.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import iter_jsonl
from tianping.core.types import Sample

__all__ = [
    "ARENA_HARD",
    "ALPACA_EVAL_BASELINE",
    "MT_BENCH_REFERENCE_CATEGORIES",
    "Loaded",
    "alpaca_eval_samples",
    "arena_hard_samples",
    "digest",
    "limited",
    "mt_bench_samples",
    "read_jsonl",
]

MT_BENCH_REFERENCE_CATEGORIES = ("math", "reasoning", "coding")
"""Categories graded against a reference answer (FastChat's ``NEED_REF_CATS``)."""


@dataclass(frozen=True)
class ArenaHardVersion:
    folder: str
    baseline: str
    breakdowns: tuple[str, ...]


ARENA_HARD = {
    "arena_hard_v0_1": ArenaHardVersion("arena-hard-v0.1", "gpt-4-0314", ()),
    # upstream judges v2.0's creative_writing prompts against gemini-2.0-flash-001, whose answers the shared copy
    # lacks: every prompt is judged against o3-mini here (docs/sources/arena-hard.md)
    "arena_hard": ArenaHardVersion("arena-hard-v2.0", "o3-mini-2025-01-31", ("category", "subcategory")),
}
ALPACA_EVAL_BASELINE = "gpt4_1106_preview"


@dataclass(frozen=True)
class Loaded:
    samples: list[Sample]
    files: list[Path]


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) per non-blank line; a missing file names the pull command."""
    if not path.exists():
        raise DatasetError(f"{path}: not found (tianping data pull, or set TIANPING_DATA_DIR)")
    return iter_jsonl(path)


def _text(row: dict[str, Any], key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}: field '{key}' is missing or not a non-empty string")
    return value


def _texts(row: dict[str, Any], key: str, count: int, where: str) -> list[str]:
    value = row.get(key)
    if not isinstance(value, list) or len(value) != count or not all(isinstance(v, str) for v in value):
        raise DatasetError(f"{where}: field '{key}' must be a list of {count} strings")
    return value


def digest(files: Sequence[Path], *extra: str) -> str:
    """SHA-256 over the files' bytes (and any extra text): a resumed run refuses data that changed."""
    h = hashlib.sha256()
    for path in files:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    for text in extra:
        h.update(text.encode("utf-8"))
    return h.hexdigest()


def limited(samples: list[Sample], limit: int | None, mode: str | None, key: str | None) -> list[Sample]:
    """``limit`` samples: ``first`` in file order; ``per-subject`` the first N of each ``key`` group; otherwise
    (``spread``) round-robin over the groups, so that a small limit still spans the categories."""
    if limit is None:
        return samples
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[str(sample.meta.get(key, "")) if key else ""].append(sample)
    if mode == "first" or len(groups) < 2:
        return samples[:limit]
    if mode == "per-subject":
        return [s for group in groups.values() for s in group[:limit]]
    out: list[Sample] = []
    for depth in range(max(len(g) for g in groups.values())):
        out.extend(g[depth] for g in groups.values() if depth < len(g))
    return out[:limit]


# -- MT-Bench ----------------------------------------------------------------------------------------------


def mt_bench_samples(data_dir: Path) -> Loaded:
    folder = data_dir / "mt-bench"
    questions, references = folder / "question.jsonl", folder / "reference_answer" / "gpt-4.jsonl"
    refs: dict[int, list[str]] = {}
    for number, row in read_jsonl(references):
        where = f"{references}:{number}"
        qid = row.get("question_id")
        choices = row.get("choices")
        if not isinstance(qid, int) or not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise DatasetError(f"{where}: expected an integer 'question_id' and a non-empty 'choices' list")
        refs[qid] = _texts(choices[0], "turns", 2, f"{where}: choices[0]")
    samples = []
    seen: set[int] = set()
    for number, row in read_jsonl(questions):
        where = f"{questions}:{number}"
        qid = row.get("question_id")
        if not isinstance(qid, int) or qid in seen:
            raise DatasetError(f"{where}: field 'question_id' must be an integer not used before, got {qid!r}")
        seen.add(qid)
        category = _text(row, "category", where)
        turns = _texts(row, "turns", 2, where)
        reference = refs.get(qid) if category in MT_BENCH_REFERENCE_CATEGORIES else None
        if category in MT_BENCH_REFERENCE_CATEGORIES and reference is None:
            raise DatasetError(f"{where}: category '{category}' is graded against a reference, and {references} "
                               f"has none for question {qid}")  # fmt: skip
        target = "" if reference is None else f"[turn 1]\n{reference[0]}\n\n[turn 2]\n{reference[1]}"
        samples.append(
            Sample(
                id=str(qid),
                fields={"turns": turns, "references": reference},
                target=target,
                meta={"category": category, "reference": reference is not None, "line": number},
            )
        )
    return Loaded(samples, [questions, references])


# -- Arena-Hard --------------------------------------------------------------------------------------------


def _answer_text(row: dict[str, Any], where: str) -> str:
    """The answer of an Arena-Hard answer row: the last message's ``content.answer``."""
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        raise DatasetError(f"{where}: field 'messages' must be a non-empty list of messages")
    content = messages[-1].get("content")
    if isinstance(content, dict):
        content = content.get("answer")
    if not isinstance(content, str):
        raise DatasetError(f"{where}: field 'messages[-1].content.answer' is missing or not a string")
    return content


def _style(row: dict[str, Any]) -> dict[str, int | None] | None:
    """Upstream's style metadata of an answer (v2.0 files): tokens and markdown counts; None when absent."""
    meta = row.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("token_len"), int):
        return None
    try:
        return {
            "tokens": int(meta["token_len"]),
            "headers": sum(int(v) for v in meta.get("header_count", {}).values()),
            "lists": sum(int(v) for v in meta.get("list_count", {}).values()),
            "bold": sum(int(v) for v in meta.get("bold_count", {}).values()),
        }
    except (TypeError, ValueError, AttributeError):
        return None


def arena_hard_samples(data_dir: Path, task: str) -> Loaded:
    version = ARENA_HARD[task]
    folder = data_dir / "arena-hard-auto" / "data" / version.folder
    questions = folder / "question.jsonl"
    answers = folder / "model_answer" / f"{version.baseline}.jsonl"
    baseline: dict[str, tuple[str, dict[str, int | None] | None]] = {}
    for number, row in read_jsonl(answers):
        where = f"{answers}:{number}"
        baseline[_text(row, "uid", where)] = (_answer_text(row, where), _style(row))
    samples = []
    for number, row in read_jsonl(questions):
        where = f"{questions}:{number}"
        uid = _text(row, "uid", where)
        if uid not in baseline:
            raise DatasetError(f"{where}: no answer of the baseline {version.baseline} for uid {uid} in {answers}")
        answer, style = baseline[uid]
        meta: dict[str, Any] = {"baseline": version.baseline, "category": _text(row, "category", where)}
        for key in ("subcategory", "cluster"):
            if isinstance(row.get(key), str):
                meta[key] = row[key]
        samples.append(
            Sample(
                id=uid,
                fields={"question": _text(row, "prompt", where), "baseline": answer, "baseline_style": style},
                target=answer,
                meta=meta,
            )
        )
    return Loaded(samples, [questions, answers])


# -- AlpacaEval --------------------------------------------------------------------------------------------


def alpaca_eval_samples(data_dir: Path) -> Loaded:
    path = data_dir / "alpacaeval" / "results" / ALPACA_EVAL_BASELINE / "model_outputs.json"
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: not found (tianping data pull alpacaeval, or set TIANPING_DATA_DIR)") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(rows, list):
        raise DatasetError(f"{path}: expected a JSON array of outputs")
    samples = []
    for index, row in enumerate(rows):
        where = f"{path}: item {index}"
        if not isinstance(row, dict):
            raise DatasetError(f"{where}: expected an object")
        reference = row.get("output")
        if not isinstance(reference, str):
            raise DatasetError(f"{where}: field 'output' is missing or not a string")
        samples.append(
            Sample(
                id=str(index),
                fields={"question": _text(row, "instruction", where), "baseline": reference, "baseline_style": None},
                target=reference,
                meta={"baseline": ALPACA_EVAL_BASELINE, "dataset": str(row.get("dataset") or "unknown")},
            )
        )
    return Loaded(samples, [path])
