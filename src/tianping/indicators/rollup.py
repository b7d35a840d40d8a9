"""Roll benchmark scores up the indicator tree into capability, dimension and composite scores.

Every node's score is a weighted mean of its measured children, which makes it a weighted sum of
benchmark scores with known coefficients. Its interval comes from the benchmarks' own intervals,
benchmarks independent: each side of an interval is propagated on its own (the distance from the score
to the lower end, and to the upper end, read as 1.96 standard errors; their squares, times the squared
coefficients, are summed), so that a node measured by one benchmark has exactly that benchmark's
interval, asymmetric Wilson intervals included. Coefficients are summed per distinct benchmark first,
so one counted in two dimensions (CMMLU: knowledge and Chinese) is not taken for two independent
measurements. Children that the run did not measure are left out and listed, and the weights of the
rest renormalised: the composite says over how many dimensions it was taken and which it lacks.

A tree entry names a benchmark; the run's row for it is the benchmark itself, else a variant of it
(``mmlu_5shot`` for ``mmlu``), under the entry's metric -- ``accuracy`` also accepts lm-eval's ``acc``, the
primary metric of a log-likelihood run.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from tianping.core.results import MetricRow
from tianping.indicators.tree import BenchmarkRef, Dimension, IndicatorTree

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
    dimensions_measured: tuple[str, ...] = ()
    """The composite only: names of the dimensions its score is taken over."""
    dimensions_missing: tuple[str, ...] = ()
    """The composite only: names of the tree's dimensions with no measured benchmark (declared ones included)."""


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


def _is_variant(name: str, benchmark: str, tree_names: frozenset[str] = frozenset()) -> bool:
    """``name`` is ``benchmark`` run another way (``mmlu_5shot``), unless it is, or is a variant of, a longer
    benchmark of the tree: ``bfcl_parallel_multiple`` is not a variant of ``bfcl_parallel``."""
    if not name.startswith(benchmark + "_"):
        return False
    longer = (b for b in tree_names if len(b) > len(benchmark) and b.startswith(benchmark + "_"))
    return not any(name == b or name.startswith(b + "_") for b in longer)


def _find(
    ref: BenchmarkRef, rows: dict[tuple[str, str], MetricRow], tree_names: frozenset[str] = frozenset()
) -> MetricRow | None:
    """The run's row for a tree benchmark: the exact name, else a variant of it (``mmlu_5shot`` for ``mmlu``);
    for ``accuracy``, a log-likelihood run's ``acc`` too."""
    metrics = (ref.metric, "acc") if ref.metric == "accuracy" else (ref.metric,)
    for metric in metrics:
        exact = rows.get((ref.benchmark, metric))
        if exact is not None and exact.score is not None:
            return exact
    for metric in metrics:
        variants = sorted(
            name
            for name, m in rows
            if m == metric and _is_variant(name, ref.benchmark, tree_names) and rows[(name, m)].score is not None
        )
        if variants:
            return rows[(variants[0], metric)]
    return None


def _shown_metric(ref: BenchmarkRef) -> str:
    return f"1-{ref.metric}" if ref.invert else ref.metric


def _inverted(row: MetricRow) -> MetricRow:
    """A lower-is-better rate as the higher-is-better score it contributes: 1 - rate, the interval mirrored."""
    assert row.score is not None
    low = None if row.ci_high is None else 1.0 - row.ci_high
    high = None if row.ci_low is None else 1.0 - row.ci_low
    return replace(row, metric=f"1-{row.metric}", score=1.0 - row.score, ci_low=low, ci_high=high)


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
    below = above = 0.0  # variances of the two sides, in squared standard errors
    for key, coefficient in mix.items():
        row = measured[key]
        if row.ci_low is None or row.ci_high is None:
            continue
        below += (coefficient * (row.score - row.ci_low) / _Z95) ** 2
        above += (coefficient * (row.ci_high - row.score) / _Z95) ** 2
    if len(mix) == 1:  # exactly the benchmark's own interval, without a round trip through floats
        (key,) = mix
        row = measured[key]
        if row.ci_low is not None and row.ci_high is not None:
            return value, row.ci_low, row.ci_high
    return value, max(0.0, value - _Z95 * math.sqrt(below)), min(1.0, value + _Z95 * math.sqrt(above))


def _node(id_: str, name: str, mix: _Mix, measured: dict[str, MetricRow], missing: Iterable[str]) -> NodeScore:
    score, low, high = _evaluate(mix, measured)
    return NodeScore(id_, name, score, low, high, tuple(sorted(mix)), tuple(sorted(set(missing))))


def _dimension(
    dim: Dimension,
    rows: dict[tuple[str, str], MetricRow],
    measured: dict[str, MetricRow],
    tree_names: frozenset[str] = frozenset(),
):
    caps, cap_mixes, missing_all = [], [], []
    for cap in dim.capabilities:
        parts, missing = [], []
        for ref in cap.benchmarks:
            row = _find(ref, rows, tree_names)
            if row is None or row.score is None:
                missing.append(f"{ref.benchmark}:{_shown_metric(ref)}")
                continue
            if ref.invert:
                row = _inverted(row)
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
    tree_names = frozenset(
        ref.benchmark for dim in tree.dimensions for cap in dim.capabilities for ref in cap.benchmarks
    )
    for model, rows in sorted(by_model.items()):
        measured: dict[str, MetricRow] = {}
        dims, dim_mixes, missing = [], [], []
        for dim in tree.dimensions:
            dimension, mix = _dimension(dim, rows, measured, tree_names)
            dims.append(dimension)
            missing.extend(dimension.missing)
            if mix:
                dim_mixes.append((dim.weight, mix))
        base = _node("composite", "Composite", _combine(dim_mixes) if dim_mixes else {}, measured, missing)
        composite = NodeScore(
            **{
                **base.__dict__,
                "dimensions_measured": tuple(d.name for d in dims if d.score is not None),
                "dimensions_missing": tuple(d.name for d in dims if d.score is None),
            }
        )
        reports.append(IndicatorReport(tree.name, tree.version, model, composite, tuple(dims)))
    return reports


def composite_coverage(composite: NodeScore) -> str:
    """What the composite is taken over, in words: "3 of 8 dimensions; not measured: Code, Safety"."""
    taken, lacking = composite.dimensions_measured, composite.dimensions_missing
    text = f"{len(taken)} of {len(taken) + len(lacking)} dimensions"
    return text + (f"; not measured: {', '.join(lacking)}" if lacking else "")
