"""Turn stored sample rows into aggregates: a score with N and a 95% interval per benchmark and group."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tianping.scoring.stats import Estimate, proportion, weighted_mean

PRIMARY_METRIC = "accuracy"


def _counts(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    return {
        "extraction_failures": sum(1 for r in rows if r["status"] == "scored" and r["extraction_failed"]),
        "incomplete": sum(1 for r in rows if r["status"] == "incomplete"),
        "unscorable": sum(1 for r in rows if r["status"] == "unscorable"),
        "skipped": sum(1 for r in rows if r["status"] == "skipped"),
        "errors": sum(1 for r in rows if r["status"] == "error"),
    }


def _row(metric: str, estimate: Estimate, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "metric": metric,
        "score": estimate.value,
        "n": estimate.n,
        "ci_low": estimate.ci_low,
        "ci_high": estimate.ci_high,
        **counts,
    }


def _extra_metrics(scored: Sequence[dict[str, Any]], primary: str) -> dict[str, Estimate]:
    """Each further per-sample metric (pass@k, instruction-level accuracy), weighted where weights exist."""
    names = sorted({name for r in scored for name in r.get("metrics") or {}} - {primary})
    out = {}
    for name in names:
        present = [r for r in scored if name in (r.get("metrics") or {})]
        values = [r["metrics"][name] for r in present]
        weights = [(r.get("metric_weights") or {}).get(name, 1.0) for r in present]
        out[name] = proportion(values) if all(w == 1.0 for w in weights) else weighted_mean(values, weights)
    return out


def aggregate(
    rows: Iterable[dict[str, Any]],
    breakdowns: Mapping[str, Sequence[str]],
    metric_names: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Overall rows (``group_kind == "all"``) for the primary metric and every further metric, and one
    row of the primary metric per value of each breakdown key.

    Incomplete and errored samples are counted beside the score, never inside it.
    """
    metric_names = metric_names or {}
    by_bench: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_bench[(row["model"], row["benchmark"])].append(row)
    out = []
    for (model, benchmark), bench_rows in by_bench.items():
        primary = metric_names.get(benchmark, PRIMARY_METRIC)
        where = {"model": model, "benchmark": benchmark}
        scored = [r for r in bench_rows if r["status"] == "scored"]
        counts = _counts(bench_rows)
        out.append(
            {
                **where,
                "group_kind": "all",
                "group_name": "",
                **_row(primary, proportion([r["score"] for r in scored]), counts),
            }
        )
        for name, estimate in _extra_metrics(scored, primary).items():
            out.append({**where, "group_kind": "all", "group_name": "", **_row(name, estimate, counts)})
        for key in breakdowns.get(benchmark, ()):
            groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in bench_rows:
                groups[str(row["meta"].get(key, "unknown"))].append(row)
            for group, group_rows in sorted(groups.items()):
                estimate = proportion([r["score"] for r in group_rows if r["status"] == "scored"])
                out.append(
                    {**where, "group_kind": key, "group_name": group, **_row(primary, estimate, _counts(group_rows))}
                )
    return out
