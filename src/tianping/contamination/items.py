"""The items a contamination check scores, and the groups it compares.

An item's text is the benchmark item as a training corpus would hold it: the definition's ``prompt.question``
then its ``prompt.answer`` (the worked answer for GSM8K, the answer letter for CMMLU), without the
instruction line or a chat template. They are joined by a newline, except after a question that already ends
in whitespace or a colon (CMMLU's ``答案：``), which the answer follows directly. For the bundled GSM8K and
CMMLU this is, byte for byte, the text the reference model ``tp-ref-contaminated`` was trained on
(``tools/refmodels/exposure.py``). ``--item-template`` replaces the rule with a Jinja template of its own.

Groups: every item carries one. A benchmark checked against a comparison set has ``benchmark`` and
``fresh``; the reference models' exposure ladder has ``seen-1`` ... ``seen-16`` and ``unseen``. A dataset
test compares each candidate group with the fresh one (``Design``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import iter_jsonl
from tianping.core import Sample

BENCHMARK = "benchmark"
FRESH = "fresh"
UNSEEN = "unseen"


class ItemsError(ValueError):
    """Items cannot be built as asked (unknown benchmark, a bad comparison file); the message says where."""


@dataclass(frozen=True)
class Item:
    """One benchmark item as a contamination check sees it."""

    benchmark: str
    id: str
    text: str
    """Question and answer, as a training corpus would hold the item."""
    question: str
    answer: str
    group: str
    sample: Sample | None = None
    """The loaded sample (fields, target) where the item comes from a benchmark; None for a text-only item."""
    origin: str = ""
    """The benchmark the sample was loaded from (a fresh comparison benchmark's own name); "" for text only."""


@dataclass(frozen=True)
class Design:
    """Which groups are tested against which: each candidate group against the fresh group."""

    candidates: tuple[str, ...]
    fresh: str | None
    """None: no comparison set, so per-item scores only (no dataset-level p-value)."""
    labels: dict[str, int] = field(default_factory=dict)
    """Exposures per group where they are known (the ladder): ``{"seen-4": 4, "unseen": 0}``."""


def join_parts(question: str, answer: str) -> str:
    """Question then answer: a newline between them unless the question ends in whitespace or a colon."""
    if not question or question[-1].isspace() or question[-1] in ":：":
        return question + answer
    return question + "\n" + answer


class Source:
    """A benchmark (bundled name or definition file) loaded once: its items, and what the black-box methods
    need to ask its questions again (the question part of a changed sample, the benchmark's own prompt)."""

    def __init__(self, name_or_path: str, data_dir: Path, *, item_template: str | None = None):
        from tianping.benchmarks import registry
        from tianping.benchmarks.errors import BenchmarkDefinitionError, DatasetError, UnknownBenchmark
        from tianping.benchmarks.templates import compile_template

        self.name = name_or_path
        self.data_dir = data_dir
        self.benchmarks: dict[str, Any] = {}
        self._templates: dict[str, tuple[Any, Any | None]] = {}
        try:
            for bench in registry.build(name_or_path, data_dir):
                bench.load()
                self.benchmarks[bench.name] = bench
                if item_template is not None:
                    self._templates[bench.name] = (compile_template(item_template, "--item-template", "item"), None)
                    continue
                prompt = bench.definition.prompt
                if prompt is None:
                    raise ItemsError(
                        f"benchmark {bench.name} ({bench.source}) has no prompt templates to print its items with: "
                        "give --item-template"
                    )
                self._templates[bench.name] = (
                    compile_template(prompt.question, bench.source, "prompt.question"),
                    compile_template(prompt.answer, bench.source, "prompt.answer"),
                )
        except (BenchmarkDefinitionError, DatasetError, UnknownBenchmark) as exc:
            raise ItemsError(str(exc)) from None

    def items(self, group: str = BENCHMARK) -> list[Item]:
        """Every item, in file order."""
        out = []
        for name, bench in self.benchmarks.items():
            for sample in bench.samples:
                question, answer = self.parts(name, sample)
                text = join_parts(question, answer) if answer else question
                out.append(Item(name, sample.id, text, question, answer, group, sample, name))
        if not out:
            raise ItemsError(f"benchmark {self.name}: no items")
        return out

    def parts(self, benchmark: str, sample: Sample) -> tuple[str, str]:
        """(question, answer) of a sample as the item text prints them; the answer is empty under
        ``--item-template`` (one template for the whole item)."""
        from tianping.benchmarks.errors import DatasetError
        from tianping.benchmarks.templates import render

        first, second = self._templates[benchmark]
        try:
            if second is None:
                return render(first, sample), ""
            return render(first, sample), render(second, sample)
        except DatasetError as exc:
            raise ItemsError(str(exc)) from None

    def question(self, benchmark: str, sample: Sample) -> str:
        """The question part alone (for a changed sample whose worked answer no longer applies)."""
        from tianping.benchmarks.errors import DatasetError
        from tianping.benchmarks.templates import render

        try:
            return render(self._templates[benchmark][0], sample)
        except DatasetError as exc:
            raise ItemsError(str(exc)) from None

    def dataset_file(self, benchmark: str) -> Path | None:
        """The benchmark's data file (a single file; None for a folder of files)."""
        bench = self.benchmarks[benchmark]
        for root in (self.data_dir, bench.definition_dir):
            if root is not None and (root / bench.definition.dataset.path).is_file():
                return root / bench.definition.dataset.path
        return None


def benchmark_items(
    name_or_path: str, data_dir: Path, *, group: str = BENCHMARK, item_template: str | None = None
) -> list[Item]:
    """Every item of a bundled benchmark (by name) or of a definition file (by path), in file order."""
    return Source(name_or_path, data_dir, item_template=item_template).items(group)


def text_items(path: Path, *, benchmark: str, group: str = FRESH) -> list[Item]:
    """Items from a JSONL file: each line an object with ``text``, or ``question`` and ``answer``; ``id``
    optional (the line number otherwise)."""
    items: list[Item] = []
    try:
        rows = list(iter_jsonl(path))
    except DatasetError as exc:  # unreadable, not JSON, not an object: the message names the file and line
        raise ItemsError(str(exc)) from None
    for line_no, row in rows:
        question, answer = row.get("question"), row.get("answer")
        text = row.get("text")
        if text is None and isinstance(question, str) and isinstance(answer, str):
            text = join_parts(question, answer)
        if not isinstance(text, str) or not text.strip():
            raise ItemsError(f"{path}:{line_no}: field 'text' (or 'question' and 'answer'): a non-empty string")
        item_id = str(row.get("id", line_no))
        q = question if isinstance(question, str) else text
        a = answer if isinstance(answer, str) else ""
        items.append(Item(benchmark, item_id, text, q, a, group))
    if not items:
        raise ItemsError(f"{path}: no items")
    return items


def comparison_items(
    spec: str, data_dir: Path, *, benchmark: str, item_template: str | None = None
) -> tuple[list[Item], Source | None]:
    """The fresh comparison set: a JSONL file of texts, or a benchmark (name or definition file, returned
    with its ``Source`` so that the black-box methods can ask its questions too)."""
    path = Path(spec)
    if spec.endswith(".jsonl") or (path.is_file() and not spec.endswith((".yaml", ".yml"))):
        return text_items(path, benchmark=benchmark), None
    source = Source(spec, data_dir, item_template=item_template)
    fresh = source.items(FRESH)
    items = [Item(benchmark, f"fresh:{i.id}", i.text, i.question, i.answer, FRESH, i.sample, i.origin) for i in fresh]
    return items, source


def ladder_groups(exposure: dict[str, Any], benchmark: str, source: str) -> dict[str, str]:
    """Sample id -> group (``seen-N`` or ``unseen``) from a reference model's ``exposure.json``."""
    datasets = exposure.get("datasets")
    if not isinstance(datasets, dict) or benchmark not in datasets:
        known = ", ".join(sorted(datasets)) if isinstance(datasets, dict) else "none"
        raise ItemsError(f"{source}: no exposure ladder for benchmark {benchmark!r} (it has: {known})")
    entry = datasets[benchmark]
    groups: dict[str, str] = {}
    try:
        for g in entry["groups"]:
            for sample_id in g["ids"]:
                groups[str(sample_id)] = f"seen-{int(g['exposures'])}"
        for sample_id in entry["unseen"]:
            groups[str(sample_id)] = UNSEEN
    except (KeyError, TypeError, ValueError) as exc:
        raise ItemsError(f"{source}: datasets.{benchmark}: malformed exposure ladder ({exc})") from None
    return groups


def ladder_design(exposure: dict[str, Any], benchmark: str) -> Design:
    """Candidates: the exposure tiers, fewest exposures first; fresh: the unseen half."""
    counts = sorted({int(g["exposures"]) for g in exposure["datasets"][benchmark]["groups"]})
    labels = {f"seen-{n}": n for n in counts} | {UNSEEN: 0}
    return Design(candidates=tuple(f"seen-{n}" for n in counts), fresh=UNSEEN, labels=labels)


def regroup(items: Sequence[Item], groups: dict[str, str], source: str) -> list[Item]:
    """Items with the ladder's groups; an item the ladder does not list is an error (wrong data or ladder)."""
    missing = [i.id for i in items if i.id not in groups]
    if missing:
        raise ItemsError(
            f"{source}: {len(missing)} items of {items[0].benchmark} are not on the exposure ladder (first: "
            f"{missing[0]!r}); is it the data the model was trained on?"
        )
    return [Item(i.benchmark, i.id, i.text, i.question, i.answer, groups[i.id], i.sample, i.origin) for i in items]


def limit_per_group(items: Sequence[Item], limit: int | None, seed: int = 0) -> list[Item]:
    """At most ``limit`` items of each group: a seeded random subset (file order kept), so that a limited
    check of the ladder still draws from every tier and a small limit is an unbiased sample of the full one."""
    if limit is None:
        return list(items)
    if limit < 1:
        raise ItemsError(f"--limit must be at least 1, got {limit}")
    by_group: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_group.setdefault(item.group, []).append(index)
    keep: set[int] = set()
    for offset, (_, indices) in enumerate(sorted(by_group.items())):
        if len(indices) <= limit:
            keep.update(indices)
            continue
        picked = np.random.default_rng(seed + offset).choice(len(indices), size=limit, replace=False)
        keep.update(indices[k] for k in picked)
    return [item for index, item in enumerate(items) if index in keep]
