"""Run files (``tianping run plan.yaml``): a YAML plan becomes the RunSpec the flags would build, with per-model
endpoints, keys and generation settings; every mistake is one line naming the file, line and field."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest

from fake_openai import FakeOpenAIServer
from tianping.core import GenerationParams, Message, Request
from tianping.engine.backends import create_backend
from tianping.plan import MAX_PLAN_BYTES, PlanError, RunPlan, load_plan
from tianping.spec import GenerationOverrides, ModelSpec, RunSpec, SafetyOptions, result_fields, stored_spec

SECRET = "sk-live-5f1c9a7e3b2d4c6e8a0b1234"


def write(folder: Path, text: str, name: str = "plan.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(folder: Path, text: str) -> RunPlan:
    return load_plan(write(folder, text))


def problems(folder: Path, text: str) -> list[str]:
    path = write(folder, text)
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def one_problem(folder: Path, text: str) -> str:
    found = problems(folder, text)
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A datasets folder named by TIANPING_DATA_DIR, and a working directory away from the plan."""
    folder = tmp_path / "datasets"
    folder.mkdir()
    monkeypatch.setenv("TIANPING_DATA_DIR", str(folder))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return folder


# -- a valid plan ---------------------------------------------------------------------------------------------


def test_valid_plan_builds_the_spec_the_flags_would(tmp_path: Path, data: Path) -> None:
    (tmp_path / "defs").mkdir()
    plan = load(
        tmp_path,
        """\
        run_id: nightly-1
        results_dir: out/results
        summary_json: out/summary.json
        models:
          - id: openai/qwen
            base_url: http://127.0.0.1:8000/v1
            api_key_env: PROVIDER_A_KEY
            concurrency: 64
            timeout_s: 300
            max_retries: 2
            rpm: 600
            stream: true
            generation: {max_tokens: 2048, stop: ["###"]}
          - backend: openai
            name: llama
            base_url: https://api.example.com/v1
          - id: ref/tp-ref-clean
            batch_size: 8
            dtype: bfloat16
        benchmarks: [gsm8k, defs/mine.yaml]
        settings:
          data_dir: local-data
          limit: 50
          limit_mode: spread
          limits: {gsm8k: 10, defs/mine.yaml: 5}
          mode: generate
          modes: {gsm8k: generate}
          use_cache: false
          unsafe_exec: true
          allow_outside_data: true
          generation: {temperature: 0, seed: 7}
          judge: {id: openai/judge, base_url: http://127.0.0.1:9000/v1, api_key_env: JUDGE_KEY}
          judge_preset: llamaguard3
        """,
    )
    definition = str(tmp_path / "defs" / "mine.yaml")
    assert plan.path == tmp_path / "plan.yaml"
    assert plan.run_id == "nightly-1"
    assert plan.results_dir == tmp_path / "out" / "results"
    assert plan.summary_json == tmp_path / "out" / "summary.json"
    assert plan.suites == ()
    assert plan.model_lines == (5, 14, 17)
    expected = RunSpec(
        models=[
            ModelSpec(
                id="openai/qwen",
                base_url="http://127.0.0.1:8000/v1",
                api_key_env="PROVIDER_A_KEY",
                concurrency=64,
                timeout_s=300,
                max_retries=2,
                rpm=600,
                stream=True,
                generation=GenerationOverrides(max_tokens=2048, stop=["###"]),
            ),
            ModelSpec(id="openai/llama", base_url="https://api.example.com/v1"),
            ModelSpec(id="ref/tp-ref-clean", batch_size=8, dtype="bfloat16"),
        ],
        benchmarks=["gsm8k", definition],
        limit=50,
        limit_mode=None,  # spread, as the command line stores it
        limits={"gsm8k": 10, definition: 5},
        mode="generate",
        modes={"gsm8k": "generate"},
        data_dir=str((tmp_path / "local-data").resolve()),  # relative to the plan, not the working directory
        generation=GenerationOverrides(temperature=0, seed=7),
        use_cache=False,
        unsafe_exec=True,
        allow_outside_data=True,
        judge=ModelSpec(id="openai/judge", base_url="http://127.0.0.1:9000/v1", api_key_env="JUDGE_KEY"),
        judge_preset="llamaguard3",
    )
    assert plan.spec == expected
    assert plan.spec.models[1].request_name == "llama"


def test_defaults_suites_and_data_dir_from_the_environment(tmp_path: Path, data: Path) -> None:
    plan = load(
        tmp_path,
        """\
        models: [{id: openai/m, base_url: "http://127.0.0.1:8000/v1"}]
        benchmarks: [gsm8k, safety]
        suites: [safety]
        """,
    )
    assert plan.spec.benchmarks == ["gsm8k", "safety", "safety_overrefusal"]
    assert plan.suites == ("safety",)
    assert plan.spec.data_dir == str(data.resolve())
    assert plan.spec.safety == SafetyOptions()  # the suite's defaults, stored as the command line stores them
    assert plan.run_id is None and plan.results_dir is None and plan.summary_json is None
    assert plan.spec.use_cache and plan.spec.judge is None and plan.spec.models[0].api_key_env == "OPENAI_API_KEY"


def test_yaml_anchors_share_model_settings(tmp_path: Path, data: Path) -> None:
    plan = load(
        tmp_path,
        """\
        models:
          - &first {id: openai/a, base_url: "http://127.0.0.1:8000/v1", api_key_env: SHARED_KEY, concurrency: 8}
          - <<: *first
            id: openai/b
        benchmarks: [gsm8k]
        """,
    )
    assert [(m.id, m.api_key_env, m.concurrency) for m in plan.spec.models] == [
        ("openai/a", "SHARED_KEY", 8),
        ("openai/b", "SHARED_KEY", 8),
    ]


# -- two endpoints of one model -------------------------------------------------------------------------------


def test_two_endpoints_of_one_model_are_two_models(tmp_path: Path, data: Path) -> None:
    plan = load(
        tmp_path,
        """\
        models:
          - id: openai/qwen
            base_url: http://user:pw@10.0.0.5:8000/v1?api_key=SECRET
          - backend: openai
            name: qwen
            base_url: https://API.provider-b.example/v1
          - id: openai/qwen
            base_url: http://10.0.0.5:8000/v1
            label: sampled
            generation: {temperature: 0.7}
          - id: openai/other
            base_url: http://10.0.0.5:8000/v1
        benchmarks: [gsm8k]
        """,
    )
    models = plan.spec.models
    assert [m.id for m in models] == [
        "openai/qwen@10.0.0.5:8000",
        "openai/qwen@api.provider-b.example:443",
        "openai/qwen@sampled",
        "openai/other",
    ]
    assert [m.request_name for m in models] == ["qwen", "qwen", "qwen", "other"]
    assert [m.served_name for m in models] == ["qwen", "qwen", "qwen", None]
    assert models[0].base_url == "http://user:pw@10.0.0.5:8000/v1?api_key=SECRET"  # this process uses it
    assert models[1].endpoint != models[0].endpoint


def test_the_same_model_at_the_same_endpoint_twice_is_refused(tmp_path: Path, data: Path) -> None:
    found = one_problem(
        tmp_path,
        """\
        models:
          - id: openai/qwen
            base_url: http://127.0.0.1:8000/v1
          - backend: openai
            name: qwen
            base_url: http://127.0.0.1:8000/v1/
        benchmarks: [gsm8k]
        """,
    )
    assert found.startswith(f"{tmp_path / 'plan.yaml'}:4: models[1]: the same model at the same endpoint as models[0]")
    assert "label" in found


def test_one_host_port_with_two_paths_needs_labels(tmp_path: Path, data: Path) -> None:
    found = one_problem(
        tmp_path,
        """\
        models:
          - {id: openai/qwen, base_url: "http://gw:8000/a/v1"}
          - {id: openai/qwen, base_url: "http://gw:8000/b/v1"}
        benchmarks: [gsm8k]
        """,
    )
    assert found.startswith(f"{tmp_path / 'plan.yaml'}:3: models[1]: the same model at gw:8000 as models[0]")
    plan = load(
        tmp_path,
        """\
        models:
          - {id: openai/qwen, base_url: "http://gw:8000/a/v1", label: a}
          - {id: openai/qwen, base_url: "http://gw:8000/b/v1", label: b}
        benchmarks: [gsm8k]
        """,
    )
    assert [(m.id, m.request_name) for m in plan.spec.models] == [("openai/qwen@a", "qwen"), ("openai/qwen@b", "qwen")]


def test_same_label_twice_and_a_derived_id_that_clashes_are_refused(tmp_path: Path, data: Path) -> None:
    found = one_problem(
        tmp_path,
        """\
        models:
          - {id: openai/qwen, base_url: "http://a:1/v1", label: x}
          - {id: openai/qwen, base_url: "http://b:1/v1", label: x}
        benchmarks: [gsm8k]
        """,
    )
    assert ":3: models[1]: openai/qwen@x is also models[0] (line 2)" in found
    found = one_problem(
        tmp_path,
        """\
        models:
          - {id: openai/qwen, base_url: "http://a:1/v1"}
          - {id: openai/qwen, base_url: "http://b:1/v1"}
          - {id: "openai/qwen@a:1", base_url: "http://c:1/v1"}
        benchmarks: [gsm8k]
        """,
    )
    assert ":4: models[2]: openai/qwen@a:1 is also models[0]" in found


# -- generation settings compose ------------------------------------------------------------------------------


def test_model_generation_overrides_compose_over_the_runs_over_the_benchmarks(tmp_path: Path, data: Path) -> None:
    plan = load(
        tmp_path,
        """\
        models:
          - {id: openai/plain, base_url: "http://127.0.0.1:8000/v1"}
          - id: openai/tuned
            base_url: http://127.0.0.1:8000/v1
            generation: {temperature: 0.7, max_tokens: 64}
        benchmarks: [gsm8k]
        settings:
          generation: {temperature: 0.2, seed: 5}
        """,
    )
    bench = GenerationParams(temperature=0.0, top_p=0.9, max_tokens=256, stop=("Q:",), n=1)
    plain, tuned = plan.spec.models
    assert plan.spec.params_for(plain, bench) == GenerationParams(
        temperature=0.2, top_p=0.9, max_tokens=256, seed=5, stop=("Q:",), n=1
    )
    assert plan.spec.params_for(tuned, bench) == GenerationParams(
        temperature=0.7, top_p=0.9, max_tokens=64, seed=5, stop=("Q:",), n=1
    )
    no_run_level = plan.spec.model_copy(update={"generation": GenerationOverrides()})
    assert no_run_level.params_for(plain, bench) == bench


# -- errors: file, line, field ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "field", "needle"),
    [
        (  # unknown key at the top
            """\
            models: [{id: openai/m, base_url: "http://h:1/v1"}]
            benchmarks: [gsm8k]
            limt: 5
            """,
            3,
            "limt",
            "unknown key (known: run_id,",
        ),
        (  # a setting at the top level
            """\
            models: [{id: openai/m, base_url: "http://h:1/v1"}]
            benchmarks: [gsm8k]
            limit: 5
            """,
            3,
            "limit",
            "belongs under settings:",
        ),
        (  # unknown key in a model entry
            """\
            models:
              - id: openai/m
                base_url: http://h:1/v1
                concurency: 4
            benchmarks: [gsm8k]
            """,
            4,
            "models[0].concurency",
            "unknown key; did you mean concurrency? (known: id, served_name, generation, base_url",
        ),
        (  # unknown key in nested generation overrides
            """\
            models:
              - id: openai/m
                base_url: http://h:1/v1
                generation:
                  temprature: 0
            benchmarks: [gsm8k]
            """,
            5,
            "models[0].generation.temprature",
            "unknown key; did you mean temperature? (known: temperature, top_p, max_tokens, seed, stop, n)",
        ),
        (  # a model's setting under settings:
            """\
            models: [{id: openai/m, base_url: "http://h:1/v1"}]
            benchmarks: [gsm8k]
            settings:
              concurrency: 8
            """,
            4,
            "settings.concurrency",
            "concurrency is set per model: models: [{id: ..., concurrency: ...}]",
        ),
        (  # a misspelt generation setting under settings:
            """\
            models: [{id: openai/m, base_url: "http://h:1/v1"}]
            benchmarks: [gsm8k]
            settings:
              max_token: 64
            """,
            4,
            "settings.max_token",
            "did you mean max_tokens? It belongs under settings: generation:",
        ),
        (  # unknown key in settings
            """\
            models: [{id: openai/m, base_url: "http://h:1/v1"}]
            benchmarks: [gsm8k]
            settings:
              limit: 5
              cache: false
            """,
            5,
            "settings.cache",
            "unknown key (known: limit, limit_mode, data_dir,",
        ),
        (  # unknown key in settings.safety
            """\
            models: [{id: openai/m, base_url: "http://h:1/v1"}]
            suites: [safety]
            settings:
              safety:
                budjet: 5
            """,
            5,
            "settings.safety.budjet",
            "unknown key; did you mean budget? (known: attacks, categories",
        ),
        (  # a bad URL
            """\
            models:
              - id: openai/a
                base_url: http://h:1/v1
              - id: openai/b
                base_url: ftp://h/v1
            benchmarks: [gsm8k]
            """,
            5,
            "models[1].base_url",
            "base URL must be an http(s) URL",
        ),
        (  # an environment variable in a URL is not expanded
            """\
            models:
              - id: openai/a
                base_url: http://${HOST}:8000/v1
            benchmarks: [gsm8k]
            """,
            3,
            "models[0].base_url",
            "environment variables are not expanded",
        ),
        (  # openai without a URL: the entry's line
            """\
            benchmarks: [gsm8k]
            models:
              - id: openai/a
                api_key_env: K
            """,
            3,
            "models[0].base_url",
            "required for openai/ models",
        ),
        (  # a bad backend
            """\
            models:
              - backend: tgi
                name: m
            benchmarks: [gsm8k]
            """,
            2,
            "models[0].backend",
            "unknown backend 'tgi' in model id 'tgi/m' (known: openai, hf, ref, vllm, http)",
        ),
        (
            """\
            models:
              - id: tgi/m
            benchmarks: [gsm8k]
            """,
            2,
            "models[0].id",
            "unknown backend 'tgi'",
        ),
        (  # neither id nor backend + name
            """\
            models:
              - base_url: http://h:1/v1
            benchmarks: [gsm8k]
            """,
            2,
            "models[0].id",
            "required: a model entry names its model with id:",
        ),
        (
            """\
            models:
              - {id: openai/m, backend: openai, name: m, base_url: "http://h:1/v1"}
            benchmarks: [gsm8k]
            """,
            2,
            "models[0].id",
            "not both",
        ),
        (  # wrong types
            """\
            models:
              - id: openai/m
                base_url: http://h:1/v1
                concurrency: many
            benchmarks: [gsm8k]
            """,
            4,
            "models[0].concurrency",
            "Input should be a valid integer",
        ),
        (
            """\
            models:
              - id: openai/m
                base_url: http://h:1/v1
                stream: perhaps
            benchmarks: [gsm8k]
            """,
            4,
            "models[0].stream",
            "Input should be a valid boolean",
        ),
        (
            """\
            models: [{id: openai/m, base_url: "http://h:1/v1"}]
            benchmarks: gsm8k
            """,
            2,
            "benchmarks",
            "must be a list",
        ),
        (
            """\
            models:
              id: openai/m
            benchmarks: [gsm8k]
            """,
            1,
            "models",
            "must be a non-empty list of model entries",
        ),
        (
            """\
            models: [openai/m]
            benchmarks: [gsm8k]
            """,
            1,
            "models[0]",
            "a model entry is a mapping",
        ),
        (
            """\
            models: [{id: openai/m, base_url: "http://h:1/v1"}]
            benchmarks: [gsm8k]
            settings:
              limit: ten
            """,
            4,
            "settings.limit",
            "Input should be a valid integer",
        ),
        (
            """\
            models: [{id: openai/m, base_url: "http://h:1/v1"}]
            benchmarks: [gsm8k]
            settings:
              mode: guess
            """,
            4,
            "settings.mode",
            "Input should be 'generate' or 'loglikelihood'",
        ),
        (
            """\
            models: [{id: openai/m, base_url: "http://h:1/v1"}]
            benchmarks: [gsm8k, defs/x.yaml]
            settings:
              limits:
                defs/x.yaml: 0
            """,
            5,
            "settings.limits['defs/x.yaml']",
            "greater than or equal to 1",
        ),
        (
            """\
            models: [{id: openai/m, base_url: "http://h:1/v1"}]
            benchmarks: [gsm8k]
            settings:
              limits: {mmlu: 5}
            """,
            4,
            "settings.limits.mmlu",
            "mmlu is not among this plan's benchmarks",
        ),
        (
            """\
            models: [{id: openai/m, base_url: "http://h:1/v1"}]
            benchmarks: [gsm8k]
            settings:
              judge_preset: llamaguard3
            """,
            4,
            "settings.judge_preset",
            "needs a judge model",
        ),
        (
            """\
            models: [{id: openai/m, base_url: "http://h:1/v1"}]
            benchmarks: [gsm8k]
            settings:
              judge:
                id: openai/j
                base_url: http://h:1/v1
                generation: {temperature: 1}
            """,
            7,
            "settings.judge.generation",
            "not taken by a judge or attacker",
        ),
        (
            """\
            models: [{id: openai/m, base_url: "http://h:1/v1"}]
            benchmarks: [gsm8k]
            settings:
              safety: {budget: 5}
            """,
            4,
            "settings.safety",
            "runs no safety task",
        ),
        (
            """\
            models: [{id: openai/m, base_url: "http://h:1/v1"}]
            benchmarks: [gsm8k]
            suites: [safty]
            """,
            3,
            "suites[0]",
            "unknown suite 'safty' (did you mean safety?); known: ",
        ),
        (
            """\
            models: [{id: openai/m, base_url: "http://h:1/v1"}]
            benchmarks: [gsm8k, mmlu, gsm8k]
            """,
            2,
            "benchmarks[2]",
            "gsm8k is listed twice",
        ),
        (
            """\
            models: [{id: hf/ckpt, label: x}]
            benchmarks: [gsm8k]
            """,
            1,
            "models[0].label",
            "applies to served models only",
        ),
        (
            """\
            models: [{id: ref/tp-ref-clean, served_name: x}]
            benchmarks: [gsm8k]
            """,
            1,
            "models[0]",
            "served_name is the model name sent to an endpoint; ref/tp-ref-clean is a local model",
        ),
        (
            """\
            run_id: ../escape
            models: [{id: openai/m, base_url: "http://h:1/v1"}]
            benchmarks: [gsm8k]
            """,
            1,
            "run_id",
            "run id '../escape' is not allowed",
        ),
        (
            """\
            models:
              - id: openai/m
                base_url: http://h:1/v1
                id: openai/n
            benchmarks: [gsm8k]
            """,
            4,
            "models[0].id",
            "duplicate key (first on line 2)",
        ),
        (
            """\
            models: [{id: openai/m, base_url: "http://h:1/v1"}
            benchmarks: [gsm8k]
            """,
            2,
            "",
            "not valid YAML",
        ),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, data: Path, text: str, line: int, field: str, needle: str):
    found = one_problem(tmp_path, textwrap.dedent(text))
    prefix = f"{tmp_path / 'plan.yaml'}:{line}: " + (f"{field}: " if field else "")
    assert found.startswith(prefix), (found, prefix)
    assert needle in found, (needle, found)


@pytest.mark.parametrize("key", ["api_key", "apiKey", "API_KEY", "token", "key", "password"])
def test_a_literal_key_is_refused_without_repeating_it(tmp_path: Path, data: Path, key: str) -> None:
    found = one_problem(
        tmp_path,
        f"""\
        models:
          - id: openai/m
            base_url: http://h:1/v1
            {key}: {SECRET}
        benchmarks: [gsm8k]
        """,
    )
    assert found.startswith(f"{tmp_path / 'plan.yaml'}:4: models[0].{key}: a literal API key does not belong")
    assert "api_key_env" in found
    assert SECRET not in found


def test_a_key_given_as_api_key_env_is_refused_without_repeating_it(tmp_path: Path, data: Path) -> None:
    found = one_problem(
        tmp_path,
        f"""\
        models: [{{id: openai/m, base_url: "http://h:1/v1", api_key_env: {SECRET}}}]
        benchmarks: [gsm8k]
        """,
    )
    assert ":1: models[0].api_key_env: api_key_env takes the NAME of an environment variable" in found
    assert SECRET not in found


def test_missing_models_and_nothing_to_run(tmp_path: Path, data: Path) -> None:
    found = problems(tmp_path, "settings: {limit: 5}\n")
    plan = tmp_path / "plan.yaml"
    assert found == [
        f"{plan}: models: required: the models to evaluate, e.g. [{{id: openai/NAME, base_url: URL}}]",
        f"{plan}: benchmarks: nothing to run: give benchmarks: [NAME or definition file] or suites: [safety]",
    ]


def test_every_problem_is_reported_at_once_in_file_order(tmp_path: Path, data: Path) -> None:
    found = problems(
        tmp_path,
        f"""\
        models:
          - id: openai/a
            base_url: ftp://x
            api_key: {SECRET}
            concurency: 3
            generation: {{temprature: 1}}
          - {{id: openai/b, base_url: "http://h:1/v1", rpm: -1}}
          - {{base_url: "http://h:1/v1", timeout_s: 0}}
        benchmarks: [gsm8k]
        settings:
          cache: no
          limit: 0
          judge: {{id: openai/j}}
        """,
    )
    fields = [(line.split(":")[1], line.split(": ")[1]) for line in found]
    assert fields == [
        ("3", "models[0].base_url"),
        ("4", "models[0].api_key"),
        ("5", "models[0].concurency"),
        ("6", "models[0].generation.temprature"),
        ("7", "models[1].rpm"),
        ("8", "models[2].id"),
        ("8", "models[2].timeout_s"),
        ("11", "settings.cache"),
        ("12", "settings.limit"),
        ("13", "settings.judge.base_url"),
    ], found
    assert SECRET not in "\n".join(found)


def test_without_a_data_directory_the_plan_reads_the_per_user_cache(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIANPING_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    plan = tmp_path / "plan.yaml"
    plan.write_text('models: [{id: openai/m, base_url: "http://h:1/v1"}]\nbenchmarks: [gsm8k]\n', encoding="utf-8")
    loaded = load_plan(plan)
    assert loaded.spec.data_dir == str((tmp_path / "cache" / "tianping" / "datasets").resolve())


def test_file_problems(tmp_path: Path, data: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(PlanError, match="nope.yaml: the plan file does not exist"):
        load_plan(missing)
    with pytest.raises(PlanError, match="is not a file"):
        load_plan(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * MAX_PLAN_BYTES + "\n")
    with pytest.raises(PlanError, match="larger than 1 MiB"):
        load_plan(big)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"models: \xff\xfe\n")
    with pytest.raises(PlanError, match="not UTF-8"):
        load_plan(binary)
    empty = one_problem(tmp_path, "")
    assert empty == f"{tmp_path / 'plan.yaml'}: the plan is empty: it needs models: and benchmarks: (or suites:)"
    assert "a plan is a mapping" in one_problem(tmp_path, "- just\n- a list\n")
    assert "not valid YAML" in one_problem(tmp_path, "a: 1\n---\nb: 2\n")
    assert "not valid YAML" in one_problem(tmp_path, "a: !!python/object:os.system {}\n")


def test_aliases_that_expand_too_far_are_refused(tmp_path: Path, data: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    assert "aliases expanding too far" in one_problem(tmp_path, "\n".join(lines) + "\n")
    assert "nested" in one_problem(tmp_path, "models: " + "[" * 200 + "]" * 200 + "\n")


# -- credentials and stored specs ----------------------------------------------------------------------------


def test_credentials_in_a_base_url_are_used_but_never_stored(tmp_path: Path, data: Path) -> None:
    plan = load(
        tmp_path,
        """\
        models:
          - {id: openai/m, base_url: "https://user:pw-9@gw.example:8443/v1?api-version=2&api_key=SECRETQ"}
          - {id: openai/m, base_url: "https://other.example/v1"}
        benchmarks: [gsm8k]
        settings:
          judge: {id: openai/j, base_url: "http://u:jpw@judge.example/v1"}
        """,
    )
    first = plan.spec.models[0]
    assert first.id == "openai/m@gw.example:8443"
    assert "pw-9" in (first.base_url or "")  # this process still sends them
    stored = json.dumps(stored_spec(plan.spec))
    for secret in ("pw-9", "SECRETQ", "jpw", "user"):
        assert secret not in stored
    assert "api-version=2" in stored
    again = RunSpec.model_validate(stored_spec(plan.spec))  # a stored spec loads back
    assert [m.request_name for m in again.models] == ["m", "m"]


def test_stored_specs_without_the_new_fields_still_load(tmp_path: Path) -> None:
    old = {
        "models": [
            {"id": "openai/m", "base_url": "http://127.0.0.1:8000/v1", "api_key_env": "OPENAI_API_KEY",
             "concurrency": 32, "timeout_s": 120.0, "max_retries": 6, "rpm": None, "stream": False,
             "max_reply_mb": 16.0, "device": "auto", "dtype": "float32", "batch_size": 16, "chat_template": None,
             "max_length": None}
        ],
        "benchmarks": ["gsm8k"],
        "limit": 2,
        "data_dir": str(tmp_path),
        "generation": {"temperature": None, "top_p": None, "max_tokens": None, "seed": None, "stop": None, "n": None},
        "use_cache": True,
        "judge": None,
    }  # fmt: skip
    spec = RunSpec.model_validate(old)
    model = spec.models[0]
    assert model.served_name is None and model.generation is None
    assert model.name == "m" and model.request_name == "m"
    # the same run spelled today has the same result fields: ``run --run-id`` continues it
    assert result_fields(stored_spec(RunSpec.model_validate(old))) == result_fields(stored_spec(spec))
    base = GenerationParams(temperature=0.0, max_tokens=5)
    assert spec.params_for(model, base) == base


def test_served_name_checks() -> None:
    assert ModelSpec(id="openai/qwen@a", served_name="qwen").name == "qwen@a"
    assert ModelSpec(id="openai/qwen@a").request_name == "qwen@a"
    for bad in ("", " qwen", "qw\nen"):
        with pytest.raises(ValueError):
            ModelSpec(id="openai/q", served_name=bad)
    with pytest.raises(ValueError, match="is a local model"):
        ModelSpec(id="hf/x", served_name="y")


# -- the backend sends the served name ------------------------------------------------------------------------


def test_create_backend_sends_the_served_name() -> None:
    async def go() -> tuple[dict, str]:
        async with FakeOpenAIServer() as server:
            spec = ModelSpec(id="openai/qwen@a", served_name="qwen", base_url=server.base_url, max_retries=0)
            backend = create_backend(spec)
            try:
                request = Request(model=spec.id, messages=(Message("user", "hi"),), params=GenerationParams())
                response = await backend.generate(request)
            finally:
                await backend.aclose()
            assert server.last_body is not None
            return server.last_body, response.first.text

    body, text = asyncio.run(go())
    assert body["model"] == "qwen"
    assert text == "You said: hi"


def test_local_checkpoint_paths_are_relative_to_the_plan(tmp_path: Path, data: Path) -> None:
    (tmp_path / "ckpt" / "a").mkdir(parents=True)  # a folder beside the plan; owner/name otherwise is a hub id
    plan = load(
        tmp_path,
        """\
        models:
          - id: hf/ckpt/a
          - {backend: hf, name: ../shared/b, device: cpu}
          - id: hf//abs/c
        benchmarks: [gsm8k]
        """,
    )
    assert [m.name for m in plan.spec.models] == [
        str(tmp_path / "ckpt" / "a"),
        str(tmp_path.parent / "shared" / "b"),
        "/abs/c",
    ]
    assert plan.spec.models[1].device == "cpu"
    hub = load(tmp_path, "models: [{id: hf/someone/model}]\nbenchmarks: [gsm8k]\n")
    assert hub.spec.models[0].name == "someone/model"
