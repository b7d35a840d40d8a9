"""Weighted logistic regression with soft labels, fitted by Newton's method, with its covariance.

The judge diagnostics (verbosity slope) and AlpacaEval's length-controlled win rate both need a small logistic
regression: a handful of columns, a few thousand rows, labels that may be probabilities (AlpacaEval's annotator
preference is a float in [0, 1]) and rows that come in clusters (the two orders of one pair). statsmodels is not a
dependency of tianping, and scikit-learn's ``LogisticRegression`` penalises by default and gives no covariance, so
the fit is done here: Newton-Raphson on the log-likelihood with step halving, which converges in a few iterations
for a well-posed problem.

Covariance: the inverse of the observed information (for the logit link it equals the expected information) is the
model-based one; with ``clusters`` the cluster-robust sandwich H^-1 (sum_c s_c s_c^T) H^-1 * G / (G - 1) is used
instead, which stays honest when rows of one cluster are dependent or the labels are not Bernoulli draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["LogitFit", "SeparationError", "fit_logit", "sigmoid"]

_MAX_ITER = 100
_TOL = 1e-10
# A linear predictor this large means a fitted probability of 1 - 1e-13: the data are (quasi-)separated and
# the maximum-likelihood estimate does not exist.
_SEPARATION_ETA = 30.0


class SeparationError(ValueError):
    """The data are (quasi-)separated: the maximum-likelihood coefficients are infinite."""


@dataclass(frozen=True)
class LogitFit:
    """A fitted logistic regression: coefficients, their covariance and how it was computed."""

    names: tuple[str, ...]
    coef: np.ndarray
    cov: np.ndarray
    covariance: str
    """``"observed-information"`` or ``"cluster-robust"`` (sandwich, clustered as the caller said)."""
    n: int
    """Rows with a positive weight."""
    iterations: int
    log_likelihood: float

    def se(self, name: str) -> float:
        i = self.names.index(name)
        return math.sqrt(max(0.0, float(self.cov[i, i])))

    def value(self, name: str) -> float:
        return float(self.coef[self.names.index(name)])

    def interval(self, name: str, confidence: float = 0.95) -> tuple[float, float]:
        """Wald interval for one coefficient."""
        from statistics import NormalDist

        z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
        value, se = self.value(name), self.se(name)
        return (value - z * se, value + z * se)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow for large negative inputs."""
    return np.exp(-np.logaddexp(0.0, -x))


def fit_logit(
    x: np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    names: Sequence[str],
    weights: Sequence[float] | np.ndarray | None = None,
    clusters: Sequence[object] | None = None,
) -> LogitFit:
    """Maximum-likelihood logistic regression of ``y`` (0/1 or probabilities in [0, 1]) on the columns of ``x``.

    ``x`` must already hold an intercept column if one is wanted. ``weights`` scale each row's log-likelihood.

    Raises:
        ValueError: on mismatched shapes, labels outside [0, 1], negative weights, or a singular design.
        SeparationError: when the data are separated and no finite estimate exists.
    """
    x = np.asarray(x, dtype=float)
    y_arr = np.asarray(y, dtype=float)
    if x.ndim != 2 or x.shape[0] != y_arr.shape[0] or x.shape[1] != len(names):
        raise ValueError(f"fit_logit: x is {x.shape}, y has {y_arr.shape[0]} rows, {len(names)} names")
    if not np.all(np.isfinite(x)) or not np.all(np.isfinite(y_arr)):
        raise ValueError("fit_logit: x and y must be finite")
    if np.any((y_arr < 0) | (y_arr > 1)):
        raise ValueError("fit_logit: labels must lie in [0, 1]")
    w = np.ones_like(y_arr) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != y_arr.shape or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError("fit_logit: weights must be finite, non-negative and one per row")
    if clusters is not None and len(clusters) != len(y_arr):
        raise ValueError(f"fit_logit: {len(clusters)} clusters for {len(y_arr)} rows")
    used = w > 0
    if int(used.sum()) <= x.shape[1]:
        raise ValueError(f"fit_logit: {int(used.sum())} rows cannot fit {x.shape[1]} coefficients")

    beta = np.zeros(x.shape[1])

    def loglik(b: np.ndarray) -> float:
        eta = x @ b
        # log sigma(eta) = -log(1 + e^-eta); log(1 - sigma(eta)) = -log(1 + e^eta)
        return float(-(w * (y_arr * np.logaddexp(0.0, -eta) + (1 - y_arr) * np.logaddexp(0.0, eta))).sum())

    current = loglik(beta)
    iterations = 0
    while iterations < _MAX_ITER:
        iterations += 1
        mu = sigmoid(x @ beta)
        grad = x.T @ (w * (y_arr - mu))
        hess = (x * (w * mu * (1 - mu))[:, None]).T @ x
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError as exc:
            raise ValueError(f"fit_logit: singular design (columns {list(names)} are collinear)") from exc
        t = 1.0
        while True:
            candidate = beta + t * step
            value = loglik(candidate)
            if value >= current - 1e-12 or t < 1e-8:
                break
            t /= 2.0
        beta, previous, current = candidate, current, value
        if np.max(np.abs(t * step)) < _TOL or abs(current - previous) < _TOL * (1 + abs(current)):
            break
    else:
        raise SeparationError(f"fit_logit did not converge in {_MAX_ITER} iterations (separated data?)")
    eta = x @ beta
    if np.max(np.abs(eta[used])) > _SEPARATION_ETA:
        raise SeparationError("fit_logit: fitted probabilities of 0 or 1 -- the data are (quasi-)separated")

    mu = sigmoid(eta)
    hess = (x * (w * mu * (1 - mu))[:, None]).T @ x
    try:
        bread = np.linalg.inv(hess)
    except np.linalg.LinAlgError as exc:
        raise ValueError(f"fit_logit: singular information matrix (columns {list(names)})") from exc
    if clusters is None:
        cov, kind = bread, "observed-information"
    else:
        scores = x * (w * (y_arr - mu))[:, None]
        sums: dict[object, np.ndarray] = {}
        for row, cluster in zip(scores, clusters, strict=True):
            if cluster in sums:
                sums[cluster] = sums[cluster] + row
            else:
                sums[cluster] = row.copy()
        g = len(sums)
        if g < 2:
            raise ValueError("fit_logit: a cluster-robust covariance needs at least two clusters")
        meat = sum(np.outer(s, s) for s in sums.values())
        cov, kind = bread @ meat @ bread * (g / (g - 1)), "cluster-robust"
    return LogitFit(
        names=tuple(names),
        coef=beta,
        cov=cov,
        covariance=kind,
        n=int(used.sum()),
        iterations=iterations,
        log_likelihood=current,
    )
