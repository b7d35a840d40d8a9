"""What ``run``, ``resume`` and ``quickstart`` share: the checks a run passes before it is registered (each
failure one error line, exit 2), a plan file's run, and the execution that ends in an exit code from
``tianping.cli.errors``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from tianping.cli.common import check_output, open_store, write_output
from tianping.cli.errors import FAILED, INCOMPLETE, INTERRUPTED, fail, run_async
from tianping.cli.output import console, note
from tianping.cli.scores import print_run_summary, print_scores, summary

_FLAGS = {
    "id": "--model",
    "base_url": "--base-url",
    "api_key_env": "--api-key-env",
    "concurrency": "--concurrency",
    "timeout_s": "--timeout",
    "max_retries": "--max-retries",
    "rpm": "--rpm",
    "max_reply_mb": "--max-reply-mb",
    "image_max_side": "--image-max-side",
    "image_max_mb": "--image-max-mb",
    "batch_size": "--batch-size",
    "max_length": "--max-length",
    "dtype": "--dtype",
    "revision": "--revision",
    "adapter": "--adapter",
    "quantization": "--quantization",
    "device_map": "--device-map",
    "temperature": "--temperature",
    "top_p": "--top-p",
    "max_tokens": "--max-tokens",
    "seed": "--seed",
    "n": "--completions-per-prompt",
    "limit": "--limit",
    "limit_mode": "--limit-mode",
    "judge": "--judge-model",
    "judge_preset": "--judge-preset",
    "attacker": "--attacker-model",
    "adaptive_queries": "--adaptive-queries",
    "adaptive_attacker_calls": "--adaptive-attacker-calls",
    "best_of_n": "--best-of-n",
    "tap_depth": "--tap-depth",
    "tap_width": "--tap-width",
    "tap_branching": "--tap-branching",
    "crescendo_turns": "--crescendo-turns",
    "crescendo_backtracks": "--crescendo-backtracks",
    "mode": "--mode",
    "num_fewshot": "--num-fewshot",
    "fewshot_as_multiturn": "--fewshot-as-multiturn",
    "system_instruction": "--system-instruction",
    "completions_logprobs": "--completions-logprobs",
    "data_dir": "--data-dir",
}


def batch_size_option(text: str) -> Any:
    """``--batch-size``: a whole number from 1, or ``auto``."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise typer.BadParameter(f"expected a whole number or 'auto', got {text!r}") from None
    if value < 1:
        raise typer.BadParameter(f"must be at least 1, got {value}")
    return value


def spec_error(exc: Any, typed: dict[str, str] | None = None) -> typer.Exit:
    """A spec validation error as one line that names the flag (not pydantic's path into the spec); ``typed``
    maps a field to the flag the user gave it under where that was a hidden old name."""
    flags = {**_FLAGS, **(typed or {})}
    problems = []
    for err in exc.errors():
        flag = next((flags[str(p)] for p in reversed(err["loc"]) if str(p) in flags), None)
        message = err["msg"].removeprefix("Value error, ")
        problems.append(f"{flag}: {message}" if flag else message)
    return fail("; ".join(problems))


def execute(
    store: Any,
    spec: Any,
    run_id: str,
    json_path: Path | None,
    benchmarks: Any = None,
    json_flag: str = "--json",
    runner_factory: Any = None,
) -> None:
    """Run (or resume) and exit with a code that says how it ended; the JSON summary goes to ``json_path``
    (given as ``json_flag``, named if it cannot be written). ``runner_factory`` builds the runner in place of the
    local ``Runner`` (the Ray executor's)."""
    from tianping.engine.runner import Runner, commit_group
    from tianping.progress import RichProgress
    from tianping.store.store import RunBusy

    guard(commit_group)  # (a resume comes here without load_benchmarks_checked)

    progress = RichProgress(console)
    runner = (runner_factory or Runner)(spec, store, run_id, progress, benchmarks)
    console.print(f"run [bold]{escape(run_id)}[/] -> {escape(store.url)}")
    try:
        try:
            result = run_async(runner.execute())
        finally:
            progress.stop()  # its last line comes before whatever is said of the end (in a log, it is printed once)
    except KeyboardInterrupt:
        raise fail(
            f"interrupted; answers so far are stored. Resume with: tianping resume {run_id}", INTERRUPTED
        ) from None
    except RunBusy as exc:
        raise fail(str(exc), FAILED) from None
    except Exception:
        console.print_exception()
        raise fail(
            f"internal error (a defect in tianping; please report it with the traceback above). Run {run_id} is "
            f"marked failed and its answers are stored: tianping resume {run_id}",
            FAILED,
        ) from None
    if json_path is not None:
        text = json.dumps(summary(store, run_id, result.wall_s), indent=2, ensure_ascii=False)
        write_output(json_path, text, json_flag)
    if result.status == "failed":
        # an endpoint never reached: the usual cause is the address itself, which resume may correct
        where = " --base-url <the right API root>" if "ConnectError: " in (result.message or "") else ""
        raise fail(
            f"{result.message}\nanswers so far are stored; after fixing the cause: tianping resume {run_id}{where}",
            FAILED,
        )
    print_scores(store, run_id)
    print_run_summary(store, run_id, benchmarks or [])
    retries = f" ({result.retries} retries)" if result.retries else ""
    note(f"{result.sent + result.unanswered} requests sent{retries}, {result.from_cache} answered from cache, "
         f"wall {result.wall_s:.1f} s")  # fmt: skip
    if result.status == "incomplete":
        raise fail(f"{result.message}\nresume to retry the failed samples: tianping resume {run_id}", INCOMPLETE)


def run_plan(
    path: Path,
    plugins: list[str],
    run_id: str | None,
    results_dir: Path | None,
    json_path: Path | None,
    flag: str,
    offline: bool = False,
) -> None:
    """``tianping run PLAN``: the plan's models, benchmarks and settings; ``--run-id``, ``--results-dir`` and
    ``--json`` given on the command line win over the plan's."""
    from tianping.engine.runner import read_definitions, start_run
    from tianping.engine.tasks import use_include_paths
    from tianping.plan import PlanError, load_plan

    try:
        loaded = load_plan(path)
    except PlanError as exc:
        raise fail(str(exc)) from None
    spec = loaded.spec
    if plugins:
        spec = spec.model_copy(update={"include_paths": [*spec.include_paths, *plugins]})
    guard(lambda: use_include_paths(spec.include_paths))
    run_id = run_id or loaded.run_id
    json_path = json_path or loaded.summary_json
    check_output(json_path, flag)
    note_url_credentials(spec)
    texts = guard(lambda: read_definitions(spec))
    from tianping.cli.data import ensure_for_run

    ensure_for_run(spec, texts, offline)  # pull what the tasks read and the data folder lacks
    benchmarks = guard(lambda: load_benchmarks_checked(spec, texts), where=loaded)
    store = open_store(results_dir or loaded.results_dir)
    if run_id is not None and store.get_run(run_id) is not None:
        raise fail(f"run {run_id} exists: continue it with: tianping resume {run_id}, or choose another run id")
    run_id = start_run(store, spec, run_id, texts)
    execute(store, spec, run_id, json_path, benchmarks, flag)


def guard(build: Any, where: Any = None) -> Any:
    """Call ``build``; a bad definition, data row or model path becomes one error line and exit 2. With
    ``where`` (a loaded plan), an error about ``items.<benchmark>`` names the plan's file and line."""
    from tianping.benchmarks.errors import DatasetError, UnknownBenchmark
    from tianping.core.errors import TaskConfigError

    try:
        return build()
    except (TaskConfigError, DatasetError, UnknownBenchmark) as exc:
        message = str(exc)
        if where is not None and message.startswith("items."):
            line = where.item_lines.get(message.removeprefix("items.").split(":", 1)[0])
            message = f"{where.path}:{line}: settings.{message}" if line else f"{where.path}: settings.{message}"
        raise fail(message) from None


def load_benchmarks_checked(spec: Any, definitions: Any) -> Any:
    """The spec's benchmarks, after checking that every model's backend can be created (both before any run is
    registered)."""
    from tianping.engine.runner import BackendUnavailable, check_before_run, load_benchmarks, needing_attacker

    try:
        guard(lambda: check_before_run(spec))
    except BackendUnavailable as exc:
        raise fail(f"--model {exc.model_id}: {exc}") from None
    benchmarks = load_benchmarks(spec, definitions)
    needing = needing_attacker(spec, benchmarks)
    if needing:  # refused before a run is registered (the runner checks again)
        raise fail(
            f"--attacker-model: {', '.join(needing)} plans attacks that need an attacker model (pair, tap, "
            "crescendo_adaptive, translate_model_*); pass --attacker-model openai/<name>, or leave those attacks "
            "out of --attacks"
        )
    for bench in benchmarks:
        for warning in bench.warnings:
            console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    return benchmarks


def note_url_credentials(spec: Any) -> None:
    from tianping.core.secrets import has_credentials

    for m in [*spec.models, *spec.helper_models]:
        if m.base_url and has_credentials(m.base_url):
            note(
                f"{m.id}: the credentials in its base URL are used by this process only and are not stored; "
                "pass the same --base-url to resume"
            )
            return


def check_same_results(existing: dict[str, Any], spec: Any) -> None:
    """``run --run-id`` of an existing run continues it only if it would ask the same questions the same way
    (execution settings may differ); it names what differs otherwise."""
    from pydantic import ValidationError

    from tianping.spec import RunSpec, result_fields, stored_spec

    try:  # with today's defaults filled in, so that a setting added since (at its default) is no difference
        before = result_fields(stored_spec(RunSpec.model_validate(existing["spec"])))
    except ValidationError:
        before = result_fields(existing["spec"])
    now = result_fields(stored_spec(spec))
    if before != now:
        changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
        raise fail(
            f"run {existing['run_id']} exists with different settings ({', '.join(changed)}); continue it with: "
            f"tianping resume {existing['run_id']}, or choose another --run-id"
        )


def load_existing(spec: Any, existing: dict[str, Any]) -> Any:
    """Benchmarks of an existing run, from the definitions it stored, after checking that none changed."""
    from tianping.engine.definitions import check_unchanged

    definitions = existing.get("definitions") or None
    if definitions:
        guard(lambda: check_unchanged(definitions, existing["run_id"]))
    return guard(lambda: load_benchmarks_checked(spec, definitions))
