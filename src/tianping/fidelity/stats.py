"""The statistics of a fidelity verdict: is this provider's model the reference's model, item by item?

Every provider answers the same fixed items as the reference, greedily, so the two runs are paired. Only the
items they disagree on (discordant pairs) say anything about a difference in accuracy, so the test is the exact
McNemar test: under "same model", an item the provider got wrong and the reference right is as likely as the
reverse, and ``provider_better`` out of the discordant items is Binomial(d, 1/2). The interval of the
difference is Newcombe's paired score interval (:mod:`tianping.scoring.stats`).

Verdict rule (``alpha`` 0.05, ``tolerance`` 3 points by default; see docs/fidelity.md):

* degraded -- the provider scores lower and the two-sided exact McNemar p is below ``alpha``;
* consistent -- not degraded, and the interval's lower end rules out a drop larger than ``tolerance``:
  "no difference" alone is not evidence of sameness when the pack is too small to see one;
* inconclusive -- anything else (too few items, a wide interval, or a provider that scores *significantly
  higher* than the reference, which is not the reference's behaviour either and is reported as such).

The minimum detectable difference (MDD) is the accuracy drop the test finds with probability ``power`` at the
pack's size: Connor's (1987) normal approximation of McNemar's test,
``n d^2 = (z_a sqrt(psi) + z_b sqrt(psi - d^2))^2``, solved for ``d``, where ``psi`` is the probability that a
pair is discordant. A degraded provider disagrees with the reference on the ``d`` items it lost on top of the
pairs two faithful deployments disagree on anyway (nondeterministic kernels, batching), so ``psi = noise + d``,
with the noise estimated from the run as ``2 * min(discordant counts) / n`` (the part of the disagreement that
cancels out); the tests check the result against simulated power.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from tianping.scoring.stats import newcombe_paired_interval, wilson_interval

__all__ = [
    "VERDICTS",
    "FidelityResult",
    "fidelity_compare",
    "mcnemar_exact",
    "minimum_detectable_difference",
]

VERDICTS = ("consistent", "degraded", "inconclusive")


@dataclass(frozen=True, slots=True)
class FidelityResult:
    """A provider against the reference on the items both scored; ``diff`` = provider - reference."""

    n: int
    reference_acc: float
    provider_acc: float
    provider_ci: tuple[float, float]
    """Wilson interval of the provider's accuracy."""
    diff: float
    diff_ci: tuple[float, float]
    """Newcombe paired interval of ``diff``."""
    provider_better: int
    reference_better: int
    p_value: float
    """Two-sided exact McNemar p."""
    mdd: float
    """Drop the test detects with probability ``power`` at this ``n`` (accuracy fraction)."""
    verdict: str
    evidence: str


def mcnemar_exact(reference_better: int, provider_better: int) -> float:
    """Two-sided exact McNemar p: a binomial test of the discordant counts against 1/2 (1.0 with none)."""
    if reference_better < 0 or provider_better < 0:
        raise ValueError(f"discordant counts must be non-negative, got {reference_better}, {provider_better}")
    d = reference_better + provider_better
    if d == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(provider_better, d, 0.5).pvalue)


def minimum_detectable_difference(n: int, discordance: float = 0.0, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest accuracy drop (fraction) a two-sided McNemar test at ``alpha`` detects with ``power`` over ``n``
    paired items, when a fraction ``discordance`` of pairs disagree without any drop (Connor 1987, solved by
    bisection; ``psi = discordance + d``: the lost items disagree on top of the pairs that disagree anyway)."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not (0.0 <= discordance <= 1.0):
        raise ValueError(f"discordance must be within [0, 1], got {discordance}")
    if not (0.0 < alpha < 1.0 and 0.0 < power < 1.0):
        raise ValueError(f"alpha and power must be in (0, 1), got {alpha}, {power}")
    za = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    zb = NormalDist().inv_cdf(power)

    def needed(d: float) -> float:
        psi = min(1.0, discordance + d)
        return (za * math.sqrt(psi) + zb * math.sqrt(max(0.0, psi - d * d))) ** 2 / (d * d)

    low, high = 1e-6, 1.0
    if needed(high) > n:
        return 1.0  # not even a drop from all right to all wrong is detectable with so few items
    for _ in range(60):  # needed(d) falls as d grows: find where it crosses n
        mid = (low + high) / 2.0
        if needed(mid) > n:
            low = mid
        else:
            high = mid
    return high


def fidelity_compare(
    reference: Sequence[float],
    provider: Sequence[float],
    *,
    alpha: float = 0.05,
    tolerance: float = 0.03,
    power: float = 0.8,
) -> FidelityResult:
    """Pair 0/1 scores of the same items (``reference[i]`` and ``provider[i]`` are one item) and give the verdict.

    Raises:
        ValueError: on unequal lengths, no items, or a score that is not 0 or 1.
    """
    if len(reference) != len(provider):
        raise ValueError(f"paired scores need one per item in both: got {len(reference)} and {len(provider)}")
    n = len(reference)
    if n == 0:
        raise ValueError("no items scored by both the reference and the provider")
    if any(v not in (0, 1) for v in reference) or any(v not in (0, 1) for v in provider):
        raise ValueError("fidelity needs right/wrong (0/1) scores; partial-credit benchmarks are not paired here")
    both = sum(1 for r, p in zip(reference, provider, strict=True) if r and p)
    ref_only = sum(1 for r, p in zip(reference, provider, strict=True) if r and not p)
    prov_only = sum(1 for r, p in zip(reference, provider, strict=True) if p and not r)
    neither = n - both - ref_only - prov_only
    ref_acc, prov_acc = (both + ref_only) / n, (both + prov_only) / n
    diff = prov_acc - ref_acc
    diff_ci = newcombe_paired_interval(both, prov_only, ref_only, neither)
    p = mcnemar_exact(ref_only, prov_only)
    mdd = minimum_detectable_difference(n, 2 * min(ref_only, prov_only) / n, alpha, power)
    counts = f"{n} items: provider right where the reference was wrong on {prov_only}, the reverse on {ref_only}"
    interval = f"difference {100 * diff:+.1f} pts (95% CI {100 * diff_ci[0]:+.1f} to {100 * diff_ci[1]:+.1f})"
    stats = f"{counts}; {interval}; exact McNemar p = {p:.3g}; detectable drop at this size {100 * mdd:.1f} pts"
    if p < alpha and diff < 0:
        verdict, why = "degraded", f"significantly lower than the reference (p < {alpha:g})"
    elif p < alpha:
        verdict, why = "inconclusive", "significantly HIGHER than the reference: not the reference's behaviour"
    else:
        ruled_out = diff_ci[0] >= -tolerance
        verdict = "consistent" if ruled_out else "inconclusive"
        why = f"no significant difference, {'and' if ruled_out else 'but'} a drop over {100 * tolerance:g} pts "
        why += "is ruled out" if ruled_out else "is not ruled out"
    return FidelityResult(
        n=n,
        reference_acc=ref_acc,
        provider_acc=prov_acc,
        provider_ci=wilson_interval(both + prov_only, n),
        diff=diff,
        diff_ci=diff_ci,
        provider_better=prov_only,
        reference_better=ref_only,
        p_value=p,
        mdd=mdd,
        verdict=verdict,
        evidence=f"{why}: {stats}",
    )
