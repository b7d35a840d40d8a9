"""TruthfulQA's MC2 and the registry of log-likelihood metrics.

MC2 is the probability mass on the true answers, normalised over all answers. The parity test builds
lm-eval 0.4.13's own ``truthfulqa_mc2`` task over the real TruthfulQA MC file, checks that our requests are
its requests, feeds both the same deterministic log-likelihoods and compares MC2 per item to 1e-9.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path

import pytest

from tianping.benchmarks import ll_metrics
from tianping.benchmarks.definition import LogLikelihoodDef
from tianping.benchmarks.errors import BenchmarkDefinitionError
from tianping.benchmarks.ll_metrics import LL_METRICS, logsumexp, mc2, register_ll_metric
from tianping.benchmarks.loglikelihood import LogLikelihoodTask
from tianping.benchmarks.registry import build
from tianping.core import LogLikelihood, Response, Sample

MC_TASK = "truthfulqa/data/v1/mc_task.json"


def lls(*logprobs: float) -> Response:
    return Response((), 0.1, loglikelihoods=tuple(LogLikelihood(lp, False, 1) for lp in logprobs))


def task(metrics: list[str], gold: str = "{{ golds }}") -> LogLikelihoodTask:
    definition = LogLikelihoodDef(question="Q: {{ question }}\nA:", choices_field="choices", gold=gold, metrics=metrics)
    return LogLikelihoodTask(definition, "t.yaml")


def sample(choices: list[str], golds: list[int]) -> Sample:
    return Sample(id="1", fields={"question": "?", "choices": choices, "golds": golds}, target="", meta={"line": 1})


def test_mc2_is_the_normalised_probability_of_the_true_answers():
    assert mc2([math.log(0.2), math.log(0.3), math.log(0.1)], ["a", "b", "c"], frozenset({0, 2})) == pytest.approx(
        0.3 / 0.6
    )
    assert mc2([-1.0, -2.0], ["a", "b"], frozenset({0, 1})) == 1.0
    assert mc2([-1.0, -math.inf], ["a", "b"], frozenset({1})) == 0.0


def test_mc2_stays_exact_where_exponentiating_underflows():
    # exp(-2000) is 0.0 in floating point: the naive ratio would be 0/0; in log space it is 1/(1+e^-1)
    value = mc2([-2000.0, -2001.0, -2500.0], ["a", "b", "c"], frozenset({0}))
    assert value == pytest.approx(1 / (1 + math.exp(-1.0)), rel=1e-12)
    assert logsumexp([1000.0, 1000.0]) == pytest.approx(1000.0 + math.log(2.0))
    assert logsumexp([]) == -math.inf


def test_mc2_in_a_score_and_undefined_mc2_is_an_error():
    t = task(["mc2", "acc"])
    s = sample(["yes", "no", "maybe"], [0, 2])
    score = t.score(s, lls(math.log(0.5), math.log(0.25), math.log(0.25)))
    assert score.value == pytest.approx(0.75) and score.metrics["acc"] == 1.0 and score.extracted == "A"
    assert score.reason == "mc2 0.75, acc chose A"
    broken = t.score(s, lls(-math.inf, -math.inf, -math.inf))
    assert broken.status == "error" and "metric mc2 gave nan" in (broken.reason or "")


def test_a_registered_metric_can_be_named_in_a_definition(tmp_path, data_dir):
    @register_ll_metric("top2_test")
    def top2(logprobs, choices, golds):
        ranked = sorted(range(len(logprobs)), key=lambda i: -logprobs[i])
        return float(bool(set(ranked[:2]) & golds))

    try:
        t = task(["top2_test", "acc"])
        score = t.score(sample(["a", "b", "c"], [1]), lls(-1.0, -2.0, -3.0))
        assert score.metrics == {"top2_test": 1.0, "acc": 0.0} and score.extracted == "A"
    finally:
        del LL_METRICS["top2_test"]


def test_acc_metrics_are_registry_entries(tmp_path, data_dir):
    assert {"acc", "acc_norm", "acc_bytes", "mc2"} <= set(LL_METRICS)
    assert set(ll_metrics.CHOOSERS) >= {"acc", "acc_norm", "acc_bytes"} and "mc2" not in ll_metrics.CHOOSERS
    path = tmp_path / "bench.yaml"
    path.write_text(
        "name: x\nversion: 1\ndataset: {loader: arc_jsonl, path: arc/ARC-Easy/ARC-Easy-Dev.jsonl}\n"
        "loglikelihood:\n  question: '{{ question }}'\n  choices_field: choices\n  metrics: [acc, f1]\n",
        encoding="utf-8",
    )
    with pytest.raises(BenchmarkDefinitionError) as info:
        build(str(path), data_dir)
    message = str(info.value)
    assert "bench.yaml: field 'loglikelihood.metrics.1'" in message
    assert "unknown log-likelihood metric 'f1' (known: acc, acc_bytes, acc_norm, mc2" in message


# --- parity with lm-eval's truthfulqa_mc2 over the real data -------------------------------------------


def fake_logprob(context: str, continuation: str, spread: float) -> float:
    """A deterministic stand-in for a model: a log-likelihood in [-0.5 - spread, -0.5] from a hash of the request."""
    digest = hashlib.sha256((context + "\0" + continuation).encode("utf-8")).digest()
    return -0.5 - spread * int.from_bytes(digest[:8], "big") / 2**64


def test_mc2_equals_lm_evals_process_results_mc2_on_truthfulqa(data_dir):
    lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed: nothing to compare with")
    datasets = pytest.importorskip("datasets", reason="lm-eval's task objects need the datasets package")
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks._yaml_loader import load_yaml

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    rows = json.loads((data_dir / MC_TASK).read_text(encoding="utf-8"))
    # the Hugging Face layout lm-eval's YAML reads (truthful_qa, multiple_choice): choices and labels per target
    docs = [
        {
            "question": row["question"],
            **{
                key: {"choices": list(row[key]), "labels": list(row[key].values())}
                for key in ("mc1_targets", "mc2_targets")
            },
        }
        for row in rows
    ]
    config = load_yaml(Path(lm_eval.__file__).parent / "tasks" / "truthfulqa" / "truthfulqa_mc2.yaml")
    config["custom_dataset"] = lambda **_: datasets.DatasetDict({"validation": datasets.Dataset.from_list(docs)})
    theirs = ConfigurableTask(config=config)

    # ours: lm-eval's own question template, the MC2 answers as choices and the true ones as golds
    ours = LogLikelihoodTask(
        LogLikelihoodDef(question=config["doc_to_text"], choices_field="choices", gold="{{ golds }}", metrics=["mc2"]),
        "truthfulqa_mc2.yaml",
    )
    assert len(docs) == 817
    interior = 0
    for index, doc in enumerate(docs):
        targets = doc["mc2_targets"]
        s = Sample(
            id=str(index),
            fields={
                "question": doc["question"],
                "choices": targets["choices"],
                "golds": [i for i, label in enumerate(targets["labels"]) if label == 1],
            },
            target="",
            meta={"index": index},
        )
        context = theirs.fewshot_context(doc, num_fewshot=0)
        instances = theirs.construct_requests(doc, context)
        request = ours.build_request(s, [], "fake/model")
        assert request.prompt == context and request.continuations == tuple(i.arguments[1] for i in instances), index

        # close log-likelihoods (masses well inside (0, 1)) and far-apart ones (masses near 0 or 1)
        for spread in (8.0, 120.0):
            logprobs = [fake_logprob(context, c, spread) for c in request.continuations]
            expected = float(theirs.process_results(doc, [(lp, False) for lp in logprobs])["acc"])
            assert ours.score(s, lls(*logprobs)).value == pytest.approx(expected, abs=1e-9, rel=0), (index, spread)
            interior += 0.01 < expected < 0.99
    assert interior > 800  # most items test a mass that is neither 0 nor 1
