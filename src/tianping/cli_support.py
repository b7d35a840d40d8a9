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


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def ci(low: float | None, high: float | None) -> str:
    return "—" if low is None or high is None else f"[{100 * low:.1f}, {100 * high:.1f}]"


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
        table.add_row(*cells(m.model, m.benchmark, m.metric), pct(m.score), ci(m.ci_low, m.ci_high), str(m.n),
                      *map(str, counts))  # fmt: skip
    out.print(table)
    if any(m.incomplete for m in rows):
        note("incomplete answers (thinking cut off by the token limit) count as not correct; the 'over completed'"
             " rows give the score over the answers that finished")  # fmt: skip
    if breakdowns:
        _print_breakdowns(breakdown_rows(store, run_id), None if breakdowns is True else list(breakdowns))


def _print_breakdowns(rows: list[Any], keys: list[str] | None) -> None:
    stored = list(dict.fromkeys(b.group_kind for b in rows))
    unknown = [k for k in keys or () if k not in stored]
    if unknown:
        raise fail(
            f"--breakdown {', '.join(unknown)}: not a breakdown of this run (it has: {', '.join(stored) or 'none'})"
        )
    for key in keys or stored:
        sub = Table(title=escape(f"by {key}"), title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("model", "benchmark", key):
            sub.add_column(escape(col), overflow="fold")
        for col in ("score %", "95% CI", "N"):
            sub.add_column(col, justify="right", no_wrap=True)
        for b in rows:
            if b.group_kind == key:
                sub.add_row(*cells(b.model, b.benchmark, b.group), pct(b.score), ci(b.ci_low, b.ci_high), str(b.n))
        out.print(sub)


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
