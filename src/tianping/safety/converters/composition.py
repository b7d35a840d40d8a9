"""Chaining converters: ``compose(["leetspeak", "roleplay_grandma"])`` leetspeaks the seed, then wraps the result
in the persona. Text-level steps feed their single user turn to the next step; a conversation-level step can only
come last, because nothing can rewrite a whole conversation back into one prompt.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from .base import Attack, Converter, Decoder


def _chain_decoders(decoders: list[Decoder]) -> Decoder | None:
    """Undo the outermost encoding first: the last step's encoding wraps all earlier ones."""
    if not decoders:
        return None
    ordered = list(reversed(decoders))

    def decode(answer: str) -> str:
        for step in ordered:
            answer = step(answer)
        return answer

    return decode


class ComposedConverter(Converter):
    """Several converters applied in order under the joint name ``a+b+c``."""

    def __init__(self, steps: Sequence[Converter]) -> None:
        if not steps:
            raise ValueError("compose: give at least one converter name")
        for step in steps[:-1]:
            if step.level == "conversation":
                joined = "+".join(s.name for s in steps)
                raise ValueError(
                    f"compose {joined!r}: {step.name!r} builds a whole conversation and can only be the last step; "
                    "at most one conversation-level converter is allowed, in last position"
                )
        self.steps = tuple(steps)
        self.name = "+".join(s.name for s in steps)
        self.group = steps[-1].group
        self.level = steps[-1].level
        self.needs_data = any(s.needs_data for s in steps)
        self.description = " Then: ".join(s.description for s in steps)
        self.source = "; ".join(dict.fromkeys(s.source for s in steps))
        langs = frozenset(steps[0].langs)
        for s in steps[1:]:
            langs &= s.langs
        self.langs = langs

    def _convert(self, prompt: str, lang: str, rng: random.Random) -> Attack:
        decoders: list[Decoder] = []
        canary: str | None = None
        text = prompt
        attack: Attack | None = None
        for step in self.steps:
            attack = step.convert(text, lang=lang, rng=rng)
            if attack.decode is not None:
                decoders.append(attack.decode)
            canary = attack.canary or canary
            text = attack.messages[-1].content
        assert attack is not None  # steps is non-empty (checked in __init__)
        return Attack(messages=attack.messages, converter=self.name, canary=canary, decode=_chain_decoders(decoders))
