"""Benchmark definitions are data: the bundled ones compile, and a bad one names its file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tianping.benchmarks.benchmark import Benchmark
from tianping.benchmarks.definition import load_definitions
from tianping.benchmarks.errors import BenchmarkDefinitionError, UnknownBenchmark
from tianping.benchmarks.registry import build, builtin_definitions, resolve

GOOD = """
name: tiny
version: 1
dataset: {loader: gsm8k_jsonl, path: gsm8k/test.jsonl}
prompt:
  question: "Q: {{ question }}"
scoring: {extractor: final_number, metric: numeric_match}
"""


def write(tmp_path: Path, text: str, name: str = "bench.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_definitions_compile_with_their_variants(data_dir):
    names = set(builtin_definitions())
    assert {"gsm8k", "gsm8k_cot8", "mmlu", "mmlu_5shot", "cmmlu", "cmmlu_5shot", "ceval", "ceval_5shot"} <= names
    for name in names:
        (bench,) = build(name, data_dir)
        assert bench.version
    assert builtin_definitions()["mmlu_5shot"][0].fewshot.k == 5
    assert builtin_definitions()["mmlu"][0].fewshot.k == 0


def test_a_user_file_loads_by_path(tmp_path, data_dir):
    (bench,) = build(str(write(tmp_path, GOOD)), data_dir)
    assert bench.name == "tiny" and bench.version == "1"


def test_unknown_benchmark_lists_the_known_ones():
    with pytest.raises(UnknownBenchmark, match="unknown benchmark 'gsm9k'.*gsm8k"):
        resolve("gsm9k")


@pytest.mark.parametrize(
    ("typed", "hint"),
    [("gsm8kk", "(did you mean gsm8k?)"), ("mmlu5shot", "(did you mean mmlu_5shot"), ("zzzz", None)],
)
def test_unknown_benchmark_names_the_nearest_first(typed: str, hint: str | None):
    """A typo is the usual cause: the nearest names come before the list of a hundred (from both lookups)."""
    from tianping.engine.tasks import kind_of

    for lookup in (resolve, kind_of):
        with pytest.raises(UnknownBenchmark) as caught:
            lookup(typed)
        message = str(caught.value)
        head = message.split("; known:")[0]
        if hint is None:
            assert head == f"unknown benchmark '{typed}'"
        else:
            assert head.startswith(f"unknown benchmark '{typed}'") and hint in head and "gsm8k, " in message


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace('question: "Q: {{ question }}"', 'questio: "x"'), r"field 'prompt.questio'"),
        (lambda t: t.replace("path: gsm8k/test.jsonl", ""), r"field 'dataset.path'"),
        (lambda t: t.replace("name: tiny", "name: Tiny Bench"), r"field 'name'"),
        (lambda t: t.replace("extractor: final_number", "extractor: psychic"), r"field 'scoring.extractor'.*psychic"),
        (lambda t: t.replace("metric: numeric_match", "metric: vibes"), r"field 'scoring.metric'"),
        (lambda t: t.replace("loader: gsm8k_jsonl", "loader: nope"), r"field 'dataset.loader'"),
        (lambda t: t.replace("{{ question }}", "{{ question"), r"field 'prompt.question': template error"),
        (lambda t: t + "fewshot: {k: 3}\n", r"field 'fewshot.dataset'"),
        (lambda t: t + "fewshot: {k: -1}\n", r"field 'fewshot.k'"),
        (lambda t: t.replace("metric: numeric_match", "metric: numeric_match, scorer: ifeval"), r"field 'scoring'"),
        (lambda t: t.replace("extractor: final_number, ", ""), r"field 'scoring'.*either"),
        (lambda t: t.replace("extractor: final_number, metric: numeric_match", "scorer: nope"), r"unknown scorer"),
    ],
)
def test_a_bad_definition_names_file_and_field(tmp_path, data_dir, edit, expected):
    path = write(tmp_path, edit(GOOD))
    with pytest.raises(BenchmarkDefinitionError, match=expected) as info:
        for definition in load_definitions(path):
            Benchmark(definition=definition, source=str(path), data_dir=data_dir)
    assert str(path) in str(info.value)


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "name: x\nversion: 1\nprompt: [unclosed\n")
    with pytest.raises(BenchmarkDefinitionError, match=rf"{path.name}:\d+: invalid YAML"):
        load_definitions(path)


def test_a_bad_variant_is_named(tmp_path):
    path = write(tmp_path, GOOD + "variants:\n  tiny_bad:\n    fewshot: {k: many}\n")
    with pytest.raises(BenchmarkDefinitionError, match=r"variant tiny_bad.*field 'fewshot.k'"):
        load_definitions(path)
