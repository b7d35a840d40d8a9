"""math_equal decides an answer of plain words against a numeric gold without a SymPy worker, and its verdict is
the one the worker gives: refusals, truncated echoes and bare letters never equal a number."""

from __future__ import annotations

import asyncio

import pytest

from tianping.core.types import Completion, Response, Sample
from tianping.scoring import math_equiv, math_workers
from tianping.scoring.math_equiv import _answer_of, _has_no_value, _normalize_expr, math_equal

# Answers a weak or truncated model gives, and letters a LaTeX parser could read as constants (e, i, I, E).
WORDS_ONLY = [
    'N." where N is the final number',
    "N",
    "x",
    "I cannot answer that.",
    "I don't know!",
    "The answer is N.",
    "e",
    "E",
    "i",
    "I",
    "ii",
    "i i",
    "ee",
    "one",
    "twenty",
    "eighteen",
    "none of the above",
    "Let's think step by step:",
    '"yes"',
]
NUMERIC_GOLDS = ["20", "18", "-1", "1", "0", "0.5", "3/4"]

# Not decided early: a digit, an operator, a bracket, a backslash, a function or constant name, non-ASCII text.
NEEDS_THE_WORKER = ["1", "x^2", "cos(pi)", "cos pi", "pi", "ln e", "infinity", "inf", r"\pi", "(a)", "二十", "a-b"]
NEEDS_THE_WORKER += ["e^x", "sqrt e"]


def _worker_verdict(prediction: str, gold: str) -> bool:
    """The verdict of a real worker process on what math_equal would send it."""
    pred, pred_is_text = _answer_of(prediction)
    pred = pred.strip() if pred_is_text else _normalize_expr(pred)
    return math_workers._get_pool().compare((pred, pred_is_text), (_normalize_expr(gold), False), 10.0)


def test_plain_words_are_decided_without_a_worker_and_as_the_worker_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    worker = {(p, g): _worker_verdict(p, g) for p in WORDS_ONLY for g in NUMERIC_GOLDS}
    assert not any(worker.values()), [k for k, v in worker.items() if v]

    def no_pool() -> None:
        raise AssertionError("a worker was asked")

    monkeypatch.setattr(math_workers, "_get_pool", no_pool)
    for prediction in WORDS_ONLY:
        for gold in NUMERIC_GOLDS:
            assert math_equal(prediction, gold) is worker[(prediction, gold)]


@pytest.mark.parametrize("answer", NEEDS_THE_WORKER)
def test_answers_with_any_mathematical_content_still_go_to_the_worker(answer: str) -> None:
    assert not _has_no_value(answer)


def test_a_symbolic_gold_is_still_compared_by_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple] = []

    class Pool:
        def compare(self, pred: tuple, gold: tuple, timeout_s: float) -> bool:
            asked.append((pred, gold))
            return pred[0] == gold[0]

    monkeypatch.setattr(math_workers, "_get_pool", lambda: Pool())
    assert math_equal("N", "N") is True  # equal strings, decided before any worker
    assert math_equal("N", "x") is False
    assert asked == [(("N", False), ("x", False))]


def test_gsm8k_scoring_of_a_numberless_echo_starts_no_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    from tianping.benchmarks.scorers import _number_then_math
    from tianping.core.task import ScoringContext

    def no_pool() -> None:
        raise AssertionError("a worker was asked")

    monkeypatch.setattr(math_workers, "_get_pool", no_pool)
    text = 'You said: Solve the problem. End your response with "The answer is N." where N is the final number'
    sample = Sample(id="1", fields={"question": "q"}, target="18")
    response = Response(completions=(Completion(text=text),), latency_s=0.1)
    score = asyncio.run(_number_then_math(sample, response, ScoringContext()))
    assert score.value == 0.0
    assert score.reason == "compared by mathematical equivalence"
    assert math_equiv._has_no_value(score.extracted or "")
