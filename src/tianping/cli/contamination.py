"""``tianping contamination``: was a benchmark in the model's training data?

``white-box`` scores each item from the model's token log-probabilities (local models, or endpoints whose
``/completions`` echo them); ``black-box`` from generated text only (any endpoint); ``ngram`` compares the
benchmark with a training corpus. Each prints, per benchmark, a dataset-level test against a fresh comparison
set (``--fresh``) or against the unseen half of a reference model's exposure ladder (``--ladder``), and writes
every item's scores to a JSONL file. The methods live in ``tianping.contamination``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tianping.cli.common import check_output
from tianping.cli.errors import BAD_INPUT, FAILED, INCOMPLETE, fail, run_async
from tianping.cli.output import cells, console, note, out

__all__ = ["contamination_app", "register"]

contamination_app = typer.Typer(
    name="contamination",
    help="Detect benchmark contamination: white-box (log-probabilities), black-box (generations), n-gram overlap.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

Benchmark = Annotated[str, typer.Option("--benchmark", "-b", help="Benchmark name or path to a YAML definition.")]
Fresh = Annotated[
    str | None,
    typer.Option(
        help="Comparison set the model cannot have seen: a benchmark name/definition, or a JSONL file of "
        "{'text'} or {'question','answer'} objects. Needed for a dataset-level p-value."
    ),
]
Ladder = Annotated[
    bool, typer.Option("--ladder", help="Test the model's own exposure ladder (its exposure.json; ref/ models).")
]
Exposure = Annotated[Path | None, typer.Option(help="An exposure ladder file (exposure.json) to test against.")]
Limit = Annotated[int | None, typer.Option(min=1, help="At most N items of each group (a seeded random subset).")]
Out = Annotated[
    Path | None,
    typer.Option(
        "--out", help="Per-item scores (JSONL) [default: <results-dir>/contamination/<benchmark>-<command>.jsonl]."
    ),
]
Test = Annotated[str, typer.Option(help="Dataset-level test: mann-whitney or permutation.")]
DataDir = Annotated[Path | None, typer.Option(help="Datasets folder [env TIANPING_DATA_DIR].")]
ItemTemplate = Annotated[
    str | None, typer.Option(help="Jinja template of a whole item [default: the question and answer templates].")
]
Retries = Annotated[int, typer.Option(min=0, help="Endpoints: retries on 429, 5xx, timeouts and connection errors.")]
Timeout = Annotated[float, typer.Option(min=0.001, help="Endpoints: seconds per request attempt.")]
JsonOut = Annotated[Path | None, typer.Option("--json", help="Write the dataset-level results as JSON here.")]


def _data_dir(data_dir: Path | None) -> Path:
    from tianping.spec import default_data_dir

    return data_dir or default_data_dir()


def _output(out_path: Path | None, benchmark: str, command: str) -> Path:
    from tianping.spec import default_results_dir

    if out_path is None:
        stem = Path(benchmark).stem if benchmark.endswith((".yaml", ".yml")) else benchmark
        out_path = default_results_dir() / "contamination" / f"{stem.replace('/', '_')}-{command}.jsonl"
    check_output(out_path, "--out")
    return out_path


def _model(model: str, flag: str, **fields: Any) -> Any:
    from pydantic import ValidationError

    from tianping.spec import ModelSpec

    try:
        return ModelSpec(id=model, **{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise fail(f"{flag} {model}: {problems}") from None


def _exposure(ladder: bool, exposure: Path | None, model: Any | None) -> tuple[dict[str, Any] | None, str]:
    """The ladder to test against (and where it came from), or None for a plain benchmark check."""
    if ladder and exposure is not None:
        raise fail("give either --ladder (the model's own exposure.json) or --exposure FILE, not both")
    if ladder:
        if model is None or model.backend != "ref":
            raise fail("--ladder reads a bundled reference model's exposure.json: use a ref/<name> model or --exposure")
        from tianping.models.hf_load import ModelLoadError, resolve_ref_model

        try:
            exposure = resolve_ref_model(model.name) / "exposure.json"
        except ModelLoadError as exc:
            raise fail(str(exc)) from None
        if not exposure.is_file():
            raise fail(f"--ladder: {model.id} has no exposure ladder ({exposure} does not exist)")
    if exposure is None:
        return None, ""
    try:
        return json.loads(exposure.read_text("utf-8")), str(exposure)
    except OSError as exc:
        raise fail(f"--exposure {exposure}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise fail(f"--exposure {exposure}: not JSON: {exc}") from None


def _items(
    benchmark: str,
    data_dir: Path,
    fresh: str | None,
    exposure: dict[str, Any] | None,
    exposure_source: str,
    limit: int | None,
    item_template: str | None,
) -> tuple[list[Any], Any, dict[str, Any]]:
    """(items, design, sources by benchmark name) for one check."""
    from tianping.contamination import items as it

    if fresh is not None and exposure is not None:
        raise fail("give either --fresh (a comparison set) or a ladder (--ladder, --exposure), not both")
    try:
        source = it.Source(benchmark, data_dir, item_template=item_template)
        items = source.items()
        sources = dict.fromkeys(source.benchmarks, source)
        if exposure is not None:
            names = {i.benchmark for i in items}
            if len(names) != 1:
                raise fail(
                    f"--benchmark {benchmark}: a ladder check takes one benchmark, this file defines {len(names)}"
                )
            name = items[0].benchmark
            items = it.regroup(items, it.ladder_groups(exposure, name, exposure_source), exposure_source)
            design = it.ladder_design(exposure, name)
        elif fresh is not None:
            extra, fresh_source = it.comparison_items(fresh, data_dir, benchmark=items[0].benchmark)
            if fresh_source is not None:
                sources.update(dict.fromkeys(fresh_source.benchmarks, fresh_source))
            items = items + extra
            design = it.Design(candidates=(it.BENCHMARK,), fresh=it.FRESH)
        else:
            design = it.Design(candidates=(it.BENCHMARK,), fresh=None)
        return it.limit_per_group(items, limit), design, sources
    except it.ItemsError as exc:
        raise fail(str(exc)) from None


def _report(
    results: list[Any], design: Any, methods: tuple[str, ...], test: str, out_path: Path, json_path: Path | None
) -> None:
    from rich.table import Table

    from tianping.contamination.results import dataset_tests, write_jsonl
    from tianping.contamination.stats import format_p

    tests = dataset_tests(results, design, methods, test=test)
    name = results[0].item.benchmark if results else ""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.item.group] = counts.get(r.item.group, 0) + 1
    if console.is_terminal:
        console.print(" " * 40, end="\r")  # clear the progress line
    note(
        f"{name}: "
        + ", ".join(f"{g} {n}" for g, n in sorted(counts.items(), key=lambda c: _group_order(c[0])))
        + " items"
    )
    if tests:
        table = Table("method", "group", "exposures", "items", "mean score", "fresh mean", "AUC", f"p ({test})")
        for t in tests:
            r = t.result
            if r is None:
                table.add_row(*cells(t.method, t.group, _shown(t.exposures), "0", "—", "—", "—", "—"))
                continue
            table.add_row(
                *cells(
                    t.method,
                    t.group,
                    _shown(t.exposures),
                    r.n_candidate,
                    f"{r.mean_candidate:.4g}",
                    f"{r.mean_fresh:.4g}",
                    f"{r.auc:.3f}",
                    format_p(r.p_value),
                )
            )
        out.print(table)
    else:
        table = Table("method", "items scored", "mean score")
        for method in methods:
            values = [r.scores.get(method) for r in results if r.scores.get(method) is not None]
            mean = f"{sum(values) / len(values):.4g}" if values else "—"
            table.add_row(*cells(method, len(values), mean))
        out.print(table)
        note("no comparison set (--fresh) or ladder: per-item scores only, no dataset-level p-value")
    try:
        write_jsonl(out_path, results)
    except OSError as exc:
        raise fail(f"--out {out_path}: cannot write: {exc.strerror or exc}", FAILED) from None
    out.print(f"per-item scores: {out_path}")
    if json_path is not None:
        from tianping.cli.common import write_output

        write_output(json_path, json.dumps([t.to_json() for t in tests], indent=2, ensure_ascii=False), "--json")


def _progress(text: str) -> None:
    """A progress line that overwrites itself on a terminal (and is left out of logs and pipes)."""
    if console.is_terminal:
        console.print(text, end="\r")


def _group_order(group: str) -> tuple[int, str]:
    """Ladder tiers by exposures, then the rest (benchmark, fresh, unseen) by name."""
    head, _, count = group.partition("-")
    return (int(count), "") if head == "seen" and count.isdigit() else (1 << 30, group)


def _shown(value: Any) -> str:
    return "—" if value is None else str(value)


@contamination_app.command("white-box")
def white_box(
    model: Annotated[str, typer.Option("--model", "-m", help="'ref/<name>', 'hf/<path>' or 'openai/<name>'.")],
    benchmark: Benchmark,
    reference: Annotated[
        str | None, typer.Option(help="A model that has not seen the benchmark (ref_ratio, ref_min_k).")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="openai/ models: API root (…/v1) that echoes logprobs.")] = None,
    api_key_env: Annotated[str, typer.Option(help="Environment variable that holds the API key.")] = "OPENAI_API_KEY",
    fresh: Fresh = None,
    ladder: Ladder = False,
    exposure: Exposure = None,
    limit: Limit = None,
    k: Annotated[float, typer.Option(min=0.001, max=1.0, help="Min-K% fraction of tokens.")] = 0.2,
    test: Test = "mann-whitney",
    max_retries: Retries = 6,
    timeout: Timeout = 120.0,
    device: Annotated[str, typer.Option(help="Local models: auto, cpu, cuda, mps.")] = "auto",
    dtype: Annotated[str, typer.Option(help="Local models: float32, bfloat16, float16 or auto.")] = "float32",
    data_dir: DataDir = None,
    item_template: ItemTemplate = None,
    out_path: Out = None,
    json_path: JsonOut = None,
) -> None:
    """Loss, zlib ratio, Min-K%, Min-K%++ and the reference-model ratio of every item."""
    from tianping.contamination.whitebox import methods_for
    from tianping.contamination.whitebox import white_box as score_items

    _check_test(test)
    target = _model(
        model,
        "--model",
        base_url=base_url,
        api_key_env=api_key_env,
        device=device,
        dtype=dtype,
        completions_logprobs=True if model.startswith("openai/") else None,
        max_retries=max_retries,
        timeout_s=timeout,
    )
    ref = (
        _model(
            reference,
            "--reference",
            device=device,
            dtype=dtype,
            base_url=base_url,
            api_key_env=api_key_env,
            completions_logprobs=True if reference.startswith("openai/") else None,
            max_retries=max_retries,
            timeout_s=timeout,
        )
        if reference
        else None
    )
    exp, exp_source = _exposure(ladder, exposure, target)
    items, design, _ = _items(benchmark, _data_dir(data_dir), fresh, exp, exp_source, limit, item_template)
    out_path = _output(out_path, benchmark, "white-box")
    sources = [_token_source(target, "--model")]
    if ref is not None:
        sources.append(_token_source(ref, "--reference"))

    async def go() -> list[Any]:
        try:
            return await score_items(
                items,
                sources[0],
                sources[1] if ref is not None else None,
                k=k,
                progress=lambda n: _progress(f"scored {n}/{len(items)} items"),
            )
        finally:
            for s in sources:
                await s.aclose()

    results = _run(go)
    _report(
        results, design, methods_for(sources[0], sources[1] if ref is not None else None), test, out_path, json_path
    )


def _token_source(spec: Any, flag: str) -> Any:
    from tianping.contamination.logprobs import EndpointTokens, LocalTokens

    if spec.backend == "openai":
        if not spec.base_url:
            raise fail(f"{flag} {spec.id}: --base-url is required for OpenAI-compatible endpoints")
        from tianping.models.openai_api import OpenAIChatBackend

        return EndpointTokens(
            OpenAIChatBackend(
                model=spec.request_name,
                base_url=spec.base_url,
                api_key_env=spec.api_key_env,
                timeout_s=spec.timeout_s,
                max_retries=spec.max_retries,
                limits=spec.reply_limits,
                completions_logprobs=True,
            )
        )
    if spec.backend not in ("hf", "ref"):
        raise fail(f"{flag} {spec.id}: white-box scores need a local model (hf/, ref/) or an openai/ endpoint")
    from tianping.models.hf_hub import ModelLoadError

    try:
        return LocalTokens(spec)
    except (ModelLoadError, ValueError) as exc:
        raise fail(f"{flag} {spec.id}: {exc}") from None


def _run(go: Any) -> Any:
    from tianping.models.errors import ModelError

    try:
        return run_async(go())
    except ModelError as exc:
        raise fail(str(exc), FAILED if exc.fatal or exc.retryable else BAD_INPUT) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None


def _check_test(test: str) -> None:
    from tianping.contamination.results import TESTS

    if test not in TESTS:
        raise fail(f"--test {test}: expected one of {', '.join(TESTS)}")


@contamination_app.command("black-box")
def black_box(
    model: Annotated[str, typer.Option("--model", "-m", help="'openai/<name>', 'hf/<path>' or 'ref/<name>'.")],
    benchmark: Benchmark,
    base_url: Annotated[str | None, typer.Option(help="API root of the OpenAI-compatible endpoint (…/v1).")] = None,
    api_key_env: Annotated[str, typer.Option(help="Environment variable that holds the API key.")] = "OPENAI_API_KEY",
    methods: Annotated[str, typer.Option(help="Comma list of guided, ts_guess, perturb.")] = "guided,ts_guess,perturb",
    style: Annotated[
        str | None, typer.Option(help="completion (base models) or chat [default: chat for openai/, else completion].")
    ] = None,
    fresh: Fresh = None,
    ladder: Ladder = False,
    exposure: Exposure = None,
    limit: Limit = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Tokens generated for a completion or a guess.")] = 128,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, help="Requests in flight.")] = 32,
    seed: Annotated[int, typer.Option(help="Seed of the perturbations (per item, order-independent).")] = 0,
    test: Test = "mann-whitney",
    max_retries: Retries = 6,
    timeout: Timeout = 120.0,
    device: Annotated[str, typer.Option(help="Local models: auto, cpu, cuda, mps.")] = "auto",
    data_dir: DataDir = None,
    item_template: ItemTemplate = None,
    out_path: Out = None,
    json_path: JsonOut = None,
) -> None:
    """Guided completion, TS-guessing and the performance drop on perturbed copies."""
    from tianping.contamination.blackbox import METHODS, STYLES, Settings
    from tianping.contamination.blackbox import black_box as score_items

    _check_test(test)
    chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:
        raise fail(f"--methods {methods}: expected a comma list of {', '.join(METHODS)}")
    spec = _model(
        model,
        "--model",
        base_url=base_url,
        api_key_env=api_key_env,
        device=device,
        concurrency=concurrency,
        max_retries=max_retries,
        timeout_s=timeout,
    )
    style = style or ("chat" if spec.backend == "openai" else "completion")
    if style not in STYLES:
        raise fail(f"--style {style}: expected one of {', '.join(STYLES)}")
    exp, exp_source = _exposure(ladder, exposure, spec)
    items, design, sources = _items(benchmark, _data_dir(data_dir), fresh, exp, exp_source, limit, item_template)
    out_path = _output(out_path, benchmark, "black-box")
    from tianping.engine.backends import create_backend

    try:
        backend = create_backend(spec)
    except ValueError as exc:  # a bad path or URL, refused before any request
        raise fail(f"--model {model}: {exc}") from None
    in_flight = getattr(backend, "max_in_flight", None) or concurrency
    settings = Settings(style=style, max_tokens=max_tokens, seed=seed, in_flight=in_flight)

    async def go() -> list[Any]:
        try:
            return await score_items(
                items,
                backend,
                spec.id,
                sources,
                chosen,
                settings,
                progress=lambda d, t: _progress(f"answered {d}/{t} requests"),
            )
        finally:
            await backend.aclose()

    results = _run(go)
    _report(results, design, chosen, test, out_path, json_path)
    failed = sum(any(k.endswith("_error") for k in r.values) for r in results)
    if failed:
        raise fail(
            f"{failed} items have a method that failed after retries (see values.*_error in {out_path})", INCOMPLETE
        )


@contamination_app.command("ngram")
def ngram(
    benchmark: Benchmark,
    corpus: Annotated[
        list[str] | None, typer.Option(help="Corpus file or glob (.jsonl, .txt, optionally .gz); repeat.")
    ] = None,
    index: Annotated[Path | None, typer.Option(help="Check against a saved corpus index instead of a corpus.")] = None,
    save_index: Annotated[
        Path | None, typer.Option(help="Also save the corpus's n-grams as a Bloom filter here.")
    ] = None,
    index_capacity: Annotated[
        int, typer.Option(min=1, help="--save-index: distinct n-grams it is sized for.")
    ] = 10_000_000,
    error_rate: Annotated[float, typer.Option(min=1e-12, max=0.5, help="--save-index: false-positive rate.")] = 1e-4,
    n: Annotated[int, typer.Option(min=1, help="N-gram length.")] = 13,
    unit: Annotated[str, typer.Option(help="auto, words (lm-eval's) or chars (CJK).")] = "auto",
    text_field: Annotated[str, typer.Option(help="JSONL corpus: the field holding a document's text.")] = "text",
    fresh: Fresh = None,
    exposure: Exposure = None,
    limit: Limit = None,
    test: Test = "mann-whitney",
    data_dir: DataDir = None,
    item_template: ItemTemplate = None,
    out_path: Out = None,
    json_path: JsonOut = None,
) -> None:
    """Share of each item's n-grams found in a training corpus (13-grams, as lm-eval's decontamination)."""
    from tianping.contamination.bloom import BloomError, BloomFilter
    from tianping.contamination.ngram import UNITS, BenchmarkIndex, CorpusError, choose_unit

    _check_test(test)
    if (corpus is None) == (index is None):
        raise fail("give --corpus (files to scan) or --index (a saved corpus index), one of the two")
    if unit not in UNITS:
        raise fail(f"--unit {unit}: expected one of {', '.join(UNITS)}")
    if save_index is not None:
        if index is not None:
            raise fail("--save-index writes the index of a --corpus; with --index there is no corpus to read")
        check_output(save_index, "--save-index")
    exp, exp_source = _exposure(False, exposure, None)
    items, design, _ = _items(benchmark, _data_dir(data_dir), fresh, exp, exp_source, limit, item_template)
    chosen_unit = choose_unit((i.text for i in items), unit)
    out_path = _output(out_path, benchmark, "ngram")
    bench_index = BenchmarkIndex(items, chosen_unit, n)
    try:
        if index is not None:
            bloom = BloomFilter.load(index)
            if (bloom.meta.get("unit"), bloom.meta.get("n")) != (chosen_unit, n):
                raise fail(
                    f"--index {index}: holds {bloom.meta.get('n')}-grams of {bloom.meta.get('unit')}, this "
                    f"check uses {n}-grams of {chosen_unit} (set --n and --unit to match)"
                )
            bench_index.check_index(bloom)
            note(f"index {index}: {bloom.added:,} n-grams, false-positive rate about {bloom.expected_error():.1g}")
        else:
            assert corpus is not None
            saving = BloomFilter(index_capacity, error_rate, meta={"unit": chosen_unit, "n": n}) if save_index else None
            stats = bench_index.scan(corpus, text_field=text_field, save=saving)
            note(
                f"corpus: {stats.files} files, {stats.documents:,} documents, {stats.ngrams:,} {n}-grams of "
                f"{chosen_unit}"
            )
            if saving is not None and save_index is not None:
                saving.save(save_index)
                note(
                    f"saved the corpus index to {save_index} (false-positive rate about {saving.expected_error():.1g})"
                )
    except (CorpusError, BloomError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write: {exc}", FAILED) from None
    results = bench_index.results()
    flagged = sum(1 for r in results if r.values["flagged"])
    unscored = sum(1 for r in results if r.scores["ngram"] is None)
    note(
        f"{flagged} of {len(results)} items share at least one {n}-gram with the corpus"
        + (f"; {unscored} items have fewer than {n} {chosen_unit} and are not scored" if unscored else "")
    )
    if flagged:
        out.print(_most_overlapping(results, n))
    _report(results, design, ("ngram",), test, out_path, json_path)


MOST_OVERLAPPING = 10
"""Flagged items listed by name after an n-gram scan (all of them are in the per-item file)."""


def _most_overlapping(results: list[Any], n: int) -> Any:
    """The flagged items with the largest share of their n-grams in the corpus, largest first."""
    from rich.markup import escape
    from rich.table import Table

    flagged = (r for r in results if r.values.get("flagged"))
    hits = sorted(flagged, key=lambda r: (-(r.scores["ngram"] or 0), r.item.id))
    shown = hits[:MOST_OVERLAPPING]
    title = f"flagged items, most overlapping first ({len(shown)} of {len(hits)})"
    table = Table(title=escape(title), title_justify="left")
    for col in ("benchmark", "item", f"{n}-grams in corpus", "share"):
        table.add_column(col, justify="left" if col in ("benchmark", "item") else "right")
    for r in shown:
        found = f"{r.values['ngrams_in_corpus']} of {r.values['ngrams']}"
        table.add_row(*cells(r.item.benchmark, r.item.id, found, f"{100 * (r.scores['ngram'] or 0):.1f}%"))
    return table


def register(app: typer.Typer) -> None:
    """Add the ``contamination`` command group to the main ``tianping`` app."""
    app.add_typer(contamination_app, name="contamination")
