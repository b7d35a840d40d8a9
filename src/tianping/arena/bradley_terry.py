"""Bradley-Terry ratings by exact maximum likelihood, on the Elo scale.

``P(model i beats model j) = 1 / (1 + base ** ((r_j - r_i) / scale))`` with ``scale`` 400 and ``base`` 10,
LMArena's convention: 400 points apart means 10:1 odds. Ties count as half a win for each side.

Ratings are fixed only up to a common shift, so something must be anchored. :class:`EloScale` anchors
the *mean* rating of the rated models at ``anchor`` (1000 by default), which needs no knowledge of model
names; with ``reference`` set, that model is pinned at ``anchor`` instead (FastChat pins
``mixtral-8x7b-instruct-v0.1`` at 1114). The anchor moves every rating and interval endpoint by the same
amount, so differences, rank intervals and style coefficients do not depend on it.

The fit runs on counts per pair of models (win, loss, tie), not on single battles, so a million battles
reduce to at most three rows per pair before Newton's method starts (:mod:`tianping.arena.logit`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tianping.arena.battles import BattleTable, PairCounts
from tianping.arena.logit import LogitFit, LogitProblem, check_identifiable, fit_logit

__all__ = ["EloScale", "RatingFit", "fit_bradley_terry", "pair_problem"]


@dataclass(frozen=True, slots=True)
class EloScale:
    """How natural-log strengths become ratings: ``anchor + scale / ln(base) * (theta - theta_anchor)``."""

    scale: float = 400.0
    base: float = 10.0
    anchor: float = 1000.0
    reference: str | None = None
    """Model pinned at ``anchor``; ``None`` pins the mean of all ratings there."""

    @property
    def points_per_nat(self) -> float:
        """Rating points per unit of log-odds (about 173.7 for 400 / ln 10)."""
        return self.scale / math.log(self.base)

    def _reference_index(self, models: tuple[str, ...]) -> int | None:
        if self.reference is None:
            return None
        if self.reference not in models:
            raise ValueError(f"anchor reference model {self.reference!r} is not among the rated models")
        return models.index(self.reference)

    def ratings(self, theta: np.ndarray, models: tuple[str, ...]) -> np.ndarray:
        """Anchored ratings for strengths ``theta`` of shape ``(..., K)`` (several fits at once)."""
        ref = self._reference_index(models)
        centre = theta.mean(axis=-1, keepdims=True) if ref is None else theta[..., ref : ref + 1]
        return self.anchor + self.points_per_nat * (theta - centre)

    def projection(self, models: tuple[str, ...]) -> np.ndarray:
        """The linear map ``A`` with ``ratings - anchor = points_per_nat * A @ theta`` (for covariances)."""
        k = len(models)
        ref = self._reference_index(models)
        if ref is None:
            return np.eye(k) - np.full((k, k), 1.0 / k)
        a = np.eye(k)
        a[:, ref] -= 1.0
        return a


@dataclass(frozen=True)
class RatingFit:
    """A fitted rating: anchored ratings per model, plus style coefficients when style was controlled."""

    models: tuple[str, ...]
    ratings: np.ndarray
    scale: EloScale
    problem: LogitProblem
    solution: LogitFit
    n_battles: int
    battles_per_model: np.ndarray
    features: tuple[str, ...] = ()
    """Names of the style covariates (empty for plain Bradley-Terry)."""
    feature_center: np.ndarray | None = None
    feature_spread: np.ndarray | None = None

    @property
    def coefficients(self) -> np.ndarray:
        """Style effects in log-odds per standard deviation of each normalised feature difference."""
        return self.solution.gamma

    def rating(self, model: str) -> float:
        return float(self.ratings[self.models.index(model)])

    def as_dict(self) -> dict[str, float]:
        return {m: float(r) for m, r in zip(self.models, self.ratings, strict=True)}


def pair_problem(table: BattleTable) -> LogitProblem:
    """The per-pair outcome cells of ``table`` as logistic rows (weight = number of battles in the cell)."""
    pc = PairCounts.from_table(table)
    lo = np.concatenate([pc.lo, pc.lo, pc.lo])
    hi = np.concatenate([pc.hi, pc.hi, pc.hi])
    y = np.concatenate([np.ones(pc.lo.size), np.zeros(pc.lo.size), np.full(pc.lo.size, 0.5)])
    w = np.concatenate([pc.wins_lo, pc.wins_hi, pc.ties])
    keep = w > 0
    return LogitProblem(pc.n_models, lo[keep], hi[keep], y[keep], w[keep], None, table.models)


def fit_bradley_terry(table: BattleTable, *, scale: EloScale | None = None) -> RatingFit:
    """Exact maximum-likelihood Bradley-Terry ratings of every model in ``table``.

    Raises :class:`~tianping.arena.logit.NotIdentifiable` when the comparisons are disconnected or a
    group of models won (or lost) every battle against the rest, where no finite ratings exist.
    """
    scale = scale or EloScale()
    scale._reference_index(table.models)
    problem = pair_problem(table)
    check_identifiable(problem, strict=True)
    solution = fit_logit(problem)
    return RatingFit(
        table.models,
        scale.ratings(solution.theta, table.models),
        scale,
        problem,
        solution,
        len(table),
        table.battles_per_model(),
    )
