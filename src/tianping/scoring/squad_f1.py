"""SQuAD-style answer matching for English short answers: exact match and token F1 after normalisation.

The definition is that of the official SQuAD v1.1 evaluation script (Rajpurkar et al. 2016), which open-domain
QA (NQ-open, TriviaQA) reports as "EM" and "F1":

- normalisation: lower-case; delete every ASCII punctuation character (``string.punctuation``); replace the
  whole words ``a``, ``an`` and ``the`` by a space; collapse runs of whitespace to one space and trim;
- exact match: the normalised prediction equals the normalised answer;
- F1: over the whitespace tokens of the two normalised strings, counted as multisets; 0 when they share no
  token (an empty prediction or answer included: v1.1 has no special case for empty answers, v2.0 does);
- several acceptable answers: the best score over them.

Only ASCII punctuation is removed, as in the script: curly quotes and dashes (``’``, ``–``) stay part of a
word. The Chinese character-level variant (CMRC 2018) is a different definition and lives elsewhere.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable

__all__ = ["best_exact_match", "best_f1", "exact_match", "normalize_answer", "token_f1"]

_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower-case, punctuation and articles removed, whitespace collapsed (SQuAD v1.1's order of steps)."""
    text = text.lower().translate(_PUNCTUATION)
    # punctuation goes first, so "the-end" becomes the one word "theend" and keeps its article, as in the script
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answer: str) -> float:
    """1.0 when the two strings are equal after :func:`normalize_answer`, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(answer))


def token_f1(prediction: str, answer: str) -> float:
    """The harmonic mean of token precision and recall between the normalised strings."""
    predicted = normalize_answer(prediction).split()
    gold = normalize_answer(answer).split()
    shared = sum((Counter(predicted) & Counter(gold)).values())
    if shared == 0:
        return 0.0
    precision = shared / len(predicted)
    recall = shared / len(gold)
    return 2 * precision * recall / (precision + recall)


def _answers(answers: Iterable[str]) -> list[str]:
    listed = list(answers)
    if not listed:
        raise ValueError("at least one acceptable answer is needed")
    return listed


def best_exact_match(prediction: str, answers: Iterable[str]) -> float:
    """The exact match against the closest of several acceptable answers."""
    return max(exact_match(prediction, a) for a in _answers(answers))


def best_f1(prediction: str, answers: Iterable[str]) -> float:
    """The token F1 against the closest of several acceptable answers."""
    return max(token_f1(prediction, a) for a in _answers(answers))
