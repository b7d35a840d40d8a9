"""Battles drawn from known ratings, for tests, benchmarks and checking what an interval promises."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tianping.arena.battles import BattleTable
from tianping.arena.bradley_terry import EloScale

__all__ = ["simulate_battles"]


def simulate_battles(
    ratings: Sequence[float] | np.ndarray,
    n: int,
    *,
    tie_rate: float = 0.0,
    seed: int = 0,
    scale: EloScale | None = None,
    names: Sequence[str] | None = None,
) -> BattleTable:
    """``n`` battles between uniformly drawn pairs of distinct models, sides at random.

    Side A wins with the Bradley-Terry probability of ``ratings`` under ``scale``. Ties occur with
    probability ``4 * tie_rate * p * (1 - p)`` (most often between close models) and are taken half from
    A's wins and half from its losses, so A's expected score stays ``p`` and the half-win fit remains
    unbiased; ``tie_rate`` may be 0 to 0.5.
    """
    if not 0.0 <= tie_rate <= 0.5:
        raise ValueError(f"tie_rate {tie_rate} must lie in [0, 0.5]")
    scale = scale or EloScale()
    r = np.asarray(ratings, dtype=float)
    k = r.size
    if k < 2:
        raise ValueError("a simulation needs at least two models")
    rng = np.random.default_rng(seed)
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    p = 1.0 / (1.0 + scale.base ** ((r[b] - r[a]) / scale.scale))
    tie = 4.0 * tie_rate * p * (1.0 - p)
    win = p - tie / 2.0
    u = rng.random(n)
    outcome = np.where(u < win, 0, np.where(u < win + tie, 2, 1)).astype(np.int8)
    listed = tuple(names) if names is not None else tuple(f"model-{i:03d}" for i in range(k))
    if len(listed) != k:
        raise ValueError(f"{len(listed)} names for {k} ratings")
    return BattleTable(listed, a.astype(np.int32), b.astype(np.int32), outcome)
