"""The answer-statement patterns tried only at their start words find exactly what a whole scan finds."""

from __future__ import annotations

import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from test_extract_equivalence import FRAGMENTS, _golden_outputs
from tianping.scoring import extract, math_equiv

# Case variants and look-alikes of the words a statement starts with (re's case-insensitive matching takes
# dotless ı for i and long ſ for s; İ lower-cases to two characters), and the Chinese statement openers.
STATEMENT_FRAGMENTS = [
    *FRAGMENTS, "final", "FINAL", "Final ", "fınal ", "ANSWER", "Answer", "anſwer", "answer", "answers", "finally",
    "İ", "final\n answer", "THE ", "The answer is ", "the  answer should be ", "tHe", "answer **:", "answer：",
    "最终", "最终答案", "问答", "解答：", "答案为", "答案应为", "answer is:", "Answer (kg): ", "x", "é", "The",
]  # fmt: skip


def _statement_scans() -> list[tuple[re.Pattern[str], object]]:
    return [
        (extract._ANSWER_STRICT, lambda t: extract._statements(extract._ANSWER_STRICT, t)),
        (extract._ANSWER_LENIENT, lambda t: extract._statements(extract._ANSWER_LENIENT, t)),
        (math_equiv._STATEMENT_RE, math_equiv._statements),
    ]


def _same_statements(text: str) -> None:
    for pattern, scan in _statement_scans():
        expected = [m.span() for m in pattern.finditer(text)]
        assert [m.span() for m in scan(text)] == expected, (pattern.pattern[:40], text)  # type: ignore[operator]


def test_statements_are_found_where_a_whole_scan_finds_them() -> None:
    rng = random.Random(7)
    for _ in range(5000):
        _same_statements("".join(rng.choice(STATEMENT_FRAGMENTS) for _ in range(rng.randint(1, 30))))
    for text in _golden_outputs():
        _same_statements(text)


@settings(max_examples=1000, deadline=None)
@given(text=st.lists(st.one_of(st.sampled_from(STATEMENT_FRAGMENTS), st.text(max_size=3)), max_size=25).map("".join))
def test_generated_statements_are_found_where_a_whole_scan_finds_them(text: str) -> None:
    _same_statements(text)


def test_math_statement_answers_are_unchanged_on_long_answers() -> None:
    # a long answer with many statements: the last twenty are the ones tried, as before
    text = " ".join(f"The answer is {i}." for i in range(40)) + " So the final answer is $\\frac{1}{2}$."
    assert math_equiv._statement_answer(text) == "\\frac{1}{2}"
