"""CMATH's answer rule, as the authors' ``eval.py`` / ``utils.py`` (XiaoMi/cmath) define it, written anew.

A response is right when one of its *last two* candidate numbers equals the golden answer:

1. ``\\frac{a}{b}`` becomes ``a/b``, and a comma or space between two digits is removed (``1,000``, ``1 000``);
2. each line gives candidates, in this order: a number opening the line before a Chinese character or one of
   ``,，。°℃$``; numbers after a Chinese character or one of ``$:：，＝≈=>{`` and before a Chinese character,
   one of ``,，。°℃$}（``, ``(`` followed by a non-digit, or a period ending the line; Chinese fractions
   ``五分之三`` written with digits (``5分之3`` -> ``3/5``); a number ending the line after a Chinese character
   or one of ``$:：＝≈=->``; the whole line when it is a number. A number is ``\\d+``, then at most one ``.`` or
   ``/``, digits, and an optional ``%``; one that starts or ends with ``/`` is dropped;
3. only the last two candidates of the response count;
4. each is read as a number (``%`` divides by 100, ``a/b`` divides, a ``.`` makes a float; a zero denominator
   reads as 0) and compared with the golden answer read the same way: two integers must be equal, otherwise
   the difference over the smaller absolute value (plus 1e-6) must be under 1e-2.

The upstream script also counts server errors apart (``has_exception``); here transport errors never reach
the scorer, so that part has no counterpart.
"""

from __future__ import annotations

import re

__all__ = ["candidates", "matches", "read_number"]

_CJK = "\u4e00-\u9fa5"
_NUMBER = r"\d+[./]?\d*%?"
_OPENING = re.compile(rf"^({_NUMBER}) ?(?=[{_CJK},，。°℃$])")
# after the number: a Chinese character or a closing mark, "(" before a non-digit, or a line-ending period
_INSIDE = re.compile(rf"(?<=[{_CJK}$:：，＝≈=>{{]) ?({_NUMBER}) ?(?:[{_CJK},，。°℃$}}（]|\([^\d\s]|\.$)")
_CLOSING = re.compile(rf"(?<=[{_CJK}$:：＝≈=\->]) ?({_NUMBER})$")
_WHOLE_LINE = re.compile(rf"^{_NUMBER}$")
_CHINESE_FRACTION = re.compile(r"(\d+)分之(\d+)")
_LATEX_FRACTION = re.compile(r"\\frac{([^}]+)}{([^}]+)}")
_DIGIT_GROUPING = re.compile(r"(?<=\d)[, ](?=\d)")


def _line_candidates(line: str) -> list[str]:
    found = _OPENING.findall(line) + _INSIDE.findall(line)
    found += [f"{numerator}/{denominator}" for denominator, numerator in _CHINESE_FRACTION.findall(line)]
    found += _CLOSING.findall(line) + _WHOLE_LINE.findall(line)
    return [c for c in (c.strip() for c in found) if not (c.startswith("/") or c.endswith("/"))]


def candidates(response: str) -> list[str]:
    """The numbers the rule compares: the last two candidates of the response (at most two; in order)."""
    text = _DIGIT_GROUPING.sub("", _LATEX_FRACTION.sub(r"\1/\2", response))
    found: list[str] = []
    for line in text.splitlines():
        found.extend(_line_candidates(line))
    return found[-2:]


def read_number(text: str) -> int | float:
    """A candidate or golden answer as a number; ValueError when it is none."""
    text = text.strip()
    if text.endswith("%"):
        return float(text[:-1]) / 100
    if "/" in text:
        parts = text.split("/")
        # upstream reads a malformed fraction or a zero denominator as 0 (with a warning) rather than failing
        if len(parts) != 2 or float(parts[1]) == 0:
            return 0
        return float(parts[0]) / float(parts[1])
    return float(text) if "." in text else int(text)


def _equal(a: int | float, b: int | float) -> bool:
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return abs(a - b) / (min(abs(a), abs(b)) + 1e-6) < 1e-2


def matches(golden: str, found: list[str]) -> bool:
    """Whether one of the candidates equals the golden answer under the rule above."""
    gold = read_number(golden)
    for candidate in found:
        try:
            value = read_number(candidate)
        except ValueError:
            continue
        if _equal(gold, value):
            return True
    return False
