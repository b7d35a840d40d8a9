"""Questions with several right options: reading a set of letters, exact-set and partial credit, the
``multi_choice_jsonl`` loader over the real JEC-QA file, and log-likelihood scoring with a set of golds
(lm-eval's ``multiple_target``)."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest

from tianping.benchmarks.definition import LogLikelihoodDef
from tianping.benchmarks.errors import BenchmarkDefinitionError, DatasetError
from tianping.benchmarks.loglikelihood import LogLikelihoodTask
from tianping.benchmarks.registry import build
from tianping.core import Completion, LogLikelihood, Request, Response, Sample
from tianping.engine import runner
from tianping.engine.runner import Runner, start_run
from tianping.scoring.choice_set import (
    extract_choice_set,
    format_letter_set,
    parse_letter_set,
    partial_credit,
    set_accuracy,
)
from tianping.spec import ModelSpec, RunSpec
from tianping.store import Store

JEC_QA = "agieval/data/v1/jec-qa-kd.jsonl"

DEFINITION = f"""
name: jec_qa_kd
version: 1
dataset:
  loader: multi_choice_jsonl
  path: {JEC_QA}
  options: {{skip_unlabelled: true}}
prompt:
  question: "{{{{ question }}}}\\n{{{{ options }}}}\\n答案："
scoring:
  extractor: choice_set
  metric: choice_set_exact
  partial_credit: gaokao
  breakdowns: [answers]
loglikelihood:
  question: "{{{{ question }}}}\\n{{{{ options }}}}\\n答案："
  choices_field: choices
  gold: "{{{{ gold_indices }}}}"
  metrics: [acc, acc_norm, mc2]
"""


def write(tmp_path: Path, text: str = DEFINITION) -> str:
    path = tmp_path / "jec.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- reading a set of letters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("答案是AB", "A,B"),
        ("The answers are A and C", "A,C"),
        ("A, C", "A,C"),
        ("\\boxed{AC}", "A,C"),
        ("选ABD", "A,B,D"),
        ("答案：A、C、D", "A,C,D"),
        ("正确答案为 B，D", "B,D"),
        ("所以答案是A项和C项。", "A,C"),
        ("答案为（A）（D）", "A,D"),
        ("综上，本题选BC。", "B,C"),
        ("The correct options are A, C, and D.", "A,C,D"),
        ("I choose A and D.", "A,D"),
        ("A and C are the correct answers.", "A,C"),
        ("\\boxed{\\text{A, C}}", "A,C"),
        ("**A, C**", "A,C"),
        ("(A)(C)", "A,C"),
        # the last answer wins, as for single letters
        ("The answer is A. Wait, no: the answers are C and D.", "C,D"),
        # per-option verdicts: the last verdict on each letter counts
        ("A项正确，B项错误，C项正确。", "A,C"),
        ("Let me check.\nA is wrong.\nB is correct.\nD is correct.", "B,D"),
        ("选项A、D正确", "A,D"),
        # one letter, by this module or by tianping.scoring.choice
        ("The answer is B.", "B"),
        ("B", "B"),
        ("Answer: A careful reading shows C.", "C"),
        # no decision
        ("The answer is A or B.", None),
        ("答案是A或C", None),
        ("The answer is ADD.", None),  # a word, not a set: letters repeat
        ("答案是ABE", None),  # E is not one of the four options
        ("答案是A（D项不确定，不选）", "A"),  # an aside in brackets names no option
        ("答案是(A)(C)", "A,C"),
        ("I think the answer is not clear", None),
        ("", None),
    ],
)
def test_a_set_of_letters_is_read_from_english_and_chinese_answers(response, expected):
    assert extract_choice_set(response, ["w", "x", "y", "z"]) == expected


def test_the_canonical_form_is_sorted_distinct_and_comma_joined():
    assert format_letter_set(["C", "A", "C"]) == "A,C"
    assert parse_letter_set("A,C") == parse_letter_set("CA") == parse_letter_set("A、 C") == frozenset("AC")
    assert parse_letter_set("Apple") is None and parse_letter_set("a,c") is None and parse_letter_set("") is None
    assert parse_letter_set("A,E", letters="ABCD") is None
    assert set_accuracy("C,A", "A,C") == 1.0 and set_accuracy("A", "A,C") == 0.0 and set_accuracy("?", "A") == 0.0


@pytest.mark.parametrize(
    ("extracted", "exact", "gaokao"),
    [
        ("A,B,C", 1.0, 1.0),
        ("A,C", 0.0, 0.5),
        ("B", 0.0, 0.5),
        ("A,D", 0.0, 0.0),
        ("A,B,C,D", 0.0, 0.0),
        (None, 0.0, 0.0),
    ],
)
def test_partial_credit_rules_by_name(extracted, exact, gaokao):
    # Gaokao: all right 1, a non-empty part of the right letters with no wrong one 0.5, any wrong letter 0
    assert partial_credit("exact", extracted, "A,B,C") == exact
    assert partial_credit("gaokao", extracted, "A,B,C") == gaokao


# --- the loader and a user's definition over the real JEC-QA file -----------------------------------------


def test_jec_qa_loads_with_its_label_lists_as_canonical_targets(tmp_path, data_dir):
    (bench,) = build(write(tmp_path), data_dir)
    bench.load()
    rows = [json.loads(line) for line in (data_dir / JEC_QA).read_text(encoding="utf-8").splitlines()]
    labelled = [(i, r) for i, r in enumerate(rows) if r["label"]]
    assert len(bench.samples) == len(labelled) == len(rows) - 1  # one row of the file has an empty label
    for sample, (index, row) in zip(bench.samples, labelled, strict=True):
        assert sample.id == f"jec-qa-kd/{index}" and sample.target == ",".join(sorted(row["label"]))
        assert sample.fields["choices_raw"] == row["options"] and sample.fields["golds"] == sorted(row["label"])
    fourth = bench.samples[3]
    assert fourth.target == "A,B" and fourth.fields["gold_indices"] == [0, 1] and fourth.meta["answers"] == "multiple"
    assert fourth.fields["choices"][0] == rows[3]["options"][0].removeprefix("(A)")
    assert {s.meta["answers"] for s in bench.samples} == {"single", "multiple"}


def test_an_empty_label_is_an_error_naming_its_line_unless_skipped(tmp_path, data_dir):
    (bench,) = build(write(tmp_path, DEFINITION.replace("{skip_unlabelled: true}", "{}")), data_dir)
    with pytest.raises(DatasetError, match=r"jec-qa-kd.jsonl:212: field 'label' is empty"):
        bench.load()


def test_generation_scores_the_exact_set_and_reports_gaokao_partial_credit(tmp_path, data_dir):
    (bench,) = build(write(tmp_path), data_dir)
    sample = bench.load(limit=10).samples[4]
    assert sample.target == "A,B,C"
    request = bench.build_request(sample, "openai/m", bench.generation)
    assert request.messages[-1].content.endswith("\nD. " + sample.fields["choices"][3] + "\n答案：")

    def answer(text: str) -> tuple[float | None, dict[str, float], str | None]:
        score = bench.score(sample, Response(completions=(Completion(text=text),), latency_s=0.1))
        return score.value, score.metrics, score.extracted

    assert answer("答案是CBA") == (1.0, {"partial_credit": 1.0}, "A,B,C")
    assert answer("正确答案为A、C") == (0.0, {"partial_credit": 0.5}, "A,C")
    assert answer("选ABD") == (0.0, {"partial_credit": 0.0}, "A,B,D")
    assert answer("我不确定") == (0.0, {"partial_credit": 0.0}, None)


def test_an_unknown_partial_credit_rule_names_file_field_and_the_known_rules(tmp_path, data_dir):
    with pytest.raises(
        BenchmarkDefinitionError, match=r"jec.yaml: field 'scoring.partial_credit'.*known: exact, gaokao"
    ):
        build(write(tmp_path, DEFINITION.replace("partial_credit: gaokao", "partial_credit: lenient")), data_dir)
    ifeval_like = DEFINITION.replace("extractor: choice_set\n  metric: choice_set_exact", "scorer: ifeval")
    with pytest.raises(BenchmarkDefinitionError, match=r"'partial_credit' applies to 'extractor'"):
        build(write(tmp_path, ifeval_like), data_dir)


class AnswerAB:
    """A model that always answers "答案是AB"."""

    model_id = "ref/answers-ab"

    async def generate(self, request: Request) -> Response:
        return Response(completions=(Completion(text="分析……答案是AB"),), latency_s=0.01)

    async def aclose(self) -> None:
        return None


def test_a_run_reports_exact_set_accuracy_and_partial_credit_with_breakdowns(tmp_path, data_dir, monkeypatch):
    monkeypatch.setattr(runner, "create_backend", lambda spec: AnswerAB())
    path = write(tmp_path)
    spec = RunSpec(models=[ModelSpec(id="ref/answers-ab")], benchmarks=[path], data_dir=str(data_dir), limit=60)
    store = Store.open(tmp_path / "store")
    run_id = start_run(store, spec, None)
    assert asyncio.run(Runner(spec, store, run_id).execute()).status == "completed"

    (bench,) = build(path, data_dir)
    targets = [parse_letter_set(s.target) for s in bench.load(limit=60).samples]
    exact = sum(t == frozenset("AB") for t in targets) / 60
    partial = sum(1.0 if t == frozenset("AB") else 0.5 if frozenset("AB") < t else 0.0 for t in targets) / 60
    assert 0 < exact < partial  # both kinds of credit occur in these rows
    rows = {(a["group_kind"], a["group_name"], a["metric"]): a["score"] for a in store.aggregates(run_id)}
    assert rows[("all", "", "accuracy")] == pytest.approx(exact)
    assert rows[("all", "", "partial_credit")] == pytest.approx(partial)
    assert rows[("answers", "single", "accuracy")] == 0.0  # "AB" is never right for a one-answer question


# --- log-likelihood with several golds ------------------------------------------------------------------


def lls(*logprobs: float) -> Response:
    return Response((), 0.1, loglikelihoods=tuple(LogLikelihood(lp, False, 1) for lp in logprobs))


def test_acc_counts_a_pick_among_any_of_the_golds(tmp_path, data_dir):
    (bench,) = build(write(tmp_path), data_dir, mode="loglikelihood")
    sample = bench.load(limit=10).samples[3]  # gold A and B
    request = bench.build_request(sample, "m", bench.generation)
    assert request.continuations == tuple(" " + c for c in sample.fields["choices"])
    for best, right in ((0, 1.0), (1, 1.0), (2, 0.0), (3, 0.0)):
        score = bench.score(sample, lls(*[-1.0 if i == best else -3.0 for i in range(4)]))
        assert score.metrics["acc"] == right and score.extracted == "ABCD"[best]
    # mc2: the probability of A or B among the four
    score = bench.score(sample, lls(-1.0, -2.0, -1.5, -3.0))
    assert score.metrics["mc2"] == pytest.approx((0.3679 + 0.1353) / (0.3679 + 0.1353 + 0.2231 + 0.0498), abs=1e-4)


def test_a_target_letter_set_gives_several_golds_among_literal_choices():
    definition = LogLikelihoodDef(question="{{ question }}", choices=["A", "B", "C", "D"])
    task = LogLikelihoodTask(definition, "t.yaml")
    sample = Sample(id="1", fields={"question": "?"}, target="B,D", meta={"file": "f", "line": 1})
    assert task.golds(sample, task.choices(sample)) == (1, 3) and task.gold(sample, task.choices(sample)) == 1
    assert task.score(sample, lls(-2.0, -2.0, -2.0, -1.0)).metrics["acc"] == 1.0
    # a shot is answered with its first right choice, as lm-eval's build_qa_turn takes a[0]
    assert task.build_request(sample, [sample], "m").prompt == "? B\n\n?"


@pytest.mark.parametrize(
    ("gold", "message"),
    [("[]", r"gave '\[\]'"), ("[0, 7]", r"gave '\[0, 7\]', not an index of its 4 choices"), ("0,1", r"gave '0,1'")],
)
def test_a_bad_gold_list_names_the_sample(gold, message):
    definition = LogLikelihoodDef(question="{{ question }}", choices=["A", "B", "C", "D"], gold=gold)
    task = LogLikelihoodTask(definition, "t.yaml")
    sample = Sample(id="7", fields={"question": "?"}, target="A", meta={"file": "f.jsonl", "line": 9})
    with pytest.raises(DatasetError, match=r"sample 7 \(f.jsonl:9\): template 'loglikelihood.gold' " + message):
        task.check([sample])


def test_several_golds_score_as_lm_evals_multiple_target(tmp_path, data_dir):
    """acc and acc_norm equal lm-eval 0.4's process_results for a task whose doc_to_target renders a list."""
    pytest.importorskip("lm_eval", reason="lm-eval is not installed: nothing to compare with")
    datasets = pytest.importorskip("datasets", reason="lm-eval's task objects need the datasets package")
    from lm_eval.api.task import ConfigurableTask

    (bench,) = build(write(tmp_path), data_dir, mode="loglikelihood")
    samples = bench.load(limit=120).samples
    docs = [
        {"question": s.fields["question"], "choices": s.fields["choices"], "gold": s.fields["gold_indices"]}
        for s in samples
    ]
    config = {
        "task": "multi_answer_parity",
        "output_type": "multiple_choice",
        "test_split": "test",
        "doc_to_text": "{{question}}",
        "doc_to_choice": "{{choices}}",
        "doc_to_target": "{{gold}}",
        "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
        "custom_dataset": lambda **_: datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)}),
    }
    task = ConfigurableTask(config=config)
    assert task.multiple_target  # lm-eval read the rendered "[0, 1]" as several targets
    rng = random.Random(11)
    multi = 0
    for sample, doc in zip(samples, docs, strict=True):
        assert task.doc_to_target(doc) == list(bench.loglikelihood.golds(sample, doc["choices"]))
        for _ in range(4):
            logprobs = [rng.choice([-1.0, -2.0, -4.0, round(-rng.uniform(1, 60), 2)]) for _ in doc["choices"]]
            expected = task.process_results(doc, [(lp, False) for lp in logprobs])
            score = bench.score(sample, lls(*logprobs))
            assert (score.metrics["acc"], score.metrics["acc_norm"]) == (expected["acc"], expected["acc_norm"])
        multi += len(doc["gold"]) > 1
    assert multi > 30
