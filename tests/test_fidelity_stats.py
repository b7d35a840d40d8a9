"""The fidelity verdict's statistics, checked by seeded simulation: a provider that lost 5 points is called
degraded, a faithful one consistent, and the faithful one is called degraded no more often than the test's
nominal false-positive rate; the minimum detectable difference matches simulated power."""

from __future__ import annotations

import numpy as np
import pytest

from tianping.fidelity.stats import fidelity_compare, mcnemar_exact, minimum_detectable_difference

PACK_SIZE = 400
UNSTABLE = 0.04
"""Items whose greedy answer flips between two faithful deployments (batching, kernels): about 2% of pairs then
disagree, a conservative reading of what vLLM-vs-vLLM reruns show."""


def _simulate(seed: int, drop: float, n: int = PACK_SIZE) -> tuple[list[int], list[int]]:
    """Reference and provider scores of one model (65% accurate) on ``n`` items; the provider then loses exactly
    ``round(drop * n)`` of its right answers (a quantized copy: right mostly where the original is)."""
    rng = np.random.default_rng(seed)
    chance = np.where(rng.random(n) < 0.65, 1.0, 0.0)
    chance[rng.random(n) < UNSTABLE] = 0.5
    reference = (rng.random(n) < chance).astype(int)
    provider = (rng.random(n) < chance).astype(int)
    lost = round(drop * n)
    if lost:
        provider[rng.choice(np.flatnonzero(provider == 1), lost, replace=False)] = 0
    return reference.tolist(), provider.tolist()


def test_a_provider_five_points_down_is_called_degraded_in_at_least_95_of_100_simulations() -> None:
    verdicts = [fidelity_compare(*_simulate(seed, 0.05)).verdict for seed in range(100)]
    assert verdicts.count("degraded") >= 95, verdicts
    assert "consistent" not in verdicts


def test_a_faithful_provider_is_consistent_in_95_of_100_and_degraded_no_more_than_alpha() -> None:
    verdicts = [fidelity_compare(*_simulate(1000 + seed, 0.0)).verdict for seed in range(100)]
    assert verdicts.count("consistent") >= 95, verdicts
    # a bigger sample for the rate: "degraded" is the lower tail of a two-sided test at 0.05, so <= 0.05
    many = [fidelity_compare(*_simulate(5000 + seed, 0.0)).verdict for seed in range(1000)]
    assert many.count("degraded") / len(many) <= 0.05


def test_identical_answers_are_consistent_and_a_clear_loss_is_degraded_with_its_evidence() -> None:
    ref = [1] * 300 + [0] * 100
    same = fidelity_compare(ref, list(ref))
    assert same.verdict == "consistent" and same.p_value == 1.0 and same.diff == 0.0
    worse = list(ref)
    worse[:20] = [0] * 20
    result = fidelity_compare(ref, worse)
    assert result.verdict == "degraded"
    assert result.reference_better == 20 and result.provider_better == 0
    assert result.diff == pytest.approx(-0.05)
    assert result.p_value == pytest.approx(2 * 0.5**20)
    assert "p = " in result.evidence and "-5.0 pts" in result.evidence


def test_too_few_items_to_rule_out_a_drop_is_inconclusive_and_a_higher_score_is_not_consistent() -> None:
    assert fidelity_compare([1, 0, 1, 0, 1], [1, 0, 1, 0, 0]).verdict == "inconclusive"
    ref = [0] * 100 + [1] * 300
    better = list(ref)
    better[:30] = [1] * 30
    result = fidelity_compare(ref, better)
    assert result.verdict == "inconclusive" and "HIGHER" in result.evidence


def test_mcnemar_exact_is_the_two_sided_binomial_test_of_the_discordant_pairs() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 0) == pytest.approx(2 / 32)
    assert mcnemar_exact(3, 3) == 1.0
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_the_minimum_detectable_difference_has_the_power_it_claims_in_simulation() -> None:
    mdd = minimum_detectable_difference(PACK_SIZE, discordance=UNSTABLE / 2)
    assert 0.01 < mdd < 0.04
    hits = sum(fidelity_compare(*_simulate(seed, mdd)).verdict == "degraded" for seed in range(400))
    assert 0.65 <= hits / 400 <= 0.95  # nominal power 0.8; Connor's approximation, rounded drops
    assert minimum_detectable_difference(100) > minimum_detectable_difference(400)
    assert minimum_detectable_difference(3) == 1.0


def test_scores_that_are_not_right_or_wrong_or_do_not_pair_are_refused() -> None:
    with pytest.raises(ValueError, match="0/1"):
        fidelity_compare([0.5, 1], [1, 1])
    with pytest.raises(ValueError, match="one per item"):
        fidelity_compare([1], [1, 0])
    with pytest.raises(ValueError, match="no items"):
        fidelity_compare([], [])
