"""JSON objects inside a model's free text: judges and attacker models wrap their JSON in code fences, a preamble
or trailing prose however firmly they are told not to.

One reader for all of them, bounded in the work it does: at most ``max_chars`` of the text are read and at most
``max_starts`` opening braces tried, so an adversarial reply full of ``{`` costs little.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["json_objects"]

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_OPEN = re.compile(r"\{")


def json_objects(text: str, *, max_chars: int = 100_000, max_starts: int = 200) -> Iterator[dict[str, Any]]:
    """Every JSON object in ``text``: the content of fenced blocks first, then each object that starts at one of
    the first ``max_starts`` opening braces (nested objects come out too, after the object holding them)."""
    text = text[:max_chars]
    for block in _FENCE.findall(text):
        try:
            value = json.loads(block.strip())
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value
    decoder = json.JSONDecoder()
    for n, match in enumerate(_OPEN.finditer(text)):
        if n >= max_starts:
            return
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value
