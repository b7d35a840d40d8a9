"""The ``tianping`` command line. A thin layer: each command parses flags and calls the library.

Heavy modules are imported inside the commands that use them, so that ``tianping run`` sends its
first request quickly and ``tianping runs`` does not load an HTTP client.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from tianping import __version__, exitcodes
from tianping.cli_support import (
    OPEN_STORES,
    IndicatorsFile,
    ResultsDir,
    cells,
    check_output,
    ci,
    console,
    fail,
    indicator_reports,
    open_store,
    out,
    pct,
    print_corrected,
    print_scores,
    write_report,
)

app = typer.Typer(
    name="tianping",
    help="tianping (天平): evaluate large language models and the services that serve them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[env TIANPING_DATA_DIR]" must not be read as markup
)


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"tianping {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    pass


def _print_indicators(reports: list[Any]) -> None:
    from tianping.indicators.rollup import composite_coverage

    for report in reports:
        table = Table(
            title=escape(f"indicator system {report.tree} v{report.tree_version}: {report.model}"),
            title_justify="left",
            box=box.SIMPLE_HEAD,
        )
        table.add_column("dimension")
        table.add_column("score %", justify="right")
        table.add_column("95% CI", justify="right", no_wrap=True)
        table.add_column("measured by", overflow="fold")
        c = report.composite
        table.add_row("[bold]composite[/]", pct(c.score), ci(c.ci_low, c.ci_high), escape(composite_coverage(c)))
        for d in report.dimensions:
            measured = ", ".join(d.measured_by) if d.measured_by else ("not measured" if d.capabilities else "declared")
            table.add_row(escape(d.name), pct(d.score), ci(d.ci_low, d.ci_high), escape(measured))
        out.print(table)


@app.command()
def runs(results_dir: ResultsDir = None) -> None:
    """List runs, newest first (a run whose process died reads as interrupted)."""
    store = open_store(results_dir, readonly=True, missing_ok=True)
    table = Table()
    for col in ("run id", "status", "started", "wall s", "models", "benchmarks"):
        table.add_column(col)
    for r in store.list_runs() if store is not None else []:
        spec = r["spec"]
        table.add_row(
            *cells(
                r["run_id"],
                r["status"],
                r["started_at"][:19],
                f"{r['wall_s']:.1f}" if r["wall_s"] else "",
                ", ".join(m["id"] for m in spec.get("models", [])),
                ", ".join(spec.get("benchmarks", [])),
            )
        )
    out.print(table)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="The run to show.")],
    results_dir: ResultsDir = None,
    indicators: IndicatorsFile = None,
    breakdown: Annotated[
        list[str] | None,
        typer.Option("--breakdown", "-g", help="Only this breakdown (subject, category, level, ...); repeat."),
    ] = None,
) -> None:
    """Print a run's score table with intervals, every breakdown it stored (subject, category, level, year, ...)
    and the indicator roll-up."""
    from tianping.indicators import IndicatorTreeError
    from tianping.report.collect import RunNotFound

    store = open_store(results_dir, readonly=True)
    try:
        print_scores(store, run_id, breakdowns=breakdown or True)
        print_corrected(store, run_id)
        _print_indicators(indicator_reports(store, run_id, indicators))
    except (RunNotFound, IndicatorTreeError) as exc:
        raise fail(str(exc)) from None


@app.command()
def report(
    run_id: Annotated[str, typer.Argument(help="The run to report.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="HTML file [default RESULTS/RUN.html].")] = None,
    results_dir: ResultsDir = None,
    indicators: IndicatorsFile = None,
) -> None:
    """Write one self-contained HTML report: scores, breakdowns, the indicator roll-up and every sample."""
    check_output(output, "--output")
    path = write_report(open_store(results_dir, readonly=True), run_id, output, results_dir, indicators)
    out.print(escape(f"wrote {path}"))


@app.command()
def export(
    run_id: Annotated[str, typer.Argument(help="The run to export.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="JSONL file [default: standard output].")
    ] = None,
    results_dir: ResultsDir = None,
) -> None:
    """Write every sample of a run as JSON Lines (prompt, output, reasoning, answer, score, usage)."""
    check_output(output, "--output")
    store = open_store(results_dir, readonly=True)
    if store.get_run(run_id) is None:
        raise fail(f"no run '{run_id}' in {store.url}")
    try:
        handle = output.open("w", encoding="utf-8") if output else sys.stdout
        with handle if output else contextlib.nullcontext():
            for row in store.sample_rows(run_id):
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise fail(f"--output {output}: cannot write: {exc.strerror}", exitcodes.FAILED) from None
    if output:
        out.print(escape(f"wrote {output}"))


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="Baseline run.")],
    run_b: Annotated[str, typer.Argument(help="Run compared with the baseline.")],
    results_dir: ResultsDir = None,
) -> None:
    """Paired difference (B - A) per benchmark on the samples both runs scored, with a paired test."""
    from tianping.report.compare import compare_runs

    store = open_store(results_dir, readonly=True)
    for rid in (run_a, run_b):
        if store.get_run(rid) is None:
            raise fail(f"no run '{rid}' in {store.url}")
    try:
        rows = compare_runs(store, run_a, run_b)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if not rows:
        raise fail(f"runs {run_a} and {run_b} share no scored samples")
    table = Table(title=escape(f"{run_b} − {run_a}"), title_justify="left")
    for col in ("benchmark", "model A", "model B"):
        table.add_column(col)
    for col in ("N", "A %", "B %", "B−A pts", "95% CI", "p", "test", "B better", "A better"):
        table.add_column(col, justify="right")
    for r in rows:
        c = r.result
        table.add_row(
            *cells(r.benchmark, r.model_a, r.model_b),
            str(c.n),
            pct(c.mean_a),
            pct(c.mean_b),
            f"{100 * c.diff:+.1f}",
            ci(c.ci_low, c.ci_high),
            f"{c.p_value:.3g}",
            c.test,
            str(c.b_better),
            str(c.a_better),
        )
    out.print(table)


@app.command("benchmarks")
def list_benchmarks() -> None:
    """List the bundled benchmarks."""
    from tianping.benchmarks.registry import builtin_definitions

    table = Table()
    table.add_column("name")
    table.add_column("version")
    table.add_column("description")
    for name, (definition, _) in sorted(builtin_definitions().items()):
        table.add_row(*cells(name, definition.version, definition.description))
    out.print(table)


def _register_serving_commands() -> None:
    """``run``, ``resume`` and ``quickstart`` live in cli_run, ``loadtest`` and ``monitor`` with the serving
    code; only their typer wiring is imported here."""
    from tianping import cli_run
    from tianping.safety import safety_cli
    from tianping.serving import loadtest_cli, monitor_cli

    cli_run.register(app)
    loadtest_cli.register(app)
    monitor_cli.register(app)
    safety_cli.register(app)


_register_serving_commands()


def main() -> None:
    from tianping.store.store import StoreBusy, StoreError, StoreFull

    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except StoreError as exc:  # a store that fails under a command (locked, full, read-only): one line, no traceback
        code = exitcodes.FAILED if isinstance(exc, StoreBusy | StoreFull) else exitcodes.BAD_INPUT
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
    finally:
        for store in OPEN_STORES:
            store.close()
    # Everything is committed and closed by now; skip the interpreter's module-by-module teardown,
    # which costs more than a tenth of a second with aiohttp, pydantic and rich loaded.
    sys.stdout.flush()
    sys.stderr.flush()
    if sys.gettrace() is None and sys.getprofile() is None:  # let coverage and profilers write their data
        os._exit(code)
    sys.exit(code)
