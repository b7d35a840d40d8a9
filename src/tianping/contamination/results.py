"""Per-item results of any method, the dataset-level tests over them, and the JSONL file they are written to.

Per-item scores go to a JSONL file, one line per item: ``{"benchmark", "id", "group", "scores": {method:
score}, "values": {...}}`` (``values``: the raw quantities behind the scores, such as the loss in nats or the
generated continuation). JSONL rather than the result store: these are not runs of a task (no request, no
answer to resume or compare), one file is what a user joins with their own records, and several methods'
scores of an item sit on one line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tianping.contamination.items import Design, Item
from tianping.contamination.stats import TestResult, mann_whitney, permutation_test

TESTS = ("mann-whitney", "permutation")


@dataclass
class ItemResult:
    """One item's scores (higher: more likely seen) under each method, and the values behind them."""

    item: Item
    scores: dict[str, float | None] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": self.item.benchmark,
            "id": self.item.id,
            "group": self.item.group,
            "scores": {k: _finite(v) for k, v in self.scores.items()},
            "values": {k: _finite(v) if isinstance(v, float) else v for k, v in self.values.items()},
        }


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, 8)


@dataclass(frozen=True)
class GroupTest:
    """One method's dataset-level test of one candidate group against the fresh group."""

    benchmark: str
    method: str
    group: str
    exposures: int | None
    result: TestResult | None
    """None: a side had no scored item (the method could not score these items)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "method": self.method,
            "group": self.group,
            "exposures": self.exposures,
            **(self.result.to_json() if self.result is not None else {"p_value": None, "auc": None}),
        }


def dataset_tests(
    results: Sequence[ItemResult],
    design: Design,
    methods: Sequence[str],
    *,
    test: str = "mann-whitney",
    resamples: int = 10_000,
) -> list[GroupTest]:
    """Each method x candidate group, tested against the fresh group (none without a comparison set)."""
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r} (known: {', '.join(TESTS)})")
    if design.fresh is None or not results:
        return []
    out = []
    benchmark = results[0].item.benchmark
    for method in methods:
        by_group: dict[str, list[float | None]] = {}
        for r in results:
            by_group.setdefault(r.item.group, []).append(r.scores.get(method))
        fresh = by_group.get(design.fresh, [])
        for group in design.candidates:
            cand = by_group.get(group, [])
            try:
                if test == "mann-whitney":
                    result: TestResult | None = mann_whitney(cand, fresh)
                else:
                    result = permutation_test(cand, fresh, resamples=resamples)
            except ValueError:
                result = None
            out.append(GroupTest(benchmark, method, group, design.labels.get(group), result))
    return out


def write_jsonl(path: Path, results: Sequence[ItemResult]) -> None:
    """Per-item results, one JSON object a line (written whole, then renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as fh:
        for r in results:
            fh.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
    partial.replace(path)
