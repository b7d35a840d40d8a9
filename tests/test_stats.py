"""Tests for tianping.scoring.stats: intervals against published values, tests against scipy."""

from __future__ import annotations

import dataclasses
import math
from functools import partial

import numpy as np
import pytest
from scipy.stats import binomtest, ttest_rel

from tianping.scoring.stats import (
    Estimate,
    PairedComparison,
    bootstrap_mean,
    bootstrap_statistic,
    newcombe_paired_interval,
    paired_compare,
    proportion,
    wilson_interval,
)

# --------------------------------------------------------------------------------------------
# Wilson


# Newcombe (1998) "Two-sided confidence intervals for the single proportion", Stat Med
# 17:857-872, Table I, method 3 (score interval without continuity correction), 4 d.p.
NEWCOMBE_1998_WILSON = [
    (81, 263, (0.2553, 0.3662)),
    (15, 148, (0.0624, 0.1605)),
    (0, 20, (0.0000, 0.1611)),
    (1, 29, (0.0061, 0.1718)),
]


@pytest.mark.parametrize(("x", "n", "expected"), NEWCOMBE_1998_WILSON)
def test_wilson_matches_newcombe_1998(x: int, n: int, expected: tuple[float, float]) -> None:
    low, high = wilson_interval(x, n)
    assert round(low, 4) == expected[0]
    assert round(high, 4) == expected[1]


def test_wilson_matches_closed_form_by_hand() -> None:
    # 7/10 at 95%: z = 1.959963985, worked through the score formula independently.
    z = 1.959963984540054
    p, n = 0.7, 10
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = wilson_interval(7, 10)
    assert low == pytest.approx(centre - half, abs=1e-12)
    assert high == pytest.approx(centre + half, abs=1e-12)
    assert (round(low, 4), round(high, 4)) == (0.3968, 0.8922)


def test_wilson_against_statsmodels() -> None:
    sm = pytest.importorskip("statsmodels.stats.proportion")
    for x, n in [(0, 1), (1, 1), (0, 7), (3, 7), (7, 7), (81, 263), (500, 1000), (999, 1000)]:
        for confidence in (0.8, 0.95, 0.99):
            expected = sm.proportion_confint(x, n, alpha=1 - confidence, method="wilson")
            assert wilson_interval(x, n, confidence) == pytest.approx(expected, abs=1e-12)


def test_wilson_all_correct_and_all_wrong_are_sensible() -> None:
    low, high = wilson_interval(100, 100)
    assert high == 1.0
    assert low == pytest.approx(100 / (100 + 1.959963984540054**2))  # 0.96301...
    assert round(low, 4) == 0.963
    low, high = wilson_interval(0, 100)
    assert low == 0.0
    assert round(high, 4) == 0.037
    # Even a single item gives a wide, non-degenerate interval rather than [1, 1].
    low, high = wilson_interval(1, 1)
    assert high == 1.0 and 0.2 < low < 0.21


def test_wilson_higher_confidence_is_wider() -> None:
    lo90, hi90 = wilson_interval(30, 50, 0.90)
    lo99, hi99 = wilson_interval(30, 50, 0.99)
    assert lo99 < lo90 < 0.6 < hi90 < hi99


def test_wilson_accepts_fractional_successes_and_n_zero() -> None:
    low, high = wilson_interval(2.5, 5)
    assert low < 0.5 < high
    assert low == pytest.approx(1 - high)  # symmetric about 1/2
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("x", "n", "confidence"),
    [(-1, 5, 0.95), (6, 5, 0.95), (1, -1, 0.95), (1, 5, 0.0), (1, 5, 1.0), (math.nan, 5, 0.95)],
)
def test_wilson_rejects_bad_input(x: float, n: int, confidence: float) -> None:
    with pytest.raises(ValueError):
        wilson_interval(x, n, confidence)


# --------------------------------------------------------------------------------------------
# proportion


def test_proportion_binary_uses_wilson() -> None:
    values = [1] * 81 + [0] * (263 - 81)
    est = proportion(values)
    assert est.method == "wilson"
    assert est.n == 263
    assert est.value == pytest.approx(81 / 263)
    assert (round(est.ci_low, 4), round(est.ci_high, 4)) == (0.2553, 0.3662)


def test_proportion_accepts_bools() -> None:
    est = proportion([True, False, True, True])
    assert est.method == "wilson" and est.value == 0.75 and est.n == 4


def test_proportion_empty_is_none() -> None:
    assert proportion([]) == Estimate(value=None, n=0, ci_low=None, ci_high=None, method="wilson")


def test_proportion_all_correct_and_all_wrong() -> None:
    est = proportion([1.0] * 50)
    assert est.value == 1.0 and est.ci_high == 1.0 and 0.92 < est.ci_low < 0.93
    est = proportion([0.0] * 50)
    assert est.value == 0.0 and est.ci_low == 0.0 and 0.07 < est.ci_high < 0.08


def test_proportion_fractional_uses_bootstrap() -> None:
    values = [0.0, 0.5, 1.0, 1.0, 0.25, 0.75] * 10
    est = proportion(values)
    assert est.method == "bootstrap"
    assert est == bootstrap_mean(values)
    assert est.ci_low <= est.value <= est.ci_high


@pytest.mark.parametrize("bad", [[0.5, 1.5], [-0.1, 1.0], [1.0, math.nan]])
def test_proportion_rejects_values_outside_unit_interval(bad: list[float]) -> None:
    with pytest.raises(ValueError):
        proportion(bad)


# --------------------------------------------------------------------------------------------
# bootstrap


def test_bootstrap_is_deterministic_with_seed() -> None:
    values = np.random.default_rng(7).exponential(size=200).tolist()
    first = bootstrap_mean(values, seed=3)
    assert bootstrap_mean(values, seed=3) == first
    other = bootstrap_mean(values, seed=4)
    assert other.value == first.value
    assert (other.ci_low, other.ci_high) != (first.ci_low, first.ci_high)


def test_bootstrap_covers_true_mean() -> None:
    # Uniform(0, 1) has mean 0.5; a large sample's interval must contain it and be narrow.
    values = np.random.default_rng(123).uniform(size=1000)
    est = bootstrap_mean(values)
    assert est.method == "bootstrap" and est.n == 1000
    assert est.ci_low < 0.5 < est.ci_high
    assert est.ci_high - est.ci_low < 0.05
    # Close to the normal-theory interval mean +- 1.96 * sd / sqrt(n).
    se = values.std(ddof=1) / math.sqrt(values.size)
    assert est.ci_low == pytest.approx(values.mean() - 1.96 * se, abs=0.005)
    assert est.ci_high == pytest.approx(values.mean() + 1.96 * se, abs=0.005)


def test_bootstrap_coverage_is_near_nominal() -> None:
    # 200 fixed-seed datasets of n=60 from Beta(2, 5) (mean 2/7): about 95% should cover it.
    rng = np.random.default_rng(2024)
    true_mean = 2 / 7
    hits = 0
    for i in range(200):
        est = bootstrap_mean(rng.beta(2, 5, size=60), resamples=500, seed=i)
        hits += est.ci_low <= true_mean <= est.ci_high
    assert 0.88 <= hits / 200 <= 0.99


def test_bootstrap_interval_contains_value() -> None:
    rng = np.random.default_rng(1)
    for size in (2, 3, 5, 20):
        values = rng.lognormal(sigma=2.0, size=size)
        est = bootstrap_mean(values, resamples=200)
        assert est.ci_low <= est.value <= est.ci_high


def test_bootstrap_all_equal_is_exact() -> None:
    est = bootstrap_mean([0.1] * 30)
    assert est == Estimate(value=0.1, n=30, ci_low=0.1, ci_high=0.1, method="bootstrap")
    est = bootstrap_mean([4.0])
    assert (est.value, est.ci_low, est.ci_high, est.n) == (4.0, 4.0, 4.0, 1)


def test_bootstrap_empty_is_none() -> None:
    est = bootstrap_mean([])
    assert est == Estimate(value=None, n=0, ci_low=None, ci_high=None, method="bootstrap")


def test_bootstrap_large_input_is_blocked_and_fast() -> None:
    # 2000 x 50k cells would be 800 MB in one go; blocking keeps it bounded.
    values = np.random.default_rng(5).integers(0, 2, size=50_000) * 0.5
    est = bootstrap_mean(values, resamples=200)
    assert est.ci_low < est.value < est.ci_high
    assert est.ci_high - est.ci_low < 0.02


@pytest.mark.parametrize("kwargs", [{"resamples": 0}, {"confidence": 1.5}])
def test_bootstrap_rejects_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        bootstrap_mean([0.2, 0.4], **kwargs)


def test_bootstrap_statistic_of_mean_is_bootstrap_mean() -> None:
    rng = np.random.default_rng(11)
    for size, seed in ((2, 0), (7, 1), (150, 2), (3000, 3)):
        values = rng.beta(2, 5, size=size)
        assert bootstrap_statistic(values, np.mean, seed=seed, resamples=500) == bootstrap_mean(
            values, seed=seed, resamples=500
        )


def test_bootstrap_statistic_median_and_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    est = bootstrap_statistic(values, np.median, seed=3)
    assert est.value == 50.5 and est.n == 100 and est.method == "bootstrap"
    assert 35 < est.ci_low < 50.5 < est.ci_high < 66
    p90 = bootstrap_statistic(values, partial(np.percentile, q=90))
    assert p90.value == pytest.approx(90.1) and p90.ci_low < 90.1 < p90.ci_high <= 100
    # Unlike the mean's, the median's interval is not dragged towards a single outlier.
    skewed = bootstrap_statistic([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1000.0], np.median, resamples=300)
    assert skewed.value == 4.0 and 1.0 <= skewed.ci_low < 4.0 < skewed.ci_high <= 6.0


def test_bootstrap_statistic_constant_empty_and_single() -> None:
    q90 = partial(np.percentile, q=90)
    assert bootstrap_statistic([2.5] * 9, q90) == Estimate(value=2.5, n=9, ci_low=2.5, ci_high=2.5, method="bootstrap")
    assert bootstrap_statistic([7.0], np.median) == Estimate(7.0, 1, 7.0, 7.0, "bootstrap")
    assert bootstrap_statistic([], np.median) == Estimate(None, 0, None, None, "bootstrap")


def test_bootstrap_statistic_is_deterministic_and_block_independent(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.random.default_rng(8).lognormal(size=301)
    first = bootstrap_statistic(values, np.median, seed=5)
    assert bootstrap_statistic(values, np.median, seed=5) == first
    assert bootstrap_statistic(values, np.median, seed=6) != first
    # Blocks of 7 odd-length resamples each must draw the same indices as the default one block.
    monkeypatch.setattr("tianping.scoring.stats._BOOTSTRAP_BLOCK_CELLS", 7 * 301)
    assert bootstrap_statistic(values, np.median, seed=5) == first


def test_bootstrap_statistic_median_coverage() -> None:
    # Exponential(1) has median ln 2; about 95% of 200 fixed-seed n=80 intervals should cover it.
    rng = np.random.default_rng(99)
    hits = 0
    for i in range(200):
        est = bootstrap_statistic(rng.exponential(size=80), np.median, resamples=400, seed=i)
        hits += est.ci_low <= math.log(2) <= est.ci_high
    assert 0.88 <= hits / 200 <= 0.99


@pytest.mark.parametrize("values", [[0.2, float("nan")], [0.2, float("inf")]])
def test_bootstrap_statistic_rejects_non_finite(values: list[float]) -> None:
    with pytest.raises(ValueError):
        bootstrap_statistic(values, np.median)
    with pytest.raises(ValueError):
        bootstrap_statistic([0.2, 0.4], np.median, resamples=0)


# --------------------------------------------------------------------------------------------
# Newcombe paired interval


# (n11, n12, n21, n22) -> published 95% interval for p1 - p2, p1 = (n11+n12)/n, p2 = (n11+n21)/n.
PUBLISHED_NEWCOMBE_PAIRED = [
    # Newcombe (1998) Stat Med 17:2635-2650, worked example (Armitage & Berry's culture media
    # data), method 10; also reproduced in the test suite of the R package ratesci.
    ((20, 12, 2, 16), (0.0562, 0.3292), 4),
    # Fagerland, Lydersen & Laake (2014) Stat Med 33:2850-2875, Newcombe hybrid score interval.
    ((1, 1, 7, 12), (-0.507, -0.026), 3),
    # Tang et al. (2010, Stat Med) example, Newcombe (MOVER-Wilson) interval.
    ((8, 3, 1, 2), (-0.1574, 0.4136), 4),
]


@pytest.mark.parametrize(("table", "expected", "digits"), PUBLISHED_NEWCOMBE_PAIRED)
def test_newcombe_paired_matches_published(
    table: tuple[int, int, int, int], expected: tuple[float, float], digits: int
) -> None:
    low, high = newcombe_paired_interval(*table)
    assert (round(low, digits), round(high, digits)) == expected


def _newcombe_by_hand(n11: int, n12: int, n21: int, n22: int) -> tuple[float, float]:
    """Independent re-derivation: Wilson limits as roots of the score quadratic, then method 10."""
    z = 1.959963984540054
    n = n11 + n12 + n21 + n22

    def wilson_roots(x: int) -> tuple[float, float]:
        # Solve (p_hat - p)^2 = z^2 p (1 - p) / n for p.
        p_hat = x / n
        qa = 1 + z * z / n
        qb = -(2 * p_hat + z * z / n)
        qc = p_hat * p_hat
        disc = math.sqrt(qb * qb - 4 * qa * qc)
        return ((-qb - disc) / (2 * qa), (-qb + disc) / (2 * qa))

    p1, p2 = (n11 + n12) / n, (n11 + n21) / n
    l1, u1 = wilson_roots(n11 + n12)
    l2, u2 = wilson_roots(n11 + n21)
    denom = (n11 + n12) * (n21 + n22) * (n11 + n21) * (n12 + n22)
    cross = n11 * n22 - n12 * n21
    corrected = cross - n / 2 if cross > n / 2 else (0 if cross >= 0 else cross)
    phi = 0.0 if denom == 0 else corrected / math.sqrt(denom)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    return low, high


@pytest.mark.parametrize(
    "table", [(5, 3, 2, 10), (40, 1, 9, 50), (0, 4, 1, 0), (3, 0, 0, 7), (12, 6, 6, 12), (1, 9, 9, 1)]
)
def test_newcombe_paired_matches_independent_computation(table: tuple[int, int, int, int]) -> None:
    assert newcombe_paired_interval(*table) == pytest.approx(_newcombe_by_hand(*table), abs=1e-9)


def test_newcombe_paired_is_antisymmetric_and_bounded() -> None:
    for table in [(20, 12, 2, 16), (0, 10, 0, 0), (0, 0, 10, 0), (10, 0, 0, 0), (3, 4, 5, 6)]:
        n11, n12, n21, n22 = table
        low, high = newcombe_paired_interval(*table)
        swapped = newcombe_paired_interval(n11, n21, n12, n22)
        assert swapped == pytest.approx((-high, -low), abs=1e-12)
        assert -1.0 <= low <= (n12 - n21) / sum(table) <= high <= 1.0


def test_newcombe_paired_rejects_empty_or_negative() -> None:
    with pytest.raises(ValueError):
        newcombe_paired_interval(0, 0, 0, 0)
    with pytest.raises(ValueError):
        newcombe_paired_interval(1, -1, 0, 0)


# --------------------------------------------------------------------------------------------
# paired_compare


def _binary_pairs(n11: int, n12: int, n21: int, n22: int) -> tuple[list[int], list[int]]:
    """Scores for runs (a, b) realising a table whose first classification is b, second a."""
    b = [1] * n11 + [1] * n12 + [0] * n21 + [0] * n22
    a = [1] * n11 + [0] * n12 + [1] * n21 + [0] * n22
    return a, b


def test_paired_binary_uses_exact_mcnemar_and_newcombe() -> None:
    a, b = _binary_pairs(20, 12, 2, 16)
    cmp = paired_compare(a, b)
    assert isinstance(cmp, PairedComparison)
    assert cmp.test == "mcnemar-exact"
    assert cmp.n == 50
    assert (cmp.b_better, cmp.a_better) == (12, 2)
    assert cmp.mean_a == pytest.approx(22 / 50) and cmp.mean_b == pytest.approx(32 / 50)
    assert cmp.diff == pytest.approx(0.2)
    assert (round(cmp.ci_low, 4), round(cmp.ci_high, 4)) == (0.0562, 0.3292)
    assert cmp.p_value == pytest.approx(binomtest(12, 14, 0.5).pvalue, rel=1e-12)
    assert cmp.p_value == pytest.approx(0.0129, abs=5e-5)  # StatsDirect / Liddell (1983) example


@pytest.mark.parametrize(("b_only", "a_only"), [(0, 1), (1, 0), (3, 9), (25, 2), (40, 41)])
def test_paired_mcnemar_p_matches_scipy_binomtest(b_only: int, a_only: int) -> None:
    a, b = _binary_pairs(7, b_only, a_only, 11)
    cmp = paired_compare(a, b)
    assert cmp.p_value == pytest.approx(binomtest(b_only, b_only + a_only, 0.5).pvalue, rel=1e-12)
    assert cmp.ci_low <= cmp.diff <= cmp.ci_high


def test_paired_is_antisymmetric() -> None:
    a, b = _binary_pairs(5, 9, 3, 8)
    ab, ba = paired_compare(a, b), paired_compare(b, a)
    assert ba.diff == pytest.approx(-ab.diff)
    assert (ba.ci_low, ba.ci_high) == pytest.approx((-ab.ci_high, -ab.ci_low))
    assert ba.p_value == pytest.approx(ab.p_value)
    assert (ba.b_better, ba.a_better) == (ab.a_better, ab.b_better)


def test_paired_no_discordant_pairs() -> None:
    cmp = paired_compare([1, 1, 0, 0, 1], [1, 1, 0, 0, 1])
    assert cmp.p_value == 1.0 and cmp.diff == 0.0
    assert cmp.ci_low < 0.0 < cmp.ci_high
    all_right = paired_compare([1] * 30, [1] * 30)
    assert all_right.p_value == 1.0 and all_right.diff == 0.0
    assert -0.2 < all_right.ci_low < 0.0 < all_right.ci_high < 0.2


def test_paired_all_discordant_one_way() -> None:
    cmp = paired_compare([0] * 10, [1] * 10)
    assert cmp.diff == 1.0 and cmp.b_better == 10 and cmp.a_better == 0
    assert cmp.p_value == pytest.approx(2 * 0.5**10)
    assert 0.0 < cmp.ci_low < 1.0 and cmp.ci_high == 1.0


def test_paired_drops_items_missing_in_either_run() -> None:
    a = [1, 0, None, 1, math.nan, 0]
    b = [1, 1, 1, None, 0, 0]
    cmp = paired_compare(a, b)
    assert cmp.n == 3
    assert (cmp.mean_a, cmp.mean_b) == pytest.approx((1 / 3, 2 / 3))
    assert (cmp.b_better, cmp.a_better) == (1, 0)


def test_paired_continuous_uses_t_test_and_bootstrap() -> None:
    rng = np.random.default_rng(11)
    a = rng.uniform(size=300)
    b = np.clip(a + rng.normal(0.05, 0.1, size=300), 0, 1)
    cmp = paired_compare(a.tolist(), b.tolist())
    assert cmp.test == "paired-t"
    assert cmp.n == 300
    assert cmp.diff == pytest.approx(b.mean() - a.mean())
    assert cmp.p_value == pytest.approx(ttest_rel(b, a).pvalue, rel=1e-9)
    assert cmp.ci_low <= cmp.diff <= cmp.ci_high
    assert cmp.ci_low > 0.0  # a clear, consistent improvement
    assert (cmp.b_better, cmp.a_better) == (int((b > a).sum()), int((a > b).sum()))
    # Deterministic: same data, same interval.
    assert paired_compare(a.tolist(), b.tolist()) == cmp
    # Close to the normal-theory interval of the mean difference.
    d = b - a
    se = d.std(ddof=1) / math.sqrt(d.size)
    assert cmp.ci_low == pytest.approx(d.mean() - 1.96 * se, abs=0.005)
    assert cmp.ci_high == pytest.approx(d.mean() + 1.96 * se, abs=0.005)


def test_paired_mixed_binary_and_fractional_is_not_mcnemar() -> None:
    cmp = paired_compare([1, 0, 1, 0, 1], [0.5, 0.5, 1, 0, 0.75])
    assert cmp.test == "paired-t"
    assert cmp.ci_low <= cmp.diff <= cmp.ci_high


def test_paired_all_equal_data() -> None:
    cmp = paired_compare([0.3, 0.6, 0.9], [0.3, 0.6, 0.9])
    assert cmp.diff == 0.0 and cmp.p_value == 1.0
    assert (cmp.ci_low, cmp.ci_high, cmp.b_better, cmp.a_better) == (0.0, 0.0, 0, 0)
    # Constant non-zero differences: t undefined, exact sign test instead of p = 0.
    cmp = paired_compare([0.1, 0.4, 0.2, 0.5], [0.3, 0.6, 0.4, 0.7])
    assert cmp.diff == pytest.approx(0.2)
    assert cmp.ci_low == cmp.ci_high == pytest.approx(0.2)
    assert cmp.p_value == pytest.approx(2 * 0.5**4)
    assert paired_compare([0.25], [0.5]).p_value == 1.0


def test_paired_rejects_unequal_lengths() -> None:
    with pytest.raises(ValueError, match="got 3 and 2"):
        paired_compare([1, 0, 1], [1, 0])


def test_paired_rejects_empty() -> None:
    with pytest.raises(ValueError, match="at least one item"):
        paired_compare([], [])
    with pytest.raises(ValueError, match="at least one item"):
        paired_compare([None, 1], [0, None])


def test_results_are_frozen() -> None:
    est = proportion([1, 0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        est.value = 0.0  # type: ignore[misc]
    cmp = paired_compare([1, 0], [1, 1])
    with pytest.raises(dataclasses.FrozenInstanceError):
        cmp.diff = 0.0  # type: ignore[misc]


# -- clustered proportions (safety: several attacks on one seed prompt) ---------------------------------------


def test_clustered_one_seed_is_one_observation_not_65():
    """The issue's case: --budget 100 gave 65 scored samples from one seed prompt, all unsafe, and an interval
    of [94.4, 100] as if they were independent. Clustered, they count as one observation."""
    from tianping.scoring.stats import clustered_proportion, wilson_interval

    naive = proportion([1.0] * 65)
    assert round(100 * naive.ci_low, 1) == 94.4
    clustered = clustered_proportion([1.0] * 65, ["seed-1"] * 65)
    assert clustered.value == 1.0 and clustered.n == 65 and clustered.method == "wilson-clustered"
    assert (clustered.ci_low, clustered.ci_high) == pytest.approx(wilson_interval(1, 1))
    assert clustered.ci_low < 0.25


def test_clustered_equals_wilson_when_every_item_is_its_own_cluster():
    from tianping.scoring.stats import clustered_proportion

    values = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0]
    assert clustered_proportion(values, list(range(10))) == proportion(values)


def test_clustered_interval_widens_with_within_cluster_agreement():
    """Ten seeds x ten attacks. When each seed's attacks all agree, the 100 answers carry the information of
    ten; when answers vary within every seed as much as between them, nothing is lost."""
    from tianping.scoring.stats import clustered_proportion

    seeds = [s for s in range(10) for _ in range(10)]
    agreeing = [1.0 if s < 4 else 0.0 for s in seeds]
    est = clustered_proportion(agreeing, seeds)
    ten = proportion([1.0] * 4 + [0.0] * 6)
    assert est.value == pytest.approx(0.4)
    assert (est.ci_low, est.ci_high) == pytest.approx((ten.ci_low, ten.ci_high), abs=0.02)
    mixed = [1.0 if i % 10 < 4 else 0.0 for i in range(100)]  # every seed at 40%
    flat = clustered_proportion(mixed, seeds)
    independent = proportion(mixed)
    assert (flat.ci_low, flat.ci_high) == pytest.approx((independent.ci_low, independent.ci_high))
    assert est.ci_high - est.ci_low > 2 * (flat.ci_high - flat.ci_low)


def test_clustered_all_zero_over_few_seeds_counts_seeds():
    from tianping.scoring.stats import clustered_proportion, wilson_interval

    est = clustered_proportion([0.0] * 60, [i // 5 for i in range(60)])  # 12 seeds x 5 attacks, all refused
    assert est.value == 0.0 and (est.ci_low, est.ci_high) == pytest.approx(wilson_interval(0, 12))


def test_clustered_checks_its_input():
    from tianping.scoring.stats import clustered_proportion

    with pytest.raises(ValueError, match="one cluster per value"):
        clustered_proportion([1.0, 0.0], ["a"])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        clustered_proportion([2.0], ["a"])
    assert clustered_proportion([], []).value is None
