"""One run's HTML report from the store: the scores, the indicator roll-up, the breakdowns and every sample (what
``tianping report`` writes and ``Evaluation.report`` in Python)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tianping.store import Store


def indicator_reports(store: Store, run_id: str, indicators: Path | None = None) -> list[Any]:
    """The run's scores rolled up by the indicator tree (``indicators``: a tree file; the bundled one by default),
    one report per model that has a composite score."""
    from tianping.indicators import default_tree, load_tree, rollup
    from tianping.report.collect import metric_rows

    tree = load_tree(indicators) if indicators else default_tree()
    return [r for r in rollup(tree, metric_rows(store, run_id)) if r.composite.score is not None]


def run_report_html(store: Store, run_id: str, indicators: Path | None = None) -> str:
    """The report's HTML. Raises ``RunNotFound`` for an unknown run and ``IndicatorTreeError`` for a bad tree."""
    from tianping.report.collect import breakdown_rows, metric_rows, run_info, sample_rows
    from tianping.report.html import render_html

    info = run_info(store, run_id)
    rolled_up = indicator_reports(store, run_id, indicators)
    return render_html(
        info, metric_rows(store, run_id), breakdown_rows(store, run_id), sample_rows(store, run_id), rolled_up
    )
