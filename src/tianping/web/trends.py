"""Capability over time, from the model registry's release dates: trend points, the frontier line, per-group
trend lines, and the capability quadrant (level against growth rate).

A capability's *level* is its frontier score: the best score of a model released up to the window's end
(with that model's interval). Its *growth* is the Theil–Sen slope of the scores of the models released in
the window against their release dates, in points per year, with the slope's 95% interval
(``scipy.stats.theilslopes``). The quadrant splits at the median level and the median growth of the
capabilities shown, unless thresholds are given.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from tianping.indicators.tree import IndicatorTree
from tianping.web.boards import indicator_reports
from tianping.web.data import Snapshot

_YEAR_DAYS = 365.25


@dataclass(frozen=True)
class Point:
    model: str
    group: str
    organisation: str
    date: dt.date
    score: float
    ci_low: float | None
    ci_high: float | None


def _years(d: dt.date) -> float:
    return d.toordinal() / _YEAR_DAYS


def dimension_points(snap: Snapshot, tree: IndicatorTree) -> dict[str, list[Point]]:
    """Dimension name -> one point per registered model with a release date and a score in that dimension
    (the composite included)."""
    out: dict[str, list[Point]] = defaultdict(list)
    for model, report in indicator_reports(snap, tree).items():
        info = snap.info(model)
        if info.release_date is None:
            continue
        for node in (report.composite, *report.dimensions):
            if node.score is None:
                continue
            out[node.name].append(
                Point(model, info.group, info.organisation, info.release_date, node.score, node.ci_low, node.ci_high)
            )
    for points in out.values():
        points.sort(key=lambda p: (p.date, p.model))
    return dict(out)


def frontier(points: Sequence[Point]) -> list[Point]:
    """The points that set a new best score, in date order (the staircase of the state of the art)."""
    best: float | None = None
    out = []
    for p in sorted(points, key=lambda p: (p.date, -p.score)):
        if best is None or p.score > best:
            out.append(p)
            best = p.score
    return out


@dataclass(frozen=True)
class Slope:
    per_year: float
    low: float
    high: float
    intercept: float
    n: int


def theil_sen(points: Sequence[Point]) -> Slope | None:
    """Theil–Sen slope of score against release date (per year) and its 95% interval; None under 2 dates."""
    from scipy.stats import theilslopes

    if len({p.date for p in points}) < 2:
        return None
    x = [_years(p.date) for p in points]
    y = [p.score for p in points]
    res = theilslopes(y, x, alpha=0.95)
    return Slope(float(res.slope), float(res.low_slope), float(res.high_slope), float(res.intercept), len(points))


def group_lines(points: Sequence[Point]) -> dict[str, tuple[Slope, dt.date, dt.date]]:
    """Per group: its Theil–Sen line and the date span it is drawn over."""
    by_group: dict[str, list[Point]] = defaultdict(list)
    for p in points:
        by_group[p.group].append(p)
    out = {}
    for group, pts in sorted(by_group.items()):
        line = theil_sen(pts)
        if line is not None:
            out[group] = (line, min(p.date for p in pts), max(p.date for p in pts))
    return out


def line_value(slope: Slope, day: dt.date) -> float:
    return slope.intercept + slope.per_year * _years(day)


@dataclass(frozen=True)
class QuadrantPoint:
    capability: str
    level: float
    level_low: float | None
    level_high: float | None
    leader: str
    growth: float
    growth_low: float
    growth_high: float
    n: int
    quadrant: str


QUADRANTS = (
    "high level, fast growth",
    "high level, slow growth",
    "low level, fast growth",
    "low level, slow growth",
)


def quadrant(
    snap: Snapshot,
    tree: IndicatorTree,
    *,
    window_days: int = 730,
    level_split: float | None = None,
    growth_split: float | None = None,
) -> tuple[list[QuadrantPoint], float | None, float | None]:
    """One point per dimension with a growth rate over the window ending at the newest release date; and the
    level and growth thresholds the quadrants are split at."""
    points = dimension_points(snap, tree)
    rows = []
    for name, pts in points.items():
        if name == "Composite":
            continue
        end = max(p.date for p in pts)
        window = [p for p in pts if (end - p.date).days <= window_days]
        slope = theil_sen(window)
        if slope is None:
            continue
        leader = max(pts, key=lambda p: (p.score, p.date))
        rows.append((name, leader, slope))
    if not rows:
        return [], level_split, growth_split
    if level_split is None:
        level_split = statistics.median(leader.score for _, leader, _ in rows)
    if growth_split is None:
        growth_split = statistics.median(slope.per_year for _, _, slope in rows)
    out = []
    for name, leader, slope in rows:
        high = leader.score >= level_split
        fast = slope.per_year >= growth_split
        label = QUADRANTS[(0 if high else 2) + (0 if fast else 1)]
        out.append(
            QuadrantPoint(
                name,
                leader.score,
                leader.ci_low,
                leader.ci_high,
                leader.model,
                slope.per_year,
                slope.low,
                slope.high,
                slope.n,
                label,
            )
        )
    return out, level_split, growth_split
