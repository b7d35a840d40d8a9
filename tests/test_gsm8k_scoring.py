"""GSM8K scoring: the final number by value, and a boxed expression by mathematical equivalence."""

from __future__ import annotations

import asyncio

import pytest

from tianping.benchmarks.scorers import SCORERS, ScoringContext
from tianping.core import Completion, Response, Sample


@pytest.mark.parametrize(
    ("output", "value", "extracted"),
    [
        ("She makes 9 * 2 = $18 every day. The answer is 18.", 1.0, "18"),
        (r"So she earns $\boxed{\dfrac{36}{2}}$ dollars.", 1.0, "18"),
        (r"The total is \boxed{2 \cdot 9}.", 1.0, r"2 \cdot 9"),
        (r"The total is \boxed{3^2 + 8}.", 0.0, "3^2 + 8"),
        ("I am not sure how to solve this.", 0.0, None),
    ],
)
def test_numbers_by_value_and_boxed_expressions_by_equivalence(output, value, extracted):
    score = asyncio.run(
        SCORERS["number_then_math"](Sample("0", {}, "18"), Response((Completion(output),), 0.0), ScoringContext())
    )
    assert (score.value, score.extracted) == (value, extracted)
    assert score.extraction_failed == (extracted is None)


def test_unfinished_thinking_is_incomplete():
    response = Response((Completion("", incomplete=True),), 0.0)
    score = asyncio.run(SCORERS["number_then_math"](Sample("0", {}, "18"), response, ScoringContext()))
    assert score.status == "incomplete" and score.value is None


@pytest.mark.parametrize(
    ("output", "target", "value", "extracted"),
    [
        (r"She needs $\boxed{3\frac{1}{2}}$ cups.", "3.5", 1.0, "3.5"),
        (r"She needs $\boxed{3\frac{1}{2}}$ cups.", "15.5", 0.0, "3.5"),
        (r"It takes \boxed{1\frac{1}{2}} hours.", "1.5", 1.0, "1.5"),
        (r"It takes \boxed{1\frac{1}{2}} hours.", "5.5", 0.0, "1.5"),
        (r"The change is \boxed{-2\frac{1}{4}}.", "-2.25", 1.0, "-2.25"),
        (r"So the total is \boxed{2 \cdot \frac{1}{2}}.", "1", 1.0, r"2 \cdot \frac{1}{2}"),
    ],
)
def test_latex_mixed_numbers(output, target, value, extracted):
    score = asyncio.run(
        SCORERS["number_then_math"](Sample("0", {}, target), Response((Completion(output),), 0.0), ScoringContext())
    )
    assert (score.value, score.extracted) == (value, extracted)
