"""``tianping data check BENCHMARK``: the quality of a benchmark's test set (``tianping.quality``).

Findings are findings, not errors: the command exits 0 whatever it flags, 2 on bad input (an unknown benchmark,
a definition or data row its loader refuses, a bad flag) and 3 when a report cannot be written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from tianping.cli.common import ResultsDir, StoreUrl, check_output, open_store, use_store, write_output
from tianping.cli.errors import fail, run_async
from tianping.cli.output import cells, note, out

__all__ = ["check_command"]

DEFAULT_REF_MODEL = "ref/tp-ref-clean"


def _domain_words(values: list[str] | None) -> tuple[str, ...]:
    words = [w for value in values or [] for w in re.split(r"[,，\s]+", value) if w]
    return tuple(dict.fromkeys(words))


def _load(benchmark: str, data_dir: Path | None, allow_outside_data: bool) -> Any:
    from tianping.benchmarks.errors import DatasetError, UnknownBenchmark
    from tianping.core.errors import TaskConfigError
    from tianping.data.location import default_data_dir
    from tianping.quality.source import read_benchmark

    root = (data_dir or default_data_dir()).expanduser()
    try:
        return read_benchmark(benchmark, root, allow_outside_data=allow_outside_data)
    except UnknownBenchmark as exc:
        raise fail(str(exc)) from None
    except TaskConfigError as exc:
        raise fail(str(exc)) from None
    except DatasetError as exc:
        # a row its loader refuses stops the benchmark's loader, and so the check, at that row
        hint = "; data check reads rows with the benchmark's own loader: fix this one to check the rest"
        raise fail(str(exc) + (hint if re.search(r":\d+:", str(exc)) else "")) from None


def _backends(models: list[str]) -> list[Any]:
    from tianping.engine.backends import create_backend
    from tianping.spec import ModelSpec

    made = []
    for model in models:
        if model.partition("/")[0] not in ("ref", "hf"):
            raise fail(f"--ref-model {model}: a local model is needed (ref/<name> or hf/<dir>)")
        try:
            made.append(create_backend(ModelSpec(id=model, device="cpu" if model.startswith("ref/") else "auto")))
        except (ValueError, OSError) as exc:
            raise fail(f"--ref-model {model}: {exc}") from None
    return made


async def _ask_models(report: Any, data: Any, models: list[str], limit: int) -> None:
    from tianping.quality.runner import add_reference_votes
    from tianping.quality.source import loglikelihood_benchmark

    bench = loglikelihood_benchmark(data)
    if bench is None:
        report.notes.append(
            f"reference models: skipped: {data.name} has no log-likelihood section, so models cannot score its options"
        )
        return
    backends = _backends(models)
    try:
        await add_reference_votes(report, bench, data.items, backends, limit=limit)
    finally:
        for backend in backends:
            await backend.aclose()


def _print_summary(report: Any) -> None:
    from rich.table import Table

    from tianping.quality.findings import KINDS

    counts = report.counts()
    table = Table("kind", "items", "example")
    for kind in KINDS:
        example = next((f.reason for f in report.findings if f.kind == kind), "")
        table.add_row(*cells(kind, counts[kind], example[:150] + ("…" if len(example) > 150 else "")))
    splits = ", ".join(f"{name} {s['items']}" for name, s in report.splits.items())
    out.print(f"{report.benchmark}: {splits} items", highlight=False, soft_wrap=True)
    out.print(table)
    for verdict in report.dataset_findings:
        mark = "FLAGGED" if verdict.flagged else "ok"
        out.print(*cells(f"{verdict.name}: {mark}: {verdict.summary}"), highlight=False, soft_wrap=True)
    for line in report.notes:
        note(f"note: {line}")


def check_command(
    benchmark: Annotated[str, typer.Argument(help="A bundled benchmark (see 'tianping benchmarks') or a .yaml file.")],
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Datasets folder [env TIANPING_DATA_DIR; default ~/.cache/tianping/datasets]."),
    ] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML report (flagged items) here.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the full report as JSON here.")] = None,
    domain: Annotated[
        list[str] | None,
        typer.Option(help="Words naming the domain the items should cover (repeat, or separate with commas)."),
    ] = None,
    with_models: Annotated[
        bool,
        typer.Option(
            "--with-models",
            help=f"Ask reference models for confident disagreements with the gold (multiple choice; default "
            f"{DEFAULT_REF_MODEL}, which is too small to know the answers: give a real one with --ref-model).",
        ),
    ] = False,
    ref_model: Annotated[
        list[str] | None, typer.Option(help="A local model for --with-models: ref/<name> or hf/<dir> (repeat).")
    ] = None,
    model_limit: Annotated[int, typer.Option(min=1, help="Items each reference model scores (a seeded sample).")] = 500,
    results_dir: ResultsDir = None,
    store_url: StoreUrl = None,
    no_embeddings: Annotated[
        bool, typer.Option("--no-embeddings", help="Do not load the sentence-embedding model.")
    ] = False,
    embed_limit: Annotated[int, typer.Option(min=2, help="Items embedded (a seeded sample).")] = 1000,
    near_threshold: Annotated[
        float, typer.Option(min=0.3, max=1.0, help="Question similarity (Jaccard) of a near duplicate.")
    ] = 0.7,
    allow_outside_data: Annotated[
        bool, typer.Option("--allow-outside-data", help="Let a definition file read data outside the data folder.")
    ] = False,
) -> None:
    """Check a benchmark's test set: exact and near duplicates (within and across splits), answers leaked into
    questions, malformed items, suspicious labels, language mismatches, and the ADAQ measures (information density,
    diversity, domain relevance, format consistency). Prints a summary; exits 0 whatever it finds."""
    from tianping.quality.html import render_report
    from tianping.quality.runner import CheckOptions, check_data

    if ref_model and not with_models:
        raise fail("--ref-model needs --with-models")
    check_output(html, "--html")
    check_output(json_out, "--json")
    data = _load(benchmark, data_dir, allow_outside_data)
    use_store(store_url)
    store = open_store(results_dir, readonly=True, missing_ok=True)
    options = CheckOptions(
        domain=_domain_words(domain),
        store=store,
        near_threshold=near_threshold,
        embeddings=not no_embeddings,
        embed_limit=embed_limit,
    )
    report = check_data(data, options)
    if with_models:
        run_async(_ask_models(report, data, ref_model or [DEFAULT_REF_MODEL], model_limit))
    _print_summary(report)
    if json_out is not None:
        write_output(json_out, json.dumps(report.to_dict(), ensure_ascii=False, indent=1), "--json")
        out.print(f"JSON report: {json_out}", highlight=False, soft_wrap=True)
    if html is not None:
        write_output(html, render_report(report), "--html")
        out.print(f"HTML report: {html}", highlight=False, soft_wrap=True)
