"""Roll benchmark scores up the indicator tree into capability, dimension and composite scores.

Every node's score is a weighted mean of its measured children, which makes it a weighted sum of
benchmark scores with known coefficients. Its interval comes from the benchmarks' own intervals
(standard error = half-width / 1.96, benchmarks independent): the variance of a weighted sum is the
sum of squared coefficients times the variances, summed per distinct benchmark so that one counted
in two dimensions (CMMLU: knowledge and Chinese) is not treated as two independent measurements.
Children that the run did not measure are left out and listed, and the weights of the rest renormalised.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tianping.indicators.tree import BenchmarkRef, Dimension, IndicatorTree
from tianping.report.data import MetricRow

_Z95 = 1.959963984540054


@dataclass(frozen=True)
class NodeScore:
    id: str
    name: str
    score: float | None
    ci_low: float | None
    ci_high: float | None
    measured_by: tuple[str, ...] = ()
    """Benchmarks of the run (``benchmark:metric``) that the score is made of."""
    missing: tuple[str, ...] = ()
    """Benchmarks of the tree that the run did not measure."""


@dataclass(frozen=True)
class DimensionScore(NodeScore):
    name_zh: str | None = None
    capabilities: tuple[NodeScore, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class IndicatorReport:
    tree: str
    tree_version: str
    model: str
    composite: NodeScore
    dimensions: tuple[DimensionScore, ...]


_Mix = dict[str, float]  # benchmark key -> coefficient of its score in a node's score


def _find(ref: BenchmarkRef, rows: dict[tuple[str, str], MetricRow]) -> MetricRow | None:
    """The run's row for a tree benchmark: the exact name, else a variant of it (``mmlu_5shot`` for ``mmlu``)."""
    exact = rows.get((ref.benchmark, ref.metric))
    if exact is None and ref.metric == "accuracy":  # a log-likelihood run reports lm-eval's acc
        exact = rows.get((ref.benchmark, "acc"))
    if exact is not None:
        return exact
    variants = sorted(name for name, metric in rows if metric == ref.metric and name.startswith(ref.benchmark + "_"))
    return rows[(variants[0], ref.metric)] if variants else None


def _combine(parts: Sequence[tuple[float, _Mix]]) -> _Mix:
    total = sum(w for w, _ in parts)
    out: _Mix = defaultdict(float)
    for weight, mix in parts:
        for key, coefficient in mix.items():
            out[key] += coefficient * weight / total
    return dict(out)


def _evaluate(mix: _Mix, measured: dict[str, MetricRow]) -> tuple[float | None, float | None, float | None]:
    if not mix:
        return None, None, None
    value = sum(c * measured[k].score for k, c in mix.items())
    variance = 0.0
    for key, coefficient in mix.items():
        row = measured[key]
        se = (row.ci_high - row.ci_low) / (2 * _Z95) if row.ci_low is not None and row.ci_high is not None else 0.0
        variance += (coefficient * se) ** 2
    half = _Z95 * math.sqrt(variance)
    return value, max(0.0, value - half), min(1.0, value + half)


def _node(id_: str, name: str, mix: _Mix, measured: dict[str, MetricRow], missing: Iterable[str]) -> NodeScore:
    score, low, high = _evaluate(mix, measured)
    return NodeScore(id_, name, score, low, high, tuple(sorted(mix)), tuple(sorted(set(missing))))


def _dimension(dim: Dimension, rows: dict[tuple[str, str], MetricRow], measured: dict[str, MetricRow]):
    caps, cap_mixes, missing_all = [], [], []
    for cap in dim.capabilities:
        parts, missing = [], []
        for ref in cap.benchmarks:
            row = _find(ref, rows)
            if row is None or row.score is None:
                missing.append(f"{ref.benchmark}:{ref.metric}")
                continue
            key = f"{row.benchmark}:{row.metric}"
            measured[key] = row
            parts.append((ref.weight, {key: 1.0}))
        mix = _combine(parts) if parts else {}
        caps.append(_node(cap.id, cap.name, mix, measured, missing))
        missing_all.extend(missing)
        if mix:
            cap_mixes.append((cap.weight, mix))
    mix = _combine(cap_mixes) if cap_mixes else {}
    base = _node(dim.id, dim.name, mix, measured, missing_all)
    dimension = DimensionScore(**base.__dict__, name_zh=dim.name_zh, capabilities=tuple(caps))
    return dimension, mix


def rollup(tree: IndicatorTree, metrics: Sequence[MetricRow]) -> list[IndicatorReport]:
    """One report per model of the run."""
    by_model: dict[str, dict[tuple[str, str], MetricRow]] = defaultdict(dict)
    for row in metrics:
        by_model[row.model][(row.benchmark, row.metric)] = row
    reports = []
    for model, rows in sorted(by_model.items()):
        measured: dict[str, MetricRow] = {}
        dims, dim_mixes, missing = [], [], []
        for dim in tree.dimensions:
            dimension, mix = _dimension(dim, rows, measured)
            dims.append(dimension)
            missing.extend(dimension.missing)
            if mix:
                dim_mixes.append((dim.weight, mix))
        composite = _node("composite", "Composite", _combine(dim_mixes) if dim_mixes else {}, measured, missing)
        reports.append(IndicatorReport(tree.name, tree.version, model, composite, tuple(dims)))
    return reports
