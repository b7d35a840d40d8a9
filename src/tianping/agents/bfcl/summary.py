"""BFCL's leaderboard groups from a run's per-category scores: the table the report adds for BFCL runs.

As BFCL's ``generate_leaderboard_csv`` computes them: non-live AST is the unweighted mean of simple (itself the
unweighted mean of Python, Java and JavaScript), multiple, parallel and parallel multiple; live AST is the mean of
the four live categories weighted by their item counts; irrelevance the unweighted mean of the two irrelevance
categories; relevance the live relevance score. A group is shown only when every category in it was run, and a
model's row only when one of its groups is.
"""

from __future__ import annotations

from collections.abc import Sequence

from tianping.core.results import MetricRow
from tianping.core.task import ReportSection

NOTE = (
    "BFCL's leaderboard groups: non-live AST = mean of simple (mean of Python, Java, JavaScript), multiple, "
    "parallel, parallel multiple; live AST = item-weighted mean of the four live categories; irrelevance = mean "
    "of irrelevance and live irrelevance; relevance = live relevance. A dash: a category of the group was not run."
)


def _mean(values: Sequence[float | None]) -> float | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None) / len(values)


def summary_section(metrics: Sequence[MetricRow]) -> ReportSection | None:
    from tianping.agents.bfcl.task import parse_name

    table: dict[tuple[str, str], dict[str, MetricRow]] = {}
    for m in metrics:
        parsed = parse_name(m.benchmark)
        if parsed is None or m.metric != "accuracy":
            continue
        table.setdefault((m.model, parsed[1]), {})[parsed[0]] = m
    if not table:
        return None

    def score(rows: dict[str, MetricRow], category: str) -> float | None:
        row = rows.get(category)
        return row.score if row is not None else None

    out = []
    for (model, mode), rows in sorted(table.items()):
        simple = _mean([score(rows, c) for c in ("simple_python", "simple_java", "simple_javascript")])
        non_live = _mean([simple, *(score(rows, c) for c in ("multiple", "parallel", "parallel_multiple"))])
        live_rows = [rows.get(c) for c in ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")]
        live = None
        if all(r is not None and r.score is not None for r in live_rows):
            total = sum(r.n for r in live_rows if r is not None)
            live = (
                sum(r.score * r.n for r in live_rows if r is not None and r.score is not None) / total
                if total
                else None
            )
        irrelevance = _mean([score(rows, "irrelevance"), score(rows, "live_irrelevance")])
        relevance = score(rows, "live_relevance")
        groups = (non_live, live, irrelevance, relevance)
        if any(v is not None for v in groups):  # a run of a few categories completes no group: no row
            out.append((model, mode, *(_pct(v) for v in groups)))
    if not out:
        return None
    columns = ("Model", "Mode", "Non-live AST (%)", "Live AST (%)", "Irrelevance (%)", "Relevance (%)")
    return ReportSection("BFCL leaderboard groups", columns, tuple(out), note=NOTE, id="bfcl-summary")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"
