"""Adaptive attacks: methods that write their attack while it runs, reading the target's answers.

``pair``, ``tap`` and ``crescendo_adaptive`` ask an attacker model (``--attacker-model``); ``best_of_n`` resamples
random augmentations of the request. Each is a converter of group ``adaptive`` (selected with
``--attacks adaptive`` or by name, never by default) whose sample is played as an episode of several requests
(:meth:`AdaptiveConverter.episode`); see ``docs/safety.md``, "Adaptive attacks".
"""

from __future__ import annotations

from .best_of_n import BestOfNAttack
from .common import GROUP, AdaptiveConverter, AttackerError, AttackerReplyError, Game
from .crescendo import CrescendoAttack
from .pair import PairAttack
from .tap import TapAttack

__all__ = [
    "GROUP",
    "AdaptiveConverter",
    "AttackerError",
    "AttackerReplyError",
    "BestOfNAttack",
    "CrescendoAttack",
    "Game",
    "PairAttack",
    "TapAttack",
    "build",
]


def build() -> list[AdaptiveConverter]:
    """One instance of every adaptive method, for the converter registry."""
    return [PairAttack(), TapAttack(), BestOfNAttack(), CrescendoAttack()]
