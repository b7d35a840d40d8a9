"""Turn stored sample rows into aggregates: a score with N and a 95% interval per benchmark and group.

What a sample's status means for the score (``TaskAggregation.incomplete``):

- ``scored``: its value counts;
- ``incomplete`` (the model's thinking did not end within its token budget): counts as not correct, as
  leaderboards count it -- the model failed under the budget it was given, and a model that runs out of
  budget must not score higher than one that answers wrong. The count stays reported beside the score, and
  a second row, ``<metric> over completed``, gives the score over the answers that finished. A task may keep
  them apart instead (a task that judges verdicts: an unfinished answer is neither a refusal nor a compliance);
- ``error`` (transport), ``unscorable``, ``skipped``: out of the denominator, counted beside it (errors are
  retried and resumed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tianping.core.results import AggregateRow
from tianping.core.task import TaskAggregation
from tianping.scoring.stats import Estimate, bootstrap_mean, clustered_proportion, proportion, weighted_mean

COMPLETED_SUFFIX = " over completed"
"""Appended to the primary metric's name for its score over completed answers only."""


CIRCULAR_PREFIX = "circular "
"""Before the primary metric's name for MMBench's CircularEval score of a dataset loaded with ``circular: true``:
the share of questions answered right under every rotation of their options (``multimodal.circular``)."""


def _circular(rows: Sequence[dict[str, Any]]) -> Estimate | None:
    """CircularEval over the questions ``rows`` hold, with a Wilson interval over questions; None without any."""
    from tianping.multimodal.circular import circular_outcomes

    outcomes = circular_outcomes(rows)
    return proportion([float(every) for _, every in outcomes.values()]) if outcomes else None


def _counts(rows: Sequence[dict[str, Any]]) -> dict[str, int]:  # the count columns of an AggregateRow
    return {
        "extraction_failures": sum(1 for r in rows if r["status"] == "scored" and r["extraction_failed"]),
        "incomplete": sum(1 for r in rows if r["status"] == "incomplete"),
        "unscorable": sum(1 for r in rows if r["status"] == "unscorable"),
        "skipped": sum(1 for r in rows if r["status"] == "skipped"),
        "errors": sum(1 for r in rows if r["status"] == "error"),
    }


def _row(where: dict[str, str], metric: str, estimate: Estimate, counts: dict[str, int]) -> AggregateRow:
    return AggregateRow(
        model=where["model"],
        benchmark=where["benchmark"],
        group_kind=where["group_kind"],
        group_name=where["group_name"],
        metric=metric,
        score=estimate.value,
        n=estimate.n,
        ci_low=estimate.ci_low,
        ci_high=estimate.ci_high,
        extraction_failures=counts["extraction_failures"],
        incomplete=counts["incomplete"],
        unscorable=counts["unscorable"],
        skipped=counts["skipped"],
        errors=counts["errors"],
    )


def _counted(rows: Sequence[dict[str, Any]], task: TaskAggregation) -> list[dict[str, Any]]:
    """The rows inside the denominator."""
    keep = ("scored", "incomplete") if task.incomplete == "wrong" else ("scored",)
    return [r for r in rows if r["status"] in keep]


def _value(row: dict[str, Any], metric: str | None = None) -> float:
    if row["status"] != "scored":
        return 0.0  # incomplete: not correct
    return float(row["score"] if metric is None else row["metrics"][metric])


def _estimate(values: Sequence[float], rows: Sequence[dict[str, Any]], task: TaskAggregation) -> Estimate:
    if task.cluster is None:
        return proportion(values)
    return clustered_proportion(values, [str(r["meta"].get(task.cluster, r["sample_id"])) for r in rows])


def _primary(rows: Sequence[dict[str, Any]], task: TaskAggregation) -> Estimate:
    counted = _counted(rows, task)
    return _estimate([_value(r) for r in counted], counted, task)


def _extra_metrics(rows: Sequence[dict[str, Any]], task: TaskAggregation) -> dict[str, Estimate]:
    """Each further per-sample metric (pass@k, instruction-level accuracy), weighted where weights exist.

    An incomplete answer counts as 0 in an unweighted metric, as in the primary one; a weighted metric (IFEval's
    instruction level) is a ratio over the units an answer was checked on, which an unfinished answer has none of.
    """
    scored = [r for r in rows if r["status"] == "scored"]
    unfinished = [r for r in _counted(rows, task) if r["status"] == "incomplete"]
    names = sorted({name for r in scored for name in r.get("metrics") or {}} - {task.metric})
    out = {}
    for name in names:
        present = [r for r in scored if name in (r.get("metrics") or {})]
        weights = [(r.get("metric_weights") or {}).get(name, 1.0) for r in present]
        values = [r["metrics"][name] for r in present]
        if name in task.count_metrics or any(not 0.0 <= v <= 1.0 for v in values):
            out[name] = bootstrap_mean(values)  # a count: an unfinished answer has none to add
        elif all(w == 1.0 for w in weights):
            counted = present + unfinished
            out[name] = _estimate([_value(r, name) for r in counted], counted, task)
        else:
            out[name] = weighted_mean([r["metrics"][name] for r in present], weights)
    return out


def aggregate(
    rows: Iterable[dict[str, Any]], tasks: Mapping[str, TaskAggregation | Mapping[str, Any]]
) -> list[AggregateRow]:
    """Overall rows (``group_kind == "all"``) for the primary metric, its score over completed answers (where
    some are incomplete) and every further metric, and one row of the primary metric per value of each
    breakdown key. ``tasks``: per benchmark name, how its samples aggregate (a ``TaskAggregation`` or the dict
    a run stored)."""
    by_bench: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_bench[(row["model"], row["benchmark"])].append(row)
    out: list[AggregateRow] = []
    for (model, benchmark), bench_rows in by_bench.items():
        task = TaskAggregation.of(tasks.get(benchmark))
        where = {"model": model, "benchmark": benchmark, "group_kind": "all", "group_name": ""}
        counts = _counts(bench_rows)
        out.append(_row(where, task.metric, _primary(bench_rows, task), counts))
        if task.incomplete == "wrong" and counts["incomplete"]:
            completed = [r for r in bench_rows if r["status"] == "scored"]
            estimate = _estimate([_value(r) for r in completed], completed, task)
            out.append(_row(where, task.metric + COMPLETED_SUFFIX, estimate, counts))
        for name, estimate in _extra_metrics(bench_rows, task).items():
            out.append(_row(where, name, estimate, counts))
        circular = _circular(bench_rows)
        if circular is not None:
            out.append(_row(where, CIRCULAR_PREFIX + task.metric, circular, counts))
        for key in task.breakdowns:
            groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in bench_rows:
                groups[str(row["meta"].get(key, "unknown"))].append(row)
            for group, group_rows in sorted(groups.items()):
                at = {**where, "group_kind": key, "group_name": group}
                group_counts = _counts(group_rows)
                out.append(_row(at, task.metric, _primary(group_rows, task), group_counts))
                group_circular = _circular(group_rows)
                if group_circular is not None:
                    out.append(_row(at, CIRCULAR_PREFIX + task.metric, group_circular, group_counts))
                extra = _extra_metrics(group_rows, task) if task.breakdown_metrics else {}
                for name in task.breakdown_metrics:
                    if name in extra:
                        out.append(_row(at, name, extra[name], group_counts))
    return out
