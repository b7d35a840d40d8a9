"""Scorers of the English sets: NQ-open, GSM-Plus and AIME.

``nq_open``
    lm-evaluation-harness's ``nq_open`` exact match as the value: the answer trimmed (its ``remove_whitespace``
    filter), then, on both sides, the regex ``\\b(?:The |the |An |A |The |a |an )`` deleted, lower case and
    ASCII punctuation deleted, in that order; right when it equals any of the acceptable answers. Further
    metrics ``squad_em`` and ``squad_f1``: the SQuAD v1.1 definitions (:mod:`tianping.scoring.squad_f1`), best
    over the answers. The answers are the sample's ``answer`` field (a list, or one string).

``gsm_plus``
    GSM-Plus (Li et al. 2024). A numeric target is scored as GSM8K is (``number_then_math``). A
    critical-thinking item lacks a premise and has the target ``None``: it is right when the answer says
    the question cannot be answered, read as GSM-Plus's own scoring script does (``extract_pred_ans_none``):
    the answer, lower-cased, contains one of its phrases ("does not specify", "cannot determine", "none",
    ...). We match "none" as a word rather than inside "nonetheless", read curly apostrophes as straight ones
    and add a few common phrasings the script misses (``EXTRA_PHRASES``, e.g. "cannot be determined").

``gsm_plus_lmeval``
    ``gsm_plus`` plus lm-eval's two ``gsm_plus`` filters as further metrics: ``lmeval_strict_match`` (the
    first ``#### N``) and ``lmeval_flexible_extract`` (the last number-like run), each compared with the gold
    solution after its ``regexes_to_ignore`` and in lower case. A critical-thinking item never scores there
    (its gold reads ``None``, which neither regex can produce).

``aime``
    Every completion's final answer (the ``math`` scorer's reading: boxed, answer statement, final line)
    compared with the integer target as an integer (``025`` = ``25``); an answer that is an expression
    rather than a number goes to mathematical equivalence. The value is the fraction of completions right
    (pass@1 estimated from n samples); with n > 1 the metrics add the unbiased pass@k for k in ``PASS_AT``
    up to n.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import string
from collections.abc import Sequence

from tianping.benchmarks.scorers import SCORERS, ScoringContext, register_scorer
from tianping.core import Completion, Response, Sample, Score

__all__ = [
    "EXTRA_PHRASES",
    "PAPER_PHRASES",
    "PASS_AT",
    "lmeval_gsm_plus_metrics",
    "lmeval_nq_exact_match",
    "says_unanswerable",
    "score_aime",
    "score_gsm_plus",
    "score_gsm_plus_lmeval",
    "score_nq_open",
]

INCOMPLETE_REASON = "reasoning did not finish before the token limit"

# --------------------------------------------------------------------------------------------------
# NQ-open

_NQ_IGNORE = re.compile(r"\b(?:The |the |An |A |The |a |an )")  # lm-eval nq_open.yaml's regexes_to_ignore
_DROP_PUNCTUATION = str.maketrans("", "", string.punctuation)


def _lmeval_nq_normal(text: str) -> str:
    # the regex runs before lower-casing, as lm-eval's exact_match does: "THE Beatles" keeps its "the"
    return _NQ_IGNORE.sub("", text).lower().translate(_DROP_PUNCTUATION)


def lmeval_nq_exact_match(prediction: str, answers: Sequence[str]) -> float:
    """lm-eval ``nq_open``'s verdict on a generated answer (already cut at its stop sequences)."""
    predicted = _lmeval_nq_normal(prediction.strip())
    return float(any(predicted == _lmeval_nq_normal(answer) for answer in answers))


def _gold_answers(sample: Sample) -> list[str]:
    answers = sample.fields.get("answer")
    if isinstance(answers, str):
        answers = [answers]
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
        raise ValueError(f"sample {sample.id}: field 'answer' must be an answer or a non-empty list of answers")
    return answers


@register_scorer("nq_open")
def score_nq_open(sample: Sample, response: Response, context: ScoringContext) -> Score:
    """lm-eval's nq_open exact match, with SQuAD EM and F1 beside it (see the module docstring)."""
    from tianping.scoring.squad_f1 import best_exact_match, best_f1

    first = response.first
    if first.incomplete:
        return Score(value=None, status="incomplete", reason=INCOMPLETE_REASON)
    answers = _gold_answers(sample)
    text = first.text.strip()
    metrics = {"squad_em": best_exact_match(text, answers), "squad_f1": best_f1(text, answers)}
    if not text:
        return Score(value=0.0, extraction_failed=True, reason="empty answer", metrics=metrics)
    return Score(value=lmeval_nq_exact_match(text, answers), extracted=text, metrics=metrics)


# --------------------------------------------------------------------------------------------------
# GSM-Plus

PAPER_PHRASES = (
    "does not provide enough information",
    "does not specify",
    "does not provide",
    "can't provide",
    "can not provide",
    "don't know",
    "do not know",
    "doesn't specify",
    "not specify",
    "not mention",
    "doesn't mention",
    "don't have enough information",
    "do not have enough",
    "not provide",
    "doesn't provide",
    "cannot calculate",
    "can't calculate",
    "can't determine",
    "cannot determine",
    "missing necessary information",
    "none",
)
"""The phrases by which GSM-Plus's script (``scripts/utils/extract_ans.py``) recognises an answer that says the
question lacks information."""
EXTRA_PHRASES = (
    "not enough information",
    "insufficient information",
    "cannot be determined",
    "can't be determined",
    "cannot be calculated",
    "can't be calculated",
    "missing information",
    "information is missing",
    "unanswerable",
)
"""Common phrasings of the same verdict that the script's list misses ("the answer cannot be determined")."""
_UNANSWERABLE = re.compile(
    "|".join(r"\bnone\b" if p == "none" else re.escape(p) for p in (*PAPER_PHRASES, *EXTRA_PHRASES))
)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
CRITICAL_THINKING_TARGET = "None"


def says_unanswerable(text: str) -> str | None:
    """The first phrase by which an answer says the question lacks information, or None."""
    # as the script: commas dropped, lower case; we also read "can’t" as "can't" and collapse line breaks
    normal = " ".join(text.translate(_APOSTROPHES).replace(",", "").lower().split())
    found = _UNANSWERABLE.search(normal)
    return found.group() if found else None


async def _gsm_plus(sample: Sample, response: Response, context: ScoringContext) -> Score:
    if sample.target != CRITICAL_THINKING_TARGET:
        result = SCORERS["number_then_math"](sample, response, context)  # registered by scorers.py itself
        return await result if inspect.isawaitable(result) else result
    first = response.first
    if first.incomplete:
        return Score(value=None, status="incomplete", reason=INCOMPLETE_REASON)
    phrase = says_unanswerable(first.text)
    if phrase is not None:
        return Score(value=1.0, extracted=phrase, reason="said the question lacks information")
    from tianping.scoring.extract import extract_final_number

    number = extract_final_number(first.text)
    return Score(value=0.0, extracted=number, reason="answered a question that lacks a premise")


@register_scorer("gsm_plus")
async def score_gsm_plus(sample: Sample, response: Response, context: ScoringContext) -> Score:
    """Numbers as in GSM8K; a critical-thinking item by the answer saying the question lacks information."""
    return await _gsm_plus(sample, response, context)


_LMEVAL_STRICT = re.compile(r"#### (\-?[0-9\.\,]+)")
_LMEVAL_FLEXIBLE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
_LMEVAL_IGNORE = (re.compile(","), re.compile(r"\$"), re.compile(r"(?s).*#### "), re.compile(r"\.$"))
_INVALID = "[invalid]"


def _lmeval_regex(pattern: re.Pattern[str], text: str, pick: int) -> str:
    """lm-eval's ``regex`` filter: the ``pick``-th match (of the first non-empty group), else ``[invalid]``."""
    matches = pattern.findall(text)
    if not matches:
        return _INVALID
    match = matches[pick]
    if isinstance(match, tuple):
        match = next((group for group in match if group), _INVALID)
    return match.strip()


def _lmeval_gsm_equal(prediction: str, gold: str) -> float:
    for pattern in _LMEVAL_IGNORE:
        prediction, gold = pattern.sub("", prediction), pattern.sub("", gold)
    return float(prediction.lower() == gold.lower())


def lmeval_gsm_plus_metrics(text: str, solution: str) -> dict[str, float]:
    """lm-eval ``gsm_plus``'s exact match under its ``strict-match`` and ``flexible-extract`` filters."""
    return {
        "lmeval_strict_match": _lmeval_gsm_equal(_lmeval_regex(_LMEVAL_STRICT, text, 0), solution),
        "lmeval_flexible_extract": _lmeval_gsm_equal(_lmeval_regex(_LMEVAL_FLEXIBLE, text, -1), solution),
    }


@register_scorer("gsm_plus_lmeval")
async def score_gsm_plus_lmeval(sample: Sample, response: Response, context: ScoringContext) -> Score:
    """``gsm_plus``, with lm-eval's strict-match and flexible-extract exact match as further metrics."""
    score = await _gsm_plus(sample, response, context)
    if score.status != "scored":
        return score
    solution = sample.fields.get("solution")
    if not isinstance(solution, str):
        raise ValueError(f"sample {sample.id}: field 'solution' (lm-eval's gold) is missing")
    metrics = {**score.metrics, **lmeval_gsm_plus_metrics(response.first.text, solution)}
    return Score(score.value, score.status, score.extracted, score.extraction_failed, score.reason, metrics)


# --------------------------------------------------------------------------------------------------
# AIME

PASS_AT = (1, 2, 4, 8, 16, 32, 64)
"""The k of the pass@k metrics reported when a response has at least k (and more than one) completions."""
_INTEGER = re.compile(r"-?\d+")


def _as_number(expression: str) -> str | None:
    """The canonical number an answer states (``025`` -> ``25``; ``m+n=204`` -> ``204``), or None."""
    from tianping.scoring.extract import normalize_number

    number = normalize_number(expression)
    if number is None and "=" in expression:
        number = normalize_number(expression.rsplit("=", 1)[1])
    return number


async def _aime_verdict(completion: Completion, target: str) -> tuple[bool, str | None]:
    """(right, the answer read) for one completion."""
    from tianping.benchmarks.math_scoring import extract_final_answer

    if completion.incomplete:
        return False, None
    expression = extract_final_answer(completion.text)
    if expression is None:
        return False, None
    number = _as_number(expression)
    if number is not None:  # a number: right only as the same integer (24.99 is not 25)
        return bool(_INTEGER.fullmatch(number)) and int(number) == int(target), number
    from tianping.scoring.math_equiv import math_equal

    # math_equal may block up to its timeout while a worker decides: keep the event loop free
    return await asyncio.to_thread(math_equal, expression, target), expression


@register_scorer("aime")
async def score_aime(sample: Sample, response: Response, context: ScoringContext) -> Score:
    """Integer answers; value = fraction of completions right; pass@k for n > 1 (see the module docstring)."""
    from tianping.scoring.passk import pass_at_k

    if not _INTEGER.fullmatch(sample.target):
        raise ValueError(f"sample {sample.id}: target {sample.target!r} is not an integer")
    completions = response.completions
    n = len(completions)
    if n == 0:
        return Score(value=0.0, extraction_failed=True, reason="no completions")
    if all(c.incomplete for c in completions):
        return Score(value=None, status="incomplete", reason=INCOMPLETE_REASON)
    verdicts = await asyncio.gather(*(_aime_verdict(c, sample.target) for c in completions))
    right = sum(ok for ok, _ in verdicts)
    failed = all(read is None for _, read in verdicts)
    if n == 1:
        ok, read = verdicts[0]
        reason = "no answer found in output" if read is None else None
        return Score(value=float(ok), extracted=read, extraction_failed=failed, reason=reason)
    metrics = {f"pass@{k}": pass_at_k(n, right, k) for k in PASS_AT if k <= n}
    metrics["pass@1"] = right / n  # exact, not through the product
    answers = ", ".join("-" if read is None else read for _, read in verdicts)
    return Score(
        value=right / n,
        extracted=f"{right}/{n} right",
        extraction_failed=failed,
        reason=f"answers: {answers}",
        metrics=metrics,
    )
