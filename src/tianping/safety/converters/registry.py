"""Finding converters by name. Converters are built per call (they are cheap and mostly stateless), so options
such as the data directory or a translator never leak between callers through a shared global registry.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from . import chinese, codes, conversation, encodings, fiction, framing, injection, perturb, splitting, translation
from .base import GROUPS, Converter, TextConverter
from .composition import ComposedConverter
from .translation import Translator
from .wild import InTheWildConverter


class NoneConverter(TextConverter):
    """The baseline: what the model does with the plain request is what every attack is compared against."""

    name = "none"
    group = "baseline"
    description = "The seed prompt sent unchanged as a single user turn; the reference for every attack's uplift."
    source = "Direct-request baseline as used in HarmBench (Mazeika et al. 2024, arXiv:2402.04249)"

    def rewrite(self, prompt: str, lang: str, rng: random.Random) -> str:
        return prompt


def _build(data_dir: Path | str | None, translator: Translator | None) -> dict[str, Converter]:
    # imported here: the adaptive package builds on this one's base classes
    from tianping.safety import adaptive, translate_model
    from tianping.safety.app_probes import probes as app_probes

    converters: list[Converter] = [
        NoneConverter(),
        *framing.build(),
        *fiction.build(),
        *encodings.build(),
        *codes.build(),
        *perturb.build(),
        *chinese.build(),
        *translation.build(translator),
        *splitting.build(),
        *conversation.build(),
        *injection.build(),
        InTheWildConverter(data_dir),
        *adaptive.build(),
        *app_probes.build(),
        *translate_model.build(),
    ]
    table: dict[str, Converter] = {}
    for conv in converters:
        if conv.name in table:
            raise RuntimeError(f"two converters are named {conv.name!r}")
        if conv.group not in GROUPS:
            raise RuntimeError(f"converter {conv.name!r} has group {conv.group!r}, not one of {GROUPS}")
        table[conv.name] = conv
    # attacks written in YAML (the bundled library, TIANPING_ATTACK_PATH), built over the methods above
    from tianping.safety.yaml_attacks import yaml_converters

    for conv in yaml_converters(table):
        table[conv.name] = conv
    return table


def all_converters(*, data_dir: Path | str | None = None, translator: Translator | None = None) -> list[Converter]:
    """Every converter, sorted by group then name; options configure the ones that need them."""
    return sorted(_build(data_dir, translator).values(), key=lambda c: (c.group, c.name))


def converter_names() -> list[str]:
    return sorted(_build(None, None))


def get_converter(name: str, *, data_dir: Path | str | None = None, translator: Translator | None = None) -> Converter:
    """The converter called ``name``; ``"a+b"`` composes. Unknown names raise KeyError listing the known ones.

    ``data_dir`` is the benchmark data folder (for ``inthewild_template``); ``translator`` is the callable used
    by ``translate``.
    """
    if "+" in name:
        return compose(name.split("+"), data_dir=data_dir, translator=translator)
    table = _build(data_dir, translator)
    try:
        return table[name]
    except KeyError:
        raise KeyError(f"unknown converter {name!r}; known converters: {', '.join(sorted(table))}") from None


def compose(
    names: Sequence[str], *, data_dir: Path | str | None = None, translator: Translator | None = None
) -> Converter:
    """Chain converters left to right; a conversation-level converter may only be last (ValueError otherwise)."""
    if isinstance(names, str):
        raise TypeError("compose takes a sequence of names, e.g. ['leetspeak', 'roleplay_grandma']")
    if not names:
        raise ValueError("compose: give at least one converter name")
    steps = [get_converter(n, data_dir=data_dir, translator=translator) for n in names]
    if len(steps) == 1:
        return steps[0]
    adaptive = [s.name for s in steps if s.group == "adaptive"]
    if adaptive:
        raise ValueError(
            f"compose {'+'.join(s.name for s in steps)!r}: adaptive attacks ({', '.join(adaptive)}) write their own "
            "prompts while they run and cannot be composed with other converters"
        )
    return ComposedConverter(steps)
