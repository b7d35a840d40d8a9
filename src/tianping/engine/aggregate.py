"""Turn stored sample rows into aggregates: a score with N and a 95% interval per benchmark and group."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tianping.scoring.stats import proportion

METRIC = "accuracy"


def _summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    scored = [r["score"] for r in rows if r["status"] == "scored"]
    estimate = proportion(scored)
    return {
        "metric": METRIC,
        "score": estimate.value,
        "n": estimate.n,
        "ci_low": estimate.ci_low,
        "ci_high": estimate.ci_high,
        "extraction_failures": sum(1 for r in rows if r["status"] == "scored" and r["extraction_failed"]),
        "incomplete": sum(1 for r in rows if r["status"] == "incomplete"),
        "errors": sum(1 for r in rows if r["status"] == "error"),
    }


def aggregate(rows: Iterable[dict[str, Any]], breakdowns: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """Overall rows (``group_kind == "all"``) and one row per value of each breakdown key.

    Incomplete and errored samples are counted beside the score, never inside it.
    """
    by_bench: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_bench[(row["model"], row["benchmark"])].append(row)
    out = []
    for (model, benchmark), bench_rows in by_bench.items():
        out.append(
            {"model": model, "benchmark": benchmark, "group_kind": "all", "group_name": "", **_summarise(bench_rows)}
        )
        for key in breakdowns.get(benchmark, ()):
            groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in bench_rows:
                groups[str(row["meta"].get(key, "unknown"))].append(row)
            for group, group_rows in sorted(groups.items()):
                out.append(
                    {
                        "model": model,
                        "benchmark": benchmark,
                        "group_kind": key,
                        "group_name": group,
                        **_summarise(group_rows),
                    }
                )
    return out
