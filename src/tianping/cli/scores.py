"""What a run's results look like on the terminal and on disk, shared by ``run``, ``resume``, ``quickstart``
and the commands that read results (``show``, ``report``): the score table, the breakdowns, the safety summary
and its judge-corrected rates, the indicator roll-up, the JSON summary and the HTML report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table

from tianping.cli.common import write_output
from tianping.cli.errors import fail
from tianping.cli.output import cells, ci, note, out, pct


def summary(store: Any, run_id: str, wall_s: float) -> dict[str, Any]:
    from tianping.report.collect import metric_rows

    return {
        "run_id": run_id,
        "wall_s": round(wall_s, 3),
        "results": [
            {
                "model": m.model,
                "benchmark": m.benchmark,
                "metric": m.metric,
                "score": m.score,
                "n": m.n,
                "ci_low": m.ci_low,
                "ci_high": m.ci_high,
                "extraction_failures": m.extraction_failures,
                "incomplete": m.incomplete,
                "errors": m.errors,
                "unscorable": m.unscorable,
                "skipped": m.skipped,
            }
            for m in metric_rows(store, run_id)
        ],
    }


NAME_MIN_WIDTH = 14
NARROW_SCORES = 110
"""Below this many columns the score table keeps only the counts (no answer, incomplete, errors) that are not 0."""


def print_scores(store: Any, run_id: str, *, breakdowns: bool | Sequence[str] = False) -> None:
    """The score table; with ``breakdowns`` also every breakdown the run stored (subject, category, level, ...),
    or those named."""
    from tianping.report.collect import breakdown_rows, metric_rows, run_info

    info = run_info(store, run_id)
    table = Table(title=escape(f"run {run_id} ({info.status})"), title_justify="left", box=box.SIMPLE_HEAD)
    rows = metric_rows(store, run_id)
    names = [(m.model, m.benchmark, m.metric) for m in rows]
    for i, col in enumerate(("model", "benchmark", "metric")):
        # never squeezed to two letters a line by the number columns (an 80-column terminal)
        longest = max((len(n[i]) for n in names), default=len(col))
        table.add_column(col, overflow="fold", min_width=min(longest, NAME_MIN_WIDTH))
    judged = any(m.unscorable or m.skipped for m in rows)  # safety runs: two more counts beside the score
    counted = {
        "no answer": [m.extraction_failures for m in rows],
        "incompl.": [m.incomplete for m in rows],
        "errors": [m.errors for m in rows],
        **({"unscorable": [m.unscorable for m in rows], "skipped": [m.skipped for m in rows]} if judged else {}),
    }
    narrow = out.width < NARROW_SCORES
    shown = {k: v for k, v in counted.items() if not narrow or any(v)}  # narrow: only the counts that are not 0
    for col in ("score %", "95% CI", "N", *shown):
        table.add_column(col, justify="right", no_wrap=True)
    for i, m in enumerate(rows):
        score = (pct(m.score, m.unit), ci(m.ci_low, m.ci_high, m.unit), str(m.n))
        table.add_row(*cells(m.model, m.benchmark, m.metric), *score, *(str(v[i]) for v in shown.values()))
    out.print(table)
    if len(shown) < len(counted):
        note(f"{', '.join(k for k in counted if k not in shown)}: 0 in every row")
    if any(m.incomplete for m in rows):
        note("incomplete answers (thinking cut off by the token limit) count as not correct; the 'over completed'"
             " rows give the score over the answers that finished")  # fmt: skip
    if breakdowns:
        rows = breakdown_rows(store, run_id, every_metric=True)
        print_breakdowns(rows, None if breakdowns is True else list(breakdowns))


def print_breakdowns(rows: list[Any], keys: list[str] | None) -> None:
    """One table per breakdown key (all the rows have, or ``keys``); a metric column where a table holds more
    than one metric."""
    stored = list(dict.fromkeys(b.group_kind for b in rows))
    unknown = [k for k in keys or () if k not in stored]
    if unknown:
        have = ", ".join(stored) or "none"
        raise fail(f"--breakdown {', '.join(unknown)}: not a breakdown of this run (it has: {have})")
    for key in keys or stored:
        chosen = [b for b in rows if b.group_kind == key]
        several = len({b.metric for b in chosen}) > 1
        sub = Table(title=escape(f"by {key}"), title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("model", "benchmark", key, *(("metric",) if several else ())):
            sub.add_column(escape(col), overflow="fold")
        for col in ("score %", "95% CI", "N"):
            sub.add_column(col, justify="right", no_wrap=True)
        for b in chosen:
            names = cells(b.model, b.benchmark, b.group, *((b.metric,) if several else ()))
            sub.add_row(*names, pct(b.score), ci(b.ci_low, b.ci_high), str(b.n))
        out.print(sub)


def print_run_summary(store: Any, run_id: str, benchmarks: Sequence[Any]) -> None:
    """What ``run`` prints after the score table: the breakdowns each task asks to show there (the safety suite's
    rates per seed set and per attack), then the tables the tasks' kinds add (``print_sections``)."""
    from tianping.report.collect import breakdown_rows

    wanted = {b.name: list(b.summary_breakdowns) for b in benchmarks if b.summary_breakdowns}
    if wanted:
        rows = [r for r in breakdown_rows(store, run_id, every_metric=True) if r.benchmark in wanted]
        for name, keys in wanted.items():
            mine = [r for r in rows if r.benchmark == name]
            present = [k for k in keys if any(r.group_kind == k for r in mine)]
            if present:
                print_breakdowns(mine, present)
    print_sections(store, run_id)


def print_sections(store: Any, run_id: str) -> None:
    """The further tables of the run's task kinds (``TaskKind.report_sections``): the safety suite's rates
    corrected for the judge's errors and the judge that decided them."""
    from tianping.engine.tasks import report_sections
    from tianping.report.collect import metric_rows, run_info

    for section in report_sections(run_info(store, run_id), metric_rows(store, run_id)):
        if section.rows:
            table = Table(title=escape(section.title), title_justify="left", box=box.SIMPLE_HEAD)
            for col in section.columns:
                table.add_column(escape(col), overflow="fold")
            for row in section.rows:
                table.add_row(*cells(*row))
            out.print(table)
        if section.note and section.rows:  # explains the table: on standard output with it
            out.print(escape(section.note), style="dim")
        elif section.note:  # a remark alone, like the other notes
            note(section.note)


def write_report(
    store: Any, run_id: str, output: Path | None, results_dir: Path | None, indicators: Path | None
) -> Path:
    from tianping.indicators import IndicatorTreeError
    from tianping.report.collect import RunNotFound
    from tianping.report.run_report import run_report_html
    from tianping.spec import check_run_id, default_results_dir

    try:
        if output is None:
            check_run_id(run_id)  # the default file is named after the run: it must stay in the results folder
    except ValueError as exc:
        raise fail(f"{exc}; give the report a file name with --output") from None
    try:
        html = run_report_html(store, run_id, indicators)
    except (RunNotFound, IndicatorTreeError) as exc:
        raise fail(str(exc)) from None
    path = output or (results_dir or default_results_dir()) / f"{run_id}.html"
    write_output(path, html, "--output")
    return path
