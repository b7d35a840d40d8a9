"""The data-check report as one self-contained HTML page.

Dataset text is untrusted (a row may hold ``<script>``): every value is rendered by Jinja with autoescaping, the
page has no script at all, and its Content-Security-Policy allows nothing but its own inline style (by hash), so
even a value that escaped escaping could not run or fetch anything.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader

from tianping.quality.findings import KINDS, QualityReport

__all__ = ["MAX_SHOWN", "render_report"]

MAX_SHOWN = 200
"""Findings shown per kind; the JSON report has them all."""
MAX_TEXT = 1500
"""Characters of an item's text shown before it is cut."""

_env: Environment | None = None


def _environment() -> Environment:
    global _env
    if _env is None:
        _env = Environment(
            loader=PackageLoader("tianping.quality", "templates"),
            autoescape=True,  # always: dataset text is untrusted
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _env.filters["csp_sha256"] = _csp_sha256
        _env.filters["cut"] = _cut
        _env.filters["number"] = _number
    return _env


def _csp_sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(str(text).encode("utf-8")).digest()).decode("ascii")


def _cut(text: Any, limit: int = MAX_TEXT) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[:limit] + f" … [{len(text) - limit} more characters]"


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def render_report(report: QualityReport, generated_at: datetime | None = None) -> str:
    counts = report.counts()
    by_kind: dict[str, list[Any]] = {kind: [] for kind in KINDS}
    for finding in report.findings:
        by_kind.setdefault(finding.kind, []).append(finding)
    sections = [
        {
            "kind": kind,
            "meaning": KINDS.get(kind, ""),
            "items": counts.get(kind, 0),
            "findings": found[:MAX_SHOWN],
            "hidden": max(0, len(found) - MAX_SHOWN),
        }
        for kind, found in by_kind.items()
        if found
    ]
    summary = [
        {
            "kind": kind,
            "meaning": meaning,
            "items": counts.get(kind, 0),
            "example": next((f.reason for f in report.findings if f.kind == kind), ""),
        }
        for kind, meaning in KINDS.items()
    ]
    return (
        _environment()
        .get_template("data_check.html.j2")
        .render(
            report=report,
            summary=summary,
            sections=sections,
            generated_at=(generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        )
    )
