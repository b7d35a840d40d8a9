"""Log-probability agreement: the simulation-derived threshold holds its false-positive rate on faithful noise,
finds a quantization-sized shift, and the alignment pairs only the tokens both endpoints generated."""

from __future__ import annotations

import numpy as np
import pytest

from fidelity_fakes import FAITHFUL_SD, QUANTIZED_SD, simulated_replies
from tianping.fidelity.logprob_signal import (
    FPR,
    MIN_ALIGNED,
    NOISE_FLOOR,
    aligned_deltas,
    compare_logprobs,
    null_threshold,
)
from tianping.fidelity.sample import Reply, TokenLogprob


def test_faithful_noise_at_the_floor_is_flagged_at_about_the_nominal_rate_for_every_length() -> None:
    rng = np.random.default_rng(7)
    for n, on_grid in ((20, True), (200, True), (57, False), (791, False)):
        deltas = rng.normal(0.0, NOISE_FLOOR, (20_000, n))
        rate = float((np.abs(deltas).mean(axis=1) > null_threshold(n, NOISE_FLOOR)).mean())
        if on_grid:  # a simulated count: the rate is the nominal one, within simulation error
            assert 0.5 * FPR <= rate <= 1.5 * FPR, (n, rate)
        else:  # judged at the grid point below, whose threshold is higher: at most the nominal rate
            assert rate <= 1.3 * FPR, (n, rate)


def test_a_quantization_sized_shift_is_found_in_almost_every_probe_and_faithful_replies_are_not() -> None:
    flagged = {"faithful": 0, "quantized": 0}
    for seed in range(100):
        reference = simulated_replies(seed, noise_seed=0, sd=FAITHFUL_SD)
        for kind, sd in (("faithful", FAITHFUL_SD), ("quantized", QUANTIZED_SD)):
            result = compare_logprobs(reference, simulated_replies(seed, noise_seed=1, sd=sd))
            flagged[kind] += bool(result.flagged)
    assert flagged == {"faithful": 0, "quantized": 100}


def test_measured_reference_noise_above_the_floor_raises_the_threshold() -> None:
    reference = simulated_replies(3, noise_seed=0, sd=0.0)
    noisy_again = simulated_replies(3, noise_seed=5, sd=0.05)  # a reference that wobbles 0.05 nats by itself
    candidate = simulated_replies(3, noise_seed=6, sd=0.05)
    plain = compare_logprobs(reference, candidate)
    measured = compare_logprobs(reference, candidate, noisy_again)
    assert plain.flagged is True  # against the floor alone, the candidate's wobble looks like a shift
    assert measured.flagged is False and measured.noise_sd == pytest.approx(0.05, rel=0.15)
    assert "reference asked twice" in measured.evidence


def _reply(tokens: list[tuple[str, float]], prompt: int = 0) -> Reply:
    rows = [TokenLogprob(t, v, {t: v}) for t, v in tokens]
    return Reply(prompt, "".join(t for t, _ in tokens), len(rows), None, "stop", "m", None, rows)


def test_only_the_common_prefix_is_paired_and_too_little_of_it_is_no_evidence() -> None:
    ref = [("a", -0.1), ("b", -0.2), ("c", -0.3), ("d", -0.4)]
    cand = [("a", -0.15), ("b", -0.2), ("x", -5.0), ("d", -0.4)]
    deltas, overlaps = aligned_deltas(_reply(ref).logprobs or [], _reply(cand).logprobs or [])
    assert deltas == pytest.approx([-0.05, 0.0]) and overlaps == [1.0, 1.0]
    short = compare_logprobs([_reply(ref)], [_reply(cand)])
    assert short.flagged is None and short.aligned == 2 and f"< {MIN_ALIGNED}" in short.evidence
    none = compare_logprobs([_reply(ref)], [Reply(0, "abcd", 4, None, "stop", "m", None, None)])
    assert none.available is False and none.flagged is None


def test_the_threshold_rejects_impossible_arguments() -> None:
    with pytest.raises(ValueError):
        null_threshold(0, 0.02)
    with pytest.raises(ValueError):
        null_threshold(10, 0.02, fpr=1.0)
