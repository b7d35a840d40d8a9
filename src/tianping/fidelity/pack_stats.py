"""Item statistics over stored runs of several models, and a fidelity pack chosen by discriminating power.

An item discriminates when the models that get it right are the stronger ones. For each right/wrong-scored item
that every model of the set answered:

* difficulty ``p``: the share of the models that got it right;
* discrimination ``r``: the corrected point-biserial correlation, the Pearson correlation between the item's
  0/1 scores and the models' accuracy over all *other* common items (the item left out of the total, so that it
  does not correlate with itself). ``r`` is undefined (None) when every model got the item right, or every one
  wrong: such an item cannot tell any two models apart.

Selection (:func:`select_items`), per benchmark: items with ``p`` inside ``p_range`` (0.2-0.8 by default: an
item almost every model gets right or wrong separates few pairs) ranked by ``r``, highest first; then the other
items with a defined ``r``, by ``r``; then the rest in stored order. With few models the estimates are coarse
(with 5 models ``p`` takes 6 values and ``r`` is noisy): the tool says how many models it used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tianping.report.compare import sample_scores
from tianping.store import Store

__all__ = ["ItemStat", "item_matrix", "item_stats", "select_items", "write_pack_file"]

MIN_MODELS = 3


@dataclass(frozen=True, slots=True)
class ItemStat:
    benchmark: str
    sample_id: str
    p: float
    """Share of the models right."""
    r: float | None
    """Corrected point-biserial correlation with the models' accuracy on the other items; None without variance."""


def item_matrix(store: Store, run_ids: Sequence[str]) -> dict[tuple[str, str], dict[str, float]]:
    """(benchmark, sample id) -> model -> 0/1 score, over the runs; a model in several runs keeps the score of the
    first run that has the item. Partial-credit scores are left out.

    Raises:
        ValueError: on a run that is not in the store.
    """
    out: dict[tuple[str, str], dict[str, float]] = {}
    for run_id in run_ids:
        if store.get_run(run_id) is None:
            raise ValueError(store.no_run(run_id))
        for (model, bench), scores in sample_scores(store, run_id).items():
            for sample_id, value in scores.items():
                if value in (0.0, 1.0):
                    out.setdefault((bench, sample_id), {}).setdefault(model, value)
    return out


def _pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def item_stats(matrix: dict[tuple[str, str], dict[str, float]]) -> tuple[list[str], list[ItemStat]]:
    """The models answering every kept item, and one :class:`ItemStat` per item that all of them answered
    (stored order of benchmarks and items kept).

    Raises:
        ValueError: with fewer than ``MIN_MODELS`` models, or no item every model answered.
    """
    models = sorted({m for row in matrix.values() for m in row})
    if len(models) < MIN_MODELS:
        raise ValueError(
            f"discrimination needs runs of at least {MIN_MODELS} models; found {len(models)}: {', '.join(models)}"
        )
    items = [(key, row) for key, row in matrix.items() if all(m in row for m in models)]
    if not items:
        raise ValueError(f"no item was answered right/wrong by all {len(models)} models: {', '.join(models)}")
    totals = {m: sum(row[m] for _, row in items) for m in models}
    out = []
    for (bench, sample_id), row in items:
        x = [row[m] for m in models]
        rest = [(totals[m] - row[m]) / max(1, len(items) - 1) for m in models]
        out.append(ItemStat(bench, sample_id, sum(x) / len(x), _pearson(x, rest)))
    return models, out


def select_items(
    stats: Sequence[ItemStat], sizes: dict[str, int], p_range: tuple[float, float] = (0.2, 0.8)
) -> dict[str, list[ItemStat]]:
    """Per benchmark of ``sizes``, the ``sizes[benchmark]`` most discriminating items (module docstring)."""
    low, high = p_range
    out: dict[str, list[ItemStat]] = {}
    for bench, size in sizes.items():
        mine = [s for s in stats if s.benchmark == bench]
        preferred = sorted((s for s in mine if s.r is not None and low <= s.p <= high), key=lambda s: -(s.r or 0))
        other = sorted((s for s in mine if s.r is not None and not low <= s.p <= high), key=lambda s: -(s.r or 0))
        rest = [s for s in mine if s.r is None]
        out[bench] = (preferred + other + rest)[:size]
    return out


def write_pack_file(
    path: Path, name: str, chosen: dict[str, list[ItemStat]], models: Sequence[str], run_ids: Sequence[str]
) -> None:
    """A pack file: the chosen item ids per benchmark with their statistics and where they came from."""
    doc: dict[str, Any] = {
        "pack": name,
        "rule": "per benchmark: p in [0.2, 0.8] by corrected point-biserial r, then other items by r, then the rest",
        "derived_from": {"runs": list(run_ids), "models": list(models)},
        "items": {
            bench: [{"id": s.sample_id, "p": round(s.p, 4), "r": None if s.r is None else round(s.r, 4)} for s in items]
            for bench, items in chosen.items()
        },
    }
    header = f"# tianping fidelity pack '{name}': {sum(len(v) for v in chosen.values())} items, by discrimination\n"
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
