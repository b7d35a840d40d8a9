"""Geometry of the dimension radar chart; the template draws it as inline SVG (no script, no library)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tianping.indicators.rollup import IndicatorReport

SIZE = 360
RADIUS = 120
RINGS = (0.25, 0.5, 0.75, 1.0)
PAD_X = 110


def _point(i: int, count: int, fraction: float) -> tuple[float, float]:
    angle = -math.pi / 2 + 2 * math.pi * i / count
    centre = SIZE / 2
    return centre + RADIUS * fraction * math.cos(angle), centre + RADIUS * fraction * math.sin(angle)


def _points(values: Sequence[float], count: int) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in (_point(i, count, v) for i, v in enumerate(values)))


def radar_view(reports: Sequence[IndicatorReport]) -> dict[str, Any] | None:
    """Axes are the dimensions measured for at least one model; None when fewer than three are."""
    ids = [d.id for d in reports[0].dimensions] if reports else []
    axes = [i for i in ids if any(next(d for d in r.dimensions if d.id == i).score is not None for r in reports)]
    if len(axes) < 3:
        return None
    count = len(axes)
    names = {d.id: d.name for d in reports[0].dimensions}
    axis_views = []
    for i, axis in enumerate(axes):
        x, y = _point(i, count, 1.0)
        lx, ly = _point(i, count, 1.18)
        anchor = "middle" if abs(lx - SIZE / 2) < 1 else ("start" if lx > SIZE / 2 else "end")
        axis_views.append(
            {
                "x": f"{x:.1f}",
                "y": f"{y:.1f}",
                "lx": f"{lx:.1f}",
                "ly": f"{ly:.1f}",
                "anchor": anchor,
                "label": names[axis],
            }
        )
    polygons = []
    for k, report in enumerate(reports):
        scores = {d.id: d.score for d in report.dimensions}
        polygons.append(
            {
                "model": report.model,
                "cls": f"series-{k % 6}",
                "points": _points([scores[a] or 0.0 for a in axes], count),
            }
        )
    return {
        "size": SIZE,
        "view_box": f"{-PAD_X} 0 {SIZE + 2 * PAD_X} {SIZE}",  # room for axis labels either side
        "centre": SIZE / 2,
        "axes": axis_views,
        "rings": [{"points": _points([r] * count, count), "label": f"{int(r * 100)}"} for r in RINGS],
        "polygons": polygons,
    }
