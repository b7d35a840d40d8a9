"""The generic ``jsonl`` / ``json`` / ``csv`` loaders and ``module:function`` references in definitions."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine_helpers import cli
from fake_openai import last_user_text, running_server
from tianping.benchmarks.benchmark import Benchmark
from tianping.benchmarks.definition import BenchmarkDef
from tianping.benchmarks.errors import BenchmarkDefinitionError, DatasetError

TESTS = Path(__file__).resolve().parent
N_QUESTIONS = 12

# a multiple-choice benchmark in plain YAML: the options field holds 5 to 10 texts, the label an index
MC_YAML = """\
name: my-mc
version: 1
dataset:
  loader: jsonl
  path: mine/mc.jsonl
  options:
    id: qid
    target: "{{ 'ABCDEFGHIJ'[label] }}"
    choices: opts
    meta: [subject]
prompt:
  question: "{{ question }}\\n{{ options }}\\nAnswer with the letter."
scoring: {extractor: choice, metric: exact_match, breakdowns: [subject]}
"""


def mc_rows() -> list[dict[str, Any]]:
    rows = []
    for i in range(N_QUESTIONS):
        n = 5 + i % 6  # 5 to 10 options
        rows.append(
            {
                "qid": f"q{i}",
                "question": f"Question {i}: which option is right?",
                "opts": [f"option {i}-{j}" for j in range(n)],
                "label": (i * 7) % n,
                "subject": "odd" if i % 2 else "even",
            }
        )
    return rows


def scripted_letter(i: int, row: dict[str, Any]) -> str:
    """The fake model's answer to question i: right unless i is a multiple of 3, then the next letter."""
    right = row["label"] if i % 3 else (row["label"] + 1) % len(row["opts"])
    return "ABCDEFGHIJ"[right]


def answer_fn(body: dict[str, Any]) -> str:
    i = int(re.search(r"Question (\d+):", last_user_text(body))[1])
    return f"The answer is ({scripted_letter(i, mc_rows()[i])})."


def expected(metric: Any) -> float:
    rows = mc_rows()
    right = [scripted_letter(i, row) == "ABCDEFGHIJ"[row["label"]] for i, row in enumerate(rows)]
    return sum(metric(ok) for ok in right) / len(rows)


@pytest.fixture
def mc_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "mine").mkdir(parents=True)
    (data / "mine" / "mc.jsonl").write_text("".join(json.dumps(r) + "\n" for r in mc_rows()), encoding="utf-8")
    return data


def run_args(base_url: str, data: Path, bench: Path, results: Path, *extra: str) -> list[str]:
    return [
        "run", "--model", "openai/fake", "--base-url", base_url, "--data-dir", str(data),
        "-b", str(bench), "--results-dir", str(results), *extra,
    ]  # fmt: skip


def test_a_yaml_only_multiple_choice_benchmark_scores_the_scripted_truth(tmp_path, mc_data):
    assert len(MC_YAML.splitlines()) <= 15
    bench = mc_data / "mc.yaml"
    bench.write_text(MC_YAML, encoding="utf-8")
    summary = tmp_path / "summary.json"
    with running_server(answer_fn=answer_fn) as server:
        done = cli(*run_args(server.base_url, mc_data, bench, tmp_path / "results", "--summary-json", str(summary)))
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(summary.read_text())["results"]
    assert result["benchmark"] == "my-mc" and result["n"] == N_QUESTIONS
    assert result["score"] == pytest.approx(expected(float)) and 0 < result["score"] < 1


def test_a_custom_metric_reference_survives_resume_in_a_fresh_process(tmp_path, mc_data):
    bench = mc_data / "custom.yaml"
    bench.write_text(MC_YAML.replace("metric: exact_match", "metric: custom_metric_plugin:my_metric"))
    env = {"PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    results, summary = tmp_path / "results", tmp_path / "summary.json"
    with running_server(answer_fn=answer_fn, error_rate=0.5, error_statuses=(500,)) as server:
        first = cli(*run_args(server.base_url, mc_data, bench, results, "--max-retries", "0", "--run-id", "c"), env=env)
        assert first.returncode == 1, first.stderr  # some requests failed: the run is incomplete
        server.error_rate = 0.0
        resumed = cli("resume", "c", "--results-dir", str(results), "--summary-json", str(summary), env=env)
    assert resumed.returncode == 0, resumed.stderr
    (result,) = json.loads(summary.read_text())["results"]
    assert result["n"] == N_QUESTIONS
    assert result["score"] == pytest.approx(expected(lambda ok: 1.0 if ok else 0.25))


# -- loaders and errors, without the engine ----------------------------------------------------------------


def build(data: Path, dataset: dict[str, Any], **scoring: Any) -> Benchmark:
    raw = {
        "name": "t",
        "version": "1",
        "dataset": dataset,
        "prompt": {"question": "{{ question }}"},
        "scoring": scoring or {"extractor": "choice", "metric": "exact_match"},
    }
    return Benchmark(BenchmarkDef.model_validate(raw), "t.yaml", data).load()


def test_json_and_csv_map_the_same_rows(tmp_path):
    (tmp_path / "a.json").write_text(
        json.dumps({"data": [{"question": "Q?", "a": "x", "b": "y", "c": "z", "gold": "1", "topic": "t1"}]})
    )
    (tmp_path / "a.csv").write_text("question,a,b,c,gold,topic\nQ?,x,y,z,1,t1\n")
    options = {"target": "{{ 'ABC'[gold | int] }}", "choices": ["a", "b", "c"], "meta": ["topic"]}
    for loader, path, extra in (("json", "a.json", {"rows": "data"}), ("csv", "a.csv", {})):
        (sample,) = build(tmp_path, {"loader": loader, "path": path, "options": {**options, **extra}}).samples
        assert sample.id == "0" and sample.target == "B" and sample.meta["topic"] == "t1"
        assert sample.fields["choices"] == ["x", "y", "z"] and sample.fields["options"].startswith("A. x\n")


def test_parquet_maps_rows_like_jsonl_with_any_number_of_options(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    rows = mc_rows()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "mc.parquet")
    (tmp_path / "mc.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    options = {"id": "qid", "target": "{{ 'ABCDEFGHIJ'[label] }}", "choices": "opts", "meta": ["subject"]}
    from_parquet = build(tmp_path, {"loader": "parquet", "path": "mc.parquet", "options": options}).samples
    from_jsonl = build(tmp_path, {"loader": "jsonl", "path": "mc.jsonl", "options": options}).samples
    assert [(s.id, s.target, s.fields["options"], s.meta["subject"]) for s in from_parquet] == [
        (s.id, s.target, s.fields["options"], s.meta["subject"]) for s in from_jsonl
    ]
    assert {len(s.fields["choices"]) for s in from_parquet} == set(range(5, 11))
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(DatasetError, match="bad.parquet: cannot read as Parquet"):
        build(tmp_path, {"loader": "parquet", "path": "bad.parquet", "options": options})


def test_fields_keeps_only_the_named_ones(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"question": "Q?", "answer": "B", "secret": 1}) + "\n")
    b = build(tmp_path, {"loader": "jsonl", "path": "a.jsonl", "options": {"fields": ["question"]}}, extractor="choice")
    assert b.samples[0].fields == {"question": "Q?"} and b.samples[0].target == "B"


def test_a_row_missing_the_mapped_field_names_file_line_and_field(tmp_path):
    rows = [{"question": "Q?", "opts": ["x", "y"], "label": 0}, {"question": "Q2?", "label": 1}]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    options = {"target": "{{ 'AB'[label] }}", "choices": "opts"}
    with pytest.raises(DatasetError, match=r"a\.jsonl:2: field 'opts' \(option 'choices'\) is missing"):
        build(tmp_path, {"loader": "jsonl", "path": "a.jsonl", "options": options})


def test_an_expression_naming_a_field_the_row_lacks_names_it_and_the_nearest(tmp_path):
    """jinja said "str object has no element Undefined" for a misspelt field in a target expression."""
    (tmp_path / "a.jsonl").write_text(json.dumps({"question": "Q?", "opts": ["x", "y"], "label": 0}) + "\n")
    options = {"target": "{{ 'AB'[lable] }}", "choices": "opts"}
    message = r"a\.jsonl:1: option 'target': the row has no field 'lable'; did you mean label\? \(its fields: label,"
    with pytest.raises(DatasetError, match=message):
        build(tmp_path, {"loader": "jsonl", "path": "a.jsonl", "options": options})


def test_a_target_outside_the_options_is_an_error_not_a_zero(tmp_path):
    (tmp_path / "a.csv").write_text("question,a,b,answer\nQ?,x,y,C\n")
    with pytest.raises(DatasetError, match=r"a\.csv:2: option 'target' gives 'C'"):
        build(tmp_path, {"loader": "csv", "path": "a.csv", "options": {"choices": ["a", "b"]}})


@pytest.mark.parametrize(
    "expression", ["{{ question.__class__ }}", "{{ question | attr('__class__') }}", "{{ ''.__class__.__mro__ }}"]
)
def test_an_expression_reaching_for_class_is_refused(tmp_path, expression):
    (tmp_path / "a.jsonl").write_text(json.dumps({"question": "Q?", "answer": "A"}) + "\n")
    with pytest.raises(BenchmarkDefinitionError, match="dataset.options.id"):
        build(tmp_path, {"loader": "jsonl", "path": "a.jsonl", "options": {"id": expression}})


def test_a_private_name_computed_from_the_row_is_refused_by_the_sandbox(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"question": "Q?", "answer": "A", "k": "__class__"}) + "\n")
    with pytest.raises(BenchmarkDefinitionError, match="not allowed"):
        build(tmp_path, {"loader": "jsonl", "path": "a.jsonl", "options": {"id": "{{ question | attr(k) }}"}})


@pytest.fixture
def plugin_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))


@pytest.mark.parametrize(
    ("where", "reference", "message"),
    [
        ("scoring.metric", "no_such_plugin_module:fn", "no module named 'no_such_plugin_module'"),
        ("scoring.metric", "custom_metric_plugin:missing", "has no attribute 'missing'"),
        ("scoring.metric", "custom_metric_plugin:NOT_CALLABLE", "not callable"),
        ("scoring.extractor", "shutil:rmtree", "standard library"),
        ("scoring.scorer", "custom_metric_plugin:_hidden", "private"),
        ("scoring.metric", "custom_metric_plugin:unmarked_metric", "not marked as a tianping extension"),
        ("scoring.extractor", "yaml:safe_load", "not marked as a tianping extension"),
        ("dataset.loader", "no_such_plugin_module:load", "no module named"),
    ],
)
def test_a_bad_reference_names_file_field_and_reference(tmp_path, plugin_on_path, where, reference, message):
    (tmp_path / "a.jsonl").write_text(json.dumps({"question": "Q?", "answer": "A"}) + "\n")
    dataset = {"loader": "jsonl", "path": "a.jsonl"}
    scoring: dict[str, Any] = {"extractor": "choice", "metric": "exact_match"}
    section, key = where.split(".")
    if section == "dataset":
        dataset["loader"] = reference
    elif key == "scorer":
        scoring = {"scorer": reference}
    else:
        scoring[key] = reference
    with pytest.raises(BenchmarkDefinitionError) as caught:
        build(tmp_path, dataset, **scoring)
    text = str(caught.value)
    assert text.startswith("t.yaml: ") and f"field '{where}'" in text and reference in text and message in text


def test_a_loader_and_a_loglikelihood_metric_by_reference(tmp_path, plugin_on_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"question": "Q?", "answer": "A"}) + "\n")
    raw = yaml.safe_load(
        """
        name: t
        version: 1
        dataset: {loader: "custom_metric_plugin:load_rows", path: a.jsonl}
        loglikelihood: {question: "{{ question }}", choices: [A, B], metrics: [acc, "custom_metric_plugin:my_metric"]}
        """
    )
    b = Benchmark(BenchmarkDef.model_validate(raw), "t.yaml", tmp_path).load()
    assert b.samples[0].target == "A"
    raw["loglikelihood"]["metrics"] = ["custom_metric_plugin:absent"]
    with pytest.raises(BenchmarkDefinitionError, match=r"t\.yaml: field 'loglikelihood\.metrics\.0'.*absent"):
        Benchmark(BenchmarkDef.model_validate(raw), "t.yaml", tmp_path)
