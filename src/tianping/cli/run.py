"""``tianping run`` and ``resume``: the command-line options, turned into a run spec; the checks and the
execution they share with ``quickstart`` are in ``tianping.cli.run_support``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tianping.cli.common import (
    JsonSummary,
    ResultsDir,
    StoreUrl,
    SummaryJsonAlias,
    aliased,
    check_output,
    listed_names,
    open_store,
    use_store,
)
from tianping.cli.data import ensure_for_run
from tianping.cli.errors import fail
from tianping.cli.output import note
from tianping.cli.run_support import (
    batch_size_option,
    check_same_results,
    execute,
    guard,
    load_benchmarks_checked,
    load_existing,
    note_url_credentials,
    run_plan,
    spec_error,
)
from tianping.cli.scores import print_scores
from tianping.core.media import IMAGE_MAX_MB, IMAGE_MAX_SIDE


def _split_list(values: list[str] | None) -> list[str] | None:
    """``--x a,b --x c`` -> ``[a, b, c]``; None when nothing was given."""
    items = [v.strip() for value in values or [] for v in value.split(",") if v.strip()]
    return items or None


def run(
    plan: Annotated[
        Path | None, typer.Argument(help="A run plan file (YAML): models, benchmarks, settings.", show_default=False)
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="'openai/<name>', 'hf/<path>' or 'ref/<name>'; repeat."),
    ] = None,
    benchmark: Annotated[
        list[str] | None,
        typer.Option(
            "--benchmark", "-b", help="Benchmark name or path to a YAML definition; repeat, or give a list: a,b."
        ),
    ] = None,
    suite: Annotated[
        list[str] | None,
        typer.Option(
            "--suite",
            help="A named group of tasks (core-en, core-zh, reasoning, code, safety, agent, ...: "
            "`tianping benchmarks` lists them); repeat, or give a list: a,b.",
        ),
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="API root of the OpenAI-compatible endpoint (…/v1).")] = None,
    api_key_env: Annotated[str, typer.Option(help="Environment variable that holds the API key.")] = "OPENAI_API_KEY",
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most N samples per benchmark (see --limit-mode).")
    ] = None,
    limit_mode: Annotated[
        str | None,
        typer.Option(
            help="How --limit picks: 'spread' round-robin over subjects, the 'first' N in file order, or the first "
            "N of each subject ('per-subject'). lm-eval's --limit is 'first' on one task, 'per-subject' on a group "
            "such as MMLU [default: spread]."
        ),
    ] = None,
    items: Annotated[
        Path | None,
        typer.Option(
            "--items",
            help="Run exactly these samples: a pack file from 'tianping fidelity pack-stats', or a JSON/YAML mapping "
            "benchmark -> [sample ids]. Its benchmarks are run when no --benchmark/--suite is given; not with --limit.",
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, help="Requests in flight per model.")] = 32,
    run_id: Annotated[str | None, typer.Option(help="Name the run; the id of a dead run resumes it.")] = None,
    json_path: JsonSummary = None,
    summary_json: SummaryJsonAlias = None,
    data_dir: Annotated[Path | None, typer.Option(help="Datasets folder [env TIANPING_DATA_DIR].")] = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Never download: a dataset missing from the data folder is an error naming 'tianping data pull' "
            "(also TIANPING_OFFLINE=1 or HF_HUB_OFFLINE=1) [default: missing catalog datasets are pulled].",
        ),
    ] = False,
    results_dir: ResultsDir = None,
    store_url: StoreUrl = None,
    executor: Annotated[
        str,
        typer.Option(
            "--executor",
            help="local (this process) or ray (work units on a Ray cluster; pip install 'tianping[ray]', see "
            "docs/scale-out.md).",
        ),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="With --executor ray: 'auto' (the cluster started on this machine by 'ray start') or HOST:PORT "
            "[default: a single-machine cluster for this run].",
        ),
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Send every request even if answered before.")] = False,
    temperature: Annotated[float | None, typer.Option(help="Override the benchmark's temperature.")] = None,
    top_p: Annotated[float | None, typer.Option(help="Nucleus sampling top_p.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Override the benchmark's max_tokens.")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed sent to the server.")] = None,
    stop: Annotated[list[str] | None, typer.Option(help="Stop sequence; repeat for several.")] = None,
    completions_per_prompt: Annotated[
        int | None,
        typer.Option(
            "--completions-per-prompt",
            help="Completions generated for each prompt, in one request (OpenAI 'n'): pass@k benchmarks score "
            "every one, the others the first [default: the benchmark's].",
        ),
    ] = None,
    n: Annotated[int | None, typer.Option("--n", hidden=True, help="Old name of --completions-per-prompt.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per request attempt.")] = 120.0,
    max_retries: Annotated[int, typer.Option(help="Retries on 429, 5xx, timeouts and connection errors.")] = 6,
    rpm: Annotated[float | None, typer.Option(help="Requests-per-minute limit per model.")] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Use streaming responses.")] = False,
    device: Annotated[str, typer.Option(help="Local models (hf/, ref/): auto, cpu, cuda, cuda:1, mps.")] = "auto",
    dtype: Annotated[
        str,
        typer.Option(
            help="Local models: float32, float16, bfloat16, or auto (the checkpoint's own, as lm-eval's "
            "dtype=auto; use it for big checkpoints)."
        ),
    ] = "float32",
    trust_remote_code: Annotated[
        bool,
        typer.Option(
            "--trust-remote-code", help="Local models: run the custom modeling code a checkpoint ships (auto_map)."
        ),
    ] = False,
    revision: Annotated[
        str | None,
        typer.Option(help="hf/<owner>/<name> from the local hub cache: branch, tag or commit [default: main]."),
    ] = None,
    adapter: Annotated[
        Path | None, typer.Option(help="Local models: a PEFT (LoRA) adapter folder, merged into the weights.")
    ] = None,
    quantization: Annotated[
        str, typer.Option(help="Local models: none, 8bit or 4bit (bitsandbytes, CUDA only).")
    ] = "none",
    device_map: Annotated[
        str | None,
        typer.Option(help="Local models: spread over the GPUs (auto, balanced, sequential; needs accelerate)."),
    ] = None,
    batch_size: Annotated[
        str,
        typer.Option(
            parser=batch_size_option,
            metavar="N|auto",
            help="Local models: sequences per model call, or 'auto' (the largest that fits, probed).",
        ),
    ] = "16",
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
    max_reply_mb: Annotated[
        float, typer.Option(help="Largest reply accepted from an endpoint, in MiB after decompression.")
    ] = 16.0,
    image_max_side: Annotated[
        int, typer.Option(help="Images sent to an endpoint: longest side in pixels; larger ones are scaled down.")
    ] = IMAGE_MAX_SIDE,
    image_max_mb: Annotated[
        float, typer.Option(help="Images sent to an endpoint: most MiB each; larger ones are re-encoded smaller.")
    ] = IMAGE_MAX_MB,
    allow_outside_data: Annotated[
        bool,
        typer.Option(
            "--allow-outside-data",
            help="Let benchmark definitions read files outside the data directory and their own folder.",
        ),
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
    include_copyright: Annotated[
        bool,
        typer.Option(
            "--include-copyright",
            help="Safety: send HarmBench's copyright behaviours too (stored unscorable: judging them needs the "
            "protected texts) [default: left out].",
        ),
    ] = False,
    judge_model: Annotated[
        str | None, typer.Option(help="LLM judge as 'openai/<name>' (safety stage 2) [default: rules only].")
    ] = None,
    judge_preset: Annotated[
        str,
        typer.Option(
            help="How the judge model is asked and read: tianping (0-4 harm rubric), llamaguard3, llamaguard4, "
            "shieldgemma, wildguard or harmbench (each classifier's documented format)."
        ),
    ] = "tianping",
    judge_base_url: Annotated[str | None, typer.Option(help="API root of the judge [default: --base-url].")] = None,
    judge_api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable with the judge's key [default: --api-key-env].")
    ] = None,
    attacker_model: Annotated[
        str | None,
        typer.Option(
            help="Safety: the attacker model of adaptive attacks (pair, tap, crescendo_adaptive), 'openai/<name>'."
        ),
    ] = None,
    attacker_base_url: Annotated[
        str | None, typer.Option(help="API root of the attacker [default: --base-url].")
    ] = None,
    attacker_api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable with the attacker's key [default: --api-key-env].")
    ] = None,
    adaptive_queries: Annotated[
        int | None, typer.Option(min=1, help="Safety: most requests per sample of pair, tap, crescendo_adaptive [20].")
    ] = None,
    adaptive_attacker_calls: Annotated[
        int | None, typer.Option(min=1, help="Safety: most attacker-model calls per adaptive sample [60].")
    ] = None,
    best_of_n: Annotated[
        int | None, typer.Option(min=1, help="Safety: most augmented samples best_of_n sends per seed prompt [10].")
    ] = None,
    tap_depth: Annotated[int | None, typer.Option(min=1, help="Safety: levels of the TAP tree [5].")] = None,
    tap_width: Annotated[int | None, typer.Option(min=1, help="Safety: leaves TAP keeps per level [4].")] = None,
    tap_branching: Annotated[
        int | None, typer.Option(min=1, help="Safety: refinements TAP asks per leaf and level [2].")
    ] = None,
    crescendo_turns: Annotated[
        int | None, typer.Option(min=1, help="Safety: most user turns of crescendo_adaptive [10].")
    ] = None,
    crescendo_backtracks: Annotated[
        int | None, typer.Option(min=0, help="Safety: refused turns crescendo_adaptive may drop and re-ask [5].")
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            help="generate (extract the answer from generated text) or loglikelihood (score each choice's "
            "log-likelihood, as lm-evaluation-harness does) [default: each benchmark's own, generate].",
        ),
    ] = None,
    num_fewshot: Annotated[
        int | None,
        typer.Option(
            "--num-fewshot",
            min=0,
            max=64,
            help="Few-shot examples per question for every benchmark, over its own (lm-eval's --num_fewshot); "
            "N > 0 needs a benchmark with a few-shot source, 0 is zero-shot [default: each benchmark's].",
        ),
    ] = None,
    agent_tools: Annotated[
        str,
        typer.Option(
            "--agent-tools",
            help="Agent tasks: call the environments' tools in the process (local) or through an MCP server and "
            "client (mcp).",
        ),
    ] = "local",
    apply_chat_template: Annotated[
        bool,
        typer.Option(
            "--apply-chat-template",
            help="Log-likelihood mode: ask each context as a chat rendered by the model's chat template "
            "(lm-eval's --apply_chat_template; local models).",
        ),
    ] = False,
    fewshot_as_multiturn: Annotated[
        bool,
        typer.Option(
            "--fewshot-as-multiturn",
            help="With --apply-chat-template: shots as user/assistant turns, not one user message (lm-eval's "
            "CLI turns this on with --apply_chat_template).",
        ),
    ] = False,
    system_instruction: Annotated[
        str | None,
        typer.Option(
            "--system-instruction",
            help="Text before each context: a system turn with a chat template, else the start of the prompt "
            "(lm-eval's --system_instruction).",
        ),
    ] = None,
    completions_logprobs: Annotated[
        bool,
        typer.Option(
            "--completions-logprobs",
            help="OpenAI-compatible models: score log-likelihoods on /completions with echo and logprobs "
            "(lm-eval's local-completions; vLLM, SGLang and llama.cpp servers return them).",
        ),
    ] = False,
    include_path: Annotated[
        list[Path] | None,
        typer.Option(
            "--include-path",
            help="A folder of plugins: its *.py files are imported (task kinds, loaders, scorers, metrics, "
            "backends) and its *.yaml benchmarks can be named; repeat [env TIANPING_INCLUDE_PATH].",
        ),
    ] = None,
) -> None:
    """Evaluate models on benchmarks; every answer is stored as it arrives. PLAN, a YAML run file, gives the
    models (each with its own endpoint), benchmarks and settings instead of the flags."""
    from pydantic import ValidationError

    from tianping.engine.tasks import expand_suites, include_paths_from_env, use_include_paths
    from tianping.spec import GenerationOverrides, ModelSpec, RunSpec, SafetyOptions, check_run_id, default_data_dir

    if run_id is not None:
        try:
            check_run_id(run_id)
        except ValueError as exc:
            raise fail(f"--run-id: {exc}") from None
    json_path, json_flag = aliased("--json", json_path, "--summary-json", summary_json)
    check_output(json_path, json_flag)
    use_store(store_url)
    runner_factory = _executor(executor, ray_address)
    completions, completions_flag = aliased("--completions-per-prompt", completions_per_prompt, "--n", n)
    data = data_dir or default_data_dir()
    # plugins first: they may add the backends, task kinds and suites the other options name
    plugins = [*include_paths_from_env(), *(str(p) for p in include_path or [])]
    guard(lambda: use_include_paths(plugins))
    if plan is not None:
        if model:
            raise fail("give a plan file or --model flags, not both (the plan names its models)")
        if runner_factory is not None:
            raise fail("--executor ray runs --model/--benchmark flags; a plan file runs on the local executor")
        if items is not None:
            raise fail("--items goes with --model flags; a plan file gives its items under settings: items:")
        run_plan(plan, plugins, run_id, results_dir, json_path, json_flag, offline)
        return
    if not model:
        raise fail("nothing to run: give a plan file, or --model NAME with --benchmark NAME or --suite NAME")
    chosen = _read_items(items) if items is not None else {}
    names = listed_names(benchmark)
    names.extend(t for t in guard(lambda: expand_suites(listed_names(suite))) if t not in names)
    if not names:  # an items file names the benchmarks it chooses from
        names = list(chosen)
    if not names:
        raise fail("nothing to run: give --benchmark NAME or --suite NAME")
    execution = {"api_key_env": api_key_env, "concurrency": concurrency, "timeout_s": timeout,
                 "max_retries": max_retries, "max_reply_mb": max_reply_mb}  # fmt: skip
    adaptive = {"adaptive_queries": adaptive_queries, "adaptive_attacker_calls": adaptive_attacker_calls,
                "best_of_n": best_of_n, "tap_depth": tap_depth, "tap_width": tap_width, "tap_branching": tap_branching,
                "crescendo_turns": crescendo_turns, "crescendo_backtracks": crescendo_backtracks}  # fmt: skip
    try:
        # kept by the spec only when the run plans the suite's tasks
        safety = SafetyOptions(
            attacks=_split_list(attacks),
            categories=_split_list(categories),
            langs=_split_list(safety_langs),
            budget=budget,
            overrefusal_budget=overrefusal_budget,
            include_copyright=include_copyright,
            **{k: v for k, v in adaptive.items() if v is not None},
        )
        judge = None
        if judge_model is not None:
            judge = ModelSpec(
                id=judge_model,
                base_url=judge_base_url or base_url,
                **{**execution, "api_key_env": judge_api_key_env or api_key_env},
            )
        attacker = None
        if attacker_model is not None:
            attacker = ModelSpec(
                id=attacker_model,
                base_url=attacker_base_url or base_url,
                **{**execution, "api_key_env": attacker_api_key_env or api_key_env},
            )
        spec = RunSpec(
            models=[
                ModelSpec(
                    id=m,
                    base_url=base_url,
                    **execution,
                    rpm=rpm,
                    stream=stream,
                    device=device,
                    dtype=dtype,
                    trust_remote_code=trust_remote_code,
                    revision=revision,
                    adapter=str(adapter) if adapter is not None else None,
                    quantization=quantization,
                    device_map=device_map,
                    batch_size=batch_size,
                    chat_template=chat_template,
                    max_length=max_length,
                    completions_logprobs=completions_logprobs,
                    image_max_side=image_max_side,
                    image_max_mb=image_max_mb,
                )
                for m in model
            ],
            benchmarks=names,
            limit=limit,
            limit_mode=None if limit_mode == "spread" else limit_mode,
            items=chosen,
            data_dir=str(data.resolve()),
            generation=GenerationOverrides(
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_tokens,
                seed=seed,
                stop=stop or None,
                n=completions,
            ),
            use_cache=not no_cache,
            unsafe_exec=unsafe_exec,
            allow_outside_data=allow_outside_data,
            mode=mode,
            num_fewshot=num_fewshot,
            agent_tools=agent_tools,
            apply_chat_template=apply_chat_template,
            fewshot_as_multiturn=fewshot_as_multiturn,
            system_instruction=system_instruction,
            safety=safety,
            judge=judge,
            judge_preset=judge_preset,
            attacker=attacker,
            include_paths=plugins,
        )
    except ValidationError as exc:
        raise spec_error(exc, {"n": completions_flag}) from None
    note_url_credentials(spec)
    # an existing store is opened first only to find the run an id names; a new store is created only once the
    # definitions and model paths are known to be good, so a typo leaves nothing behind
    store = open_store(results_dir, missing_ok=True) if run_id is not None else None
    existing = store.get_run(run_id) if store is not None else None
    if existing is not None:
        check_same_results(existing, spec)
        benchmarks = load_existing(spec, existing)
        note(f"resuming run {run_id}")
    else:
        from tianping.engine.runner import read_definitions, start_run

        texts = guard(lambda: read_definitions(spec))
        ensure_for_run(spec, texts, offline)  # pull what the tasks read and the data folder lacks
        benchmarks = guard(lambda: load_benchmarks_checked(spec, texts))
        store = store or open_store(results_dir)
        run_id = start_run(store, spec, run_id, texts)
    execute(store, spec, run_id, json_path, benchmarks, json_flag, runner_factory)


def _read_items(path: Path) -> dict[str, list[str]]:
    """``--items FILE``: benchmark -> sample ids, a file that cannot be read as one exiting 2."""
    from tianping.core.items import ItemsFileError, read_items_file

    try:
        return read_items_file(path)
    except ItemsFileError as exc:
        raise fail(f"--items {exc}") from None


def _executor(name: str, address: str | None) -> Any:
    """The runner factory of ``--executor`` (None: the local runner), refused before any work when Ray is
    missing."""
    if name == "local":
        if address is not None:
            raise fail("--ray-address needs --executor ray")
        return None
    if name != "ray":
        raise fail(f"--executor: expected local or ray, got {name!r}")
    from tianping.core.errors import FatalRunError
    from tianping.engine.ray_executor import RayMissing, import_ray, runner_factory

    try:
        import_ray()
        return runner_factory(address)
    except (RayMissing, FatalRunError) as exc:
        raise fail(str(exc)) from None


def resume(
    run_id: Annotated[str, typer.Argument(help="The run to finish.")],
    results_dir: ResultsDir = None,
    store_url: StoreUrl = None,
    json_path: JsonSummary = None,
    summary_json: SummaryJsonAlias = None,
    base_url: Annotated[
        str | None, typer.Option(help="A corrected API root for the run's models [default: as stored].")
    ] = None,
    api_key_env: Annotated[str | None, typer.Option(help="Environment variable that holds the API key.")] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", "-c", min=1, help="Requests in flight.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds per request attempt.")] = None,
    max_retries: Annotated[int | None, typer.Option(help="Retries on 429, 5xx, timeouts, connection errors.")] = None,
    rpm: Annotated[float | None, typer.Option(help="Requests-per-minute limit per model.")] = None,
    stream: Annotated[bool | None, typer.Option("--stream/--no-stream", help="Use streaming responses.")] = None,
    device: Annotated[str | None, typer.Option(help="Local models: auto, cpu, cuda, cuda:1, mps.")] = None,
    batch_size: Annotated[
        str | None,
        typer.Option(parser=batch_size_option, metavar="N|auto", help="Local models: sequences per call, or 'auto'."),
    ] = None,
    max_reply_mb: Annotated[float | None, typer.Option(help="Largest reply accepted, in MiB.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the datasets are now (checksums must match).")] = None,
    judge_base_url: Annotated[str | None, typer.Option(help="A corrected API root for the judge.")] = None,
    attacker_base_url: Annotated[str | None, typer.Option(help="A corrected API root for the attacker.")] = None,
    include_path: Annotated[
        list[Path] | None,
        typer.Option("--include-path", help="Where the run's plugin folders are now (their files must not change)."),
    ] = None,
) -> None:
    """Finish a run that died, failed or has failed samples: send only the requests that have no stored answer.
    Execution settings may change (a corrected URL, concurrency, timeouts); what determines results may not."""
    from pydantic import ValidationError

    from tianping.engine.tasks import use_include_paths
    from tianping.spec import RunSpec, check_run_id, corrected_spec

    try:
        check_run_id(run_id)
    except ValueError as exc:
        raise fail(str(exc)) from None
    json_path, json_flag = aliased("--json", json_path, "--summary-json", summary_json)
    check_output(json_path, json_flag)
    use_store(store_url)
    store = open_store(results_dir)
    stored = store.get_run(run_id)
    if stored is None:
        raise fail(store.no_run(run_id))
    if stored["stored_status"] == "completed":
        print_scores(store, run_id)
        note(f"run {run_id} is complete: nothing to resume")
        return
    given = {"base_url": base_url, "api_key_env": api_key_env, "concurrency": concurrency, "timeout_s": timeout,
             "max_retries": max_retries, "rpm": rpm, "stream": stream, "device": device, "batch_size": batch_size,
             "max_reply_mb": max_reply_mb}  # fmt: skip
    data = corrected_spec(
        stored["spec"],
        given,
        judge_base_url=judge_base_url,
        attacker_base_url=attacker_base_url,
        data_dir=str(data_dir.resolve()) if data_dir is not None else None,
        # the run's plugins moved: the same files (by hash) from another folder
        include_paths=[str(p) for p in include_path] if include_path else None,
    )
    # before the spec is read: a plugin may provide the backend of a model it names
    guard(lambda: use_include_paths(data.get("include_paths") or [], expected=stored.get("definitions")))
    try:
        spec = RunSpec.model_validate(data)
    except ValidationError as exc:
        raise spec_error(exc) from None
    note_url_credentials(spec)
    execute(store, spec, run_id, json_path, load_existing(spec, stored), json_flag)


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(resume)
