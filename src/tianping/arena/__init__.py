"""Arena ratings from pairwise verdicts (judge verdicts or human votes).

Bradley-Terry ratings by exact maximum likelihood on the Elo scale (400 points per factor 10 in odds,
mean anchored at 1000 unless a reference model is named), ties as half wins, bootstrap and sandwich
intervals, rank intervals and LMArena-style style control. :func:`arena_table` goes from a list of
:class:`Battle` records to a leaderboard in one call; docs/arena.md explains the conventions.
"""

from tianping.arena.battles import (
    OUTCOMES,
    STYLE_FEATURES,
    Battle,
    BattleTable,
    PairCounts,
    StyleFeatures,
    markdown_counts,
)
from tianping.arena.bradley_terry import EloScale, RatingFit, fit_bradley_terry
from tianping.arena.intervals import Intervals, bootstrap_intervals, rank_intervals, sandwich_intervals
from tianping.arena.logit import NotIdentifiable
from tianping.arena.simulate import simulate_battles
from tianping.arena.style_control import fit_style_controlled
from tianping.arena.table import ArenaRow, ArenaTable, StyleEffect, arena_table

__all__ = [
    "OUTCOMES",
    "STYLE_FEATURES",
    "ArenaRow",
    "ArenaTable",
    "Battle",
    "BattleTable",
    "EloScale",
    "Intervals",
    "NotIdentifiable",
    "PairCounts",
    "RatingFit",
    "StyleEffect",
    "StyleFeatures",
    "arena_table",
    "bootstrap_intervals",
    "fit_bradley_terry",
    "fit_style_controlled",
    "markdown_counts",
    "rank_intervals",
    "sandwich_intervals",
    "simulate_battles",
]
