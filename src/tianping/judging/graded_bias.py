"""Bias diagnostics of single-answer grading, where no second order exists to swap: how grades follow answer
length, how they spread over the scale, and whether the judge grades its own family.

Verbosity is the least-squares slope of the grade on log2 of the answer's length in characters: the grade points
a judge adds when an answer doubles in length. It mixes two things no single-answer design can separate --
longer answers that are better, and a judge that likes length -- so it is a flag to read beside the pairwise
diagnostics, not a correction. Its 95% interval is Wald's with a cluster-robust variance (the turns of one
question form a cluster).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = ["LengthSlope", "grade_spread", "length_slope"]

MIN_GRADES = 10


@dataclass(frozen=True)
class LengthSlope:
    slope: float
    """Grade points per doubling of the answer's length."""
    ci_low: float
    ci_high: float
    n: int


def length_slope(
    grades: Sequence[float], lengths: Sequence[int], clusters: Sequence[object], confidence: float = 0.95
) -> LengthSlope | None:
    """The slope of grade on log2(length + 1); None with fewer than 10 grades or one length only."""
    if not len(grades) == len(lengths) == len(clusters):
        raise ValueError("length_slope: grades, lengths and clusters differ in length")
    if len(grades) < MIN_GRADES:
        return None
    x = np.log2(np.asarray(lengths, dtype=float) + 1.0)
    y = np.asarray(grades, dtype=float)
    if np.ptp(x) == 0:
        return None
    design = np.column_stack([np.ones_like(x), x])
    bread = np.linalg.inv(design.T @ design)
    beta = bread @ design.T @ y
    resid = y - design @ beta
    groups: dict[object, np.ndarray] = {}
    for row, cluster in enumerate(clusters):
        score = design[row] * resid[row]
        groups[cluster] = groups.get(cluster, np.zeros(2)) + score
    g = len(groups)
    meat = sum((np.outer(s, s) for s in groups.values()), np.zeros((2, 2)))
    scale = g / (g - 1) if g > 1 else 1.0
    cov = bread @ meat @ bread * scale
    se = math.sqrt(max(0.0, float(cov[1, 1])))
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    slope = float(beta[1])
    return LengthSlope(slope, slope - z * se, slope + z * se, len(grades))


def grade_spread(grades: Sequence[int], low: int, high: int) -> str:
    """How many grades fell on each point of the scale, ``1:0 2:3 ...`` (empty points of a long scale left out)."""
    counts = Counter(grades)
    points = range(low, high + 1)
    shown = points if high - low <= 10 else [p for p in points if counts[p]]
    return " ".join(f"{p}:{counts[p]}" for p in shown)
