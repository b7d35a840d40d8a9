"""The commands that read stored results: ``runs``, ``show``, ``report``, ``export``, ``compare``, and
``benchmarks`` (what can be run). They open the result store read-only, so they work on a read-only mount."""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from tianping.cli.benchmark_list import list_benchmarks
from tianping.cli.common import (
    IndicatorsFile,
    ResultsDir,
    StoreUrl,
    check_output,
    listed_names,
    open_store,
    use_store,
)
from tianping.cli.errors import FAILED, fail
from tianping.cli.output import cells, ci, note, out, pct
from tianping.cli.scores import print_scores, print_sections, write_report


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


RUN_STATUSES = ("running", "completed", "incomplete", "failed", "interrupted")


def runs(
    results_dir: ResultsDir = None,
    store_url: StoreUrl = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Only runs with a model whose id contains this text.")
    ] = None,
    benchmark: Annotated[str | None, typer.Option("--benchmark", "-b", help="Only runs of this benchmark.")] = None,
    status: Annotated[str | None, typer.Option(help=f"Only runs in this state: {', '.join(RUN_STATUSES)}.")] = None,
    last: Annotated[
        int | None, typer.Option("--last", "-n", min=1, help="Only the newest N (after the filters).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (one object per run) instead of a table.")
    ] = False,
) -> None:
    """List runs, newest first (a run whose process died reads as interrupted)."""
    from tianping.core.suggest import unknown_key

    if status is not None and status not in RUN_STATUSES:
        raise fail(f"--status: {unknown_key(status, list(RUN_STATUSES), f'status {status!r}')}")
    use_store(store_url)
    store = open_store(results_dir, readonly=True, missing_ok=True)
    found = []
    for r in store.list_runs() if store is not None else []:
        spec = r["spec"]
        models = [m["id"] for m in spec.get("models", [])]
        benchmarks = list(spec.get("benchmarks", []))
        if model is not None and not any(model.lower() in m.lower() for m in models):
            continue
        if benchmark is not None and benchmark not in benchmarks and benchmark not in r["tasks"]:
            continue
        if status is not None and r["status"] != status:
            continue
        found.append({"run_id": r["run_id"], "status": r["status"], "started_at": r["started_at"],
                      "finished_at": r.get("finished_at"), "wall_s": r["wall_s"], "models": models,
                      "benchmarks": benchmarks})  # fmt: skip
    shown = found[:last] if last is not None else found
    if as_json:
        typer.echo(json.dumps(shown, ensure_ascii=False, indent=2))
        return
    narrow = out.width < 100  # 80 columns: the lists of models and benchmarks need the room
    table = Table(box=box.SIMPLE_HEAD)
    columns = ("run id", "status", "started", *(() if narrow else ("wall s",)), "models", "benchmarks")
    for col in columns:
        # a run id is what the other commands take: never cut short
        table.add_column(col, no_wrap=col in ("run id", "status", "started", "wall s"), overflow="fold")
    for r in shown:
        wall = f"{r['wall_s']:.1f}" if r["wall_s"] else ""
        started = r["started_at"][5:16] if narrow else r["started_at"][:16]
        values = (r["run_id"], r["status"], started.replace("T", " "), *(() if narrow else (wall,)),
                  ", ".join(r["models"]), ", ".join(r["benchmarks"]))  # fmt: skip
        table.add_row(*cells(*values))
    out.print(table)
    if len(shown) < len(found):
        out.print(f"the newest {len(shown)} of {len(found)} runs (--last)")


def _import_plugins(store: Any, run_id: str) -> None:
    """The run's plugins (``--include-path``), so that their tasks read as they did in the run."""
    from tianping.engine.tasks import import_run_plugins

    problem = import_run_plugins(store.get_run(run_id))
    if problem:
        note(problem)


def show(
    run_id: Annotated[str, typer.Argument(help="The run to show.")],
    results_dir: ResultsDir = None,
    store_url: StoreUrl = None,
    indicators: IndicatorsFile = None,
    breakdown: Annotated[
        list[str] | None,
        typer.Option("--breakdown", "-g", help="Only this breakdown (subject, category, level, ...); repeat."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the scores as 'run --json' writes them, with the run's status.")
    ] = False,
) -> None:
    """Print a run's score table with intervals, every breakdown it stored (subject, category, level, year, ...)
    and the indicator roll-up."""
    from tianping.cli.scores import summary
    from tianping.indicators import IndicatorTreeError
    from tianping.report.collect import RunNotFound
    from tianping.report.run_report import indicator_reports

    use_store(store_url)
    store = open_store(results_dir, readonly=True)
    _import_plugins(store, run_id)
    if as_json:
        record = store.get_run(run_id)
        if record is None:
            raise fail(store.no_run(run_id))
        data = {"status": record["status"], **summary(store, run_id, record["wall_s"] or 0.0)}
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    try:
        print_scores(store, run_id, breakdowns=breakdown or True)
        print_sections(store, run_id)
        _print_indicators(indicator_reports(store, run_id, indicators))
    except (RunNotFound, IndicatorTreeError) as exc:
        raise fail(str(exc)) from None


def report(
    run_id: Annotated[str, typer.Argument(help="The run to report.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="HTML file [default RESULTS/RUN.html].")] = None,
    results_dir: ResultsDir = None,
    indicators: IndicatorsFile = None,
    store_url: StoreUrl = None,
    open_it: Annotated[
        bool, typer.Option("--open", help="Open the report in the web browser ($BROWSER, else the system's).")
    ] = False,
) -> None:
    """Write one self-contained HTML report: scores, breakdowns, the indicator roll-up and every sample."""
    check_output(output, "--output")
    use_store(store_url)
    store = open_store(results_dir, readonly=True)
    _import_plugins(store, run_id)
    path = write_report(store, run_id, output, results_dir, indicators)
    out.print(escape(f"wrote {path}"))
    if open_it:
        import webbrowser

        if not webbrowser.open(Path(path).resolve().as_uri()):
            note("no web browser could be started here: open the file above")


def export(
    run_id: Annotated[str, typer.Argument(help="The run to export.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="JSONL file [default: standard output].")
    ] = None,
    results_dir: ResultsDir = None,
    store_url: StoreUrl = None,
    benchmark: Annotated[
        list[str] | None, typer.Option("--benchmark", "-b", help="Only this benchmark's samples; repeat, or a,b.")
    ] = None,
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="Only this model's samples; repeat.")] = None,
) -> None:
    """Write every sample of a run (or of some benchmarks and models) as JSON Lines (prompt, output, reasoning,
    answer, score, usage)."""
    from tianping.core.suggest import unknown_key

    check_output(output, "--output")
    use_store(store_url)
    store = open_store(results_dir, readonly=True)
    record = store.get_run(run_id)
    if record is None:
        raise fail(store.no_run(run_id))
    benchmarks, models = listed_names(benchmark or []), list(model or [])
    tasks = list(record["tasks"]) or list(record["spec"].get("benchmarks", []))  # an older run has no task records
    held = {"--benchmark": tasks, "--model": [m["id"] for m in record["spec"].get("models", [])]}
    for flag, names in (("--benchmark", benchmarks), ("--model", models)):
        for name in names:
            if name not in held[flag]:
                raise fail(f"{flag}: {unknown_key(name, held[flag], f'name {name!r} in run {run_id}')}")
    try:
        handle = output.open("w", encoding="utf-8") if output else sys.stdout
        with handle if output else contextlib.nullcontext():
            for row in store.sample_rows(run_id):
                if (benchmarks and row["benchmark"] not in benchmarks) or (models and row["model"] not in models):
                    continue
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise fail(f"--output {output}: cannot write: {exc.strerror}", FAILED) from None
    if output:
        out.print(escape(f"wrote {output}"))


def compare(
    run_a: Annotated[str, typer.Argument(help="Baseline run (or the one run whose two models are paired).")],
    run_b: Annotated[
        str | None, typer.Argument(help="Run compared with the baseline [default: the models of RUN_A].")
    ] = None,
    results_dir: ResultsDir = None,
    store_url: StoreUrl = None,
    model_a: Annotated[str | None, typer.Option(help="One run: the baseline model.")] = None,
    model_b: Annotated[str | None, typer.Option(help="One run: the model compared with it.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one object per benchmark).")] = False,
) -> None:
    """Paired difference (B - A) per benchmark on the samples both scored, with a paired test: two runs, or two
    models of one run (two endpoints of one model in a plan file)."""
    from tianping.report.compare import compare_models, compare_runs

    use_store(store_url)
    store = open_store(results_dir, readonly=True)
    for rid in (run_a, run_b):
        if rid is not None and store.get_run(rid) is None:
            raise fail(store.no_run(rid))
    if run_b is not None and (model_a or model_b):
        raise fail("--model-a and --model-b pair two models of one run: give one run")
    try:
        rows = (
            compare_runs(store, run_a, run_b) if run_b is not None else compare_models(store, run_a, model_a, model_b)
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    if not rows:
        raise fail(f"runs {run_a} and {run_b} share no scored samples" if run_b else f"run {run_a}: no shared samples")
    if as_json:
        data = [{"benchmark": r.benchmark, "metric": r.metric, "lower_is_better": r.lower_is_better,
                 "model_a": r.model_a, "model_b": r.model_b, **asdict(r.result), "b_better": r.b_better,
                 "a_better": r.a_better, "only_a": r.only_a, "only_b": r.only_b} for r in rows]  # fmt: skip
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    title = f"{run_b} − {run_a}" if run_b else f"{run_a}: {rows[0].model_b} − {rows[0].model_a}"
    narrow = out.width < NARROW_COMPARE
    out.print(_comparison_table(rows, title, narrow=narrow))
    if any(r.lower_is_better for r in rows):
        counts = "" if narrow else "; B better / A better count the samples so"  # narrow: those columns are left out
        out.print(f"↓ lower is better (B−A below 0 is B doing better){counts}")
    if any(r.only_a or r.only_b for r in rows):
        out.print("A only / B only: samples scored on one side only, left out of the pairing (N)")


NARROW_COMPARE = 130
"""Below this many columns compare keeps the paired numbers: the model pair and the test go in the title, the
metric too where every row has the same one, and the discordant counts are left to --json."""


def _comparison_table(rows: list[Any], title: str, *, narrow: bool) -> Table:
    """One row per benchmark, every column in a wide terminal; in a narrow one (80 columns) what fits."""
    pairs = {(r.model_a, r.model_b) for r in rows}
    metrics = {(r.metric, r.lower_is_better) for r in rows}
    in_title = narrow and len(pairs) == 1
    one_metric = narrow and len(metrics) == 1
    if in_title:
        ((model_a, model_b),) = pairs
        if model_b not in title:
            title += f" ({model_b} − {model_a})"
    if narrow:
        ((metric, lower),) = metrics if one_metric else ((None, False),)
        tests = " / ".join(sorted({r.result.test for r in rows}))
        title += (f"; {metric}{' ↓' if lower else ''}" if one_metric else "") + f"; {tests}"
    table = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD)
    names = ("benchmark", *(() if one_metric else ("metric",)), *(() if in_title else ("model A", "model B")))
    for col in names:
        table.add_column(col, overflow="fold", min_width=8)
    unpaired = any(r.only_a or r.only_b for r in rows)  # samples one side scored and the other did not
    tail = () if narrow else ("test", "B better", "A better")
    for col in ("N", "A %", "B %", "B−A pts", "95% CI", "p", *tail, *(("A only", "B only") if unpaired else ())):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        c = r.result
        text = {"benchmark": r.benchmark, "metric": f"{r.metric} ↓" if r.lower_is_better else r.metric,
                "model A": r.model_a, "model B": r.model_b}  # fmt: skip
        numbers = (str(c.n), pct(c.mean_a), pct(c.mean_b), f"{100 * c.diff:+.1f}", ci(c.ci_low, c.ci_high))
        table.add_row(*cells(*(text[n] for n in names)), *numbers, f"{c.p_value:.3g}",
                      *cells(*(() if narrow else (c.test, r.b_better, r.a_better))),
                      *((str(r.only_a), str(r.only_b)) if unpaired else ()))  # fmt: skip
    if narrow:
        table.caption = "B better / A better: --json, or a wider terminal"
        table.caption_justify = "left"
    return table


def register(app: typer.Typer) -> None:
    app.command()(runs)
    app.command()(show)
    app.command()(report)
    app.command()(export)
    app.command()(compare)
    app.command("benchmarks")(list_benchmarks)
