"""The exact maximum-likelihood fit behind every arena rating: a weighted pairwise logistic model.

Each row of a :class:`LogitProblem` is one kind of battle (a pair of models, a target ``y`` and a weight
``w``): ``P(i beats j) = sigmoid(theta_i - theta_j + z . gamma)``, with ``y`` = 1 (``i`` won), 0 (``j``
won) or 0.5 (tie, half a win each). Plain Bradley-Terry rows are outcome cells of a pair weighted by their
counts; style-controlled rows are single battles with their style covariates ``z``.

The log-likelihood is concave, so Newton's method with the analytic gradient and Hessian, started at zero
and guarded by a backtracking line search, converges to the unique maximum in a handful of steps; it stops
when a step moves no parameter by more than 1e-10 (natural-log units; 2e-8 rating points). Ratings are
identified only up to a common shift, so ``theta`` of model 0 is held at 0 while solving; anchoring to a
mean or a reference model happens afterwards (see :mod:`tianping.arena.bradley_terry`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.special import expit, log_expit

__all__ = ["LogitProblem", "NotIdentifiable", "fit_logit", "gram", "check_identifiable"]

_STEP_TOL = 1e-10
_MAX_ITER = 100
# Beyond this many natural-log units (odds of e**40) a rating is running off to infinity: separation.
_DIVERGED = 40.0


class NotIdentifiable(ValueError):
    """The battles do not pin down finite ratings (disconnected comparisons, or a model that never lost)."""


@dataclass(frozen=True)
class LogitProblem:
    """Rows ``(i, j, y, w[, z])`` over ``n_models`` models; ``z`` is ``(rows, F)`` or ``None``."""

    n_models: int
    i: np.ndarray
    j: np.ndarray
    y: np.ndarray
    w: np.ndarray
    z: np.ndarray | None = None
    names: tuple[str, ...] = field(default=())

    @property
    def n_features(self) -> int:
        return 0 if self.z is None else int(self.z.shape[1])

    def with_weights(self, w: np.ndarray) -> LogitProblem:
        return LogitProblem(self.n_models, self.i, self.j, self.y, w, self.z, self.names)


def _logits(p: LogitProblem, theta: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    d = theta[p.i] - theta[p.j]
    return d if p.z is None else d + p.z @ gamma


def _loglik(p: LogitProblem, d: np.ndarray) -> float:
    # y log s(d) + (1 - y) log s(-d), using log s(-d) = log s(d) - d: one logarithm per row, not two.
    return float(np.dot(p.w, log_expit(d) - (1.0 - p.y) * d))


def gram(p: LogitProblem, v: np.ndarray) -> np.ndarray:
    """``sum_rows v * x x^T`` for the design rows ``x = (e_i - e_j, z)``: a (K+F) x (K+F) matrix.

    With ``v = w p (1-p)`` it is the observed information (minus the Hessian); with ``v = w (y-p)^2``
    the sum of the per-battle score outer products (the sandwich's meat).
    """
    k, f = p.n_models, p.n_features
    out = np.zeros((k + f, k + f))
    cross = np.bincount(p.i * k + p.j, weights=v, minlength=k * k).reshape(k, k)
    block = -(cross + cross.T)
    block[np.diag_indices(k)] += np.bincount(p.i, weights=v, minlength=k) + np.bincount(p.j, weights=v, minlength=k)
    out[:k, :k] = block
    if p.z is not None:
        vz = p.z * v[:, None]
        side = np.stack([np.bincount(p.i, vz[:, c], k) - np.bincount(p.j, vz[:, c], k) for c in range(f)], axis=1)
        out[:k, k:] = side
        out[k:, :k] = side.T
        out[k:, k:] = vz.T @ p.z
    return out


def _gradient(p: LogitProblem, r: np.ndarray) -> np.ndarray:
    k = p.n_models
    g = np.bincount(p.i, weights=r, minlength=k) - np.bincount(p.j, weights=r, minlength=k)
    return g if p.z is None else np.concatenate([g, p.z.T @ r])


def check_identifiable(p: LogitProblem, *, strict: bool = True) -> None:
    """Raise :class:`NotIdentifiable` unless the battles can fix finite ratings.

    Always: every model must be linked to every other through battles (one connected comparison graph),
    else only ratings within each component are comparable. With ``strict`` (plain Bradley-Terry): the
    "scored against" graph (``i -> j`` when ``i`` won or tied a battle against ``j``) must be strongly
    connected (Zermelo/Ford's condition); otherwise some group of models won or tied every battle against
    the rest and its ratings run off to infinity.
    """
    k = p.n_models
    live = p.w > 0
    names = p.names or tuple(str(m) for m in range(k))
    undirected = coo_matrix((np.ones(int(live.sum())), (p.i[live], p.j[live])), shape=(k, k))
    n_comp, label = connected_components(undirected, directed=False)
    if n_comp > 1:
        groups = [_few(names, np.flatnonzero(label == c)) for c in range(min(n_comp, 3))]
        raise NotIdentifiable(
            f"the battles split the models into {n_comp} groups that never met "
            f"({'; '.join(groups)}{'; ...' if n_comp > 3 else ''}): ratings across groups are not comparable; "
            "rate each group separately or add battles between them"
        )
    if not strict or k < 2:
        return
    scored = live & (p.y > 0)
    conceded = live & (p.y < 1)
    src = np.concatenate([p.i[scored], p.j[conceded]])
    dst = np.concatenate([p.j[scored], p.i[conceded]])
    directed = coo_matrix((np.ones(src.size), (src, dst)), shape=(k, k)).tocsr()
    n_comp, label = connected_components(directed, directed=True, connection="strong")
    if n_comp > 1:
        # The condensation has a group nobody outside ever scored against (it won or tied every battle with
        # the rest) and a group that never scored against anyone outside (it lost them all); name the smaller.
        cross = label[src] != label[dst]
        entered = np.zeros(n_comp, dtype=bool)
        left = np.zeros(n_comp, dtype=bool)
        entered[label[dst[cross]]] = True
        left[label[src[cross]]] = True
        size = np.bincount(label, minlength=n_comp)
        top = min(np.flatnonzero(~entered), key=lambda c: size[c])
        bottom = min(np.flatnonzero(~left), key=lambda c: size[c])
        group, verdict = (top, "won or tied every") if size[top] <= size[bottom] else (bottom, "lost every")
        raise NotIdentifiable(
            f"models {_few(names, np.flatnonzero(label == group))} {verdict} battle against the other models, "
            "so no finite rating fits them (the maximum-likelihood estimate does not exist); add battles "
            "that break the streak or drop them"
        )


def _few(names: tuple[str, ...], idx: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(repr(names[i]) for i in idx[:limit])
    return f"[{shown}{f', ... {idx.size - limit} more' if idx.size > limit else ''}]"


@dataclass(frozen=True)
class LogitFit:
    theta: np.ndarray
    """Natural-log strengths with ``theta[0] == 0``."""
    gamma: np.ndarray
    loglik: float
    iterations: int


def fit_logit(p: LogitProblem, *, start: LogitFit | None = None) -> LogitFit:
    """The maximum-likelihood ``(theta, gamma)``; the caller checks identifiability first."""
    k, f = p.n_models, p.n_features
    theta = np.zeros(k) if start is None else start.theta.copy()
    gamma = np.zeros(f) if start is None else start.gamma.copy()
    d = _logits(p, theta, gamma)
    ll = _loglik(p, d)
    for it in range(1, _MAX_ITER + 1):
        prob = expit(d)
        grad = _gradient(p, p.w * (p.y - prob))[1:]
        info = gram(p, p.w * prob * (1.0 - prob))[1:, 1:]
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError as exc:
            raise NotIdentifiable(
                "the information matrix is singular: a style feature is constant or a combination of the "
                "model columns, so its effect cannot be told apart from the ratings"
            ) from exc
        t = 1.0
        while True:
            new_theta = theta.copy()
            new_theta[1:] += t * step[: k - 1]
            new_gamma = gamma + t * step[k - 1 :]
            new_d = _logits(p, new_theta, new_gamma)
            new_ll = _loglik(p, new_d)
            # Concavity makes the full step right near the optimum; far from it, halve until no worse.
            if new_ll >= ll - 1e-12 * abs(ll) or t < 1e-8:
                break
            t *= 0.5
        theta, gamma, d, ll = new_theta, new_gamma, new_d, new_ll
        if np.max(np.abs(theta - theta[0]), initial=0.0) > _DIVERGED:
            raise NotIdentifiable(
                "the ratings diverge (some models or style features separate wins from losses perfectly): "
                "the maximum-likelihood estimate does not exist for these battles"
            )
        if np.max(np.abs(t * step), initial=0.0) < _STEP_TOL:
            return LogitFit(theta, gamma, ll, it)
    raise RuntimeError(f"Newton's method did not converge in {_MAX_ITER} iterations")
