"""The monitor's HTML report: daily trends per provider, and providers of one model compared.

One self-contained HTML file (no network needed to view it): plotly charts with plotly.js inlined
when plotly is installed, inline SVG charts otherwise. Per (provider, model) and UTC day:

* success rate with its Wilson 95% interval,
* TTFT p50 and p90 and output TPS p50 of the successful calls;

and per model, over the whole report window, a table comparing its providers: success rate with
the Wilson interval, TTFT p50 and TPS p50 each with a percentile-bootstrap 95% interval of the
median, the failure classes, and N. Every name from the store is HTML-escaped.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from tianping.scoring.stats import bootstrap_statistic, wilson_interval
from tianping.serving.monitor_store import DayValues, MonitorStore

__all__ = [
    "DayStat",
    "ProviderStat",
    "ReportData",
    "bootstrap_percentile",
    "build_report",
    "percentile",
    "render_html",
    "write_report",
]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation (numpy's default); None if empty."""
    if not values:
        return None
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


def bootstrap_percentile(
    values: Sequence[float], q: float = 50.0, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float | None, float | None, float | None]:
    """(point, low, high): the ``q``-th percentile with a seeded percentile-bootstrap interval.

    :func:`tianping.scoring.stats.bootstrap_statistic` of ``np.percentile``, as a tuple for the
    report's table; deterministic for a seed, so a re-rendered report shows the same numbers. The
    interval always contains the point.
    """
    import numpy as np

    est = bootstrap_statistic(values, partial(np.percentile, q=q), confidence, resamples, seed)
    return (est.value, est.ci_low, est.ci_high)


@dataclass
class DayStat:
    provider: str
    model: str
    day: str
    n: int
    successes: int
    success_rate: float | None
    sr_low: float | None
    sr_high: float | None
    ttft_p50: float | None
    ttft_p90: float | None
    tps_p50: float | None


@dataclass
class ProviderStat:
    provider: str
    model: str
    n: int
    successes: int
    success_rate: float | None
    sr_low: float | None
    sr_high: float | None
    ttft_p50: float | None
    ttft_low: float | None
    ttft_high: float | None
    tps_p50: float | None
    tps_low: float | None
    tps_high: float | None
    failures: dict[str, int] = field(default_factory=dict)


@dataclass
class ReportData:
    since: float
    until: float
    days: list[DayStat]
    comparison: dict[str, list[ProviderStat]]
    """model -> its providers, sorted by provider name."""
    fidelity: dict[tuple[str, str], str] = field(default_factory=dict)
    """(model, provider) -> the status of its last scheduled fidelity check (tianping.fidelity.monitor_check)."""

    @property
    def series(self) -> list[tuple[str, str]]:
        return sorted({(d.provider, d.model) for d in self.days}, key=lambda s: (s[1], s[0]))


def _wilson(successes: int, n: int) -> tuple[float | None, float | None, float | None]:
    if n == 0:
        return (None, None, None)
    low, high = wilson_interval(successes, n)
    return (successes / n, low, high)


def _day_stat(v: DayValues) -> DayStat:
    rate, low, high = _wilson(v.successes, v.n)
    return DayStat(
        provider=v.provider, model=v.model, day=v.day, n=v.n, successes=v.successes,
        success_rate=rate, sr_low=low, sr_high=high,
        ttft_p50=percentile(v.ttft_s, 50), ttft_p90=percentile(v.ttft_s, 90), tps_p50=percentile(v.output_tps, 50),
    )  # fmt: skip


def build_report(
    groups: Iterable[DayValues], since: float, until: float, *, resamples: int = 2000, seed: int = 0
) -> ReportData:
    """Aggregate per-day groups (as :meth:`MonitorStore.day_values` streams them) into report data."""
    days: list[DayStat] = []
    totals: dict[tuple[str, str], DayValues] = {}
    for g in groups:
        days.append(_day_stat(g))
        t = totals.setdefault((g.model, g.provider), DayValues(provider=g.provider, model=g.model, day=""))
        t.n += g.n
        t.successes += g.successes
        t.ttft_s.extend(g.ttft_s)
        t.output_tps.extend(g.output_tps)
        for k, c in g.failures.items():
            t.failures[k] = t.failures.get(k, 0) + c
    comparison: dict[str, list[ProviderStat]] = {}
    for (model, provider), t in sorted(totals.items()):
        rate, low, high = _wilson(t.successes, t.n)
        ttft = bootstrap_percentile(t.ttft_s, 50, resamples=resamples, seed=seed)
        tps = bootstrap_percentile(t.output_tps, 50, resamples=resamples, seed=seed)
        comparison.setdefault(model, []).append(
            ProviderStat(
                provider=provider,
                model=model,
                n=t.n,
                successes=t.successes,
                success_rate=rate,
                sr_low=low,
                sr_high=high,
                ttft_p50=ttft[0],
                ttft_low=ttft[1],
                ttft_high=ttft[2],
                tps_p50=tps[0],
                tps_low=tps[1],
                tps_high=tps[2],
                failures=dict(sorted(t.failures.items(), key=lambda kv: (-kv[1], kv[0]))),
            )  # fmt: skip
        )
    days.sort(key=lambda d: (d.model, d.provider, d.day))
    return ReportData(since=since, until=until, days=days, comparison=comparison)


def report_from_store(store: MonitorStore, days: int = 14, now: float | None = None, **kw: Any) -> ReportData:
    """Report data for the last ``days`` UTC days (today included) of the store."""
    now = time.time() if now is None else now
    today0 = now - (now % 86400)
    since = today0 - (days - 1) * 86400
    return build_report(store.day_values(since=since), since, now, **kw)


# -- rendering ------------------------------------------------------------------------------------

_e = html.escape


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{1000 * v:.0f} ms"


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def _interval(low: float | None, high: float | None, fmt: Any) -> str:
    return "" if low is None or high is None else f" <span class=ci>[{fmt(low)}, {fmt(high)}]</span>"


def _label(provider: str, model: str) -> str:
    return f"{provider} · {model}"


_CHARTS = (
    ("success", "Success rate per day (Wilson 95% interval)", "success rate", "%"),
    ("ttft", "TTFT per day: p50 (solid) and p90 (dotted)", "seconds", "s"),
    ("tps", "Output TPS p50 per day", "tokens / s", "tok/s"),
)


def _series_points(data: ReportData) -> dict[tuple[str, str], list[DayStat]]:
    out: dict[tuple[str, str], list[DayStat]] = {}
    for d in data.days:
        out.setdefault((d.provider, d.model), []).append(d)
    return out


def _plotly_charts(data: ReportData) -> list[str]:
    import plotly.graph_objects as go

    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
    series = _series_points(data)
    figs = {key: go.Figure() for key, *_ in _CHARTS}
    for i, ((provider, model), points) in enumerate(series.items()):
        name = _e(_label(provider, model))  # plotly renders trace names as HTML: escape them
        color = palette[i % len(palette)]
        x = [p.day for p in points]
        sr = [None if p.success_rate is None else 100 * p.success_rate for p in points]
        figs["success"].add_trace(
            go.Scatter(
                x=x, y=sr, name=name, mode="lines+markers", line={"color": color},
                error_y={
                    "type": "data", "symmetric": False,
                    "array": [None if p.sr_high is None else 100 * (p.sr_high - (p.success_rate or 0))
                              for p in points],
                    "arrayminus": [None if p.sr_low is None else 100 * ((p.success_rate or 0) - p.sr_low)
                                   for p in points],
                },
                customdata=[[p.n] for p in points],
                hovertemplate="%{x}: %{y:.1f}% (N=%{customdata[0]})<extra>" + name + "</extra>",
            )
        )  # fmt: skip
        figs["ttft"].add_trace(
            go.Scatter(x=x, y=[p.ttft_p50 for p in points], name=name + " p50", mode="lines+markers",
                       line={"color": color}, legendgroup=name)
        )  # fmt: skip
        figs["ttft"].add_trace(
            go.Scatter(x=x, y=[p.ttft_p90 for p in points], name=name + " p90", mode="lines+markers",
                       line={"color": color, "dash": "dot"}, legendgroup=name)
        )  # fmt: skip
        figs["tps"].add_trace(
            go.Scatter(x=x, y=[p.tps_p50 for p in points], name=name, mode="lines+markers", line={"color": color})
        )
    out = []
    for i, (key, title, ytitle, _unit) in enumerate(_CHARTS):
        fig = figs[key]
        fig.update_layout(
            title=title, yaxis_title=ytitle, xaxis={"type": "category", "title": "day (UTC)"},
            height=380, margin={"l": 60, "r": 20, "t": 50, "b": 50}, template="plotly_white",
        )  # fmt: skip
        if key == "success":
            fig.update_yaxes(range=[0, 105])
        out.append(
            fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"chart-{key}", config={"responsive": True})
        )
    return out


def _svg_charts(data: ReportData) -> list[str]:
    """Plain inline SVG line charts: the fallback when plotly is not installed."""
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
    days = sorted({d.day for d in data.days})
    series = _series_points(data)
    w, h, left, right, top, bottom = 760, 300, 60, 200, 30, 40
    pw, ph = w - left - right, h - top - bottom
    out = []
    for key, title, _ytitle, unit in _CHARTS:
        lines: list[tuple[str, str, list[tuple[str, float]], bool]] = []
        for i, ((provider, model), points) in enumerate(series.items()):
            color = palette[i % len(palette)]
            name = _label(provider, model)
            if key == "success":
                pts = [(p.day, 100 * p.success_rate) for p in points if p.success_rate is not None]
                lines.append((name, color, pts, False))
            elif key == "ttft":
                lines.append(
                    (name + " p50", color, [(p.day, p.ttft_p50) for p in points if p.ttft_p50 is not None], False)
                )
                lines.append(
                    (name + " p90", color, [(p.day, p.ttft_p90) for p in points if p.ttft_p90 is not None], True)
                )
            else:
                lines.append((name, color, [(p.day, p.tps_p50) for p in points if p.tps_p50 is not None], False))
        ys = [y for *_, pts, _ in lines for _, y in pts]
        ymax = 100.0 if key == "success" else (max(ys) * 1.1 if ys and max(ys) > 0 else 1.0)

        def sx(day: str) -> float:
            return left + (pw * (days.index(day) + 0.5) / max(1, len(days)))

        def sy(y: float, ymax: float = ymax) -> float:
            return top + ph - ph * (y / ymax)

        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" id="chart-{key}">',
            f'<text x="{left}" y="18" font-weight="bold">{_e(title)}</text>',
            f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="#888"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="#888"/>',
            f'<text x="4" y="{top + 10}" font-size="11">{ymax:.3g} {_e(unit)}</text>',
            f'<text x="4" y="{top + ph}" font-size="11">0</text>',
        ]
        for day in days:
            parts.append(f'<text x="{sx(day):.1f}" y="{h - 12}" font-size="10" text-anchor="middle">{_e(day)}</text>')
        for j, (name, color, pts, dotted) in enumerate(lines):
            dash = ' stroke-dasharray="4 3"' if dotted else ""
            if len(pts) > 1:
                coords = " ".join(f"{sx(d):.1f},{sy(y):.1f}" for d, y in pts)
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{coords}"/>')
            for d, y in pts:
                parts.append(
                    f'<circle cx="{sx(d):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"><title>{_e(name)} {_e(d)}: '
                    f"{y:.3g} {_e(unit)}</title></circle>"
                )
            ly = top + 14 * j
            parts.append(
                f'<line x1="{w - right + 10}" y1="{ly}" x2="{w - right + 30}" y2="{ly}" stroke="{color}"{dash}/>'
            )
            parts.append(f'<text x="{w - right + 34}" y="{ly + 4}" font-size="11">{_e(name)}</text>')
        parts.append("</svg>")
        out.append("\n".join(parts))
    return out


def _day_table(data: ReportData) -> str:
    rows = []
    for d in data.days:
        rows.append(
            f"<tr><td>{_e(d.provider)}</td><td>{_e(d.model)}</td><td>{_e(d.day)}</td>"
            f"<td class=num>{d.n}</td><td class=num>{_pct(d.success_rate)}"
            f"{_interval(d.sr_low, d.sr_high, _pct)}</td>"
            f"<td class=num>{_ms(d.ttft_p50)}</td><td class=num>{_ms(d.ttft_p90)}</td>"
            f"<td class=num>{_num(d.tps_p50)}</td></tr>"
        )
    return (
        "<table id=daily><thead><tr><th>provider</th><th>model</th><th>day (UTC)</th><th>N</th>"
        "<th>success [95% CI]</th><th>TTFT p50</th><th>TTFT p90</th><th>TPS p50</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _comparison_tables(data: ReportData) -> str:
    parts = []
    for model, stats in data.comparison.items():
        rows = []
        for s in stats:
            fails = ", ".join(f"{_e(k)}: {v}" for k, v in s.failures.items()) or "—"
            rows.append(
                f"<tr><td>{_e(s.provider)}</td><td class=num>{s.n}</td>"
                f"<td class=num>{_pct(s.success_rate)}{_interval(s.sr_low, s.sr_high, _pct)}</td>"
                f"<td class=num>{_ms(s.ttft_p50)}{_interval(s.ttft_low, s.ttft_high, _ms)}</td>"
                f"<td class=num>{_num(s.tps_p50)}{_interval(s.tps_low, s.tps_high, _num)}</td>"
                f"<td>{fails}</td><td>{_e(data.fidelity.get((model, s.provider), '—'))}</td></tr>"
            )
        note = "" if len(stats) > 1 else " <span class=ci>(one provider: nothing to compare)</span>"
        parts.append(
            f"<h3>{_e(model)}{note}</h3><table class=compare><thead><tr><th>provider</th><th>N</th>"
            "<th>success [95% CI]</th><th>TTFT p50 [95% CI]</th><th>TPS p50 [95% CI]</th><th>failures</th>"
            "<th>fidelity (last check)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        )
    return "\n".join(parts)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}
td.num{text-align:right;white-space:nowrap}.ci{color:#777;font-size:90%}h1{margin-bottom:0}.sub{color:#666}
"""


def render_html(data: ReportData, *, charts: str = "auto", title: str = "tianping monitor report") -> str:
    """The report as one self-contained HTML page; ``charts`` is "auto" (plotly if installed), "plotly" or "svg"."""
    if charts not in ("auto", "plotly", "svg"):
        raise ValueError(f"charts must be 'auto', 'plotly' or 'svg', got {charts!r}")
    chart_html: list[str] = []
    if data.days:
        if charts in ("auto", "plotly"):
            try:
                chart_html = _plotly_charts(data)
            except ImportError:
                if charts == "plotly":
                    raise
        if not chart_html:
            chart_html = _svg_charts(data)
    window = (
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(data.since))} to "
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(data.until))} UTC"
    )
    n = sum(d.n for d in data.days)
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p class=sub>{_e(window)} · {n} calls · {len(data.series)} provider/model series</p>",
    ]
    if not data.days:
        body.append("<p>No records in this window.</p>")
    else:
        body.append("<h2>Providers compared, per model (whole window)</h2>")
        body.append(
            "<p class=sub>Success rate with the Wilson 95% interval; TTFT and TPS medians of successful calls "
            "with percentile-bootstrap 95% intervals.</p>"
        )
        body.append(_comparison_tables(data))
        body.append("<h2>Daily trends</h2>")
        body.extend(f"<div class=chart>{c}</div>" for c in chart_html)
        body.append("<h2>Daily numbers</h2>")
        body.append(_day_table(data))
    meta = json.dumps({"since": data.since, "until": data.until, "calls": n}).replace("</", "<\\/")
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{_e(title)}</title><style>{_CSS}</style>"
        f'<script type="application/json" id="report-meta">{meta}</script></head><body>'
        + "\n".join(body)
        + "</body></html>"
    )


def write_report(
    store_path: str | Path, out: str | Path, *, days: int = 14, now: float | None = None, charts: str = "auto"
) -> ReportData:
    """Read the store, render the report for the last ``days`` days to ``out``; returns the data shown."""
    from tianping.fidelity.monitor_check import latest_statuses

    with MonitorStore(store_path) as store:
        data = report_from_store(store, days=days, now=now)
    data.fidelity = {key: status.text for key, status in latest_statuses(store_path).items()}
    Path(out).write_text(render_html(data, charts=charts), encoding="utf-8")
    return data
