"""pass@k equals openai/human-eval's unbiased estimator, and stays finite where the binomials overflow."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tianping.scoring.passk import mean_pass_at_k, pass_at_k


def reference_estimator(n: int, c: int, k: int) -> float:
    """human-eval's ``estimate_pass_at_k`` inner estimator (evaluation.py), re-implemented as the reference."""
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def test_matches_the_human_eval_formula_on_every_small_case():
    checked = 0
    for n in range(1, 31):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(reference_estimator(n, c, k), rel=1e-12, abs=1e-15)
                checked += 1
    assert checked == sum(n * (n + 1) for n in range(1, 31))


@pytest.mark.parametrize(
    ("n", "c", "k"),
    [(200, 13, 1), (200, 13, 10), (200, 13, 100), (1000, 1, 10), (1000, 999, 1), (500, 250, 50), (100, 0, 100)],
)
def test_matches_the_reference_for_large_n(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(reference_estimator(n, c, k), rel=1e-12, abs=1e-15)


def test_equals_the_closed_form_with_exact_binomials():
    for n, c, k in [(10, 3, 5), (20, 1, 1), (20, 5, 10), (50, 10, 7), (7, 2, 3)]:
        exact = 1 - math.comb(n - c, k) / math.comb(n, k)
        assert pass_at_k(n, c, k) == pytest.approx(exact, rel=1e-12, abs=1e-15)


def test_huge_n_does_not_overflow():
    # C(5000, 2500) is far beyond a float; the product form stays in range
    value = pass_at_k(5000, 10, 2500)
    assert 0.99 < value <= 1.0
    assert math.isfinite(pass_at_k(10_000, 1, 1))
    assert pass_at_k(10_000, 1, 1) == pytest.approx(1e-4)


def test_edge_cases():
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 0, 10) == 0.0
    assert pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(5, 2, 5) == 1.0  # n - c = 3 < k: every draw of 5 contains a pass
    assert pass_at_k(10, 8, 3) == 1.0
    assert pass_at_k(1, 1, 1) == 1.0
    assert pass_at_k(1, 0, 1) == 0.0
    # pass@1 is the fraction correct
    for n, c in [(10, 3), (7, 5), (200, 13)]:
        assert pass_at_k(n, c, 1) == pytest.approx(c / n, rel=1e-12)


@pytest.mark.parametrize(("n", "c", "k"), [(5, 2, 6), (5, 6, 1), (0, 0, 1), (5, 1, 0), (5, -1, 1)])
def test_invalid_arguments_raise(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_mean_over_tasks():
    counts = [(10, 0), (10, 3), (10, 10), (5, 2)]
    expected = sum(reference_estimator(n, c, 1) for n, c in counts) / len(counts)
    assert mean_pass_at_k(counts, 1) == pytest.approx(expected)
    assert mean_pass_at_k([(10, 3), (10, 4)], 5) == pytest.approx(
        (reference_estimator(10, 3, 5) + reference_estimator(10, 4, 5)) / 2
    )
    with pytest.raises(ValueError):
        mean_pass_at_k([], 1)
    with pytest.raises(ValueError):
        mean_pass_at_k([(10, 3), (4, 1)], 5)  # a task with fewer than k samples
