"""``tianping quickstart``: the offline first run. What it runs (model, benchmarks, modes, limits) is
``tianping.quickstart.quickstart_spec``; this module is the command that checks, runs and reports it, through the
same checks and execution as ``run``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from tianping.cli.common import ResultsDir, check_output, open_store
from tianping.cli.output import out
from tianping.cli.run_support import execute, guard, load_benchmarks_checked, spec_error
from tianping.cli.scores import write_report


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

    from tianping.engine.runner import read_definitions, start_run
    from tianping.quickstart import quickstart_spec

    check_output(output, "--output")
    try:
        spec = quickstart_spec(model, base_url=base_url, api_key_env=api_key_env, data_dir=data_dir, limit=limit)
    except ValidationError as exc:
        raise spec_error(exc) from None
    texts = guard(lambda: read_definitions(spec))
    benchmarks = guard(lambda: load_benchmarks_checked(spec, texts))
    store = open_store(results_dir)
    run_id = start_run(store, spec, None, texts)
    try:
        execute(store, spec, run_id, None, benchmarks)
    finally:
        path = write_report(store, run_id, output, results_dir, None)
        out.print(escape(f"report: {path}"))


def register(app: typer.Typer) -> None:
    app.command()(quickstart)
