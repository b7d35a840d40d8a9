"""The ``tianping`` command line. A thin layer: each command parses flags and calls the library.

Heavy modules are imported inside the commands that use them, so that ``tianping run`` sends its
first request quickly and ``tianping runs`` does not load an HTTP client.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tianping import __version__

app = typer.Typer(
    name="tianping",
    help="tianping (天平): evaluate large language models and the services that serve them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()
if not out.is_terminal:  # piped or logged: do not squeeze tables into 80 columns
    out = Console(width=160)

_OPEN_STORES: list[Any] = []  # closed by main() before it exits
EXIT_INCOMPLETE, EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 1, 2, 3, 130

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


def _split_list(values: list[str] | None) -> list[str] | None:
    """``--x a,b --x c`` -> ``[a, b, c]``; None when nothing was given."""
    items = [v.strip() for value in values or [] for v in value.split(",") if v.strip()]
    return items or None


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def _open_store(results_dir: Path | None):  # -> Store (lazy import keeps start-up light)
    from tianping.spec import default_results_dir
    from tianping.store import Store

    store = Store.open(results_dir or default_results_dir())
    _OPEN_STORES.append(store)
    return store


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _ci(low: float | None, high: float | None) -> str:
    return "—" if low is None or high is None else f"[{100 * low:.1f}, {100 * high:.1f}]"


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


def _summary(store: Any, run_id: str, wall_s: float) -> dict[str, Any]:
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


def _print_scores(store: Any, run_id: str, *, breakdowns: bool = False) -> None:
    from tianping.report.collect import breakdown_rows, metric_rows, run_info

    info = run_info(store, run_id)
    table = Table(title=f"run {run_id} ({info.status})", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("model", "benchmark", "metric"):
        table.add_column(col, overflow="fold")
    rows = metric_rows(store, run_id)
    judged = any(m.unscorable or m.skipped for m in rows)  # safety runs: two more counts beside the score
    extra = ("unscorable", "skipped") if judged else ()
    for col in ("score %", "95% CI", "N", "no answer", "incompl.", "errors", *extra):
        table.add_column(col, justify="right", no_wrap=True)
    for m in rows:
        counts = [m.extraction_failures, m.incomplete, m.errors, *((m.unscorable, m.skipped) if judged else ())]
        table.add_row(m.model, m.benchmark, m.metric, _pct(m.score), _ci(m.ci_low, m.ci_high), str(m.n),
                      *map(str, counts))  # fmt: skip
    out.print(table)
    if breakdowns:
        rows = [b for b in breakdown_rows(store, run_id) if b.group_kind == "category"]
        if rows:
            sub = Table(title="by category", title_justify="left", box=box.SIMPLE_HEAD)
            for col in ("model", "benchmark", "category"):
                sub.add_column(col)
            for col in ("score %", "95% CI", "N"):
                sub.add_column(col, justify="right")
            for b in rows:
                sub.add_row(b.model, b.benchmark, b.group, _pct(b.score), _ci(b.ci_low, b.ci_high), str(b.n))
            out.print(sub)


def _indicator_reports(store: Any, run_id: str, indicators: Path | None) -> list[Any]:
    from tianping.indicators import default_tree, load_tree, rollup
    from tianping.report.collect import metric_rows

    tree = load_tree(indicators) if indicators else default_tree()
    return [r for r in rollup(tree, metric_rows(store, run_id)) if r.composite.score is not None]


def _print_indicators(reports: list[Any]) -> None:
    for report in reports:
        table = Table(
            title=f"indicator system {report.tree} v{report.tree_version}: {report.model}",
            title_justify="left",
            box=box.SIMPLE_HEAD,
        )
        table.add_column("dimension")
        table.add_column("score %", justify="right")
        table.add_column("95% CI", justify="right", no_wrap=True)
        table.add_column("measured by", overflow="fold")
        c = report.composite
        table.add_row("[bold]composite[/]", _pct(c.score), _ci(c.ci_low, c.ci_high), ", ".join(c.measured_by))
        for d in report.dimensions:
            note = ", ".join(d.measured_by) if d.measured_by else ("not measured" if d.capabilities else "declared")
            table.add_row(escape(d.name), _pct(d.score), _ci(d.ci_low, d.ci_high), escape(note))
        out.print(table)


def _execute(store: Any, spec: Any, run_id: str, summary_json: Path | None, benchmarks: Any = None) -> None:
    """Run (or resume) and exit with a code that says how it ended."""
    from tianping.engine.runner import Runner
    from tianping.progress import RichProgress

    progress = RichProgress(console)
    runner = Runner(spec, store, run_id, progress, benchmarks)
    console.print(f"run [bold]{run_id}[/] -> {store.url}", highlight=False)
    try:
        result = _run_async(runner.execute())
    except KeyboardInterrupt:
        raise _fail(
            f"interrupted; answers so far are stored. Resume with: tianping resume {run_id}", EXIT_INTERRUPTED
        ) from None
    finally:
        progress.stop()
    if summary_json is not None:
        summary_json.parent.mkdir(parents=True, exist_ok=True)
        summary_json.write_text(json.dumps(_summary(store, run_id, result.wall_s), indent=2, ensure_ascii=False))
    if result.status == "failed":
        raise _fail(
            f"{result.message}\nanswers so far are stored; after fixing the cause: tianping resume {run_id}",
            EXIT_FAILED,
        )
    _print_scores(store, run_id)
    console.print(
        f"{result.sent} requests sent, {result.from_cache} answered from cache, wall {result.wall_s:.1f} s",
        highlight=False,
    )
    if result.status == "incomplete":
        raise _fail(f"{result.message}\nresume to retry the failed samples: tianping resume {run_id}", EXIT_INCOMPLETE)


def _run_async(coro: Any) -> Any:
    from tianping.aio import run

    return run(coro)


@app.command()
def run(
    model: Annotated[
        list[str], typer.Option("--model", "-m", help="'openai/<name>', 'hf/<path>' or 'ref/<name>'; repeat.")
    ],
    benchmark: Annotated[
        list[str] | None,
        typer.Option("--benchmark", "-b", help="Benchmark name or path to a YAML definition; repeat."),
    ] = None,
    suite: Annotated[
        list[str] | None,
        typer.Option("--suite", help="A suite of tasks: 'safety' (attack success + over-refusal); repeat."),
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="API root of the OpenAI-compatible endpoint (…/v1).")] = None,
    api_key_env: Annotated[str, typer.Option(help="Environment variable that holds the API key.")] = "OPENAI_API_KEY",
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most N samples per benchmark (spread over subjects).")
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, help="Requests in flight per model.")] = 32,
    run_id: Annotated[str | None, typer.Option(help="Name the run; the id of a dead run resumes it.")] = None,
    summary_json: Annotated[Path | None, typer.Option(help="Write the machine-readable summary here.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Datasets folder [env TIANPING_DATA_DIR].")] = None,
    results_dir: ResultsDir = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Send every request even if answered before.")] = False,
    temperature: Annotated[float | None, typer.Option(help="Override the benchmark's temperature.")] = None,
    top_p: Annotated[float | None, typer.Option(help="Nucleus sampling top_p.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Override the benchmark's max_tokens.")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed sent to the server.")] = None,
    stop: Annotated[list[str] | None, typer.Option(help="Stop sequence; repeat for several.")] = None,
    n: Annotated[int | None, typer.Option(help="Completions per request (the first is scored).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per request attempt.")] = 120.0,
    max_retries: Annotated[int, typer.Option(help="Retries on 429, 5xx, timeouts and connection errors.")] = 6,
    rpm: Annotated[float | None, typer.Option(help="Requests-per-minute limit per model.")] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Use streaming responses.")] = False,
    device: Annotated[str, typer.Option(help="Local models (hf/, ref/): auto, cpu, cuda, cuda:1, mps.")] = "auto",
    dtype: Annotated[str, typer.Option(help="Local models: float32, float16 or bfloat16.")] = "float32",
    batch_size: Annotated[int, typer.Option(min=1, help="Local models: sequences per model call.")] = 16,
    chat_template: Annotated[
        bool | None,
        typer.Option(
            "--chat-template/--no-chat-template",
            help="Local models: render chat prompts with the tokenizer's template [default: when it has one].",
        ),
    ] = None,
    max_length: Annotated[
        int | None, typer.Option(min=2, help="Local models: window in tokens [default: from the model config].")
    ] = None,
    unsafe_exec: Annotated[
        bool,
        typer.Option("--unsafe-exec", help="Run model-written code even where no sandbox isolation is available."),
    ] = False,
    attacks: Annotated[
        list[str] | None,
        typer.Option("--attacks", help="Safety: attack method or group names (comma list or repeat) [default: all]."),
    ] = None,
    categories: Annotated[
        list[str] | None,
        typer.Option("--categories", help="Safety: risk taxonomy ids or prefixes, e.g. redline,ethics.discrimination."),
    ] = None,
    budget: Annotated[
        int, typer.Option(min=1, help="Safety: most (prompt x attack) samples sent; prompts drawn across categories.")
    ] = 2000,
    overrefusal_budget: Annotated[
        int, typer.Option(min=0, help="Safety: most benign look-alike prompts sent (over-refusal).")
    ] = 300,
    safety_langs: Annotated[
        list[str] | None, typer.Option("--safety-lang", help="Safety: seed languages (en, zh) [default: both].")
    ] = None,
    judge_model: Annotated[
        str | None, typer.Option(help="LLM judge as 'openai/<name>' (safety stage 2) [default: rules only].")
    ] = None,
    judge_base_url: Annotated[str | None, typer.Option(help="API root of the judge [default: --base-url].")] = None,
    judge_api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable with the judge's key [default: --api-key-env].")
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            help="generate (extract the answer from generated text) or loglikelihood (score each choice's "
            "log-likelihood, as lm-evaluation-harness does) [default: each benchmark's own, generate].",
        ),
    ] = None,
) -> None:
    """Evaluate models on benchmarks; every answer is stored as it arrives."""
    from pydantic import ValidationError

    from tianping.benchmarks.errors import BenchmarkDefinitionError, DatasetError, UnknownBenchmark
    from tianping.engine.runner import SAFETY_TASKS, SUITES, start_run
    from tianping.spec import GenerationOverrides, ModelSpec, RunSpec, SafetyOptions, default_data_dir

    data = data_dir or default_data_dir()
    if data is None:
        raise _fail("no data directory: pass --data-dir or set TIANPING_DATA_DIR to the datasets folder")
    names = list(benchmark or [])
    for name in suite or []:
        if name not in SUITES:
            raise _fail(f"unknown suite '{name}' (known: {', '.join(SUITES)})")
        names.extend(t for t in SUITES[name] if t not in names)
    if not names:
        raise _fail("nothing to run: give --benchmark NAME or --suite NAME")
    try:
        safety = None
        if any(n in SAFETY_TASKS for n in names):
            safety = SafetyOptions(
                attacks=_split_list(attacks),
                categories=_split_list(categories),
                langs=_split_list(safety_langs),
                budget=budget,
                overrefusal_budget=overrefusal_budget,
            )
        judge = None
        if judge_model is not None:
            judge = ModelSpec(
                id=judge_model,
                base_url=judge_base_url or base_url,
                api_key_env=judge_api_key_env or api_key_env,
                concurrency=concurrency,
                timeout_s=timeout,
                max_retries=max_retries,
            )
        spec = RunSpec(
            models=[
                ModelSpec(
                    id=m,
                    base_url=base_url,
                    api_key_env=api_key_env,
                    concurrency=concurrency,
                    timeout_s=timeout,
                    max_retries=max_retries,
                    rpm=rpm,
                    stream=stream,
                    device=device,
                    dtype=dtype,
                    batch_size=batch_size,
                    chat_template=chat_template,
                    max_length=max_length,
                )
                for m in model
            ],
            benchmarks=names,
            limit=limit,
            data_dir=str(data.resolve()),
            generation=GenerationOverrides(
                temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed, stop=stop or None, n=n
            ),
            use_cache=not no_cache,
            unsafe_exec=unsafe_exec,
            mode=mode,
            safety=safety,
            judge=judge,
        )
    except ValidationError as exc:
        raise _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    # validate definitions before a run is registered, so a typo leaves no empty run behind
    from tianping.engine.runner import load_benchmarks

    try:
        benchmarks = load_benchmarks(spec)
    except (BenchmarkDefinitionError, DatasetError, UnknownBenchmark) as exc:
        raise _fail(str(exc)) from None
    for m in spec.models:
        if m.backend == "openai" and not m.base_url:
            raise _fail(f"model {m.id}: --base-url is required for OpenAI-compatible endpoints")
    if spec.judge is not None and spec.judge.backend == "openai" and not spec.judge.base_url:
        raise _fail(f"judge {spec.judge.id}: --judge-base-url (or --base-url) is required")
    store = _open_store(results_dir)
    if run_id is not None and (existing := store.get_run(run_id)) is not None:
        if existing["spec"] != spec.model_dump(mode="json"):
            raise _fail(f"run {run_id} exists with a different spec; continue it with: tianping resume {run_id}")
        console.print(f"resuming run {run_id}")
    run_id = start_run(store, spec, run_id)
    _execute(store, spec, run_id, summary_json, benchmarks)


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="The run to finish.")],
    results_dir: ResultsDir = None,
    summary_json: Annotated[Path | None, typer.Option(help="Write the machine-readable summary here.")] = None,
) -> None:
    """Finish a run that died or failed: send only the requests that have no stored answer."""
    from tianping.spec import RunSpec

    store = _open_store(results_dir)
    stored = store.get_run(run_id)
    if stored is None:
        raise _fail(f"no run '{run_id}' in {store.url}")
    _execute(store, RunSpec.model_validate(stored["spec"]), run_id, summary_json)


@app.command()
def runs(results_dir: ResultsDir = None) -> None:
    """List runs, newest first."""
    store = _open_store(results_dir)
    table = Table()
    for col in ("run id", "status", "started", "wall s", "models", "benchmarks"):
        table.add_column(col)
    for r in store.list_runs():
        spec = r["spec"]
        table.add_row(
            r["run_id"],
            r["status"],
            r["started_at"][:19],
            f"{r['wall_s']:.1f}" if r["wall_s"] else "",
            ", ".join(m["id"] for m in spec.get("models", [])),
            ", ".join(spec.get("benchmarks", [])),
        )
    out.print(table)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="The run to show.")],
    results_dir: ResultsDir = None,
    indicators: IndicatorsFile = None,
) -> None:
    """Print a run's score table with intervals, the per-category breakdown and the indicator roll-up."""
    from tianping.indicators import IndicatorTreeError
    from tianping.report.collect import RunNotFound

    store = _open_store(results_dir)
    try:
        _print_scores(store, run_id, breakdowns=True)
        _print_indicators(_indicator_reports(store, run_id, indicators))
    except (RunNotFound, IndicatorTreeError) as exc:
        raise _fail(str(exc)) from None


@app.command()
def report(
    run_id: Annotated[str, typer.Argument(help="The run to report.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="HTML file [default RESULTS/RUN.html].")] = None,
    results_dir: ResultsDir = None,
    indicators: IndicatorsFile = None,
) -> None:
    """Write one self-contained HTML report: scores, breakdowns, the indicator roll-up and every sample."""
    path = _write_report(_open_store(results_dir), run_id, output, results_dir, indicators)
    out.print(f"wrote {path}")


def _write_report(
    store: Any, run_id: str, output: Path | None, results_dir: Path | None, indicators: Path | None
) -> Path:
    from tianping.indicators import IndicatorTreeError
    from tianping.report.collect import RunNotFound, breakdown_rows, metric_rows, run_info, sample_rows
    from tianping.report.html import render_html
    from tianping.spec import default_results_dir

    try:
        info = run_info(store, run_id)
        rolled_up = _indicator_reports(store, run_id, indicators)
    except (RunNotFound, IndicatorTreeError) as exc:
        raise _fail(str(exc)) from None
    html = render_html(
        info, metric_rows(store, run_id), breakdown_rows(store, run_id), sample_rows(store, run_id), rolled_up
    )
    path = output or (results_dir or default_results_dir()) / f"{run_id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


@app.command()
def quickstart(
    model: Annotated[
        str, typer.Option("--model", "-m", help="The model: the bundled reference model, hf/<dir> or openai/<name>.")
    ] = "ref/tp-ref-clean",
    base_url: Annotated[str | None, typer.Option(help="API root, for an openai/<name> model.")] = None,
    api_key_env: Annotated[str, typer.Option(help="Environment variable that holds the API key.")] = "OPENAI_API_KEY",
    data_dir: Annotated[
        Path | None, typer.Option(help="Full datasets folder [default: the excerpts bundled with tianping].")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Samples per benchmark (GSM8K: at most 10).")] = 40,
    results_dir: ResultsDir = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="HTML file [default RESULTS/RUN.html].")] = None,
) -> None:
    """Offline first run: MMLU, CMMLU, ARC-Easy (log-likelihood) and GSM8K (generation) on the bundled model."""
    from pydantic import ValidationError

    from tianping.benchmarks.errors import BenchmarkDefinitionError, DatasetError, UnknownBenchmark
    from tianping.engine.runner import load_benchmarks, start_run
    from tianping.quickstart import quickstart_spec

    try:
        spec = quickstart_spec(model, base_url=base_url, api_key_env=api_key_env, data_dir=data_dir, limit=limit)
        if spec.models[0].backend == "openai" and not base_url:
            raise _fail(f"model {model}: --base-url is required for OpenAI-compatible endpoints")
        benchmarks = load_benchmarks(spec)
    except ValidationError as exc:
        raise _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    except (BenchmarkDefinitionError, DatasetError, UnknownBenchmark) as exc:
        raise _fail(str(exc)) from None
    store = _open_store(results_dir)
    run_id = start_run(store, spec)
    try:
        _execute(store, spec, run_id, None, benchmarks)
    finally:
        path = _write_report(store, run_id, output, results_dir, None)
        out.print(f"report: {path}")


@app.command()
def export(
    run_id: Annotated[str, typer.Argument(help="The run to export.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="JSONL file [default: standard output].")
    ] = None,
    results_dir: ResultsDir = None,
) -> None:
    """Write every sample of a run as JSON Lines (prompt, output, reasoning, answer, score, usage)."""
    store = _open_store(results_dir)
    if store.get_run(run_id) is None:
        raise _fail(f"no run '{run_id}' in {store.url}")
    handle = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        for row in store.sample_rows(run_id):
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if output:
            handle.close()
            out.print(f"wrote {output}")


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="Baseline run.")],
    run_b: Annotated[str, typer.Argument(help="Run compared with the baseline.")],
    results_dir: ResultsDir = None,
) -> None:
    """Paired difference (B - A) per benchmark on the samples both runs scored, with a paired test."""
    from tianping.report.compare import compare_runs

    store = _open_store(results_dir)
    for rid in (run_a, run_b):
        if store.get_run(rid) is None:
            raise _fail(f"no run '{rid}' in {store.url}")
    try:
        rows = compare_runs(store, run_a, run_b)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if not rows:
        raise _fail(f"runs {run_a} and {run_b} share no scored samples")
    table = Table(title=f"{run_b} − {run_a}", title_justify="left")
    for col in ("benchmark", "model A", "model B"):
        table.add_column(col)
    for col in ("N", "A %", "B %", "B−A pts", "95% CI", "p", "test", "B better", "A better"):
        table.add_column(col, justify="right")
    for r in rows:
        c = r.result
        table.add_row(
            r.benchmark,
            r.model_a,
            r.model_b,
            str(c.n),
            _pct(c.mean_a),
            _pct(c.mean_b),
            f"{100 * c.diff:+.1f}",
            _ci(c.ci_low, c.ci_high),
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
        table.add_row(name, definition.version, definition.description)
    out.print(table)


def _register_serving_commands() -> None:
    """``loadtest`` and ``monitor`` live with the serving code; only their typer wiring is imported here."""
    from tianping.safety import safety_cli
    from tianping.serving import loadtest_cli, monitor_cli

    loadtest_cli.register(app)
    monitor_cli.register(app)
    safety_cli.register(app)


_register_serving_commands()


def main() -> None:
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    finally:
        for store in _OPEN_STORES:
            store.close()
    # Everything is committed and closed by now; skip the interpreter's module-by-module teardown,
    # which costs more than a tenth of a second with aiohttp, pydantic and rich loaded.
    sys.stdout.flush()
    sys.stderr.flush()
    if sys.gettrace() is None and sys.getprofile() is None:  # let coverage and profilers write their data
        os._exit(code)
    sys.exit(code)
