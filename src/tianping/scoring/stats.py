"""Point estimates with their N and a confidence interval, and paired comparisons of two runs.

Every number tianping shows carries the number of items behind it and a 95% interval, because a
benchmark score without its uncertainty invites reading noise as progress. The choices here:

* Binary scores (correct / wrong) use the Wilson score interval: unlike the Wald interval it
  never leaves [0, 1], is not degenerate at 0% or 100%, and keeps close to nominal coverage at
  the small N of a benchmark subset (Newcombe 1998, "Two-sided confidence intervals for the
  single proportion").
* Fractional scores (partial credit, F1, ...) use a percentile bootstrap of the mean, which
  needs no distributional assumption about bounded, lumpy score distributions.
* Items that come in clusters (several attacks on one seed prompt of the safety suite) are not
  independent: a Wilson interval over N such items is far too narrow when they share few seeds.
  :func:`clustered_proportion` shrinks N to an effective size by the design effect (Kish 1965),
  estimated with the cluster-robust variance of the mean.
* Two runs over the same items are compared *paired*, item by item, which removes the
  between-item variance that dominates benchmark scores and so detects far smaller real
  differences than comparing two independent intervals. Binary data use the exact McNemar test
  and Newcombe's hybrid score interval for the difference of paired proportions; other data
  use a paired bootstrap interval and a paired t-test (see :func:`paired_compare`).

numpy is imported here; scipy is imported inside the functions that need it, so that importing
this module (and starting the CLI) stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


__all__ = [
    "Estimate",
    "PairedComparison",
    "bootstrap_mean",
    "bootstrap_statistic",
    "clustered_proportion",
    "newcombe_paired_interval",
    "paired_compare",
    "proportion",
    "wilson_interval",
]

# Upper bound on the number of float64 cells one bootstrap block materialises (resamples x n),
# so that a 2000-resample bootstrap of a 100k-item run needs ~32 MB rather than ~1.6 GB.
_BOOTSTRAP_BLOCK_CELLS = 4_000_000


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate together with the N behind it and its confidence interval.

    ``value``, ``ci_low`` and ``ci_high`` are ``None`` when ``n == 0``: there is nothing to
    estimate, and a made-up 0.0 would be indistinguishable from a real score of zero.
    """

    value: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    method: str
    """How the interval was computed: ``"wilson"`` or ``"bootstrap"``."""


@dataclass(frozen=True, slots=True)
class PairedComparison:
    """Run B against run A on the same items; positive ``diff`` means B scored higher."""

    n: int
    """Paired items: present and scored in both runs."""
    mean_a: float
    mean_b: float
    diff: float
    """``mean_b - mean_a``."""
    ci_low: float
    ci_high: float
    """Confidence interval of the paired difference (95% by default)."""
    p_value: float
    """Two-sided p-value for "no difference" from the test named in ``test``."""
    test: str
    """``"mcnemar-exact"`` for binary data, ``"paired-t"`` otherwise."""
    b_better: int
    """Items where b > a."""
    a_better: int
    """Items where a > b."""


def _z(confidence: float) -> float:
    """Two-sided standard-normal quantile; stdlib ``NormalDist`` avoids importing scipy."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``successes / n``.

    Chosen over the textbook Wald interval (p +- z*sqrt(p(1-p)/n)) because Wald collapses to a
    zero-width interval at 0/n and n/n -- exactly when a small subset is all wrong or all right
    -- and undercovers badly for small n. Wilson stays inside [0, 1] and at 100/100 still says
    "the true rate could be as low as ~0.963".

    ``successes`` may be fractional (the formula is continuous in it). With ``n == 0`` the
    formula gives the uninformative (0, 1), which is returned as such.

    Raises:
        ValueError: if ``n < 0``, ``successes`` is outside ``[0, n]`` or ``confidence`` is not in
            (0, 1).
    """
    z = _z(confidence)
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if not (math.isfinite(successes) and 0 <= successes <= n):
        raise ValueError(f"successes must be within [0, n={n}], got {successes!r}")
    if n == 0:
        return (0.0, 1.0)
    z2 = z * z
    denom = n + z2
    centre = (successes + z2 / 2.0) / denom
    half = (z / denom) * math.sqrt(successes * (n - successes) / n + z2 / 4.0)
    # Pin the ends exactly: rounding in centre - half must not turn 0/n into a lower limit of
    # 1e-17 or n/n into an upper limit of 0.9999999999999999.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def _as_float_array(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    import numpy as np

    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a flat sequence of numbers, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _is_binary(arr: np.ndarray) -> bool:
    import numpy as np

    return bool(np.all((arr == 0.0) | (arr == 1.0)))


def proportion(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Mean of per-item scores in [0, 1], with an interval suited to how the scores look.

    All values 0 or 1 -> a binomial proportion with the Wilson interval. Any fractional value
    (partial credit) -> the data are not binomial and Wilson would be too narrow or too wide
    depending on the spread, so fall back to :func:`bootstrap_mean`.

    Raises:
        ValueError: if a value is NaN, infinite or outside [0, 1].
    """
    values = list(values)
    if values and all(v == 0 or v == 1 for v in values):
        # right/wrong scores, the common case: no numpy, which the CLI would otherwise import just for this
        successes = float(sum(values))
        low, high = wilson_interval(successes, len(values), confidence)
        return Estimate(value=successes / len(values), n=len(values), ci_low=low, ci_high=high, method="wilson")
    import numpy as np

    arr = _as_float_array(values, "values")
    n = int(arr.size)
    if n == 0:
        _z(confidence)  # still reject a bad confidence level
        return Estimate(value=None, n=0, ci_low=None, ci_high=None, method="wilson")
    if np.any((arr < 0.0) | (arr > 1.0)):
        raise ValueError("proportion() needs values in [0, 1]; use bootstrap_mean() for other scales")
    if not _is_binary(arr):
        return bootstrap_mean(arr, confidence=confidence)
    successes = float(arr.sum())
    low, high = wilson_interval(successes, n, confidence)
    return Estimate(value=successes / n, n=n, ci_low=low, ci_high=high, method="wilson")


def _bootstrap_statistics(
    arr: np.ndarray, statistic: Callable[..., Any], resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """``statistic`` of ``resamples`` with-replacement resamples of ``arr``, computed in bounded blocks.

    The index stream does not depend on the block size (numpy draws bounded int64s word by word),
    so the memory bound never changes a result.
    """
    import numpy as np

    n = arr.size
    block = max(1, _BOOTSTRAP_BLOCK_CELLS // n)
    out = np.empty(resamples, dtype=float)
    for start in range(0, resamples, block):
        stop = min(resamples, start + block)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = statistic(arr[idx], axis=1)
    return out


def _bootstrap_means(arr: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``resamples`` with-replacement resamples of ``arr``, computed in bounded blocks."""
    import numpy as np

    return _bootstrap_statistics(arr, np.mean, resamples, rng)


def _percentile_interval(samples: np.ndarray, point: float, confidence: float) -> tuple[float, float]:
    import numpy as np

    alpha = 1.0 - confidence
    low, high = np.quantile(samples, [alpha / 2.0, 1.0 - alpha / 2.0])
    # The point estimate is reported next to its interval, so it must lie inside it. A
    # percentile interval can miss it only by float rounding (or in absurdly skewed tiny
    # samples); widening to include it is the honest fix in both cases.
    return (min(float(low), point), max(float(high), point))


def _bootstrap_input(values: Sequence[float] | np.ndarray, confidence: float, resamples: int) -> np.ndarray:
    _z(confidence)
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    return _as_float_array(values, "values")


def bootstrap_statistic(
    values: Sequence[float] | np.ndarray,
    statistic: Callable[..., Any],
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Any statistic of the values with a percentile-bootstrap interval; deterministic for a ``seed``.

    ``statistic`` is a numpy-style reduction: ``statistic(x)`` gives the point estimate of the 1-D
    array ``x`` and ``statistic(x2d, axis=1)`` one value per row, e.g. ``np.median`` or
    ``functools.partial(np.percentile, q=90)``. Resampling is the same as :func:`bootstrap_mean`'s
    (same seed, same resamples), so ``bootstrap_statistic(v, np.mean)`` reproduces its interval.
    The interval always contains the point estimate; with all values equal it is the point itself,
    since every resample is then the same data.

    Raises:
        ValueError: if a value is NaN or infinite, ``resamples < 1``, or ``confidence`` is not
            in (0, 1).
    """
    import numpy as np

    arr = _bootstrap_input(values, confidence, resamples)
    n = int(arr.size)
    if n == 0:
        return Estimate(value=None, n=0, ci_low=None, ci_high=None, method="bootstrap")
    point = float(statistic(arr))
    if np.all(arr == arr[0]):
        return Estimate(value=point, n=n, ci_low=point, ci_high=point, method="bootstrap")
    samples = _bootstrap_statistics(arr, statistic, resamples, np.random.default_rng(seed))
    low, high = _percentile_interval(samples, point, confidence)
    return Estimate(value=point, n=n, ci_low=low, ci_high=high, method="bootstrap")


def bootstrap_mean(
    values: Sequence[float] | np.ndarray, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> Estimate:
    """Mean with a percentile-bootstrap interval; deterministic for a given ``seed``.

    Used for scores that are not 0/1 (partial credit, similarity metrics), where no simple
    parametric interval fits bounded, lumpy distributions. The resampling is vectorised with
    numpy (in memory-bounded blocks), and seeded so the same data always produce the same
    interval -- a report must not change when it is re-rendered. When all values are equal the
    interval is that value exactly.

    Raises:
        ValueError: if a value is NaN or infinite, ``resamples < 1``, or ``confidence`` is not
            in (0, 1).
    """
    import numpy as np

    arr = _bootstrap_input(values, confidence, resamples)
    if arr.size and np.all(arr == arr[0]):
        # The value itself, not np.mean of it: the float mean of equal values can be an ulp off.
        value = float(arr[0])
        return Estimate(value=value, n=int(arr.size), ci_low=value, ci_high=value, method="bootstrap")
    return bootstrap_statistic(arr, np.mean, confidence, resamples, seed)


def newcombe_paired_interval(n11: int, n12: int, n21: int, n22: int, confidence: float = 0.95) -> tuple[float, float]:
    """Newcombe's hybrid score interval (method 10) for a difference of paired proportions.

    The 2x2 table classifies each of ``n`` items twice (first and second classification):
    ``n11`` success in both, ``n12`` success only in the first, ``n21`` success only in the
    second, ``n22`` success in neither. The interval is for ``p1 - p2`` with
    ``p1 = (n11 + n12) / n`` and ``p2 = (n11 + n21) / n``.

    Method 10 of Newcombe (1998), "Improved confidence intervals for the difference between
    binomial proportions based on paired data", Stat Med 17:2635-2650: combine the Wilson
    intervals (l1, u1), (l2, u2) of the two marginal proportions by "square and add", corrected
    by the (continuity-adjusted) phi correlation of the table:

        L = D - sqrt((p1 - l1)^2 - 2 phi (p1 - l1)(u2 - p2) + (u2 - p2)^2)
        U = D + sqrt((u1 - p1)^2 - 2 phi (u1 - p1)(p2 - l2) + (p2 - l2)^2)

    It was chosen over the Wald interval (which is degenerate with no discordant pairs and
    overshoots [-1, 1]) because it has good coverage for small n, never leaves [-1, 1], and is
    closed form. Fagerland, Lydersen & Laake (2014, Stat Med 33:2850-2875) recommend it among
    the closed-form intervals for paired proportions.
    """
    counts = (n11, n12, n21, n22)
    if any(c < 0 for c in counts):
        raise ValueError(f"table counts must be non-negative, got {counts}")
    n = n11 + n12 + n21 + n22
    if n == 0:
        raise ValueError("the paired table is empty (n == 0)")
    r1, r2 = n11 + n12, n21 + n22  # first classification: successes, failures
    c1, c2 = n11 + n21, n12 + n22  # second classification: successes, failures
    p1, p2 = r1 / n, c1 / n
    l1, u1 = wilson_interval(r1, n, confidence)
    l2, u2 = wilson_interval(c1, n, confidence)

    # Newcombe's phi: the table's correlation, shrunk towards zero by n/2 in the numerator
    # (a continuity adjustment) and taken as zero when a margin is empty (phi undefined).
    margins = float(r1) * r2 * c1 * c2
    if margins == 0.0:
        phi = 0.0
    else:
        cross = n11 * n22 - n12 * n21
        if cross > n / 2.0:
            adjusted = cross - n / 2.0
        elif cross >= 0:
            adjusted = 0.0
        else:
            adjusted = float(cross)
        phi = adjusted / math.sqrt(margins)

    diff = p1 - p2
    dl1, du2 = p1 - l1, u2 - p2
    du1, dl2 = u1 - p1, p2 - l2
    lower = diff - math.sqrt(max(0.0, dl1 * dl1 - 2.0 * phi * dl1 * du2 + du2 * du2))
    upper = diff + math.sqrt(max(0.0, du1 * du1 - 2.0 * phi * du1 * dl2 + dl2 * dl2))
    return (max(-1.0, lower), min(1.0, upper))


def _pair_up(a: Sequence[float | None], b: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    """Align two per-item score lists, keeping items scored in both (None/NaN = not scored)."""
    import numpy as np

    if len(a) != len(b):
        raise ValueError(f"paired comparison needs one score per item in both runs: got {len(a)} and {len(b)} values")
    xa = np.array([np.nan if v is None else v for v in a], dtype=float)
    xb = np.array([np.nan if v is None else v for v in b], dtype=float)
    if np.any(np.isinf(xa)) or np.any(np.isinf(xb)):
        raise ValueError("paired comparison got infinite scores")
    keep = ~(np.isnan(xa) | np.isnan(xb))
    return xa[keep], xb[keep]


def paired_compare(a: Sequence[float | None], b: Sequence[float | None], confidence: float = 0.95) -> PairedComparison:
    """Compare run B with run A item by item; ``diff = mean_b - mean_a``.

    ``a[i]`` and ``b[i]`` must be the same item. An item missing (``None`` or NaN) in either run
    is dropped from both, so N counts only items scored in both runs.

    Binary data (every kept score 0 or 1): only the discordant items carry information about
    the difference, so the test is the exact McNemar test -- a two-sided binomial test of
    ``b_better`` out of ``b_better + a_better`` against 1/2 (p = 1 when no item is
    discordant). It is exact, so it stays valid with the handful of discordant items typical
    of two close models. The interval is Newcombe's method 10
    (:func:`newcombe_paired_interval`).

    Other data: the interval is a percentile bootstrap of the mean per-item difference
    (resampling items, so the pairing is kept; seeded, so deterministic). The test is the
    paired t-test rather than the Wilcoxon signed-rank test, because the t-test is about the
    *mean* difference -- the number reported and bootstrapped -- while Wilcoxon tests a
    location shift of the differences (a pseudo-median) and can disagree in sign with the
    mean when many items improve slightly and a few regress badly, a common pattern in model
    comparisons. Benchmark N is usually large enough for the t-test's normal approximation of
    the mean difference to hold for bounded scores. If all differences are equal, t is
    undefined (zero variance); the p-value then comes from the exact sign test (1.0 when all
    differences are zero).

    Raises:
        ValueError: if the sequences differ in length, contain infinite values, or no item is
            scored in both runs.
    """
    import numpy as np

    _z(confidence)
    xa, xb = _pair_up(a, b)
    n = int(xa.size)
    if n == 0:
        raise ValueError("paired comparison needs at least one item scored in both runs; got none")

    mean_a, mean_b = float(xa.mean()), float(xb.mean())
    diff = mean_b - mean_a
    b_better = int(np.count_nonzero(xb > xa))
    a_better = int(np.count_nonzero(xa > xb))

    if _is_binary(xa) and _is_binary(xb):
        from scipy.stats import binomtest

        discordant = b_better + a_better
        p_value = 1.0 if discordant == 0 else float(binomtest(b_better, discordant, 0.5).pvalue)
        both = int(np.count_nonzero((xa == 1.0) & (xb == 1.0)))
        neither = n - both - discordant
        # First classification = b, second = a, so the interval is for p_b - p_a = diff.
        low, high = newcombe_paired_interval(both, b_better, a_better, neither, confidence)
        test = "mcnemar-exact"
    else:
        low, high, p_value = _paired_continuous(xa, xb, diff, b_better, a_better, confidence)
        test = "paired-t"
    return PairedComparison(
        n=n,
        mean_a=mean_a,
        mean_b=mean_b,
        diff=diff,
        ci_low=low,
        ci_high=high,
        p_value=min(1.0, p_value),
        test=test,
        b_better=b_better,
        a_better=a_better,
    )


def _paired_continuous(
    xa: np.ndarray, xb: np.ndarray, diff: float, b_better: int, a_better: int, confidence: float
) -> tuple[float, float, float]:
    """Interval and p-value of a mean paired difference of scores that are not all 0/1."""
    import numpy as np

    d = xb - xa
    spread = float(np.ptp(d))
    if spread <= 1e-12 * max(1.0, float(np.max(np.abs(d)))):
        # Constant differences: zero variance, t undefined. Only the signs carry information.
        low = high = diff
        if b_better + a_better == 0:
            p_value = 1.0
        else:
            from scipy.stats import binomtest

            p_value = float(binomtest(b_better, b_better + a_better, 0.5).pvalue)
    else:
        from scipy.stats import ttest_rel

        p_value = float(ttest_rel(xb, xa).pvalue)
        means = _bootstrap_means(d, 2000, np.random.default_rng(0))
        low, high = _percentile_interval(means, diff, confidence)
    return low, high, p_value


def weighted_mean(
    values: Sequence[float],
    weights: Sequence[float],
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """A ratio of sums, sum(w * v) / sum(w), with a bootstrap interval that resamples items.

    Used where an item carries several units of a metric, e.g. IFEval's instruction-level
    accuracy: each prompt contributes the fraction of its instructions followed, weighted by how
    many it has. Resampling prompts (not instructions) keeps instructions of one prompt together,
    as they are not independent.
    """
    import numpy as np

    v = _as_float_array(values, "values")
    w = _as_float_array(weights, "weights")
    if v.size != w.size:
        raise ValueError(f"weighted_mean() needs as many weights as values, got {w.size} and {v.size}")
    if np.any(w < 0):
        raise ValueError("weighted_mean() needs non-negative weights")
    total = float(w.sum())
    if v.size == 0 or total == 0:
        _z(confidence)
        return Estimate(value=None, n=int(v.size), ci_low=None, ci_high=None, method="weighted-bootstrap")
    point = float((w * v).sum() / total)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(resamples, v.size))
    ws = w[idx]
    sums = ws.sum(axis=1)
    ratios = np.where(sums > 0, (ws * v[idx]).sum(axis=1) / np.where(sums > 0, sums, 1), point)
    low, high = _percentile_interval(ratios, point, confidence)
    return Estimate(value=point, n=int(v.size), ci_low=low, ci_high=high, method="weighted-bootstrap")


def clustered_proportion(values: Sequence[float], clusters: Sequence[object], confidence: float = 0.95) -> Estimate:
    """Mean of per-item scores in [0, 1] whose items come in clusters, with a Wilson interval at the
    effective sample size.

    The effective size is ``n / deff``, where the design effect ``deff`` is the cluster-robust
    (sandwich) variance of the mean over the variance independent items would give, never below 1.
    Where that ratio cannot be estimated -- one cluster, or every item 0 (or every item 1), so that
    no variance is seen at all -- each cluster counts as one item: 65 answers to attacks on a single
    seed prompt say about as much about the model's rate over prompts as one answer does. With one
    item per cluster this is :func:`proportion`. ``n`` of the result is the number of items; the
    method is ``"wilson-clustered"``.

    Raises:
        ValueError: if the two sequences differ in length, or a value is not in [0, 1].
    """
    values = [float(v) for v in values]
    clusters = list(clusters)
    if len(values) != len(clusters):
        raise ValueError(f"clustered_proportion() needs one cluster per value, got {len(clusters)} and {len(values)}")
    if any(not (math.isfinite(v) and 0.0 <= v <= 1.0) for v in values):
        raise ValueError("clustered_proportion() needs finite values in [0, 1]")
    n = len(values)
    totals: dict[object, list[float]] = {}
    for value, cluster in zip(values, clusters, strict=True):
        total = totals.setdefault(cluster, [0.0, 0.0])
        total[0] += value
        total[1] += 1.0
    k = len(totals)
    if n == 0 or k == n:
        return proportion(values, confidence)
    mean = sum(values) / n
    if k < 2 or mean in (0.0, 1.0):
        effective = float(k)
    else:
        residual = sum((s - mean * m) ** 2 for s, m in totals.values())
        robust = k / (k - 1) * residual / (n * n)
        independent = mean * (1.0 - mean) / n
        effective = n / max(1.0, robust / independent)
    low, high = wilson_interval(mean * effective, effective, confidence)
    return Estimate(value=mean, n=n, ci_low=min(low, mean), ci_high=max(high, mean), method="wilson-clustered")
