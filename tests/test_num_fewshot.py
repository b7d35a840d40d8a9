"""``--num-fewshot N``: every benchmark with a few-shot source asks N shots, in both modes, and says so in its
version; a benchmark without one refuses N > 0 by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from tianping.benchmarks.errors import BenchmarkDefinitionError
from tianping.benchmarks.kind import KIND
from tianping.benchmarks.registry import build
from tianping.cli import app
from tianping.core import GenerationParams
from tianping.core.task import TaskSettings
from tianping.spec import ModelSpec, RunSpec


def _load(data_dir: Path, name: str, mode: str, num_fewshot: int | None, limit: int = 4):
    (bench,) = build(name, data_dir, mode=mode)
    return bench.configure(num_fewshot=num_fewshot).load(limit)


def _answers(data_dir: Path, name: str, num_fewshot: int | None) -> list[int]:
    """Per sample: how many times the log-likelihood context says "Answer:" (once per shot, once for the question)."""
    bench = _load(data_dir, name, "loglikelihood", num_fewshot)
    return [bench.build_request(s, "m", GenerationParams()).prompt.count("\nAnswer:") for s in bench.samples]


def test_mmlu_5shot_asks_exactly_n_shots_in_loglikelihood_mode(data_dir):
    assert set(_answers(data_dir, "mmlu_5shot", None)) == {6}
    assert set(_answers(data_dir, "mmlu_5shot", 2)) == {3}
    assert set(_answers(data_dir, "mmlu_5shot", 0)) == {1}
    assert set(_answers(data_dir, "mmlu", 3)) == {4}  # a zero-shot benchmark with a shot pool takes them too


def test_the_shots_are_the_first_n_of_the_definitions_shots(data_dir):
    five = _load(data_dir, "mmlu_5shot", "loglikelihood", None)
    two = _load(data_dir, "mmlu_5shot", "loglikelihood", 2)
    sample = five.samples[0]
    assert two.shots_for(sample) == five.shots_for(sample)[:2]
    full = five.build_request(sample, "m", GenerationParams()).prompt
    cut = two.build_request(sample, "m", GenerationParams()).prompt
    shots = full.split("\n\n")
    assert cut == "\n\n".join([*shots[:3], shots[-1]])  # description, 2 shots, the question


def test_generate_mode_asks_n_shots_too(data_dir):
    for k in (0, 1, 2):
        bench = _load(data_dir, "mmlu_5shot", "generate", k)
        request = bench.build_request(bench.samples[0], "m", GenerationParams())
        assert [m.role for m in request.messages].count("assistant") == k


def test_the_version_says_the_shot_count_when_it_differs(data_dir):
    assert _load(data_dir, "mmlu_5shot", "loglikelihood", 2).version == "1.0+2shot+loglikelihood"
    assert _load(data_dir, "mmlu_5shot", "loglikelihood", 0).version == "1.0+0shot+loglikelihood"
    assert _load(data_dir, "mmlu_5shot", "loglikelihood", 5).version == "1.0+loglikelihood"  # the same prompts
    assert _load(data_dir, "mmlu", "generate", 5).version == "1.0+5shot"


def test_gsm8k_has_no_shot_pool_and_refuses_n_by_name_but_its_cot8_variant_takes_n(data_dir):
    (gsm8k,) = build("gsm8k", data_dir)
    with pytest.raises(BenchmarkDefinitionError, match=r"benchmark 'gsm8k'.*no few-shot source.*--num-fewshot 2"):
        gsm8k.configure(num_fewshot=2)
    zero = gsm8k.configure(num_fewshot=0).load(2)
    assert zero.version == "1.1"  # zero-shot already: nothing changes
    (cot,) = build("gsm8k_cot8", data_dir)
    cot = cot.configure(num_fewshot=2).load(2)
    request = cot.build_request(cot.samples[0], "m", GenerationParams())
    assert [m.role for m in request.messages].count("assistant") == 2
    assert cot.version.endswith("+2shot")


def test_the_kind_reads_num_fewshot_from_the_runs_spec(data_dir):
    settings = TaskSettings(data_dir=data_dir, limit=2, mode="loglikelihood", spec={"num_fewshot": 1})
    (bench,) = KIND.load("mmlu_5shot", settings)
    assert bench.fewshot_k == 1 and bench.version == "1.0+1shot+loglikelihood"
    with pytest.raises(BenchmarkDefinitionError, match="gsm8k"):
        KIND.load("gsm8k", TaskSettings(data_dir=data_dir, limit=2, spec={"num_fewshot": 1}))


def test_run_spec_bounds_num_fewshot(data_dir):
    model = ModelSpec(id="openai/fake", base_url="http://127.0.0.1:9")
    assert RunSpec(models=[model], benchmarks=["mmlu"], data_dir=str(data_dir), num_fewshot=0).num_fewshot == 0
    for bad in (-1, 65):
        with pytest.raises(ValidationError):
            RunSpec(models=[model], benchmarks=["mmlu"], data_dir=str(data_dir), num_fewshot=bad)


def test_the_cli_refuses_n_shots_of_a_benchmark_without_a_pool_before_any_run(tmp_path, data_dir):
    base = ["run", "-m", "openai/fake", "--base-url", "http://127.0.0.1:9", "--data-dir", str(data_dir)]
    base += ["--results-dir", str(tmp_path), "--limit", "2"]
    result = CliRunner().invoke(app, [*base, "-b", "mmlu", "-b", "gsm8k", "--num-fewshot", "3"])
    assert result.exit_code != 0 and "gsm8k" in result.output and "few-shot source" in result.output
    assert not list(tmp_path.iterdir())
