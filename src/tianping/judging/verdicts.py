"""Reading a judge's answer: a grade ``[[7]]`` or a pairwise verdict ``[[A>B]]``, strictly.

A judge that did not follow the format gets no verdict: :class:`Unparseable` says why, and the caller counts the
sample apart (never as a default grade or a tie). What counts as not following it:

- grades: no ``[[n]]`` at all, two different grades, a grade that is not a whole number (``[[7.5]]``, ``[[8/10]]``)
  or one outside the scale. Bracketed words (``[[N]]``, an echo of the instructions) are not grades and are passed
  over;
- verdicts: none of ``A>>B``, ``A>B``, ``A=B``, ``B>A``, ``B>>A`` in double brackets, two different ones, or a
  bracketed verdict-like token that is none of them (``[[A<B]]``, ``[[A>>>B]]``).

A token repeated with the same value (a judge restating its verdict) is one verdict.
"""

from __future__ import annotations

import re

from tianping.judging.diagnostics import FIRST, SECOND, TIE

__all__ = ["LABELS", "Unparseable", "parse_grade", "parse_verdict", "position_of", "strength_of"]

LABELS = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
"""Pairwise verdicts, strongest for A first."""

_BRACKETED = re.compile(r"\[\[([^\[\]\n]{1,40})\]\]")
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBERISH = re.compile(r"[+-]?[\d.,/\s]+")
_VERDICTISH = re.compile(r"[AB<>=\s]+")


class Unparseable(ValueError):
    """The judge's answer holds no verdict in the required format; the message says what was found."""


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= 160 else flat[:80] + " ... " + flat[-70:])


def parse_grade(text: str, low: int, high: int) -> int:
    """The whole-number grade in ``[[n]]``, within ``[low, high]``."""
    if not text or not text.strip():
        raise Unparseable("the judge returned an empty answer")
    grades: set[int] = set()
    for token in (t.strip() for t in _BRACKETED.findall(text)):
        if _INTEGER.fullmatch(token):
            grades.add(int(token))
        elif _NUMBERISH.fullmatch(token) and any(c.isdigit() for c in token):
            raise Unparseable(f"grade [[{token}]] is not a whole number")
    if not grades:
        raise Unparseable(f"no [[grade]] in the judge's answer: {_excerpt(text)}")
    if len(grades) > 1:
        raise Unparseable(f"the judge gave several grades: {sorted(grades)}")
    grade = grades.pop()
    if not low <= grade <= high:
        raise Unparseable(f"grade {grade} is outside the scale {low}-{high}")
    return grade


def parse_verdict(text: str) -> str:
    """The pairwise label in ``[[...]]``: one of :data:`LABELS`."""
    if not text or not text.strip():
        raise Unparseable("the judge returned an empty answer")
    found: set[str] = set()
    for token in _BRACKETED.findall(text):
        if not _VERDICTISH.fullmatch(token) or not ({"A", "B"} & set(token)):
            continue  # a bracketed word, not an attempt at a verdict
        label = "".join(token.split())
        if label not in LABELS:
            raise Unparseable(f"[[{token.strip()}]] is not a verdict (expected one of {', '.join(LABELS)})")
        found.add(label)
    if not found:
        raise Unparseable(f"no [[verdict]] in the judge's answer: {_excerpt(text)}")
    if len(found) > 1:
        raise Unparseable(f"the judge gave several verdicts: {', '.join(sorted(found))}")
    return found.pop()


def position_of(label: str) -> str:
    """The verdict by position (``first``: the reply shown as A won), as the bias diagnostics take it."""
    if label not in LABELS:
        raise ValueError(f"not a verdict label: {label!r}")
    return FIRST if label.startswith("A>") else SECOND if label.startswith("B>") else TIE


def strength_of(label: str) -> int:
    """2 for a clear win (``>>``), 1 for a win, 0 for a tie."""
    if label not in LABELS:
        raise ValueError(f"not a verdict label: {label!r}")
    return 2 if ">>" in label else 1 if ">" in label else 0
