"""Style-controlled Bradley-Terry: ratings with answer length and markdown use held fixed.

Judges and voters favour longer, more formatted answers. Style control, as LMArena does it, adds the two
sides' style differences as covariates of the same logistic model::

    logit P(A beats B) = theta_A - theta_B + sum_k gamma_k * z_k

For each feature (tokens, headers, list items, bold spans) the difference is normalised by the pair's
total, ``(a - b) / (a + b + 1)``, so that 600 against 500 tokens weighs like 60 against 50, and then
standardised over all battles (minus its mean, divided by its standard deviation). ``gamma_k`` is then the
change in log-odds of winning for one standard deviation of that normalised difference, and the ratings
are what remains of each model's strength once style is accounted for. Ties count as half wins, as in
plain Bradley-Terry. Rows are single battles here (the covariates differ from battle to battle), and the
fit is the same exact Newton solver.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tianping.arena.battles import STYLE_FEATURES, BattleTable
from tianping.arena.bradley_terry import EloScale, RatingFit
from tianping.arena.logit import LogitProblem, check_identifiable, fit_logit

__all__ = ["fit_style_controlled", "style_covariates"]


def style_covariates(
    table: BattleTable, features: Sequence[str] = STYLE_FEATURES
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(z, center, spread)``: standardised normalised style differences ``(n, F)`` and the raw
    normalised differences' mean and standard deviation per feature."""
    if table.style_a is None or table.style_b is None:
        raise ValueError(
            "style control needs style features (tokens, headers, lists, bold) for both sides of every battle"
        )
    unknown = [f for f in features if f not in STYLE_FEATURES]
    if unknown or not features:
        raise ValueError(f"style features {list(features)}: choose one or more of {', '.join(STYLE_FEATURES)}")
    if len(set(features)) != len(features):
        raise ValueError(f"style features {list(features)}: a feature is listed twice")
    cols = [STYLE_FEATURES.index(f) for f in features]
    a, b = table.style_a[:, cols], table.style_b[:, cols]
    diff = (a - b) / (a + b + 1.0)
    center = diff.mean(axis=0)
    spread = diff.std(axis=0)
    flat = np.flatnonzero(spread <= 1e-12 * np.maximum(1.0, np.abs(center)))
    if flat.size:
        raise ValueError(
            f"style feature {features[flat[0]]!r} has the same normalised difference in every battle, "
            "so its effect cannot be estimated; leave it out of the features"
        )
    return (diff - center) / spread, center, spread


def fit_style_controlled(
    table: BattleTable, *, features: Sequence[str] = STYLE_FEATURES, scale: EloScale | None = None
) -> RatingFit:
    """Style-controlled ratings and style coefficients (``RatingFit.coefficients``, log-odds per SD)."""
    scale = scale or EloScale()
    z, center, spread = style_covariates(table, features)
    problem = LogitProblem(
        len(table.models),
        table.a.astype(np.int64),
        table.b.astype(np.int64),
        table.score_a,
        np.ones(len(table)),
        z,
        table.models,
    )
    check_identifiable(problem, strict=False)
    solution = fit_logit(problem)
    return RatingFit(
        table.models,
        scale.ratings(solution.theta, table.models),
        scale,
        problem,
        solution,
        len(table),
        table.battles_per_model(),
        tuple(features),
        center,
        spread,
    )
