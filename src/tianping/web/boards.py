"""Leaderboards (per benchmark, suite and indicator dimension), the model, compare and benchmark views.

Every board ranks each model's newest score; a rank interval says which ranks the 95% intervals allow
(``tianping.arena.intervals.rank_intervals``). Suite and dimension scores are rolled up with the indicator
code (``tianping.indicators.rollup``), so their intervals are the same as in a run's report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from tianping.arena.intervals import rank_intervals
from tianping.core.results import LOWER_IS_BETTER, MetricRow
from tianping.indicators.rollup import IndicatorReport, rollup
from tianping.indicators.tree import IndicatorTree, parse_tree
from tianping.web.data import Score, Snapshot, Stores


@dataclass(frozen=True)
class BoardRow:
    rank: int
    model: str
    score: float | None
    ci_low: float | None
    ci_high: float | None
    rank_best: int
    rank_worst: int
    n: int
    date: str
    run_key: str | None
    coverage: str = ""


@dataclass(frozen=True)
class Board:
    kind: str
    """``benchmark``, ``suite`` or ``dimension``."""
    name: str
    metric: str
    lower_is_better: bool
    rows: tuple[BoardRow, ...]
    note: str = ""


def ranked(entries: Sequence[dict[str, Any]], *, lower_is_better: bool = False) -> list[BoardRow]:
    """Rank entries (model, score, ci_low, ci_high, n, date, run_key, coverage) best first, with rank intervals."""
    scored = [e for e in entries if e.get("score") is not None]
    sign = 1.0 if lower_is_better else -1.0
    scored.sort(key=lambda e: (sign * e["score"], e["model"]))
    if not scored:
        return []
    # a score without an interval is its own interval; a lower-is-better board ranks the negated scores
    lo = np.array([e["ci_low"] if e.get("ci_low") is not None else e["score"] for e in scored], dtype=float)
    hi = np.array([e["ci_high"] if e.get("ci_high") is not None else e["score"] for e in scored], dtype=float)
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    best, worst = rank_intervals(-hi, -lo) if lower_is_better else rank_intervals(lo, hi)
    return [
        BoardRow(
            rank=i + 1,
            model=e["model"],
            score=e["score"],
            ci_low=e.get("ci_low"),
            ci_high=e.get("ci_high"),
            rank_best=int(best[i]),
            rank_worst=int(worst[i]),
            n=int(e.get("n") or 0),
            date=e.get("date", ""),
            run_key=e.get("run_key"),
            coverage=e.get("coverage", ""),
        )
        for i, e in enumerate(scored)
    ]


def benchmark_board(snap: Snapshot, benchmark: str) -> Board:
    def make() -> Board:
        scores = snap.by_benchmark.get(benchmark, [])
        metric = scores[0].metric if scores else ""
        entries = [_entry(s) for s in scores if s.metric == metric]
        lower = metric in LOWER_IS_BETTER
        return Board("benchmark", benchmark, metric, lower, tuple(ranked(entries, lower_is_better=lower)))

    return snap.memo(("board", benchmark), make)


def _entry(s: Score) -> dict[str, Any]:
    return {
        "model": s.model,
        "score": s.score,
        "ci_low": s.ci_low,
        "ci_high": s.ci_high,
        "n": s.n,
        "date": s.run.date,
        "run_key": s.run.key,
    }


def metric_rows(snap: Snapshot) -> dict[str, list[MetricRow]]:
    """Per model, its newest score under every metric of every benchmark, as the indicator rollup takes them."""

    def make() -> dict[str, list[MetricRow]]:
        out: dict[str, list[MetricRow]] = {}
        for (model, _, _), s in snap.latest_all.items():
            if s.score is not None:
                out.setdefault(model, []).append(s.as_metric_row())
        return out

    return snap.memo("metric_rows", make)


def _model_dates(snap: Snapshot, model: str) -> tuple[str, int]:
    mine = snap.by_model.get(model, [])
    return (max((s.run.date for s in mine), default=""), sum(s.n for s in mine))


def indicator_reports(snap: Snapshot, tree: IndicatorTree) -> dict[str, IndicatorReport]:
    """Model -> its newest scores rolled up ``tree``."""

    names = {ref.benchmark for dim in tree.dimensions for cap in dim.capabilities for ref in cap.benchmarks}
    relevant: dict[str, bool] = {}

    def in_tree(benchmark: str) -> bool:
        # the rollup takes a tree benchmark's own row or a variant's (``mmlu_5shot``): any other row it never
        # uses, and scanning them for variants, model after model, is most of its cost over a large store
        if benchmark not in relevant:
            relevant[benchmark] = any(benchmark == n or benchmark.startswith(n + "_") for n in names)
        return relevant[benchmark]

    def make() -> dict[str, IndicatorReport]:
        out = {}
        every = metric_rows(snap)
        # a model's report depends only on its rows: the previous snapshot's reports are reused for the models
        # whose rows did not change (a new run recomputes one model, not all of them)
        slot = ("rollups", tree.name, tree.version, id(tree))
        before: dict[frozenset[MetricRow], IndicatorReport | None] = snap.lasting.get(slot, {})
        now: dict[frozenset[MetricRow], IndicatorReport | None] = {}
        for model in snap.models:
            rows = every.get(model, [])
            # a model none of whose rows the tree uses still gets its (empty) report, as from all its rows
            rows = [r for r in rows if in_tree(r.benchmark)] or rows[:1]
            if not rows:
                continue
            key = frozenset(rows)
            if key not in now:
                now[key] = before[key] if key in before else next(iter(rollup(tree, rows)), None)
            if now[key] is not None:
                out[model] = now[key]
        snap.lasting[slot] = now  # only what this snapshot uses is kept
        return out

    return snap.memo(("indicators", tree.name, tree.version, id(tree)), make)


def dimension_board(snap: Snapshot, tree: IndicatorTree, dimension: str) -> Board | None:
    """``dimension``: a dimension id of the tree, or ``composite``."""
    if dimension != "composite" and dimension not in {d.id for d in tree.dimensions}:
        return None
    return snap.memo(("dimension", id(tree), dimension), lambda: _dimension_board(snap, tree, dimension))


def _dimension_board(snap: Snapshot, tree: IndicatorTree, dimension: str) -> Board:
    entries = []
    name = "Composite"
    for model, report in indicator_reports(snap, tree).items():
        node: Any = report.composite
        if dimension != "composite":
            node = next(d for d in report.dimensions if d.id == dimension)
            name = node.name
        date, n = _model_dates(snap, model)
        coverage = f"{len(node.measured_by)} benchmark(s)" + (f"; {len(node.missing)} missing" if node.missing else "")
        entries.append(
            {
                "model": model,
                "score": node.score,
                "ci_low": node.ci_low,
                "ci_high": node.ci_high,
                "n": n,
                "date": date,
                "coverage": coverage,
            }
        )
    return Board(
        "dimension", name, "indicator score", False, tuple(ranked(entries)), note=f"{tree.name} v{tree.version}"
    )


@lru_cache(maxsize=1)
def suites() -> dict[str, list[str]]:
    from tianping.engine.tasks import suites as known

    return known()


def suite_tree(name: str, tasks: Sequence[str], metrics: dict[str, str]) -> IndicatorTree:
    """A one-dimension indicator tree over the suite's tasks, equally weighted, so the rollup's interval
    propagation gives the suite score its interval; a lower-is-better task (attack success) counts as 1 - rate,
    as in the indicator tree, so a higher suite score is always the better one."""

    def ref(task: str) -> dict[str, Any]:
        metric = metrics.get(task, "accuracy")
        return {"benchmark": task, "metric": metric, "invert": metric in LOWER_IS_BETTER}

    caps = [{"id": f"t{i}", "name": t, "benchmarks": [ref(t)]} for i, t in enumerate(tasks)]
    return parse_tree(
        {"name": f"suite {name}", "version": "1", "dimensions": [{"id": "suite", "name": name, "capabilities": caps}]},
        f"suite {name}",
    )


def suite_board(snap: Snapshot, name: str) -> Board | None:
    tasks = suites().get(name)
    if tasks is None:
        return None

    def make() -> Board:
        metrics = {b: s.metric for (_, b), s in snap.latest.items()}
        tree = suite_tree(name, tasks, metrics)
        entries = []
        for model, report in indicator_reports(snap, tree).items():
            node = report.dimensions[0]
            if node.score is None:
                continue
            date, _ = _model_dates(snap, model)
            n = sum(snap.latest[(model, t)].n for t in tasks if (model, t) in snap.latest)
            coverage = f"{len(tasks) - len(node.missing)} of {len(tasks)} tasks"
            entries.append(
                {
                    "model": model,
                    "score": node.score,
                    "ci_low": node.ci_low,
                    "ci_high": node.ci_high,
                    "n": n,
                    "date": date,
                    "coverage": coverage,
                }
            )
        return Board(
            "suite",
            name,
            "mean of the tasks' headline scores",
            False,
            tuple(ranked(entries)),
            note="a model missing tasks is scored over the tasks it has (see coverage)",
        )

    return snap.memo(("suite", name), make)


def suites_with_results(snap: Snapshot) -> list[str]:
    have = set(snap.benchmarks)
    return sorted(name for name, tasks in suites().items() if have & set(tasks))


@lru_cache(maxsize=1)
def _languages() -> dict[str, tuple[str, ...]]:
    try:
        from tianping.benchmarks.registry import builtin_definitions

        return {name: tuple(d.about.languages) for name, (d, _) in builtin_definitions().items()}
    except Exception:  # a broken plugin definition must not take the dashboard down
        return {}


def languages(benchmark: str) -> tuple[str, ...]:
    """The languages of a bundled benchmark (its ``about.languages``), or of the benchmark it is a variant of."""
    table = _languages()
    if benchmark in table:
        return table[benchmark]
    base = max((b for b in table if benchmark.startswith(b + "_")), key=len, default=None)
    return table.get(base, ()) if base else ()


# compare ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    benchmark: str
    model: str
    baseline: str
    n: int
    mean_model: float
    mean_baseline: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    only_model: int = 0
    """Samples the model's newest run scored that the baseline's did not (left out of the pairing)."""
    only_baseline: int = 0
    lower_is_better: bool = False
    """The metric is one where lower is better (attack success): a negative difference is the model doing better."""


def compare(stores: Stores, snap: Snapshot, models: Sequence[str]) -> list[Difference]:
    """Each model against the first one, benchmark by benchmark, paired on the samples both newest runs scored."""
    from tianping.report.compare import paired_row, sample_scores

    def scores_of(model: str, benchmark: str) -> dict[str, float]:
        s = snap.latest.get((model, benchmark))
        if s is None:
            return {}
        key = ("sample_scores", s.run.key)
        if key not in snap.cache:
            store = stores.store(s.run.store)
            snap.cache[key] = sample_scores(store, s.run.run_id) if store is not None else {}
        return snap.cache[key].get((model, benchmark), {})

    baseline, others = models[0], models[1:]
    out = []
    for other in others:
        for benchmark in snap.benchmarks:
            latest = snap.latest.get((baseline, benchmark))
            metric = latest.metric if latest is not None else "accuracy"
            row = paired_row(
                benchmark, baseline, scores_of(baseline, benchmark), other, scores_of(other, benchmark), metric
            )
            if row is None:
                continue
            r = row.result
            out.append(
                Difference(
                    benchmark,
                    other,
                    baseline,
                    r.n,
                    r.mean_b,
                    r.mean_a,
                    r.diff,
                    r.ci_low,
                    r.ci_high,
                    r.p_value,
                    r.test,
                    only_model=row.only_b,
                    only_baseline=row.only_a,
                    lower_is_better=row.lower_is_better,
                )
            )
    return out


# benchmark page ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HardItem:
    sample_id: str
    mean_score: float
    models: int
    prompt: str
    target: str
    run_key: str
    model: str


def hardest_items(stores: Stores, snap: Snapshot, benchmark: str, limit: int = 20) -> list[HardItem]:
    """The items the models' newest runs did worst on: the lowest mean score, or the highest on a
    lower-is-better metric (the prompts that broke the most models' safety); ties: the most models first."""

    def make() -> list[HardItem]:
        from tianping.report.collect import prompt_text

        totals: dict[str, list[float]] = defaultdict(list)
        first: dict[str, tuple[str, str, str, str]] = {}
        for (model, b), s in snap.latest.items():
            if b != benchmark:
                continue
            store = stores.store(s.run.store)
            if store is None:
                continue
            for row in store.sample_rows(s.run.run_id):
                if row["benchmark"] != benchmark or row["model"] != model or row["status"] != "scored":
                    continue
                if row["score"] is None:
                    continue
                totals[row["sample_id"]].append(float(row["score"]))
                first.setdefault(row["sample_id"], (prompt_text(row["prompt"]), row["target"] or "", s.run.key, model))
        items = [
            HardItem(sid, sum(v) / len(v), len(v), first[sid][0], first[sid][1], first[sid][2], first[sid][3])
            for sid, v in totals.items()
        ]
        sign = -1.0 if benchmark_board(snap, benchmark).lower_is_better else 1.0  # the board's metric decides
        items.sort(key=lambda h: (sign * h.mean_score, -h.models, h.sample_id))
        return items

    return snap.memo(("hardest", benchmark), make)[:limit]
