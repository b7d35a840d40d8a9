"""Answer extractors, metrics and whole-sample scorers that definition files name in ``scoring``.

- an *extractor* pulls the answer out of the first completion's text; a *metric* compares it with
  the target (``scoring.extractor`` + ``scoring.metric``);
- a *scorer* replaces both when a sample needs more than one string comparison: all completions
  (pass@k), code execution, several metrics at once (``scoring.scorer``). It may be async.

Families of benchmarks register theirs in their own modules; ``LAZY`` names the module that
registers a name, imported on first use, so that start-up loads only what a run needs.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any

from tianping.core import Response, Sample, Score, entry_points
from tianping.core.task import ScoringContext

Extractor = Callable[[str, Sample], str | None]
Metric = Callable[[str, str], float]


Scorer = Callable[[Sample, Response, ScoringContext], Score | Awaitable[Score]]

EXTRACTORS: dict[str, Extractor] = {}
METRICS: dict[str, Metric] = {}
SCORERS: dict[str, Scorer] = {}

# name -> module that registers it when imported
LAZY: dict[str, str] = {
    "code_exec": "tianping.benchmarks.code",
    "ifeval": "tianping.benchmarks.ifeval",
    "bbh_answer": "tianping.benchmarks.reasoning",
    "bbh_match": "tianping.benchmarks.reasoning",
    "arc_choice": "tianping.benchmarks.reasoning",
    "math": "tianping.benchmarks.math_scoring",
    "cmrc2018": "tianping.benchmarks.chinese_sets",
    "cmath": "tianping.benchmarks.chinese_sets",
    "ocnli_relation": "tianping.benchmarks.chinese_sets",
    "zh_yes_no": "tianping.benchmarks.chinese_sets",
    "nq_open": "tianping.benchmarks.english_scorers",
    "gsm_plus": "tianping.benchmarks.english_scorers",
    "gsm_plus_lmeval": "tianping.benchmarks.english_scorers",
    "aime": "tianping.benchmarks.english_scorers",
    "truthfulqa_gen": "tianping.benchmarks.truthfulqa",
}


def register_extractor(name: str) -> Callable[[Extractor], Extractor]:
    def wrap(fn: Extractor) -> Extractor:
        EXTRACTORS[name] = fn
        return fn

    return wrap


def register_metric(name: str) -> Callable[[Metric], Metric]:
    def wrap(fn: Metric) -> Metric:
        METRICS[name] = fn
        return fn

    return wrap


def register_scorer(name: str) -> Callable[[Scorer], Scorer]:
    def wrap(fn: Scorer) -> Scorer:
        SCORERS[name] = fn
        return fn

    return wrap


def resolve(table: dict[str, Any], name: str) -> Any | None:
    """``table[name]``, importing the module that registers it first if needed, else from an installed plugin's
    entry point (``tianping.extractors``, ``tianping.metrics``, ``tianping.scorers``); None if unknown."""
    if name not in table and name in LAZY:
        importlib.import_module(LAZY[name])
    if name not in table:
        group = {id(EXTRACTORS): "extractors", id(METRICS): "metrics", id(SCORERS): "scorers"}.get(id(table))
        found = entry_points.find(f"tianping.{group}", name) if group else None
        if found is not None:
            table[name] = found.load()
    return table.get(name)


# The extraction module is imported on first use: it is only needed once answers arrive, so its
# import overlaps the wait for the first responses instead of delaying the first request.


@register_extractor("final_number")
def _final_number(text: str, sample: Sample) -> str | None:
    from tianping.scoring.extract import extract_final_number

    return extract_final_number(text)


@register_extractor("choice")
def _choice(text: str, sample: Sample) -> str | None:
    """The option label chosen among the sample's ``choices``: letters ``A``.. by position, or the labels of
    its ``letters`` field (``["1", "2", ...]`` for numbered options); see ``tianping.scoring.choice``."""
    from tianping.scoring.choice import extract_choice, option_labels

    return extract_choice(text, sample.fields["choices"], option_labels(sample.fields))


@register_metric("numeric_match")
def _numeric_match(extracted: str, target: str) -> float:
    if extracted == target:  # both normalised already: the common case needs no arithmetic
        return 1.0
    from tianping.scoring.extract import numbers_equal

    return float(numbers_equal(extracted, target))


@register_metric("exact_match")
def _exact_match(extracted: str, target: str) -> float:
    return float(extracted.strip() == target.strip())


@register_scorer("number_then_math")
async def _number_then_math(sample: Sample, response: Response, context: ScoringContext) -> Score:
    """GSM8K-style scoring: the final number compared by value, except that a boxed answer which is an
    expression rather than a number (``\\boxed{2 \\cdot 9}``) is compared with the target by mathematical
    equivalence, and so is an answer expression found when no number can be read at all."""
    import asyncio

    from tianping.scoring.extract import normalize_number
    from tianping.scoring.math_equiv import extract_math_answer, math_equal

    first = response.first
    if first.incomplete:
        return Score(value=None, status="incomplete", reason="reasoning did not finish before the token limit")
    text = first.text
    boxed = extract_math_answer(text) if ("\\boxed" in text or "\\fbox" in text) else None
    extracted = None if (boxed is not None and normalize_number(boxed) is None) else _final_number(text, sample)
    if extracted is not None:
        return Score(value=_numeric_match(extracted, sample.target), extracted=extracted)
    expression = boxed or extract_math_answer(text)
    if expression is None:
        return Score(value=0.0, extraction_failed=True, reason="no answer found in output")
    # math_equal blocks for up to its timeout while a worker process decides: keep the event loop free
    equal = await asyncio.to_thread(math_equal, expression, sample.target)
    return Score(value=float(equal), extracted=expression, reason="compared by mathematical equivalence")


# Multi-select questions: the target is the canonical letter set ("A,C", see tianping.scoring.choice_set).


def _option_letters(sample: Sample) -> str:
    """The sample's option letters (its ``letters`` field, else A, B, ... per choice; see ``option_labels``)."""
    from tianping.scoring.choice import option_labels

    return "".join(option_labels(sample.fields)) or "ABCD"


@register_extractor("choice_set")
def _choice_set(text: str, sample: Sample) -> str | None:
    from tianping.scoring.choice_set import extract_choice_set

    letters = _option_letters(sample)
    return extract_choice_set(text, sample.fields.get("choices") or list(letters), letters)


@register_metric("choice_set_exact")
def _choice_set_exact(extracted: str, target: str) -> float:
    from tianping.scoring.choice_set import set_accuracy

    return set_accuracy(extracted, target)
