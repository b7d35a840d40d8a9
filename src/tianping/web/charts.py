"""Plotly figures as plain JSON (data + layout), drawn in the page by ``static/app.js`` with the plotly.js that
ships in the ``plotly`` Python package. Every label is data, never markup: plotly.js writes text with
``textContent``, and the JSON sits in the page escaped (``tianping.report.html`` does the escaping)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from tianping.web.boards import Board, Difference
from tianping.web.trends import Point, QuadrantPoint, frontier, group_lines, line_value

_LAYOUT = {"margin": {"l": 60, "r": 20, "t": 30, "b": 60}, "height": 420, "hovermode": "closest"}


def _pct(x: float | None) -> float | None:
    return None if x is None else round(100 * x, 2)


def _err(values: Sequence[tuple[float | None, float | None, float | None]]) -> dict[str, Any]:
    plus = [None if hi is None or s is None else round(100 * (hi - s), 3) for s, lo, hi in values]
    minus = [None if lo is None or s is None else round(100 * (s - lo), 3) for s, lo, hi in values]
    return {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus}


def board_chart(board: Board, *, count: bool = False) -> dict[str, Any]:
    rows = list(board.rows)
    scale = (lambda x: x) if count else _pct  # noqa: E731
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": [r.model for r in rows][::-1],
                "x": [scale(r.score) for r in rows][::-1],
                "error_x": _err([(r.score, r.ci_low, r.ci_high) for r in rows][::-1]),
                "hovertemplate": "%{y}: %{x}<extra></extra>",
            }
        ],
        "layout": {
            **_LAYOUT,
            "height": max(240, 40 + 26 * len(rows)),
            "margin": {"l": 220, "r": 20, "t": 20, "b": 40},
            "xaxis": {"title": {"text": board.metric + ("" if count else " (%)")}},
        },
    }


def differences_chart(diffs: Sequence[Difference]) -> dict[str, Any]:
    by_model: dict[str, list[Difference]] = {}
    for d in diffs:
        by_model.setdefault(d.model, []).append(d)
    data = []
    for model, rows in by_model.items():
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": f"{model} − {rows[0].baseline}",
                "y": [f"{r.benchmark} ↓" if r.lower_is_better else r.benchmark for r in rows],
                "x": [_pct(r.diff) for r in rows],
                "error_x": _err([(r.diff, r.ci_low, r.ci_high) for r in rows]),
            }
        )
    layout = {
        **_LAYOUT,
        "margin": {"l": 180, "r": 20, "t": 20, "b": 50},
        "xaxis": {"title": {"text": "paired difference (points)"}, "zeroline": True},
    }
    return {"data": data, "layout": layout}


def _day(d: dt.date) -> str:
    return d.isoformat()


def trend_chart(points_by_dim: dict[str, list[Point]]) -> dict[str, Any]:
    """Every dimension's points, frontier and group lines in one figure; each trace's ``meta`` says its
    dimension and group, so the page can filter by both without a server."""
    data: list[dict[str, Any]] = []
    first = next(iter(points_by_dim), None)
    for dim, points in points_by_dim.items():
        shown = dim == first
        by_group: dict[str, list[Point]] = {}
        for p in points:
            by_group.setdefault(p.group, []).append(p)
        for group, pts in sorted(by_group.items()):
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": group,
                    "legendgroup": group,
                    "x": [_day(p.date) for p in pts],
                    "y": [_pct(p.score) for p in pts],
                    "text": [p.model for p in pts],
                    "hovertemplate": "%{text}<br>%{x}: %{y}<extra></extra>",
                    "error_y": _err([(p.score, p.ci_low, p.ci_high) for p in pts]),
                    "meta": {"dimension": dim, "group": group, "role": "points"},
                    "visible": shown,
                }
            )
        for group, (slope, start, end) in group_lines(points).items():
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"{group} trend",
                    "legendgroup": group,
                    "x": [_day(start), _day(end)],
                    "y": [_pct(line_value(slope, start)), _pct(line_value(slope, end))],
                    "line": {"dash": "dot"},
                    "meta": {"dimension": dim, "group": group, "role": "trend"},
                    "visible": shown,
                    "hovertemplate": f"{100 * slope.per_year:+.1f} points/year<extra></extra>",
                }
            )
        top = frontier(points)
        if top:
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": "frontier",
                    "line": {"shape": "hv"},
                    "x": [_day(p.date) for p in top],
                    "y": [_pct(p.score) for p in top],
                    "text": [p.model for p in top],
                    "meta": {"dimension": dim, "group": "", "role": "frontier"},
                    "visible": shown,
                }
            )
    layout = {
        **_LAYOUT,
        "xaxis": {"title": {"text": "release date"}, "type": "date"},
        "yaxis": {"title": {"text": "score (%)"}},
    }
    return {"data": data, "layout": layout}


def quadrant_chart(
    points: Sequence[QuadrantPoint], level_split: float | None, growth_split: float | None
) -> dict[str, Any]:
    data = [
        {
            "type": "scatter",
            "mode": "markers+text",
            "textposition": "top center",
            "x": [_pct(p.level) for p in points],
            "y": [_pct(p.growth) for p in points],
            "text": [p.capability for p in points],
            "error_x": _err([(p.level, p.level_low, p.level_high) for p in points]),
            "error_y": _err([(p.growth, p.growth_low, p.growth_high) for p in points]),
            "hovertemplate": "%{text}<br>level %{x}<br>growth %{y} points/year<extra></extra>",
        }
    ]
    shapes = []
    if level_split is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": _pct(level_split),
                "x1": _pct(level_split),
                "y0": 0,
                "y1": 1,
                "line": {"dash": "dash", "color": "#888"},
            }
        )
    if growth_split is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "yref": "y",
                "x0": 0,
                "x1": 1,
                "y0": _pct(growth_split),
                "y1": _pct(growth_split),
                "line": {"dash": "dash", "color": "#888"},
            }
        )
    layout = {
        **_LAYOUT,
        "shapes": shapes,
        "xaxis": {"title": {"text": "level: frontier score (%)"}},
        "yaxis": {"title": {"text": "growth: Theil–Sen slope (points/year)"}},
    }
    return {"data": data, "layout": layout}


def series_chart(title: str, series: dict[str, list[tuple[str, float | None]]]) -> dict[str, Any]:
    data = [
        {"type": "scatter", "mode": "lines+markers", "name": name, "x": [d for d, _ in pts], "y": [v for _, v in pts]}
        for name, pts in sorted(series.items())
    ]
    return {
        "data": data,
        "layout": {**_LAYOUT, "height": 320, "yaxis": {"title": {"text": title}}, "xaxis": {"type": "date"}},
    }


def arena_chart(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    rows = list(rows)[::-1]
    plus = [None if r.get("ci_high") is None else r["ci_high"] - r["rating"] for r in rows]
    minus = [None if r.get("ci_low") is None else r["rating"] - r["ci_low"] for r in rows]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "y": [r["model"] for r in rows],
                "x": [r["rating"] for r in rows],
                "error_x": {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus},
            }
        ],
        "layout": {
            **_LAYOUT,
            "height": max(240, 40 + 26 * len(rows)),
            "margin": {"l": 220, "r": 20, "t": 20, "b": 40},
            "xaxis": {"title": {"text": "rating"}},
        },
    }


def distribution_chart(board: Board) -> dict[str, Any]:
    return {
        "data": [{"type": "histogram", "x": [_pct(r.score) for r in board.rows], "nbinsx": 20}],
        "layout": {
            **_LAYOUT,
            "height": 300,
            "xaxis": {"title": {"text": f"{board.metric} (%)"}},
            "yaxis": {"title": {"text": "models"}},
        },
    }
