"""One call from battles to a leaderboard: ratings, intervals, rank intervals and counts per model."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from tianping.arena.battles import STYLE_FEATURES, Battle, BattleTable
from tianping.arena.bradley_terry import EloScale, RatingFit, fit_bradley_terry
from tianping.arena.intervals import Intervals, bootstrap_intervals, rank_intervals, sandwich_intervals
from tianping.arena.style_control import fit_style_controlled

__all__ = ["ArenaRow", "ArenaTable", "StyleEffect", "arena_table"]

IntervalMethod = Literal["bootstrap", "sandwich", "none"]


@dataclass(frozen=True, slots=True)
class ArenaRow:
    """One model's line: rank by rating, rating with its interval, rank interval and battle counts."""

    rank: int
    model: str
    rating: float
    lower: float | None
    upper: float | None
    rank_best: int | None
    rank_worst: int | None
    battles: int
    wins: int
    losses: int
    ties: int


@dataclass(frozen=True, slots=True)
class StyleEffect:
    """A style covariate's effect: log-odds per standard deviation, and the same in rating points."""

    feature: str
    coefficient: float
    lower: float | None
    upper: float | None
    points: float


@dataclass(frozen=True)
class ArenaTable:
    rows: tuple[ArenaRow, ...]
    """Best rating first."""
    method: str
    level: float
    n_battles: int
    scale: EloScale
    style: tuple[StyleEffect, ...] = ()
    rounds: int = 0
    degenerate_rounds: int = 0
    fit: RatingFit | None = None
    intervals: Intervals | None = None

    def as_dicts(self) -> list[dict[str, object]]:
        return [asdict(row) for row in self.rows]


def arena_table(
    battles: Iterable[Battle] | BattleTable,
    *,
    intervals: IntervalMethod = "bootstrap",
    rounds: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    style_control: bool = False,
    features: Sequence[str] = STYLE_FEATURES,
    scale: EloScale | None = None,
    models: Sequence[str] | None = None,
) -> ArenaTable:
    """Rate the models of ``battles`` and return the leaderboard.

    ``intervals`` picks bootstrap (``rounds`` resamples, ``seed``), sandwich or none; ``style_control``
    fits the style-controlled model on ``features``. ``models`` optionally lists every model that must
    appear (one without battles is an error). Errors on bad input are ``ValueError`` naming the battle.
    """
    if intervals not in ("bootstrap", "sandwich", "none"):
        raise ValueError(f"intervals {intervals!r}: choose bootstrap, sandwich or none")
    table = battles if isinstance(battles, BattleTable) else BattleTable.from_battles(battles, models=models)
    scale = scale or EloScale()
    fit = (
        fit_style_controlled(table, features=features, scale=scale)
        if style_control
        else fit_bradley_terry(table, scale=scale)
    )
    ci: Intervals | None = None
    if intervals == "bootstrap":
        ci = bootstrap_intervals(fit, rounds=rounds, level=level, seed=seed)
    elif intervals == "sandwich":
        ci = sandwich_intervals(fit, level=level)

    k = len(table.models)
    score = table.score_a
    tie = score == 0.5
    wins = np.bincount(table.a, weights=score == 1.0, minlength=k) + np.bincount(
        table.b, weights=score == 0.0, minlength=k
    )
    ties = np.bincount(table.a, weights=tie, minlength=k) + np.bincount(table.b, weights=tie, minlength=k)
    count = table.battles_per_model()
    best = worst = None
    if ci is not None:
        best, worst = rank_intervals(ci.lower, ci.upper)
    order = np.argsort(-fit.ratings, kind="stable")
    rows = tuple(
        ArenaRow(
            rank=pos + 1,
            model=table.models[m],
            rating=float(fit.ratings[m]),
            lower=None if ci is None else float(ci.lower[m]),
            upper=None if ci is None else float(ci.upper[m]),
            rank_best=None if best is None else int(best[m]),
            rank_worst=None if worst is None else int(worst[m]),
            battles=int(count[m]),
            wins=int(wins[m]),
            losses=int(count[m] - wins[m] - ties[m]),
            ties=int(ties[m]),
        )
        for pos, m in enumerate(order)
    )
    style = tuple(
        StyleEffect(
            feature=name,
            coefficient=float(fit.coefficients[c]),
            lower=None if ci is None else float(ci.coef_lower[c]),
            upper=None if ci is None else float(ci.coef_upper[c]),
            points=float(fit.coefficients[c] * scale.points_per_nat),
        )
        for c, name in enumerate(fit.features)
    )
    return ArenaTable(
        rows,
        intervals,
        level,
        len(table),
        scale,
        style,
        rounds=0 if ci is None else ci.rounds,
        degenerate_rounds=0 if ci is None else ci.degenerate,
        fit=fit,
        intervals=ci,
    )
