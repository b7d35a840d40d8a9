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


def circular_scores(rows: Iterable[Mapping[str, Any]]) -> dict[str, float | int]:
    """``vanilla`` (accuracy of rotation 0), ``circular`` (share of questions right under every rotation) and
    ``questions`` over sample rows of a run of a ``circular`` dataset (``meta``: ``circular_group``, ``rotation``,
    ``rotations``; ``score``). A question with a rotation not answered (an error, or no row) is not right."""
    groups: dict[str, dict[int, bool]] = {}
    sizes: dict[str, int] = {}
    for row in rows:
        meta = row.get("meta") or {}
        group = meta.get("circular_group")
        if group is None:
            continue
        groups.setdefault(group, {})[int(meta["rotation"])] = row.get("score") == 1.0
        sizes[group] = int(meta["rotations"])
    if not groups:
        return {"questions": 0, "vanilla": 0.0, "circular": 0.0}
    vanilla = sum(g.get(0, False) for g in groups.values()) / len(groups)
    circular = sum(all(g.get(k, False) for k in range(sizes[name])) for name, g in groups.items()) / len(groups)
    return {"questions": len(groups), "vanilla": vanilla, "circular": circular}
