"""The self-contained HTML report: one file, no network, safe with untrusted model output.

Everything that comes from a run (model names, sample ids, prompts, outputs) is treated as hostile:
text that Jinja renders is autoescaped, and the samples travel as JSON inside a
``<script type="application/json">`` element with ``<``, ``>``, ``&``, U+2028 and U+2029 written as
``\\uXXXX`` escapes, so no string can close the element. The page script builds the sample table with
``textContent`` only, and a Content-Security-Policy lets nothing but that one script run (its hash is
computed from the template) and nothing at all be fetched.

Sample payload (the JSON in ``#samples``)::

    {"v": 1,
     "columns": ["model", "benchmark", "sample_id", "prompt", "output", "reasoning", "extracted",
                 "target", "score", "status", "error", "latency_s", "outcome"],
     "models": [...], "benchmarks": [...],
     "chunks": [...],
     "rows": [[model_index, benchmark_index, sample_id, [chunk_index, ...], output, ...], ...],
     "trajectories": {"row index": {"steps": [...], "checks": [...], ...}, ...}}

A prompt is stored as the indices of its paragraphs in ``chunks`` (joined back with ``"\\n\\n"``), so
few-shot examples shared by thousands of prompts are stored once. ``outcome`` is one of
:data:`OUTCOMES`. ``trajectories`` holds the steps of the samples played as episodes (an agent's model turns, tool
calls and results; ``tianping.agents.loop``), keyed by row index, for the step-by-step view; absent when none are.
``media`` holds the data URIs of the prompts' images (each once) and ``images`` each row's indices into it (-1:
an image not shown), keyed by row index; absent when no prompt has an image.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader

from tianping.core.results import BreakdownRow, MetricRow, RunInfo, SampleRow
from tianping.core.task import ReportSection
from tianping.indicators.rollup import IndicatorReport
from tianping.report.heatmap import CELL_KINDS, heatmap_views
from tianping.report.radar import radar_view

__all__ = ["OUTCOMES", "PROMPT_SEPARATOR", "render_html", "sample_outcome", "samples_payload"]

OUTCOMES = (
    "correct",
    "wrong",
    "extraction_failed",
    "incomplete",
    "unsafe",
    "safe",
    "refused",
    "answered",
    "unscorable",
    "skipped",
    "error",
)
"""What the sample table's status filter offers (and the ``status=`` URL hash parameter accepts)."""

PROMPT_SEPARATOR = "\n\n"
"""Prompts are split into paragraphs on this separator for storage in the payload."""

COLUMNS = (
    "model",
    "benchmark",
    "sample_id",
    "prompt",
    "output",
    "reasoning",
    "extracted",
    "target",
    "score",
    "status",
    "error",
    "latency_s",
    "outcome",
)

_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_JSON_UNSAFE = re.compile("[<>&\u2028\u2029\ud800-\udfff]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

_GROUP_ORDER = {"category": 0, "subject": 1}
_OK_STATUSES = {"completed", "complete", "finished", "done", "succeeded", "success", "ok"}
_BAD_STATUSES = {"failed", "failure", "error", "errored", "crashed", "aborted", "cancelled", "canceled"}

_env: Environment | None = None


def _environment() -> Environment:
    global _env
    if _env is None:
        env = Environment(
            loader=PackageLoader("tianping.report", "templates"),
            autoescape=True,  # always: model output is untrusted
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["csp_sha256"] = _csp_sha256
        _env = env
    return _env


def _csp_sha256(text: str) -> str:
    digest = hashlib.sha256(str(text).encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def _json_for_script(value: Any) -> str:
    """JSON that can sit inside a ``<script>`` element and inside HTML without ending either."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    def escape(match: re.Match[str]) -> str:
        ch = match.group(0)
        return _JSON_ESCAPES.get(ch) or f"\\u{ord(ch):04x}"

    return _JSON_UNSAFE.sub(escape, text)


def _finite(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def sample_outcome(sample: SampleRow, verdicts: Collection[str] | None = None) -> str:
    """``correct`` (full score), ``wrong`` (including partial credit), ``extraction_failed`` (scored
    but nothing extracted), the task's own verdict where its extracted value is one (``verdicts``, from the task's
    kind, ``tianping.engine.tasks.outcome_labels``, such as ``unsafe``, ``safe``, ``refused``,
    ``answered``; looked up when not given), ``incomplete``,
    ``unscorable``, ``skipped`` or ``error``."""
    if sample.status == "error":
        return "error"
    if sample.status in ("incomplete", "unscorable", "skipped"):
        return sample.status
    if sample.status != "scored":
        return "error" if sample.error else "incomplete"
    if verdicts is None:
        from tianping.engine.tasks import outcome_labels

        verdicts = outcome_labels(sample.benchmark)
    if sample.extracted is not None and sample.extracted in verdicts:  # "correct" would praise harm
        return sample.extracted
    if sample.extracted is None:
        return "extraction_failed"
    score = _finite(sample.score)
    if score is not None and score >= 1.0 - 1e-9:
        return "correct"
    return "wrong"


def samples_payload(
    samples: Iterable[SampleRow], verdicts: Mapping[str, Collection[str]] | None = None
) -> dict[str, Any]:
    """The compact, JSON-ready form of the samples that the page embeds (see the module docstring);
    ``verdicts``: per task, the extracted values that are its outcomes (``sample_outcome``)."""
    from tianping.engine.tasks import outcome_labels

    verdicts = dict(verdicts or {})
    models: dict[str, int] = {}
    benchmarks: dict[str, int] = {}
    chunks: dict[str, int] = {}
    rows: list[list[Any]] = []
    trajectories: dict[str, Any] = {}
    media: dict[str, int] = {}
    images: dict[str, list[int]] = {}
    for s in samples:
        if s.trajectory is not None:
            trajectories[str(len(rows))] = s.trajectory
        if s.images:  # each picture once in the page, however many samples show it
            images[str(len(rows))] = [media.setdefault(uri, len(media)) if uri else -1 for uri in s.images]
        m = models.setdefault(s.model, len(models))
        b = benchmarks.setdefault(s.benchmark, len(benchmarks))
        prompt = [chunks.setdefault(part, len(chunks)) for part in (s.prompt or "").split(PROMPT_SEPARATOR)]
        latency = _finite(s.latency_s)
        rows.append(
            [
                m,
                b,
                s.sample_id,
                prompt,
                s.output,
                s.reasoning,
                s.extracted,
                s.target,
                _finite(s.score),
                s.status,
                s.error,
                None if latency is None else round(latency, 3),
                sample_outcome(s, verdicts.setdefault(s.benchmark, tuple(outcome_labels(s.benchmark)))),
            ]
        )
    return {
        "v": 1,
        "columns": list(COLUMNS),
        "models": list(models),
        "benchmarks": list(benchmarks),
        "chunks": list(chunks),
        "rows": rows,
        **({"trajectories": trajectories} if trajectories else {}),
        **({"media": list(media), "images": images} if images else {}),
    }


def _pct(x: float | None, unit: str = "rate") -> str:
    """A rate as a percentage; a count (``unit="count"``) as the number itself."""
    x = _finite(x)
    if x is None:
        return "—"
    return f"{x:.2f}" if unit == "count" else f"{x * 100:.1f}"


def _ci(lo: float | None, hi: float | None, unit: str = "rate") -> str:
    lo, hi = _finite(lo), _finite(hi)
    if lo is None or hi is None:
        return "—"
    return f"[{lo:.2f}, {hi:.2f}]" if unit == "count" else f"[{lo * 100:.1f}, {hi * 100:.1f}]"


def _clamp01(x: float) -> float:
    return min(1.0, max(0.0, x))


def _bar(score: float | None, lo: float | None, hi: float | None) -> dict[str, float] | None:
    """Positions (0-100) for the inline interval bar, or None when there is no score."""
    score = _finite(score)
    if score is None:
        return None
    lo, hi = _finite(lo), _finite(hi)
    bar = {"score": round(_clamp01(score) * 100, 2)}
    if lo is not None and hi is not None:
        a, b = sorted((_clamp01(lo), _clamp01(hi)))
        bar["lo"] = round(a * 100, 2)
        bar["width"] = round(max(b - a, 0.0) * 100, 2)
    return bar


def _sort_value(x: float | None) -> str:
    x = _finite(x)
    return "" if x is None else repr(x)


def _metric_view(r: MetricRow) -> dict[str, Any]:
    return {
        "model": r.model,
        "benchmark": r.benchmark,
        "metric": r.metric,
        "score": _pct(r.score, r.unit),
        "score_v": _sort_value(r.score),
        "ci": _ci(r.ci_low, r.ci_high, r.unit),
        "ci_v": _sort_value(r.ci_low),
        "bar": _bar(r.score, r.ci_low, r.ci_high) if r.unit == "rate" else None,
        "n": r.n,
        "extraction_failures": r.extraction_failures,
        "incomplete": r.incomplete,
        "errors": r.errors,
        "unscorable": r.unscorable,
        "skipped": r.skipped,
    }


def _section_views(info: RunInfo, metrics: Sequence[MetricRow]) -> list[ReportSection]:
    """The tables the run's task kinds add (``TaskKind.report_sections``)."""
    from tianping.engine.tasks import report_sections

    return report_sections(info, metrics)


def _breakdown_views(breakdowns: Sequence[BreakdownRow]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for r in breakdowns:
        kinds = groups.setdefault((r.model, r.benchmark), {})
        kinds.setdefault(r.group_kind, []).append(
            {
                "group": r.group,
                "score": _pct(r.score),
                "score_v": _sort_value(r.score),
                "ci": _ci(r.ci_low, r.ci_high),
                "ci_v": _sort_value(r.ci_low),
                "bar": _bar(r.score, r.ci_low, r.ci_high),
                "n": r.n,
            }
        )
    views = []
    for (model, benchmark), kinds in groups.items():
        ordered = sorted(kinds.items(), key=lambda kv: (_GROUP_ORDER.get(kv[0], 2), kv[0]))
        views.append(
            {
                "model": model,
                "benchmark": benchmark,
                "kinds": [{"kind": kind, "rows": rows} for kind, rows in ordered],
                "count": sum(len(rows) for rows in kinds.values()),
            }
        )
    return views


def _duration(started: str, finished: str | None) -> str | None:
    if not finished:
        return None
    try:
        seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    except (TypeError, ValueError):
        return None
    if seconds < 0:
        return None
    h, rest = divmod(int(round(seconds)), 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def _status_class(status: str) -> str:
    s = status.strip().lower()
    if s in _OK_STATUSES:
        return "ok"
    if s in _BAD_STATUSES:
        return "bad"
    return "warn"


def render_html(
    info: RunInfo,
    metrics: Sequence[MetricRow],
    breakdowns: Sequence[BreakdownRow],
    samples: Iterable[SampleRow],
    indicators: Sequence[IndicatorReport] = (),
) -> str:
    """The report as one self-contained HTML document (write it with ``encoding="utf-8"``).

    ``indicators``: the run rolled up the indicator tree, one report per model (a dimension table and
    a radar chart); left out when empty.
    """
    payload = samples_payload(samples)
    template = _environment().get_template("report.html.j2")
    html = template.render(
        info=info,
        status_class=_status_class(info.status),
        duration=_duration(info.started_at, info.finished_at),
        spec_json=json.dumps(info.spec, indent=2, ensure_ascii=False, sort_keys=False, default=str),
        metrics=[_metric_view(r) for r in metrics],
        judged=any(r.unscorable or r.skipped for r in metrics),
        breakdowns=_breakdown_views([b for b in breakdowns if b.group_kind not in CELL_KINDS]),
        heatmaps=heatmap_views(breakdowns),
        sections=_section_views(info, metrics),
        sample_count=len(payload["rows"]),
        samples_json=_json_for_script(payload),
        outcomes=OUTCOMES,
        indicators=[r for r in indicators if r.composite.score is not None],
        radar=radar_view([r for r in indicators if r.composite.score is not None]),
        pct=lambda v: "—" if v is None else f"{100 * v:.1f}",
        ci=lambda node: "—" if node.ci_low is None else f"[{100 * node.ci_low:.1f}, {100 * node.ci_high:.1f}]",
    )
    # A lone surrogate (from undecodable bytes upstream) cannot be written as UTF-8; the JSON has
    # them escaped already, so only text rendered by Jinja can still hold one.
    return _LONE_SURROGATE.sub("\ufffd", html)
