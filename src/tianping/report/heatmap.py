"""The risk-category x attack-method heatmap of a safety run, as SVG geometry for the report template.

Input: breakdown rows of kind ``cell`` whose group is ``"<category>|<attack>"`` (written by the safety
suite). Each cell shows the attack success rate with its N and 95% interval in a tooltip. Colours are SVG
``fill`` attributes (the report's Content-Security-Policy blocks inline styles, not presentation
attributes); all labels are rendered by Jinja with autoescaping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tianping.core.results import BreakdownRow

CELL_KINDS = {"dim_cell": "risk dimension", "cell": "risk category"}
"""Breakdown kinds that hold ``"<row>|<attack>"`` cells, and what their rows are."""
_CELL = 18  # px
_LEFT = 230  # room for category labels
_TOP = 150  # room for rotated attack labels


@dataclass(frozen=True)
class HeatCell:
    x: int
    y: int
    fill: str
    label: str
    tip: str


def _fill(rate: float | None) -> str:
    """White (0) through amber to deep red (1); grey when nothing was scored."""
    if rate is None:
        return "#eaeef2"
    rate = min(1.0, max(0.0, rate))
    # two linear segments: #ffffff -> #f2a33a -> #b3151b
    if rate <= 0.5:
        t = rate / 0.5
        a, b = (255, 255, 255), (242, 163, 58)
    else:
        t = (rate - 0.5) / 0.5
        a, b = (242, 163, 58), (179, 21, 27)
    r, g, bl = (round(a[i] + (b[i] - a[i]) * t) for i in range(3))
    return f"#{r:02x}{g:02x}{bl:02x}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}"


def heatmap_views(breakdowns: Sequence[BreakdownRow]) -> list[dict[str, Any]]:
    """One heatmap per (model, benchmark, cell kind): dimensions x attacks, then categories x attacks."""
    grouped: dict[tuple[str, str, str], list[BreakdownRow]] = {}
    for r in breakdowns:
        if r.group_kind in CELL_KINDS and "|" in r.group:
            grouped.setdefault((r.model, r.benchmark, r.group_kind), []).append(r)
    views = []
    order = list(CELL_KINDS)
    for (model, benchmark, kind), rows in sorted(
        grouped.items(), key=lambda kv: (kv[0][0], kv[0][1], order.index(kv[0][2]))
    ):
        cells = {tuple(r.group.split("|", 1)): r for r in rows}
        categories = sorted({c for c, _ in cells})
        attacks = sorted({a for _, a in cells})
        out: list[HeatCell] = []
        for i, category in enumerate(categories):
            for j, attack in enumerate(attacks):
                r = cells.get((category, attack))
                x, y = _LEFT + j * _CELL, _TOP + i * _CELL
                if r is None:
                    out.append(HeatCell(x, y, "#f6f8fa", "", f"{category} × {attack}: not run"))
                    continue
                interval = "" if r.ci_low is None else f", 95% CI [{_pct(r.ci_low)}, {_pct(r.ci_high)}]"
                tip = f"{category} × {attack}: attack success {_pct(r.score)}% of {r.n}{interval}"
                out.append(HeatCell(x, y, _fill(r.score), _pct(r.score) if r.n else "", tip))
        views.append(
            {
                "model": model,
                "benchmark": benchmark,
                "rows_are": CELL_KINDS[kind],
                "width": _LEFT + len(attacks) * _CELL + _TOP,  # the last labels lean out to the right
                "height": _TOP + len(categories) * _CELL + 10,
                "cell": _CELL,
                "rows": [{"label": c, "y": _TOP + i * _CELL + _CELL * 0.7} for i, c in enumerate(categories)],
                "cols": [{"label": a, "x": _LEFT + j * _CELL + _CELL * 0.65} for j, a in enumerate(attacks)],
                "top": _TOP,
                "left": _LEFT,
                "cells": out,
            }
        )
    return views
