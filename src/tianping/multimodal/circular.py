"""MMBench's CircularEval: a multiple-choice question counts as right only if it is answered right under every
rotation of its options, which removes most of the credit a model gets for guessing or for a letter bias.

``rotations`` makes the variants (the loaders' ``circular`` option); ``circular_scores`` reads a run's sample
rows back into the two numbers MMBench reports: accuracy on the unrotated questions, and circular accuracy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from string import ascii_uppercase
from typing import Any


def rotations(choices: list[str], target: str) -> list[tuple[list[str], str]]:
    """Each rotation of the options with the letter the right one then has, starting with the original order."""
    n = len(choices)
    right = ascii_uppercase.index(target)
    return [(choices[shift:] + choices[:shift], ascii_uppercase[(right - shift) % n]) for shift in range(n)]


def circular_outcomes(rows: Iterable[Mapping[str, Any]]) -> dict[str, tuple[bool, bool]]:
    """Per question of a ``circular`` dataset (its ``meta``: ``circular_group``, ``rotation``, ``rotations``):
    (right in its original order, right under every rotation). A rotation not answered (an error, an unfinished
    answer, or no row) is not right. Rows of other datasets are left out: {} when there are none."""
    groups: dict[str, dict[int, bool]] = {}
    sizes: dict[str, int] = {}
    for row in rows:
        meta = row.get("meta") or {}
        group = meta.get("circular_group")
        if group is None:
            continue
        right = row.get("status", "scored") == "scored" and row.get("score") == 1.0
        groups.setdefault(group, {})[int(meta["rotation"])] = right
        sizes[group] = int(meta["rotations"])
    return {name: (g.get(0, False), all(g.get(k, False) for k in range(sizes[name]))) for name, g in groups.items()}


def circular_scores(rows: Iterable[Mapping[str, Any]]) -> dict[str, float | int]:
    """``vanilla`` (accuracy of rotation 0), ``circular`` (share of questions right under every rotation) and
    ``questions`` over sample rows of a run of a ``circular`` dataset (see ``circular_outcomes``)."""
    outcomes = circular_outcomes(rows)
    if not outcomes:
        return {"questions": 0, "vanilla": 0.0, "circular": 0.0}
    n = len(outcomes)
    return {
        "questions": n,
        "vanilla": sum(v for v, _ in outcomes.values()) / n,
        "circular": sum(c for _, c in outcomes.values()) / n,
    }
