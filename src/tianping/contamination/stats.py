"""Dataset-level tests: do a benchmark's items score higher than matched fresh items?

Every method's per-item score is oriented so that *higher means more likely seen in training*. A dataset is
tested by comparing its items' scores with those of items the model cannot have seen (a fresh comparison set
of the same kind): one-sided, the alternative being that the benchmark's scores are larger.

- ``auc``: the probability that a benchmark item outscores a fresh one (ties count one half): the Mann-Whitney
  U statistic divided by ``n1 * n2``, so AUC and the U test's p-value are two views of one statistic.
- ``mann_whitney``: scipy's Mann-Whitney U test (exact distribution for small samples without ties, the
  normal approximation with tie correction otherwise).
- ``permutation_test``: the difference of means, its null distribution from random relabellings (seeded), the
  p-value ``(1 + k) / (1 + n)`` so that it is never zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

Scores: TypeAlias = Sequence[float | None] | np.ndarray
"""Per-item scores: None or NaN where an item could not be scored."""


def _clean(values: Scores) -> np.ndarray:
    """The finite values (None and NaN are items a method could not score: they take no part)."""
    array = np.array([v for v in values if v is not None], dtype=float)
    return array[np.isfinite(array)]


def auc(positive: Scores, negative: Scores) -> float:
    """P(a positive item's score > a negative item's score) + P(equal) / 2, from the ranks of both together."""
    pos, neg = _clean(positive), _clean(negative)
    if not len(pos) or not len(neg):
        raise ValueError(f"AUC needs scores on both sides (got {len(pos)} and {len(neg)})")
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([pos, neg]))  # average ranks: a tie counts one half
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


@dataclass(frozen=True)
class TestResult:
    """One dataset-level comparison of benchmark (candidate) scores with fresh ones."""

    test: str
    """``mann-whitney`` or ``permutation``."""
    n_candidate: int
    n_fresh: int
    auc: float
    p_value: float
    mean_candidate: float
    mean_fresh: float

    def to_json(self) -> dict[str, float | int | str]:
        return {
            "test": self.test,
            "n_candidate": self.n_candidate,
            "n_fresh": self.n_fresh,
            "auc": round(self.auc, 6),
            "p_value": float(f"{self.p_value:.6g}"),
            "mean_candidate": round(self.mean_candidate, 6),
            "mean_fresh": round(self.mean_fresh, 6),
        }


def mann_whitney(candidate: Scores, fresh: Scores) -> TestResult:
    """One-sided Mann-Whitney U test: are the candidate scores stochastically larger than the fresh ones?"""
    from scipy.stats import mannwhitneyu

    cand, base = _clean(candidate), _clean(fresh)
    if not len(cand) or not len(base):
        raise ValueError(f"a test needs scores on both sides (got {len(cand)} candidate, {len(base)} fresh)")
    result = mannwhitneyu(cand, base, alternative="greater")
    return TestResult(
        test="mann-whitney",
        n_candidate=len(cand),
        n_fresh=len(base),
        auc=float(result.statistic) / (len(cand) * len(base)),
        p_value=float(result.pvalue),
        mean_candidate=float(cand.mean()),
        mean_fresh=float(base.mean()),
    )


def permutation_test(candidate: Scores, fresh: Scores, *, resamples: int = 10_000, seed: int = 0) -> TestResult:
    """One-sided permutation test on the difference of means (candidate minus fresh)."""
    cand, base = _clean(candidate), _clean(fresh)
    if not len(cand) or not len(base):
        raise ValueError(f"a test needs scores on both sides (got {len(cand)} candidate, {len(base)} fresh)")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    pooled = np.concatenate([cand, base])
    observed = cand.mean() - base.mean()
    rng = np.random.default_rng(seed)
    n, total = len(cand), pooled.sum()
    exceed = 0
    # in blocks, so that a large pool does not need resamples x items of memory at once
    block = max(1, min(resamples, 4_000_000 // max(1, len(pooled))))
    done = 0
    while done < resamples:
        size = min(block, resamples - done)
        picks = np.argsort(rng.random((size, len(pooled))), axis=1)[:, :n]
        sums = pooled[picks].sum(axis=1)
        diffs = sums / n - (total - sums) / (len(pooled) - n)
        exceed += int((diffs >= observed - 1e-12 * max(1.0, abs(observed))).sum())
        done += size
    return TestResult(
        test="permutation",
        n_candidate=len(cand),
        n_fresh=len(base),
        auc=auc(cand, base),
        p_value=(1 + exceed) / (1 + resamples),
        mean_candidate=float(cand.mean()),
        mean_fresh=float(base.mean()),
    )


def format_p(p: float) -> str:
    """A p-value as a table shows it: three significant digits, scientific below 0.001."""
    if math.isnan(p):
        return "—"
    if p < 1e-300:
        return "<1e-300"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"
