"""What every command shares: the consoles, one way to fail (one line, an exit code from ``exitcodes``),
output paths checked before work starts, and the result store opened for reading or writing.

A user error never ends in a traceback: it ends in ``error: <what, naming the file, field or flag>`` and exit 2.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tianping import exitcodes

console = Console(stderr=True, highlight=False)
out = Console(highlight=False)
if not out.is_terminal:  # piped or logged: do not squeeze tables into 80 columns
    out = Console(width=160, highlight=False)

IndicatorsFile = Annotated[
    Path | None,
    typer.Option("--indicators", help="Indicator tree YAML: dimension -> capability -> benchmarks [default: bundled]."),
]
ResultsDir = Annotated[
    Path | None,
    typer.Option(
        "--results-dir", help="Where the result database lives [env TIANPING_RESULTS_DIR, default ./results]."
    ),
]

OPEN_STORES: list[Any] = []
"""Stores opened by a command; closed by ``main`` before the process exits."""


def fail(message: str, code: int = exitcodes.BAD_INPUT) -> typer.Exit:
    """Print one error line (model output and file names are escaped, never read as markup) and return the
    exit to raise."""
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


def note(message: str) -> None:
    console.print(escape(message), soft_wrap=True)


def check_output(path: Path | None, flag: str) -> None:
    """Refuse, before any work is done, an output path that cannot be written: a directory, or a file in a
    folder that cannot be created or written."""
    if path is None:
        return
    if path.is_dir():
        raise fail(f"{flag} {path}: is a directory; give a file name")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise fail(f"{flag} {path}: cannot create the folder {parent}: part of that path is a file") from None
    except OSError as exc:
        raise fail(f"{flag} {path}: cannot create the folder {parent}: {exc.strerror or exc}") from None
    if not os.access(parent, os.W_OK):
        raise fail(f"{flag} {path}: the folder {parent} is not writable")


def write_output(path: Path, text: str, flag: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"{flag} {path}: cannot write: {exc.strerror or exc}", exitcodes.FAILED) from None


def open_store(results_dir: Path | None, *, readonly: bool = False, missing_ok: bool = False) -> Any:
    """The result store (a ``Store``) under ``results_dir`` (default: $TIANPING_RESULTS_DIR or ./results).
    Commands that only read open it read-only, so that they work on a read-only mount and never create a
    store; ``missing_ok`` returns None where there is none yet."""
    from tianping.spec import default_results_dir
    from tianping.store import Store
    from tianping.store.store import DB_FILENAME, StoreError

    folder = results_dir or default_results_dir()
    if missing_ok and not (folder / DB_FILENAME).exists():
        return None
    try:
        store = Store.open(folder, readonly=readonly)
    except StoreError as exc:
        raise fail(str(exc)) from None
    store.notice = note
    OPEN_STORES.append(store)
    return store


def cells(*values: Any) -> list[str]:
    """Table cells from values that may hold markup-like text (model names, subjects, run ids)."""
    return [escape(str(v)) for v in values]


def pct(value: float | None, unit: str = "rate") -> str:
    """A rate as a percentage; a count (``unit="count"``) as the number itself."""
    if value is None:
        return "—"
    return f"{value:.2f}" if unit == "count" else f"{100 * value:.1f}"


def ci(low: float | None, high: float | None, unit: str = "rate") -> str:
    if low is None or high is None:
        return "—"
    return f"[{low:.2f}, {high:.2f}]" if unit == "count" else f"[{100 * low:.1f}, {100 * high:.1f}]"


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


def print_scores(store: Any, run_id: str, *, breakdowns: bool | Sequence[str] = False) -> None:
    """The score table; with ``breakdowns`` also every breakdown the run stored (subject, category, level, ...),
    or those named."""
    from tianping.report.collect import breakdown_rows, metric_rows, run_info

    info = run_info(store, run_id)
    table = Table(title=escape(f"run {run_id} ({info.status})"), title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("model", "benchmark", "metric"):
        table.add_column(col, overflow="fold")
    rows = metric_rows(store, run_id)
    judged = any(m.unscorable or m.skipped for m in rows)  # safety runs: two more counts beside the score
    extra = ("unscorable", "skipped") if judged else ()
    for col in ("score %", "95% CI", "N", "no answer", "incompl.", "errors", *extra):
        table.add_column(col, justify="right", no_wrap=True)
    for m in rows:
        counts = [m.extraction_failures, m.incomplete, m.errors, *((m.unscorable, m.skipped) if judged else ())]
        score = (pct(m.score, m.unit), ci(m.ci_low, m.ci_high, m.unit), str(m.n))
        table.add_row(*cells(m.model, m.benchmark, m.metric), *score, *map(str, counts))
    out.print(table)
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


def print_run_summary(store: Any, run_id: str, benchmarks: Sequence[Any], spec: Any) -> None:
    """What ``run`` prints after the score table for tasks that ask for it: the safety suite's rates per seed set
    and per attack (with the engagement rate beside them), and which judge decided them."""
    from tianping.report.collect import breakdown_rows

    wanted = {b.name: list(b.summary_breakdowns) for b in benchmarks if b.summary_breakdowns}
    if not wanted:
        return
    rows = [r for r in breakdown_rows(store, run_id, every_metric=True) if r.benchmark in wanted]
    for name, keys in wanted.items():
        mine = [r for r in rows if r.benchmark == name]
        present = [k for k in keys if any(r.group_kind == k for r in mine)]
        if present:
            print_breakdowns(mine, present)
    print_corrected(store, run_id)
    judge = spec.judge.id if spec.judge is not None else None
    preset = getattr(spec, "judge_preset", None)
    if judge is None:
        note("verdicts by the rule judge (no --judge-model); intervals are clustered by seed prompt")
    else:
        note(f"verdicts by the LLM judge {judge}" + (f" (preset {preset})" if preset else "")
             + "; intervals are clustered by seed prompt")  # fmt: skip


def print_corrected(store: Any, run_id: str) -> None:
    """Safety rates beside their values corrected for the judge's measured errors (Rogan-Gladen)."""
    from tianping.report.collect import metric_rows, run_info
    from tianping.safety.correction import corrected_rows, judge_name_of

    try:
        rows = corrected_rows(metric_rows(store, run_id), judge_name_of(run_info(store, run_id).spec))
    except (OSError, ValueError) as exc:  # a missing or broken calibration file costs this table only
        note(f"no judge-corrected rates: {exc}")
        return
    if not rows:
        return
    table = Table(title="corrected for the judge's errors (Rogan-Gladen)", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("model", "benchmark", "metric"):
        table.add_column(col, overflow="fold")
    for col in ("observed %", "corrected %", "95% CI", "judge Se / Sp"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("calibration / note", overflow="fold")
    for r in rows:
        accuracy = "—" if r.sensitivity is None else f"{pct(r.sensitivity)} / {pct(r.specificity)}"
        source = escape("; ".join(filter(None, (r.calibration_set, r.note))))
        table.add_row(*cells(r.model, r.benchmark, r.metric), pct(r.observed), pct(r.corrected),
                      ci(r.ci_low, r.ci_high), accuracy, source)  # fmt: skip
    out.print(table)


def indicator_reports(store: Any, run_id: str, indicators: Path | None) -> list[Any]:
    from tianping.indicators import default_tree, load_tree, rollup
    from tianping.report.collect import metric_rows

    tree = load_tree(indicators) if indicators else default_tree()
    return [r for r in rollup(tree, metric_rows(store, run_id)) if r.composite.score is not None]


def write_report(
    store: Any, run_id: str, output: Path | None, results_dir: Path | None, indicators: Path | None
) -> Path:
    from tianping.indicators import IndicatorTreeError
    from tianping.report.collect import RunNotFound, breakdown_rows, metric_rows, run_info, sample_rows
    from tianping.report.html import render_html
    from tianping.spec import check_run_id, default_results_dir

    try:
        info = run_info(store, run_id)
        rolled_up = indicator_reports(store, run_id, indicators)
        if output is None:
            check_run_id(run_id)  # the default file is named after the run: it must stay in the results folder
    except (RunNotFound, IndicatorTreeError) as exc:
        raise fail(str(exc)) from None
    except ValueError as exc:
        raise fail(f"{exc}; give the report a file name with --output") from None
    html = render_html(
        info, metric_rows(store, run_id), breakdown_rows(store, run_id), sample_rows(store, run_id), rolled_up
    )
    path = output or (results_dir or default_results_dir()) / f"{run_id}.html"
    write_output(path, html, "--output")
    return path
