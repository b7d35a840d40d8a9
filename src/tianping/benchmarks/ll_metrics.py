"""Per-sample metrics of log-likelihood scoring, by name, for ``loglikelihood.metrics`` in a definition.

A metric sees the log-likelihood of every choice (natural log, the sum over the continuation's tokens),
the choice texts (without the target delimiter) and the set of right choices (0-based indices, never
empty), and returns a value in [0, 1]. ``register_ll_metric`` adds one; a definition may then name it.

Most metrics pick one choice and score 1 when it is right: those are registered with ``register_ll_choice``
as a *chooser* (log-likelihoods and texts -> the index picked), so that the score can say what each
picked. With several right choices a pick is right when it is any of them, as lm-eval 0.4's
``multiple_target`` handling in ``ConfigurableTask.process_results`` does.

Built in:

- ``acc``: the most likely choice;
- ``acc_norm``: the most likely after dividing by the choice's length in characters (lm-eval's ``acc_norm``);
- ``acc_bytes``: the same with the length in UTF-8 bytes;
- ``mc2``: the probability mass on the right choices, normalised over all choices (TruthfulQA MC2, lm-eval's
  ``process_results_mc2``), computed in log space so that very unlikely choices do not underflow to 0/0.

This module imports numpy only when a metric runs: definitions validate metric names against it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

__all__ = [
    "CHOOSERS",
    "LL_METRICS",
    "Chooser",
    "LLMetric",
    "known_ll_metrics",
    "logsumexp",
    "mc2",
    "pick",
    "register_ll_choice",
    "register_ll_metric",
]

LLMetric = Callable[[Sequence[float], Sequence[str], frozenset[int]], float]
"""(log-likelihood per choice, choice texts, indices of the right choices) -> a value in [0, 1]."""
Chooser = Callable[[Sequence[float], Sequence[str]], int]
"""(log-likelihood per choice, choice texts) -> the index of the choice picked."""

LL_METRICS: dict[str, LLMetric] = {}
CHOOSERS: dict[str, Chooser] = {}
"""The metrics of ``LL_METRICS`` that pick one choice, by name: what they picked goes into the score's reason."""


def register_ll_metric(name: str) -> Callable[[LLMetric], LLMetric]:
    """Register a log-likelihood metric under ``name`` (replacing one of that name)."""

    def wrap(fn: LLMetric) -> LLMetric:
        LL_METRICS[name] = fn
        CHOOSERS.pop(name, None)  # a plain metric replacing a chooser no longer picks
        return fn

    return wrap


def register_ll_choice(name: str) -> Callable[[Chooser], Chooser]:
    """Register a chooser under ``name``: its metric is 1 when the choice it picks is one of the right ones."""

    def wrap(chooser: Chooser) -> Chooser:
        def metric(logprobs: Sequence[float], choices: Sequence[str], golds: frozenset[int]) -> float:
            return float(chooser(logprobs, choices) in golds)

        LL_METRICS[name] = metric
        CHOOSERS[name] = chooser
        return chooser

    return wrap


def known_ll_metrics() -> list[str]:
    return sorted(LL_METRICS)


def pick(logprobs: Sequence[float], lengths: Sequence[float] | None = None) -> int:
    """The index lm-eval's ``np.argmax`` picks: of the highest log-likelihood, divided by ``lengths`` if given.

    Ties go to the first, and numpy does the division so that degenerate cases (an empty choice divides
    by zero) come out as in lm-eval."""
    import numpy as np

    values = np.array(logprobs, dtype=float)
    if lengths is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            values = values / np.array(lengths, dtype=float)
    return int(np.argmax(values))


@register_ll_choice("acc")
def _acc(logprobs: Sequence[float], choices: Sequence[str]) -> int:
    return pick(logprobs)


@register_ll_choice("acc_norm")
def _acc_norm(logprobs: Sequence[float], choices: Sequence[str]) -> int:
    # lm-eval divides by len(doc_to_choice), the choice without its delimiter, in characters
    return pick(logprobs, [len(c) for c in choices])


@register_ll_choice("acc_bytes")
def _acc_bytes(logprobs: Sequence[float], choices: Sequence[str]) -> int:
    return pick(logprobs, [len(c.encode("utf-8")) for c in choices])


def logsumexp(values: Sequence[float]) -> float:
    """log(sum(exp(v))) without overflow or underflow; -inf for no values or all -inf."""
    top = max(values, default=-math.inf)
    if top == -math.inf:
        return -math.inf
    return top + math.log(math.fsum(math.exp(v - top) for v in values))


@register_ll_metric("mc2")
def mc2(logprobs: Sequence[float], choices: Sequence[str], golds: frozenset[int]) -> float:
    """sum(exp(ll_right)) / sum(exp(ll_all)), as lm-eval's TruthfulQA ``process_results_mc2``.

    lm-eval exponentiates the raw log-likelihoods, which underflows to 0 / 0 once every choice is below
    about -745; the ratio taken in log space is the same number wherever lm-eval's is defined. Every
    choice certainly impossible (all -inf) leaves it undefined: NaN, which the scorer reports as an error.
    """
    everything = logsumexp(logprobs)
    if everything == -math.inf:
        return math.nan
    right = logsumexp([logprobs[i] for i in sorted(golds)])
    # rounding can leave the log-ratio a hair above 0 when the right choices hold all the mass
    return min(1.0, math.exp(right - everything))
