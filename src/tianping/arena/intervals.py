"""Confidence intervals for arena ratings, and the rank intervals read off them.

Two kinds, both for the anchored ratings (so, with the default anchor, for each model's distance from
the mean rating):

* **Bootstrap** (:func:`bootstrap_intervals`): resample the battles with replacement, refit, take the
  percentiles. Resampling N battles is a multinomial draw over the distinct kinds of battle (per pair:
  win, loss, tie), with probabilities their observed shares; that is exactly resampling battles, but a
  round costs a draw over a few thousand cells instead of a million battles. Every refit starts from the
  full-data estimate, so it takes two or three Newton steps.
* **Sandwich** (:func:`sandwich_intervals`): Huber-White robust covariance ``H^-1 M H^-1`` at the
  estimate, where ``H`` is the observed information and ``M`` the sum of per-battle score outer products
  (HC0, battles as the independent units), and normal intervals from it. When the model is right and there
  are no ties it agrees with the inverse Fisher information; with ties scored as half wins the outcome is
  no longer Bernoulli and the plain Fisher interval would be wrong, while the sandwich stays valid.

A rank interval (:func:`rank_intervals`) gives the best and the worst rank the intervals allow:
``best = 1 + #{models whose lower bound is above this model's upper bound}`` (LMArena's ranking, its
"rank (UB)"), ``worst = K - #{models whose upper bound is below this model's lower bound}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from scipy.special import expit

from tianping.arena.bradley_terry import RatingFit
from tianping.arena.logit import LogitFit, NotIdentifiable, check_identifiable, fit_logit, gram

__all__ = ["Intervals", "bootstrap_intervals", "rank_intervals", "sandwich_intervals"]


@dataclass(frozen=True)
class Intervals:
    """Per-model rating intervals (and per-feature coefficient intervals for style-controlled fits)."""

    method: str
    """``"bootstrap"`` or ``"sandwich"``."""
    level: float
    lower: np.ndarray
    upper: np.ndarray
    coef_lower: np.ndarray
    coef_upper: np.ndarray
    se: np.ndarray | None = None
    """Standard errors of the ratings (sandwich; the bootstrap's standard deviation for bootstrap)."""
    coef_se: np.ndarray | None = None
    rounds: int = 0
    """Bootstrap rounds used (0 for sandwich)."""
    degenerate: int = 0
    """Bootstrap resamples dropped because they left no finite estimate (a model without battles, or
    one that won every battle in the resample); nonzero only with very few battles per model."""
    samples: np.ndarray | None = None
    """The bootstrap's ratings, one row per round (``None`` for sandwich)."""


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level {level} must lie strictly between 0 and 1 (0.95 for 95% intervals)")


def bootstrap_intervals(fit: RatingFit, *, rounds: int = 1000, level: float = 0.95, seed: int = 0) -> Intervals:
    """Percentile intervals from ``rounds`` battle resamples (seeded: the same seed gives the same result)."""
    _check_level(level)
    if rounds < 2:
        raise ValueError(f"rounds {rounds}: the bootstrap needs at least 2 rounds")
    problem = fit.problem
    rng = np.random.default_rng(seed)
    n = fit.n_battles
    share = problem.w / problem.w.sum()
    one_per_row = bool(np.all(problem.w == 1.0))
    thetas: list[np.ndarray] = []
    gammas: list[np.ndarray] = []
    degenerate = 0
    for _ in range(rounds):
        if one_per_row:
            # Rows are single battles (style control): draw battle indices directly.
            w = np.bincount(rng.integers(0, problem.w.size, n), minlength=problem.w.size).astype(float)
        else:
            w = rng.multinomial(n, share).astype(float)
        resample = problem.with_weights(w)
        try:
            # A resample that kept every kind of battle inherits the full data's identifiability.
            if not np.all(w > 0):
                check_identifiable(resample, strict=fit.problem.z is None)
            sol: LogitFit = fit_logit(resample, start=fit.solution)
        except NotIdentifiable:
            degenerate += 1
            continue
        thetas.append(sol.theta)
        gammas.append(sol.gamma)
    if len(thetas) < max(2, rounds // 2):
        raise NotIdentifiable(
            f"{degenerate} of {rounds} bootstrap resamples had no finite estimate: too few battles per model "
            "for a bootstrap; use sandwich intervals or collect more battles"
        )
    ratings = fit.scale.ratings(np.asarray(thetas), fit.models)
    coefs = np.asarray(gammas).reshape(len(gammas), -1)
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(ratings, [tail, 100.0 - tail], axis=0)
    clo, chi = np.percentile(coefs, [tail, 100.0 - tail], axis=0) if coefs.shape[1] else (np.empty(0),) * 2
    return Intervals(
        "bootstrap",
        level,
        lo,
        hi,
        clo,
        chi,
        se=ratings.std(axis=0, ddof=1),
        coef_se=coefs.std(axis=0, ddof=1) if coefs.shape[1] else np.empty(0),
        rounds=len(thetas),
        degenerate=degenerate,
        samples=ratings,
    )


def sandwich_covariance(fit: RatingFit) -> tuple[np.ndarray, np.ndarray]:
    """Robust covariances ``(ratings K x K, style coefficients F x F)`` of the fit."""
    p, sol = fit.problem, fit.solution
    d = sol.theta[p.i] - sol.theta[p.j]
    if p.z is not None:
        d = d + p.z @ sol.gamma
    prob = expit(d)
    bread = gram(p, p.w * prob * (1.0 - prob))[1:, 1:]
    meat = gram(p, p.w * (p.y - prob) ** 2)[1:, 1:]
    half = np.linalg.solve(bread, meat)
    reduced = np.linalg.solve(bread, half.T).T
    reduced = (reduced + reduced.T) / 2.0
    k = p.n_models
    # Model 0 was held at 0 in the fit; its row and column of zeros are exact because the anchored
    # ratings do not depend on which model was held.
    full = np.zeros((k + p.n_features, k + p.n_features))
    full[1:, 1:] = reduced
    a = fit.scale.projection(fit.models) * fit.scale.points_per_nat
    return a @ full[:k, :k] @ a.T, full[k:, k:]


def sandwich_intervals(fit: RatingFit, *, level: float = 0.95) -> Intervals:
    """Normal intervals ``rating +- z * se`` from the Huber-White covariance."""
    _check_level(level)
    cov, coef_cov = sandwich_covariance(fit)
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    coef_se = np.sqrt(np.clip(np.diag(coef_cov), 0.0, None))
    gamma = fit.coefficients
    return Intervals(
        "sandwich",
        level,
        fit.ratings - z * se,
        fit.ratings + z * se,
        gamma - z * coef_se,
        gamma + z * coef_se,
        se,
        coef_se,
    )


def rank_intervals(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(best, worst)`` rank of each model that its interval and the others' allow (1 = top)."""
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    if lower.shape != upper.shape or lower.ndim != 1:
        raise ValueError(f"lower and upper must be 1-D and of equal length, got {lower.shape} and {upper.shape}")
    if np.any(lower > upper):
        raise ValueError(f"interval {int(np.flatnonzero(lower > upper)[0])} has lower > upper")
    above = (lower[None, :] > upper[:, None]).sum(axis=1)
    below = (upper[None, :] < lower[:, None]).sum(axis=1)
    return 1 + above, lower.size - below
