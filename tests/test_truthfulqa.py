"""TruthfulQA: our three definitions send what lm-evaluation-harness 0.4.13 sends and score as it scores.

lm-eval's own ``truthfulqa_mc1``, ``truthfulqa_mc2`` and ``truthfulqa_gen`` task objects are built from its
installed YAMLs with only the dataset swapped for the shared files, read here with the json / csv modules into
the Hugging Face layout those YAMLs expect (the ``truthful_qa`` loading script's rules: answers in file order,
``;``-lists split and stripped). For every one of the 817 questions our request must carry lm-eval's context
and continuations (or generation prompt, stop strings and token budget), and our scores must equal its
``process_results`` on the same inputs: MC1's acc and MC2 from deterministic stand-in log-likelihoods, and the
generation task's BLEU/ROUGE metrics from lm-eval's ``utils.process_results_gen`` on the same answers. The
judge path runs against a real local fake OpenAI server acting as the judge.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import importlib.util
import json
import logging
import math
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import cli
from fake_openai import FakeOpenAIServer, last_user_text, running_server
from tianping.benchmarks import registry
from tianping.benchmarks.benchmark import Benchmark
from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import load_dataset
from tianping.benchmarks.truthfulqa_gen import bleu, reference_metrics
from tianping.benchmarks.truthfulqa_judge import VerdictError, parse_verdict
from tianping.core import Completion, LogLikelihood, Response
from tianping.core.task import ScoringContext
from tianping.models.openai_api import OpenAIChatBackend
from tianping.store import Store

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed: nothing to compare with")
datasets = pytest.importorskip("datasets", reason="lm-eval's task objects need the datasets package")
from lm_eval.api.task import ConfigurableTask  # noqa: E402
from lm_eval.tasks._yaml_loader import load_yaml  # noqa: E402

TASKS = Path(lm_eval.__file__).parent / "tasks" / "truthfulqa"
MC_FILE = "truthfulqa/data/v1/mc_task.json"
GEN_FILE = "truthfulqa/data/v1/TruthfulQA.csv"
QUESTIONS = 817
logging.getLogger("lm_eval").setLevel(logging.ERROR)  # it warns that a custom dataset is in use


# --- lm-eval's side: its tasks over the shared files in the Hugging Face layout ---------------------------------


def mc_docs(data_dir: Path) -> list[dict[str, Any]]:
    rows = json.loads((data_dir / MC_FILE).read_text(encoding="utf-8"))
    return [
        {
            "question": row["question"],
            **{k: {"choices": list(row[k]), "labels": list(row[k].values())} for k in ("mc1_targets", "mc2_targets")},
        }
        for row in rows
    ]


def gen_docs(data_dir: Path) -> list[dict[str, Any]]:
    """The ``generation`` config as the loading script builds it from the CSV."""
    with (data_dir / GEN_FILE).open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))

    def listed(cell: str) -> list[str]:
        return [part.strip() for part in cell.strip().split(";")]

    return [
        {
            "type": r["Type"],
            "category": r["Category"],
            "question": r["Question"],
            "best_answer": r["Best Answer"],
            "correct_answers": listed(r["Correct Answers"]),
            "incorrect_answers": listed(r["Incorrect Answers"]),
            "source": r["Source"],
        }
        for r in rows
    ]


def lm_eval_task(name: str, docs: list[dict[str, Any]]) -> ConfigurableTask:
    config = load_yaml(TASKS / f"{name}.yaml")
    config["custom_dataset"] = lambda **_: datasets.DatasetDict({"validation": datasets.Dataset.from_list(docs)})
    return ConfigurableTask(config=config)


def lm_eval_utils() -> Any:
    spec = importlib.util.spec_from_file_location("lm_eval_truthfulqa_utils", TASKS / "utils.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- our side ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def benches(data_dir: Path) -> dict[str, Benchmark]:
    out = {}
    for name in ("truthfulqa_mc1", "truthfulqa_mc2", "truthfulqa_gen"):
        (bench,) = registry.build(name, data_dir)
        out[name] = bench.load()
    return out


def lls(*logprobs: float) -> Response:
    return Response((), 0.0, loglikelihoods=tuple(LogLikelihood(lp, False, 1) for lp in logprobs))


def fake_logprob(context: str, continuation: str, spread: float) -> float:
    """A deterministic stand-in for a model: a log-likelihood in [-0.5 - spread, -0.5] from a hash of the pair."""
    digest = hashlib.sha256((context + "\0" + continuation).encode("utf-8")).digest()
    return -0.5 - spread * int.from_bytes(digest[:8], "big") / 2**64


def test_every_definition_has_the_817_questions_it_says(benches):
    for name, bench in benches.items():
        assert len(bench.samples) == QUESTIONS == bench.definition.about.items, name
        assert bench.definition.about.languages == ["en"]
    assert benches["truthfulqa_mc1"].definition.default_mode == "loglikelihood"
    assert benches["truthfulqa_gen"].definition.default_mode == "generate"


@pytest.mark.parametrize("name", ["truthfulqa_mc1", "truthfulqa_mc2"])
def test_mc_requests_and_scores_are_lm_evals_on_every_question(name, benches, data_dir):
    docs = mc_docs(data_dir)
    theirs = lm_eval_task(name, docs)
    bench = benches[name]
    assert len(docs) == len(bench.samples) == QUESTIONS
    key = "mc1_targets" if name == "truthfulqa_mc1" else "mc2_targets"
    interior = 0
    for doc, sample in zip(theirs.validation_docs(), bench.samples, strict=True):
        context = theirs.fewshot_context(doc, num_fewshot=0)
        instances = theirs.construct_requests(doc, context)
        request = bench.build_request(sample, "fake/model", bench.generation)
        assert request.prompt == context, sample.id
        assert request.continuations == tuple(i.arguments[1] for i in instances), sample.id
        choices = bench.loglikelihood.choices(sample)
        golds = bench.loglikelihood.golds(sample, choices)
        if name == "truthfulqa_mc1":
            assert golds == (theirs.doc_to_target(doc),) == (0,)
        else:
            assert golds == tuple(i for i, label in enumerate(doc[key]["labels"]) if label == 1)
        # close log-likelihoods (masses well inside (0, 1)) and far-apart ones (masses near 0 or 1)
        for spread in (8.0, 120.0):
            logprobs = [fake_logprob(context, c, spread) for c in request.continuations]
            expected = float(theirs.process_results(doc, [(lp, False) for lp in logprobs])["acc"])
            score = bench.score(sample, lls(*logprobs))
            assert score.value == pytest.approx(expected, abs=1e-9, rel=0), (sample.id, spread)
            interior += 0.01 < expected < 0.99
    if name == "truthfulqa_mc2":
        assert interior > 800  # most questions test a mass that is neither 0 nor 1


def test_generation_prompt_stops_and_references_are_lm_evals_on_every_question(benches, data_dir):
    theirs = lm_eval_task("truthfulqa_gen", gen_docs(data_dir))
    bench = benches["truthfulqa_gen"]
    docs = list(theirs.validation_docs())  # after lm-eval's process_docs_gen
    assert len(docs) == len(bench.samples) == QUESTIONS
    kwargs = theirs.config.generation_kwargs
    assert bench.generation.stop == tuple(kwargs["until"]) == ("\n\n",)
    assert bench.generation.max_tokens == kwargs["max_gen_toks"] == 256
    assert bench.generation.temperature == kwargs["temperature"] == 0.0
    for doc, sample in zip(docs, bench.samples, strict=True):
        instance = theirs.construct_requests(doc, theirs.fewshot_context(doc, num_fewshot=0))
        request = bench.build_request(sample, "fake/model", bench.generation)
        assert request.kind == "completion" and request.prompt == instance.arguments[0], sample.id
        assert sample.fields["correct_answers"] == doc["correct_answers"], sample.id
        assert sample.fields["incorrect_answers"] == doc["incorrect_answers"], sample.id


def _answers(doc: dict[str, Any], index: int) -> list[str]:
    """Answers a model might give: a reference verbatim, one reworded, a false one, a non-answer, lm-eval's raw
    continuation of its prompt (it asks no "A:"), a sentence list, an empty answer and a Chinese one."""
    true, false = doc["correct_answers"][0], doc["incorrect_answers"][-1]
    return [
        true,
        f"I believe that {true.lower()}",
        false,
        "I have no comment.",
        f"\nA: {false}",
        f"{true} . {false} . Overall, it depends.",
        "",
        "这个问题没有确定的答案。" if index % 2 else "**Answer:** " + true.upper(),
    ]


def test_bleu_of_every_reference_equals_lm_evals_bleu(benches, data_dir):
    utils = lm_eval_utils()
    docs = list(lm_eval_task("truthfulqa_gen", gen_docs(data_dir)).validation_docs())
    pairs = 0
    for index in range(0, QUESTIONS, 27):  # a spread of 31 questions x 8 answers x every reference
        doc = docs[index]
        for answer in _answers(doc, index):
            for reference in doc["correct_answers"] + doc["incorrect_answers"]:
                assert bleu(reference, answer) == pytest.approx(utils.bleu([[reference]], [answer]), abs=1e-9)
                pairs += 1
    assert pairs > 2000


def test_every_generation_metric_equals_lm_evals_process_results_gen(benches, data_dir):
    """Whole items through lm-eval's ``process_results_gen``: one answer of each style, on eight questions (its
    ROUGE bootstraps 1,000 resamples per reference, ~0.1 s each here, so more would be slow)."""
    utils = lm_eval_utils()
    docs = list(lm_eval_task("truthfulqa_gen", gen_docs(data_dir)).validation_docs())
    samples = benches["truthfulqa_gen"].samples
    for style in range(8):
        index = 101 * style + 7
        doc, sample = docs[index], samples[index]
        answer = _answers(doc, index)[style]
        expected = utils.process_results_gen(doc, [answer])
        got = reference_metrics(answer, sample.fields["correct_answers"], sample.fields["incorrect_answers"])
        assert got.keys() == expected.keys()
        for metric, value in expected.items():
            assert got[metric] == pytest.approx(float(value), abs=1e-9), (index, answer, metric)


def test_the_generation_score_reports_lm_evals_metrics_with_bleu_acc_as_value(benches):
    bench = benches["truthfulqa_gen"]
    sample = bench.samples[0]  # watermelon seeds
    right = Response((Completion(text=" The watermelon seeds pass through your digestive system."),), 0.0)
    wrong = Response((Completion(text=" You grow watermelons in your stomach."),), 0.0)
    context = ScoringContext()
    good, bad = (asyncio.run(bench.ascore(sample, r, context)) for r in (right, wrong))
    assert good.value == 1.0 and good.metrics["bleu_max"] == pytest.approx(100.0)
    assert bad.value == 0.0 and bad.metrics["bleu_diff"] < 0 and bad.metrics["rougeL_acc"] == 0.0
    measures = ("bleu", "rouge1", "rouge2", "rougeL")
    expected = {f"{m}_{k}" for m in measures for k in ("max", "diff", "acc")} - {"bleu_acc"}  # bleu_acc: the value
    assert set(good.metrics) == expected
    cut = Response((Completion(text="", reasoning="Let me think", incomplete=True),), 0.0)
    assert asyncio.run(bench.ascore(sample, cut, context)).status == "incomplete"


# --- the judge ---------------------------------------------------------------------------------------------------


def test_verdict_parsing_is_strict():
    verdict = parse_verdict('```json\n{"truthful": true, "informative": false, "reason": "declines"}\n```')
    assert verdict.truthful and not verdict.informative and not verdict.both and verdict.reason == "declines"
    assert parse_verdict('Sure. {"truthful": true, "informative": true} Done.').both
    for bad, why in [
        ("", "empty"),
        ("The answer is truthful and informative.", "no JSON object"),
        ('{"truthful": "yes", "informative": true}', "must be true or false"),
        ('{"truthful": 1, "informative": 1}', "must be true or false"),
        ('{"truthful": true}', "lacks the field 'informative'"),
        ('{"truthful": true, "informative": true} {"truthful": false, "informative": true}', "different verdicts"),
    ]:
        with pytest.raises(VerdictError, match=why):
            parse_verdict(bad)


def _judge_reply(body: dict[str, Any]) -> str:
    """The fake judge: reads the model's answer out of the prompt and answers in the asked form, except for
    answers mentioning "cats", where it rambles (an unreadable verdict)."""
    user = last_user_text(body)
    answer = user.split("<<<ANSWER\n", 1)[1].split("\nANSWER>>>", 1)[0]
    if "cats" in answer:
        return "Hmm, hard to say whether that is truthful."
    if "no comment" in answer.lower():
        return json.dumps({"truthful": True, "informative": False, "reason": "declines to answer"})
    wrong = "grow" in answer or "sick" in answer
    return json.dumps({"truthful": not wrong, "informative": True, "reason": "fake"})


def _judged(bench: Benchmark, text: str, preset: str = "tianping") -> Any:
    """The score of ``text`` as the answer to the watermelon question, a fake OpenAI server judging it."""

    async def run() -> Any:
        async with FakeOpenAIServer(answer_fn=_judge_reply) as server:
            judge = OpenAIChatBackend(model="judge-m", base_url=server.base_url, max_retries=0)
            try:
                response = Response((Completion(text=text),), 0.0)
                return await bench.ascore(bench.samples[0], response, ScoringContext(judge=judge, judge_preset=preset))
            finally:
                await judge.aclose()

    return asyncio.run(run())


def test_a_configured_judge_adds_truthful_times_informative(benches):
    bench = benches["truthfulqa_gen"]
    score = _judged(bench, " The watermelon seeds pass through your digestive system.")
    assert score.metrics["truthful"] == score.metrics["informative"] == score.metrics["truthful_informative"] == 1.0
    assert (
        score.metrics["judge_unscored"] == 0.0 and score.value == 1.0 and "judge: truthful, informative" in score.reason
    )
    score = _judged(bench, " You grow watermelons in your stomach.")
    assert (score.metrics["truthful"], score.metrics["informative"], score.metrics["truthful_informative"]) == (0, 1, 0)
    score = _judged(bench, " I have no comment.")
    assert (score.metrics["truthful"], score.metrics["informative"], score.metrics["truthful_informative"]) == (1, 0, 0)


def test_an_unreadable_verdict_is_counted_apart_and_never_scored(benches):
    bench = benches["truthfulqa_gen"]
    score = _judged(bench, " Watermelon seeds turn into cats.")
    assert score.status == "scored" and score.metrics["judge_unscored"] == 1.0
    assert not {"truthful", "informative", "truthful_informative"} & set(score.metrics)
    assert "judge gave no verdict" in score.reason and "bleu_max" in score.metrics  # the text metrics stand


def test_a_classifier_preset_is_not_asked_and_no_judge_means_text_metrics_only(benches):
    bench = benches["truthfulqa_gen"]
    score = _judged(bench, " Nothing happens.", preset="llamaguard3")
    assert not {"truthful", "judge_unscored"} & set(score.metrics) and "llamaguard3" in score.reason
    plain = asyncio.run(
        bench.ascore(bench.samples[0], Response((Completion(text=" Nothing happens."),), 0.0), ScoringContext())
    )
    assert not {"truthful", "judge_unscored"} & set(plain.metrics)


def _model_reply(body: dict[str, Any]) -> str:
    """The evaluated model: continues lm-eval's prompt as a base model would, right on even-length questions."""
    question = body["prompt"].rsplit("\n\nQ: ", 1)[1]
    if "watermelon" in question:
        return "\nA: Watermelon seeds turn into cats."
    return "\nA: I have no comment." if len(question) % 2 else "\nA: You get sick."


def test_run_through_the_cli_with_a_judge_model(data_dir, tmp_path):
    results = tmp_path / "results"
    with running_server(answer_fn=_model_reply) as model, running_server(answer_fn=_judge_reply) as judge:
        done = cli(
            "run", "--model", "openai/base", "--base-url", model.base_url, "--benchmark", "truthfulqa_gen",
            "--limit", "8", "--judge-model", "openai/judge", "--judge-base-url", judge.base_url,
            "--results-dir", str(results), "--run-id", "tqa", env={"OPENAI_API_KEY": "x"},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    store = Store.open(results)
    rows = [r for r in store.sample_rows("tqa") if r["benchmark"] == "truthfulqa_gen"]
    assert len(rows) == 8 and all(r["status"] == "scored" for r in rows)
    judged = [r for r in rows if r["metrics"].get("judge_unscored") == 0.0]
    missed = [r for r in rows if r["metrics"].get("judge_unscored") == 1.0]
    assert len(missed) == 1 and len(judged) == 7  # the watermelon question's answer mentions cats
    overall = {a["metric"]: a for a in store.aggregates("tqa") if a["group_kind"] == "all"}
    assert overall["truthful_informative"]["n"] == 7
    expected = sum(r["metrics"]["truthful_informative"] for r in judged) / 7
    assert overall["truthful_informative"]["score"] == pytest.approx(expected)
    assert overall["judge_unscored"]["score"] == pytest.approx(1 / 8)
    assert overall["bleu_acc"]["n"] == 8 and "bleu_max" in overall


# --- the loaders' errors -----------------------------------------------------------------------------------------


def _mc_file(tmp_path: Path, rows: Any, text: str | None = None) -> Path:
    path = tmp_path / "mc_task.json"
    path.write_text(text if text is not None else json.dumps(rows), encoding="utf-8")
    return path


GOOD = {"question": "Q?", "mc1_targets": {"yes": 1, "no": 0}, "mc2_targets": {"yes": 1, "sure": 1, "no": 0}}


@pytest.mark.parametrize(
    ("rows", "text", "message"),
    [
        (None, "[{", "mc_task.json:1: not valid JSON"),
        ({"question": "Q?"}, None, "expected a JSON array"),
        ([GOOD, {**GOOD, "question": " "}], None, "mc_task.json item 1: field 'question' is missing or empty"),
        ([{**GOOD, "mc1_targets": {"no": 0, "yes": 1}}], None, "item 0: field 'mc1_targets' must list exactly one"),
        ([{**GOOD, "mc2_targets": {"yes": 1, "no": "0"}}], None, "the label of 'no' is '0', not 0 or 1"),
        ([{**GOOD, "mc2_targets": {"yes": 0, "no": 0}}], None, "field 'mc2_targets' marks no answer true"),
        ([{**GOOD, "mc1_targets": {"yes": 1}}], None, "must map at least two answers"),
        (None, '[{"question": "Q?", "mc1_targets": {"a": 1, "a": 0}}]', "the key 'a' is repeated"),
    ],
)
def test_a_malformed_mc_file_is_an_error_naming_file_and_item(tmp_path, rows, text, message):
    path = _mc_file(tmp_path, rows, text)
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_dataset("truthfulqa_mc_json", path, {})


def _gen_file(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "TruthfulQA.csv"
    header = "Type,Category,Question,Best Answer,Correct Answers,Incorrect Answers,Source"
    path.write_text("\ufeff" + "\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def test_the_generation_loader_prepares_references_as_lm_eval_and_names_bad_rows(tmp_path):
    path = _gen_file(tmp_path, ["Adversarial,Myths,Why? ,Because,Because; It is so;,Never; No.,https://x"])
    (sample,) = load_dataset("truthfulqa_csv", path, {}).samples
    assert sample.fields["question"] == "Why?" and sample.target == "Because"
    assert sample.fields["correct_answers"] == ["Because.", "It is so.", "I have no comment."]
    assert sample.fields["incorrect_answers"] == ["Never.", "No."]
    assert sample.meta == {"category": "Myths", "type": "Adversarial", "file": "TruthfulQA.csv", "line": 2}
    bad = _gen_file(tmp_path, ["A,M,Q1?,B,Yes,No,s", "A,M,Q2?,B,Yes; ;,,s"])
    with pytest.raises(DatasetError, match=r"TruthfulQA.csv:3: column 'Incorrect Answers' holds no answer"):
        load_dataset("truthfulqa_csv", bad, {})
    (tmp_path / "TruthfulQA.csv").write_text("Type,Question\nA,Q?\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"TruthfulQA.csv:1: header lacks the column\(s\) Category"):
        load_dataset("truthfulqa_csv", tmp_path / "TruthfulQA.csv", {})


def test_categories_come_from_the_csv_beside_and_every_question_must_be_there(tmp_path):
    mc = _mc_file(tmp_path, [GOOD])
    _gen_file(tmp_path, ["Non-Adversarial,Health,Q? ,yes,yes,no,s"])
    (sample,) = load_dataset("truthfulqa_mc_json", mc, {"csv": "TruthfulQA.csv"}).samples
    assert sample.meta["category"] == "Health" and sample.meta["type"] == "Non-Adversarial"
    assert sample.fields["mc2_golds"] == [0, 1] and sample.target == "yes"
    _mc_file(tmp_path, [{**GOOD, "question": "Other?"}])
    with pytest.raises(DatasetError, match=r"item 0: question 'Other\?' is not in .*TruthfulQA.csv"):
        load_dataset("truthfulqa_mc_json", mc, {"csv": "TruthfulQA.csv"})
    for name in ("../TruthfulQA.csv", "", 3):
        with pytest.raises(DatasetError, match="option 'csv' must name a file in the same folder"):
            load_dataset("truthfulqa_mc_json", mc, {"csv": name})
    with pytest.raises(DatasetError, match=r"unknown option\(s\) categories"):
        load_dataset("truthfulqa_mc_json", mc, {"categories": "x"})


def test_mc2_is_finite_and_undefined_only_when_every_answer_is_impossible(benches):
    bench = benches["truthfulqa_mc2"]
    sample = bench.samples[0]
    n = len(bench.loglikelihood.choices(sample))
    assert math.isfinite(bench.score(sample, lls(*[-3000.0] * n)).value)
    assert bench.score(sample, lls(*[-math.inf] * n)).status == "error"
