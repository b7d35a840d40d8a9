"""The indicator system: a versioned tree of dimensions, capabilities and weighted benchmarks, and the
roll-up of a run's benchmark scores into capability, dimension and composite scores."""

from tianping.indicators.rollup import DimensionScore, IndicatorReport, rollup
from tianping.indicators.tree import IndicatorTree, IndicatorTreeError, default_tree, load_tree

__all__ = [
    "DimensionScore",
    "IndicatorReport",
    "IndicatorTree",
    "IndicatorTreeError",
    "default_tree",
    "load_tree",
    "rollup",
]
