"""Loaders read the real benchmark files in their upstream layouts, and malformed rows are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import load_dataset
from tianping.benchmarks.registry import build
from tianping.core import GenerationParams


def load(name: str, data_dir: Path, limit: int | None = None):
    (bench,) = build(name, data_dir)
    return bench.load(limit)


@pytest.mark.parametrize(
    ("name", "rows", "subjects"),
    [("gsm8k", 1319, 0), ("mmlu", 14042, 57), ("cmmlu", 11582, 67), ("ceval", 1346, 52)],
)
def test_full_benchmarks_have_their_published_sizes(data_dir, name, rows, subjects):
    bench = load(name, data_dir)
    assert len(bench.samples) == rows
    assert len({s.id for s in bench.samples}) == rows
    assert len({s.meta.get("subject") for s in bench.samples if "subject" in s.meta}) == subjects
    assert bench.checksum and len(bench.checksum) == 64


def test_every_subject_has_a_known_category(data_dir):
    expected = {
        "mmlu": {"STEM", "humanities", "social sciences", "other (business, health, misc.)"},
        "cmmlu": {"STEM", "Humanities", "Social Science", "Other"},
        "ceval": {"STEM", "Social Science", "Humanities", "Other"},
    }
    for name, categories in expected.items():
        assert {s.meta["category"] for s in load(name, data_dir).samples} == categories


def test_mmlu_integer_answers_become_letters(data_dir):
    first = load("mmlu", data_dir).samples[0]
    assert first.id == "abstract_algebra/0"
    assert first.target == "B"  # the file says 1
    assert first.fields["choices"] == ["0", "4", "2", "6"]


def test_gsm8k_target_is_the_number_after_the_marker(data_dir):
    first = load("gsm8k", data_dir).samples[0]
    assert first.target == "18"
    assert "<<" not in first.fields["rationale"]


def test_limit_spreads_over_subjects(data_dir):
    bench = load("mmlu", data_dir, limit=57)
    assert len({s.meta["subject"] for s in bench.samples}) == 57


def test_five_shot_prompt_uses_five_dev_rows_of_the_same_subject(data_dir):
    bench = load("mmlu_5shot", data_dir, limit=3)
    sample = bench.samples[0]
    request = bench.build_request(sample, "openai/m", GenerationParams())
    roles = [m.role for m in request.messages]
    assert roles == ["user", "assistant"] * 5 + ["user"]
    assert request.messages[0].content.startswith("The following are multiple choice questions")
    assert all(m.content in "ABCD" for m in request.messages[1:10:2])
    assert request.messages[-1].content.endswith("Answer:")
    assert sample.fields["question"] in request.messages[-1].content


def test_gsm8k_8shot_draws_train_shots_without_calculator_marks(data_dir):
    bench = load("gsm8k_cot8", data_dir, limit=2)
    request = bench.build_request(bench.samples[0], "openai/m", GenerationParams())
    answers = [m.content for m in request.messages if m.role == "assistant"]
    assert len(answers) == 8
    assert all(a.endswith(".") and "The answer is" in a and "<<" not in a for a in answers)
    again = load("gsm8k_cot8", data_dir, limit=2).build_request(bench.samples[0], "openai/m", GenerationParams())
    assert again.key == request.key  # the shot draw is seeded


def test_chinese_prompts_for_cmmlu_and_ceval(data_dir):
    for name in ("cmmlu_5shot", "ceval"):
        bench = load(name, data_dir, limit=1)
        text = bench.build_request(bench.samples[0], "openai/m", GenerationParams()).messages[0].content
        assert text.startswith("以下是") and "答案：" in text


def write_csv(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "mc"
    folder.mkdir(exist_ok=True)
    (folder / "demo_test.csv").write_text(text, encoding="utf-8")
    return folder


def test_malformed_answer_names_file_and_line(tmp_path):
    folder = write_csv(tmp_path, 'question,choice0,choice1,choice2,choice3,answer\n"q1",a,b,c,d,0\n"q\n2",a,b,c,d,7\n')
    with pytest.raises(DatasetError, match=r"demo_test.csv:3: answer '7'"):
        load_dataset("mc_csv", folder, {"suffix": "_test"})


def test_short_row_names_file_and_line(tmp_path):
    folder = write_csv(tmp_path, "id,question,A,B,C,D,answer\n0,q,a,b,c,d,A\n1,q,a,b\n")
    with pytest.raises(DatasetError, match=r"demo_test.csv:3: expected at least 7 columns"):
        load_dataset("mc_csv", folder, {})


def test_headerless_letter_layout_is_read(tmp_path):
    folder = write_csv(tmp_path, "What is 1+1?,1,2,3,4,B\n")
    (sample,) = load_dataset("mc_csv", folder, {"suffix": "_test"}).samples
    assert sample.target == "B" and sample.meta["subject"] == "demo"


def test_malformed_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "g.jsonl"
    good = json.dumps({"question": "q", "answer": "x\n#### 4"})
    path.write_text(good + "\n" + good + "\n{not json\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"g.jsonl:3: not valid JSON"):
        load_dataset("gsm8k_jsonl", path, {})
    path.write_text(good + "\n" + json.dumps({"question": "q", "answer": "no marker"}) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"g.jsonl:2: field 'answer' does not end in '#### <number>'"):
        load_dataset("gsm8k_jsonl", path, {})


def test_missing_data_directory_says_how_to_set_it(tmp_path):
    with pytest.raises(DatasetError, match="TIANPING_DATA_DIR"):
        load_dataset("mc_csv", tmp_path / "absent", {})
