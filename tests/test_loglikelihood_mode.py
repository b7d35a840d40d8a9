"""Choosing generate or loglikelihood mode: the schema of the ``loglikelihood`` section, defaults, and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from tianping.benchmarks.errors import BenchmarkDefinitionError
from tianping.benchmarks.registry import build
from tianping.cli import app
from tianping.core import GenerationParams
from tianping.engine.runner import load_benchmarks
from tianping.spec import ModelSpec, RunSpec

LL_ONLY = """
name: arc_ll
version: 2
dataset: {loader: arc_jsonl, path: arc/ARC-Easy/ARC-Easy-Dev.jsonl}
loglikelihood:
  question: "Question: {{ question }}\\nAnswer:"
  choices_field: choices
  gold: "{{ letters.index(target) }}"
"""

BOTH = """
name: tiny
version: 1
dataset: {loader: gsm8k_jsonl, path: gsm8k/test.jsonl}
prompt: {question: "Q: {{ question }}"}
scoring: {extractor: final_number, metric: numeric_match}
loglikelihood:
  question: "Q: {{ question }}"
  choices: ["{{ answer }}", "{{ answer }}0"]
  gold: "0"
  metrics: [acc]
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bench.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def spec(data_dir: Path, benchmarks: list[str], mode: str | None) -> RunSpec:
    model = ModelSpec(id="openai/fake", base_url="http://127.0.0.1:9")
    return RunSpec(models=[model], benchmarks=benchmarks, data_dir=str(data_dir), limit=3, mode=mode)


def test_the_default_mode_is_generate_and_the_bundled_multiple_choice_benchmarks_offer_both(data_dir):
    for name in ("mmlu", "mmlu_5shot", "cmmlu", "cmmlu_5shot", "ceval", "ceval_5shot", "arc_easy", "arc_challenge"):
        (generated,) = build(name, data_dir)
        (scored,) = build(name, data_dir, mode="loglikelihood")
        assert (generated.mode, scored.mode) == ("generate", "loglikelihood")
        assert (generated.metric_name, scored.metric_name) == ("accuracy", "acc")
        assert scored.version == generated.version + "+loglikelihood"
        assert scored.breakdowns == generated.breakdowns


def test_both_modes_use_the_same_sample_ids(data_dir):
    (generated,) = build("mmlu_5shot", data_dir)
    (scored,) = build("mmlu_5shot", data_dir, mode="loglikelihood")
    a, b = generated.load(limit=120).samples, scored.load(limit=120).samples
    assert [s.id for s in a] == [s.id for s in b]
    chat = generated.build_request(a[0], "openai/m", GenerationParams())
    ll = scored.build_request(b[0], "openai/m", GenerationParams(max_tokens=5))
    assert chat.kind == "chat" and ll.kind == "loglikelihood" and "max_tokens" not in ll.payload()


def test_a_benchmark_without_a_loglikelihood_section_is_refused_by_name(data_dir):
    with pytest.raises(BenchmarkDefinitionError, match=r"benchmark 'gsm8k' .*no 'loglikelihood' section"):
        build("gsm8k", data_dir, mode="loglikelihood")
    with pytest.raises(BenchmarkDefinitionError, match=r"benchmark 'gsm8k'"):
        load_benchmarks(spec(data_dir, ["arc_easy", "gsm8k"], "loglikelihood"))
    assert [b.mode for b in load_benchmarks(spec(data_dir, ["arc_easy", "gsm8k"], None))] == ["generate"] * 2


def test_run_spec_mode_accepts_only_the_two_modes(data_dir):
    assert spec(data_dir, ["mmlu"], None).mode is None
    assert spec(data_dir, ["mmlu"], "loglikelihood").mode == "loglikelihood"
    with pytest.raises(ValidationError, match="generate.*loglikelihood"):
        spec(data_dir, ["mmlu"], "logprobs")


def test_a_loglikelihood_only_definition_defaults_to_it_and_refuses_generate(tmp_path, data_dir):
    path = write(tmp_path, LL_ONLY)
    (bench,) = build(path, data_dir)
    assert bench.mode == "loglikelihood" and bench.breakdowns == [] and not bench.needs_sandbox
    bench.load(limit=2)
    request = bench.build_request(bench.samples[0], "openai/m", GenerationParams())
    assert request.prompt.startswith("Question: ") and len(request.continuations or ()) >= 3
    with pytest.raises(BenchmarkDefinitionError, match=r"cannot run in generate mode.*'prompt' and 'scoring'"):
        build(path, data_dir, mode="generate")


def test_a_definition_may_choose_loglikelihood_as_its_default(tmp_path, data_dir):
    (bench,) = build(write(tmp_path, BOTH.replace("version: 1", "version: 1\nmode: loglikelihood")), data_dir)
    assert bench.mode == "loglikelihood" and bench.metric_name == "acc"
    (bench,) = build(write(tmp_path, BOTH), data_dir)
    assert bench.mode == "generate"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace("  choices: [", "  choice: ["), r"field 'loglikelihood.choice'"),
        (lambda t: t.replace('  gold: "0"\n', '  gold: "0"\n  choices_field: x\n'), r"'choices' .* or 'choices_field'"),
        (lambda t: t.replace("metrics: [acc]", "metrics: [f1]"), r"field 'loglikelihood.metrics.0'"),
        (lambda t: t.replace("metrics: [acc]", "metrics: []"), r"field 'loglikelihood.metrics'"),
        (lambda t: t.replace("metrics: [acc]", "metrics: [acc, acc]"), r"repeats a metric"),
        (
            lambda t: t.replace('question: "Q: {{ question }}"\n  choices', 'question: "{{ q"\n  choices'),
            r"field 'loglikelihood.question': template error",
        ),
        (lambda t: t.replace("version: 1", "version: 1\nmode: sample"), r"field 'mode'"),
        (lambda t: t.split("loglikelihood:")[0].replace("scoring:", "scorin:"), r"field 'scorin'"),
        (lambda t: t.split("loglikelihood:")[0].split("scoring:")[0], r"'prompt' and 'scoring' go together"),
        (lambda t: t.split("prompt:")[0], r"give 'prompt' and 'scoring' \(generation\), 'loglikelihood', or both"),
        (lambda t: LL_ONLY.replace("version: 2", "version: 2\nmode: generate"), r"default mode 'generate' needs"),
    ],
)
def test_a_bad_loglikelihood_definition_names_file_and_field(tmp_path, data_dir, edit, expected):
    path = write(tmp_path, edit(BOTH))
    with pytest.raises(BenchmarkDefinitionError, match=expected) as info:
        build(path, data_dir)
    assert "bench.yaml" in str(info.value)


def test_the_cli_refuses_an_unknown_mode_and_a_benchmark_without_the_mode(tmp_path, data_dir):
    base = ["run", "-m", "openai/fake", "--base-url", "http://127.0.0.1:9", "--data-dir", str(data_dir)]
    base += ["--results-dir", str(tmp_path), "--limit", "2"]
    bad_mode = CliRunner().invoke(app, [*base, "-b", "mmlu", "--mode", "logprobs"])
    assert bad_mode.exit_code != 0 and "mode: Input should be 'generate' or 'loglikelihood'" in bad_mode.output
    missing = CliRunner().invoke(app, [*base, "-b", "mmlu", "-b", "gsm8k", "--mode", "loglikelihood"])
    assert missing.exit_code != 0 and "benchmark 'gsm8k'" in missing.output and "loglikelihood" in missing.output
    generating_only = CliRunner().invoke(app, [*base, "-b", "arc_easy", "--mode", "loglikelihood"])
    assert generating_only.exit_code != 0 and "openai/fake cannot answer" in generating_only.output
    assert not list(tmp_path.iterdir())  # refused before a run (or its store) was created
