"""``tianping data check``: each check on small datasets of known content (a user definition over real files,
read by the generic ``jsonl`` loader), what it must not flag, and the command's exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import cli
from tianping.quality.duplicates import exact_duplicates, near_duplicates
from tianping.quality.findings import QualityReport
from tianping.quality.language import detect_language
from tianping.quality.malformed import broken_encoding
from tianping.quality.runner import CheckOptions, check_data
from tianping.quality.source import read_benchmark

QUESTION = "{{ question }}\n{% for c in choices %}{{ 'ABCDEFGH'[loop.index0] }}. {{ c }}\n{% endfor %}Answer:"


def _bench(tmp: Path, rows: list[dict[str, Any]], pool: list[dict[str, Any]] | None = None, lang: str = "en") -> Path:
    """A multiple-choice benchmark of one's own: ``question``, ``choices`` and a letter ``answer`` per row."""
    (tmp / "rows.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    fewshot = ""
    if pool is not None:
        (tmp / "pool.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in pool), "utf-8")
        fewshot = "fewshot: {k: 0, dataset: {loader: jsonl, path: pool.jsonl}}\n"
    definition = tmp / "mine.yaml"
    definition.write_text(
        f"name: mine\nversion: '1'\nabout: {{task_type: multiple choice, languages: [{lang}]}}\n"
        f"dataset: {{loader: jsonl, path: rows.jsonl}}\n{fewshot}"
        f"prompt: {{question: {json.dumps(QUESTION)}}}\nscoring: {{extractor: choice, metric: exact_match}}\n",
        encoding="utf-8",
    )
    return definition


def _check(definition: Path, **options: Any) -> QualityReport:
    data = read_benchmark(str(definition), definition.parent)
    return check_data(data, CheckOptions(embeddings=False, **options))


def _filler(n: int, offset: int = 0) -> list[dict[str, Any]]:
    """Distinct, clean four-option questions (answers spread over the letters)."""
    topics = ["rivers", "volcanoes", "planets", "forests", "glaciers", "deserts", "oceans", "storms", "metals"]
    rows = []
    for i in range(offset, offset + n):
        topic = topics[i % len(topics)]
        rows.append(
            {
                "question": f"Question {i}: which statement about {topic} and item {i * 7 + 3} in survey {i} holds?",
                "choices": [f"{topic} claim {i} one", f"{topic} claim {i} two", f"{topic} claim {i} three",
                            f"{topic} claim {i} four"],
                "answer": "ABCD"[i % 4],
            }
        )  # fmt: skip
    return rows


def _reasons(report: QualityReport, kind: str) -> dict[str, str]:
    return {key: f.reason for f in report.findings if f.kind == kind for key in f.items}


def test_malformed_items_name_what_is_wrong(tmp_path: Path) -> None:
    rows = _filler(40)
    rows[3]["choices"][2] = rows[3]["choices"][1]
    rows[5]["choices"][0] = "   "
    rows[7]["answer"] = "E"  # four options: no E (the generic loader keeps it without a 'choices' option)
    rows[9]["question"] = "Which is right about caf\u00c3\u00a9 prices?"  # "café" as UTF-8 read as Windows-1252
    rows[11]["question"] = "Which value is \ufffd right?"
    rows[13]["choices"][3] = "a stray \x80\x93 dash"
    report = _check(_bench(tmp_path, rows))
    found = _reasons(report, "malformed")
    assert set(found) == {f"test:{i}" for i in (3, 5, 7, 9, 11, 13)}
    assert "options B and C are the same" in found["test:3"]
    assert "option A is empty" in found["test:5"]
    assert "no gold option: target 'E' is neither an option letter (A, B, C, D) nor an option's text" in found["test:7"]
    assert "mojibake 'Ã©'" in found["test:9"] and "was 'é'" in found["test:9"]
    assert "U+FFFD" in found["test:11"]
    assert "option D: control character U+0080" in found["test:13"]


def test_broken_encoding_leaves_real_accents_and_case_alone() -> None:
    for clean in ("naïve café résumé", "São Paulo", "Grüße", "中文：天平", "«quoted»", "tab\there\nnewline"):
        assert broken_encoding(clean) is None, clean
    assert broken_encoding("donâ€™t") is not None
    assert broken_encoding("锟斤拷") is not None


def test_answer_leakage_statements_and_verbatim_golds_but_not_chance_mentions(tmp_path: Path) -> None:
    rows = _filler(30)
    rows[2]["question"] += " Answer: C"
    rows[2]["answer"] = "C"
    rows[4]["question"] = "Photosynthesis makes sugar from light. Which process makes sugar from light?"
    rows[4]["choices"][1] = "Photosynthesis makes sugar from light"
    rows[4]["answer"] = "B"
    rows[6]["question"] = "Is 4 bigger than 3? Answer with a number of legs of a dog, 4."  # a short gold: chance
    rows[6]["choices"] = ["4", "3", "2", "1"]
    rows[6]["answer"] = "A"
    rows[8]["question"] = "Pick between the red kite flying high and the blue kite flying low: which flies high?"
    rows[8]["choices"] = ["the red kite flying high", "the blue kite flying low", "neither kite", "both kites"]
    rows[8]["answer"] = "A"  # the question quotes two options: the gold is not singled out
    report = _check(_bench(tmp_path, rows))
    found = _reasons(report, "answer_leakage")
    assert set(found) == {"test:2", "test:4"}, found
    assert "Answer: C" in found["test:2"]
    assert "Photosynthesis makes sugar from light" in found["test:4"]


def test_exact_duplicates_within_and_across_splits_and_their_label_conflicts(tmp_path: Path) -> None:
    rows = _filler(30)
    copy = dict(rows[4], question=rows[4]["question"].upper().replace(" ", "  "))  # case and spacing only
    rows.append(copy)
    moved = "DCBA"["ABCD".index(rows[6]["answer"])]  # the gold follows its text
    shuffled = dict(rows[6], choices=list(reversed(rows[6]["choices"])), answer=moved)
    rows.append(shuffled)
    conflict = dict(rows[8], answer="D" if rows[8]["answer"] != "D" else "A")
    rows.append(conflict)
    pool = [dict(rows[10]), *_filler(3, offset=100)]
    report = _check(_bench(tmp_path, rows, pool))
    groups = {tuple(sorted(f.items)): f.reason for f in report.findings if f.kind == "duplicate"}
    assert set(groups) == {
        ("test:30", "test:4"),
        ("test:31", "test:6"),
        ("test:32", "test:8"),
        ("fewshot:0", "test:10"),
    }
    assert "(options in another order)" in groups[("test:31", "test:6")]
    assert "in both the scored split and the few-shot pool" in groups[("fewshot:0", "test:10")]
    labels = [f for f in report.findings if f.kind == "suspicious_label"]
    assert [sorted(f.items) for f in labels] == [["test:32", "test:8"]]  # the reordered copy agrees: its gold moved
    assert "at most one can be right" in labels[0].reason


def _items(rows: list[dict[str, Any]], tmp: Path) -> list[Any]:
    return list(read_benchmark(str(_bench(tmp, rows)), tmp).items)


def test_near_duplicates_catch_reworded_copies_but_not_questions_that_differ_in_what_they_ask(tmp_path: Path) -> None:
    base = "A student drops a heavy rubber ball from the roof of the school building onto the playground below"
    options = ["it bounces higher", "it falls faster", "it gains energy", "it loses energy"]
    rows = [
        {"question": f"{base}. What happens to the ball?", "choices": options, "answer": "D"},
        {"question": f"{base}. What happens to that ball?", "choices": options[::-1], "answer": "A"},  # near
        {"question": f"{base} at noon. What happens to the ball?", "choices": options, "answer": "D"},  # near
        {"question": f"{base}. What does not happen to the ball?", "choices": options, "answer": "A"},  # negation
        {"question": f"{base} from 12 m. What happens to the ball?", "choices": options, "answer": "D"},  # a number
        {"question": f"{base}. What happens to the ball?", "choices": ["red", "blue", "green", "white"],
         "answer": "A"},  # same stem, other options: another question
        {"question": "The maximum possible order of an element of S_n for n = 10 in the symmetric group is what?",
         "choices": ["6", "12", "30", "105"], "answer": "C"},
        {"question": "The maximum possible order of an element of S_n for n = 6 in the symmetric group is what?",
         "choices": ["6", "12", "30", "105"], "answer": "A"},
    ]  # fmt: skip
    found, templated = near_duplicates(_items(rows, tmp_path))
    near = [sorted(f.items) for f in found if f.kind == "near_duplicate"]
    assert near == [["test:0", "test:1", "test:2"]] and templated == {}
    assert not [f for f in found if f.kind == "suspicious_label"]  # the golds are the same text
    assert exact_duplicates(_items(rows, tmp_path)) == []


def test_near_copies_with_another_answer_are_two_questions_unless_worded_alike(tmp_path: Path) -> None:
    trip = (
        "During the spring field trip the class measured how quickly the water of the shallow creek behind the "
        "school flowed past a wooden marker"
    )
    tools = ["a stopwatch", "a thermometer", "a balance", "a compass"]
    seasons = ["nine", "three", "twelve", "one"]
    rows = [
        {"question": f"{trip}. Which tool did they need most?", "choices": tools, "answer": "A"},
        {"question": f"{trip}. Which tool did they need most of all?", "choices": tools, "answer": "B"},
        {"question": "How many seasons of the rugrats were made for television in total", "choices": seasons,
         "answer": "A"},
        {"question": "How many seasons of the simpsons were made for television in total", "choices": seasons,
         "answer": "B"},
        {"question": "Mark was ill for three months. If his final weight was one hundred pounds, what was his "
                     "initial weight?", "choices": seasons, "answer": "C"},
        {"question": "Mark was ill for three months. If his initial weight was one hundred pounds, what was his "
                     "final weight?", "choices": seasons, "answer": "D"},  # the same words rearranged: two questions
    ]  # fmt: skip
    found, _ = near_duplicates(_items(rows, tmp_path))
    assert [(f.kind, sorted(f.items)) for f in found] == [
        ("near_duplicate", ["test:0", "test:1"]),
        ("suspicious_label", ["test:0", "test:1"]),
    ]
    assert "unless they ask different things" in found[1].reason


def test_language_mismatch_by_script_and_by_langdetect(tmp_path: Path) -> None:
    rows = _filler(20)
    rows[1]["question"] = "下列哪一项关于河流的说法是正确的？请选择最合适的答案。"
    rows[3]["question"] = (
        "Laquelle de ces affirmations sur les rivières est correcte, selon les observations faites par les "
        "élèves pendant la sortie scolaire de cette année au bord du fleuve?"
    )
    rows[5]["question"] = "Find 4 over 7 + 2 over 7."  # a formula in few words: undecided, not a mismatch
    report = _check(_bench(tmp_path, rows))
    found = _reasons(report, "language_mismatch")
    assert set(found) == {"test:1", "test:3"}
    assert "written in zh" in found["test:1"] and "written in fr" in found["test:3"]
    assert detect_language("Find 4 over 7 + 2 over 7.") == (None, "only 12 letters")


def test_declared_chinese_accepts_any_han_text(tmp_path: Path) -> None:
    rows = [dict(r, question="设 $x^2=4$，则 x 等于多少？" + str(i)) for i, r in enumerate(_filler(12))]
    rows[2]["question"] = "What is the capital of France, and which river flows through the city of Paris?"
    report = _check(_bench(tmp_path, rows, lang="zh"))
    assert set(_reasons(report, "language_mismatch")) == {"test:2"}


def test_dataset_level_letter_balance_and_format_outliers(tmp_path: Path) -> None:
    rows = _filler(80)
    for row in rows[:60]:
        row["answer"] = "A"
    rows[10]["choices"] = rows[10]["choices"][:3]
    report = _check(_bench(tmp_path, rows))
    verdicts = {d.name: d for d in report.dataset_findings}
    assert verdicts["unbalanced_answer_letters"].flagged
    assert "A most over-represented" in verdicts["unbalanced_answer_letters"].summary
    assert _reasons(report, "format_outlier") == {"test:10": "options: 3 where 98.8% of the items have 4"}
    balanced = _check(_bench(tmp_path, _filler(80)))
    assert not {d.name: d for d in balanced.dataset_findings}["unbalanced_answer_letters"].flagged
    assert balanced.metrics["test"]["format_consistency"] == 1.0
    for name in ("compression_ratio", "token_entropy_bits", "distinct_1", "distinct_2", "distinct_3"):
        assert balanced.metrics["test"][name] > 0


def test_cli_summary_json_and_exit_zero_on_findings(tmp_path: Path) -> None:
    rows = _filler(20)
    rows.append(dict(rows[0]))
    definition = _bench(tmp_path, rows)
    out = tmp_path / "report.json"
    done = cli("data", "check", str(definition), "--data-dir", str(tmp_path), "--no-embeddings", "--json", str(out),
               "--results-dir", str(tmp_path / "none"), "--domain", "rivers,volcanoes")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "duplicate" in done.stdout and "2 copies within the scored split" in done.stdout
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["counts"]["duplicate"] == 2
    assert report["metrics"]["test"]["domain"] == ["rivers", "volcanoes"]
    assert report["metrics"]["test"]["domain_keyword_share"] == pytest.approx(
        7 / 21, abs=1e-4
    )  # rows 0, 9, 18 (and the copy of 0); 1, 10, 19
    assert any("keywords only" in n for n in report["notes"])
    assert set(report["items"]) == {"test:0", "test:20"}


def test_cli_bad_input_exits_2_naming_the_problem(tmp_path: Path, data_dir: Path) -> None:
    unknown = cli("data", "check", "no_such_benchmark")
    assert unknown.returncode == 2 and "unknown benchmark 'no_such_benchmark'" in unknown.stderr
    arc = tmp_path / "arc" / "ARC-Challenge" / "ARC-Challenge-Test.jsonl"
    arc.parent.mkdir(parents=True)
    lines = (data_dir / "arc" / "ARC-Challenge" / "ARC-Challenge-Test.jsonl").read_text("utf-8").splitlines()[:5]
    row = json.loads(lines[2])
    row["answerKey"] = "E"  # four options: the ARC loader refuses the row
    lines[2] = json.dumps(row)
    arc.write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused = cli("data", "check", "arc_challenge", "--data-dir", str(tmp_path), "--no-embeddings")
    assert refused.returncode == 2
    assert f"{arc}:3: answerKey 'E' is not one of the labels" in refused.stderr
    folder = cli("data", "check", "arc_challenge", "--data-dir", str(tmp_path), "--html", str(tmp_path))
    assert folder.returncode == 2 and "is a directory" in folder.stderr
    alone = cli("data", "check", "arc_challenge", "--ref-model", "ref/tp-ref-clean")
    assert alone.returncode == 2 and "--ref-model needs --with-models" in alone.stderr


def test_reference_models_that_do_not_know_the_material_are_not_counted(tmp_path: Path, data_dir: Path) -> None:
    pytest.importorskip("torch", reason="the reference models run on the transformers backend")
    for split in ("test", "dev"):  # one MMLU subject: options scored by their letters
        (tmp_path / "mmlu" / split).mkdir(parents=True)
        name = f"astronomy_{split}.csv"
        (tmp_path / "mmlu" / split / name).write_bytes((data_dir / "mmlu" / split / name).read_bytes())
    out = tmp_path / "report.json"
    done = cli("data", "check", "mmlu", "--data-dir", str(tmp_path), "--no-embeddings", "--with-models",
               "--model-limit", "40", "--json", str(out), "--results-dir", str(tmp_path / "none"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    scored = report["metrics"]["reference_models"]["ref/tp-ref-clean"]
    assert scored["items"] == 40 and 0.0 <= scored["accuracy"] < 0.6  # a 1.3M-parameter model: near chance
    assert any("tp-ref-clean: accuracy" in n and "not counted" in n for n in report["notes"])
    assert not [f for f in report["findings"] if f["check"] == "reference_model"]


def test_reference_models_are_not_asked_where_options_are_scored_as_texts(tmp_path: Path, data_dir: Path) -> None:
    pytest.importorskip("torch", reason="the reference models run on the transformers backend")
    arc = tmp_path / "arc" / "ARC-Challenge" / "ARC-Challenge-Test.jsonl"
    arc.parent.mkdir(parents=True)
    lines = (data_dir / "arc" / "ARC-Challenge" / "ARC-Challenge-Test.jsonl").read_text("utf-8").splitlines()
    arc.write_text("\n".join(lines[:30]) + "\n", encoding="utf-8")
    out = tmp_path / "report.json"
    done = cli("data", "check", "arc_challenge", "--data-dir", str(tmp_path), "--no-embeddings", "--with-models",
               "--json", str(out), "--results-dir", str(tmp_path / "none"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert any("arc_challenge scores its options' own texts" in n for n in report["notes"])
    assert "reference_models" not in report["metrics"]
