"""acc / acc_norm / acc_bytes on hand-computed log-likelihoods: ties, lengths, and malformed answers."""

from __future__ import annotations

import math

import pytest

from tianping.benchmarks.definition import LogLikelihoodDef
from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loglikelihood import LogLikelihoodTask, pick
from tianping.core import LogLikelihood, Response, Sample


def task(**overrides: object) -> LogLikelihoodTask:
    fields = {
        "question": "Question: {{ question }}\nAnswer:",
        "choices_field": "choices",
        "gold": "{{ letters.index(target) }}",
        "metrics": ["acc", "acc_norm", "acc_bytes"],
        **overrides,
    }
    return LogLikelihoodTask(LogLikelihoodDef.model_validate(fields), "test.yaml")


def sample(choices: list[str], target: str) -> Sample:
    letters = [chr(ord("A") + i) for i in range(len(choices))]
    return Sample(
        id="q1",
        fields={"question": "Which?", "choices": choices, "letters": letters},
        target=target,
        meta={"file": "q.jsonl", "line": 3},
    )


def answer(*logprobs: float, truncated: int = 0) -> Response:
    lls = tuple(LogLikelihood(logprob=lp, greedy=False, tokens=1, truncated=truncated) for lp in logprobs)
    return Response(completions=(), latency_s=0.1, loglikelihoods=lls)


def test_acc_takes_the_highest_log_likelihood_and_acc_norm_divides_by_characters():
    # per character: -1.0, -0.75, -1.5 -> "abcd" (B); raw: "a" (C) is most likely
    score = task().score(sample(["ab", "abcd", "a"], target="B"), answer(-2.0, -3.0, -1.5))
    assert score.metrics == {"acc": 0.0, "acc_norm": 1.0, "acc_bytes": 1.0}
    assert score.value == 0.0 and score.extracted == "C" and score.status == "scored"
    assert score.reason == "acc chose C, acc_norm chose B, acc_bytes chose B"


def test_ties_go_to_the_first_choice_as_numpy_argmax():
    t = task()
    tied = answer(-1.0, -1.0, -2.0)
    assert t.score(sample(["x", "y", "z"], "A"), tied).metrics["acc"] == 1.0
    assert t.score(sample(["x", "y", "z"], "B"), tied).metrics["acc"] == 0.0
    # per character -0.5 and -0.5: a tie after normalisation too
    tied_norm = t.score(sample(["ab", "abcd"], "B"), answer(-1.0, -2.0))
    assert tied_norm.metrics == {"acc": 0.0, "acc_norm": 0.0, "acc_bytes": 0.0}
    assert pick([-3.0, -1.0, -1.0]) == 1 and pick([-2.0, -4.0], [1, 2]) == 0


def test_acc_norm_counts_characters_not_bytes_nor_the_delimiter():
    # "é" is 1 character but 2 bytes: per character -1.0 vs -0.9 -> "ab"; per byte -0.5 vs -0.9 -> "é"
    score = task().score(sample(["é", "ab"], "B"), answer(-1.0, -1.8))
    assert score.metrics == {"acc": 0.0, "acc_norm": 1.0, "acc_bytes": 0.0}
    # lengths are the choice texts' (lm-eval's doc_to_choice), not " a"/" bcd" with the target delimiter:
    # -1.1/1 < -3.0/3 picks "bcd", where -1.1/2 > -3.0/4 would have picked "a"
    assert task().score(sample(["a", "bcd"], "B"), answer(-1.1, -3.0)).metrics["acc_norm"] == 1.0


def test_the_first_metric_is_the_value_and_names_the_extracted_choice():
    score = task(metrics=["acc_norm", "acc"]).score(sample(["ab", "abcd", "a"], "B"), answer(-2.0, -3.0, -1.5))
    assert score.value == 1.0 and score.extracted == "B" and set(score.metrics) == {"acc", "acc_norm"}


def test_a_certain_zero_probability_is_a_valid_answer():
    score = task().score(sample(["x", "y"], "B"), answer(-math.inf, -0.1))
    assert score.status == "scored" and score.metrics["acc"] == 1.0


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (Response(completions=(), latency_s=0.1), "no log-likelihoods"),
        (answer(-1.0, -2.0), "2 log-likelihoods for 3 choices"),
        (answer(-1.0, math.nan, -2.0), "invalid log-likelihood for choice B"),
        (answer(-1.0, math.inf, -2.0), "invalid log-likelihood for choice B"),
    ],
)
def test_a_malformed_answer_is_an_error_not_a_wrong_answer(response, reason):
    score = task().score(sample(["x", "y", "z"], "A"), response)
    assert score.status == "error" and score.value is None and reason in (score.reason or "")


def test_a_truncated_context_is_said_in_the_reason():
    score = task().score(sample(["x", "y"], "A"), answer(-1.0, -2.0, truncated=12))
    assert score.value == 1.0 and "cut by 12 tokens" in (score.reason or "")


def test_literal_choices_default_gold_is_the_target_among_them():
    t = task(choices=["A", "B", "C", "D"], choices_field=None, gold=None)
    s = sample(["w", "x", "y", "z"], "C")
    assert t.choices(s) == ["A", "B", "C", "D"] and t.gold(s, t.choices(s)) == 2
    request = t.build_request(s, [], "fake/m")
    assert request.prompt == "Question: Which?\nAnswer:" and request.continuations == (" A", " B", " C", " D")


@pytest.mark.parametrize(
    ("overrides", "target", "message"),
    [
        (
            {"gold": "{{ letters.index(target) + 5 }}"},
            "A",
            r"sample q1 \(q.jsonl:3\): template 'loglikelihood.gold' gave '5'",
        ),
        (
            {"gold": "{{ letters.index(target) }}"},
            "Z",
            r"sample q1 \(q.jsonl:3\): template 'loglikelihood.gold': ValueError",
        ),
        ({"choices_field": "options"}, "A", r"'loglikelihood.choices_field': 'options' is not a list of texts"),
        ({"choices": ["A", "B"], "choices_field": None, "gold": None}, "Q", r"target 'Q' is none of the choices"),
        ({"question": "{{ nothing }}"}, "A", r"template 'loglikelihood.question': 'nothing' is undefined"),
    ],
)
def test_a_bad_row_names_the_sample_file_and_line(overrides, target, message):
    t = task(**overrides)
    s = sample(["x", "y"], target)
    with pytest.raises(DatasetError, match=message):
        t.check([s])
        t.build_request(s, [], "fake/m")


def test_shots_are_answered_with_their_gold_choice_and_delimited():
    t = task(description="Science.\n\n", target_delimiter=" ", fewshot_delimiter="\n\n")
    shots = [sample(["red", "blue"], "B"), sample(["one", "two"], "A")]
    request = t.build_request(sample(["p", "q"], "A"), shots, "fake/m")
    expected = (
        "Science.\n\nQuestion: Which?\nAnswer: blue\n\nQuestion: Which?\nAnswer: one\n\nQuestion: Which?\nAnswer:"
    )
    assert request.prompt == expected and request.continuations == (" p", " q")
