"""The converter contract: a seed prompt goes in, the :class:`Attack` actually sent to the model comes out.

Two levels exist. A *text* converter rewrites the prompt into another single prompt (an encoding, a
persona, a fictional frame), so text converters can be chained. A *conversation* converter builds a whole
message list (a fabricated history, a system prompt, a tool result) around the prompt, so nothing can be
applied after it; :func:`tianping.safety.converters.compose` enforces that.
"""

from __future__ import annotations

import random
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from tianping.core import Message

Level = Literal["text", "conversation"]
Decoder = Callable[[str], str]

LANGS: frozenset[str] = frozenset({"en", "zh"})
BOTH: frozenset[str] = LANGS
EN: frozenset[str] = frozenset({"en"})
ZH: frozenset[str] = frozenset({"zh"})

GROUPS: tuple[str, ...] = (
    "baseline",
    "roleplay",
    "instruction",
    "encoding",
    "chinese",
    "translation",
    "fiction",
    "splitting",
    "conversation",
    "injection",
    "template",
    "adaptive",
    "app",
    "agent",
)
"""The fixed set of groups; reports aggregate attack success by group, so the set must not drift."""

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


class ConverterSkipped(Exception):
    """The method cannot apply to this prompt (too long for a cipher, wrong language, ...); str(exc) is the reason."""


@dataclass(frozen=True)
class Attack:
    """What is sent to the model under test, and what the judge needs to read the answer."""

    messages: tuple[Message, ...]
    """The conversation to send; the last message is a user turn."""
    converter: str
    """The method name (``"base64"``, or ``"a+b"`` when composed)."""
    canary: str | None = None
    """A secret string; if it appears in the model's answer the attack succeeded."""
    decode: Decoder | None = field(default=None, compare=False)
    """Maps an answer given in the attack's encoding back to plain text, for the judge. Left out of equality:
    two attacks built from the same prompt and seed are equal even though each holds its own closure."""

    def __post_init__(self) -> None:
        if not self.messages or self.messages[-1].role != "user":
            raise ValueError(f"attack {self.converter!r}: the last message must be a user turn")


def has_cjk(text: str) -> bool:
    """True when the text holds at least one Chinese character."""
    return _CJK.search(text) is not None


def has_latin(text: str) -> bool:
    """True when the text holds at least one ASCII letter."""
    return _LATIN.search(text) is not None


def pick(table: Mapping[str, str], lang: str) -> str:
    """The wrapper text for the seed's language; wrappers follow the seed so that a Chinese seed stays Chinese."""
    return table[lang] if lang in table else table["en"]


def fill(template: str, **values: str) -> str:
    """Substitute ``{key}`` slots by plain replacement, so braces inside a prompt are never interpreted."""
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out


class Converter(ABC):
    """One attack method. Subclasses set the metadata as class attributes or in ``__init__``."""

    name: str
    group: str
    description: str
    source: str
    langs: frozenset[str] = BOTH
    level: Level = "text"
    max_chars: int | None = None
    """Longest prompt the method accepts; ciphers blow up or become unreadable beyond it."""
    needs_data: bool = False
    """True when the method reads the benchmark data directory: build it with ``get_converter(name, data_dir=...)``."""

    def convert(self, prompt: str, *, lang: str, rng: random.Random) -> Attack:
        """Turn ``prompt`` (a seed in ``lang``) into an :class:`Attack`; deterministic given ``rng``."""
        self.check(prompt, lang)
        return self._convert(prompt, lang, rng)

    def check(self, prompt: str, lang: str) -> None:
        """Raise ValueError on bad input and ConverterSkipped when the method does not apply."""
        if lang not in LANGS:
            raise ValueError(f"converter {self.name!r}: lang must be one of {sorted(LANGS)}, got {lang!r}")
        if not prompt.strip():
            raise ValueError(f"converter {self.name!r}: the prompt is empty")
        if lang not in self.langs:
            raise ConverterSkipped(f"{self.name} applies to {'/'.join(sorted(self.langs))} seeds, not {lang}")
        if self.max_chars is not None and len(prompt) > self.max_chars:
            raise ConverterSkipped(f"{self.name}: prompt has {len(prompt)} characters, limit is {self.max_chars}")

    @abstractmethod
    def _convert(self, prompt: str, lang: str, rng: random.Random) -> Attack: ...

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} ({self.group}, {self.level})>"


class TextConverter(Converter):
    """A prompt -> prompt method; the attack is that one user turn."""

    level: Level = "text"

    @abstractmethod
    def rewrite(self, prompt: str, lang: str, rng: random.Random) -> str:
        """The prompt to send instead of ``prompt``."""

    def decoder(self) -> Decoder | None:
        """How to read an answer written in this method's encoding; None when answers come back in plain text."""
        return None

    def _convert(self, prompt: str, lang: str, rng: random.Random) -> Attack:
        text = self.rewrite(prompt, lang, rng)
        return Attack(messages=(Message("user", text),), converter=self.name, decode=self.decoder())


class TemplateConverter(TextConverter):
    """A method that is fully described by a wrapper text per language with a ``{prompt}`` slot.

    Several wrappers per language may be given; one is chosen with the rng, so repeated runs with
    different seeds sample the phrasing instead of testing a single wording.
    """

    def __init__(
        self,
        name: str,
        group: str,
        description: str,
        source: str,
        templates: Mapping[str, tuple[str, ...]],
        langs: frozenset[str] = BOTH,
    ) -> None:
        for lang, options in templates.items():
            if not options or any("{prompt}" not in t for t in options):
                raise ValueError(f"converter {name!r}: every {lang} template needs a {{prompt}} slot")
        self.name, self.group, self.description, self.source = name, group, description, source
        self.templates = dict(templates)
        self.langs = langs

    def rewrite(self, prompt: str, lang: str, rng: random.Random) -> str:
        options = self.templates.get(lang) or self.templates["en"]
        return fill(rng.choice(options), prompt=prompt)


class ConversationConverter(Converter):
    """A prompt -> conversation method (fabricated history, system prompt, tool output)."""

    level: Level = "conversation"


def bilingual(
    name: str, group: str, description: str, source: str, en: tuple[str, ...], zh: tuple[str, ...]
) -> TemplateConverter:
    """A template method with English and Chinese wrappers, the common case for framing methods."""
    return TemplateConverter(name, group, description, source, {"en": en, "zh": zh})
