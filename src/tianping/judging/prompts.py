"""The judge prompts of the judged benchmarks: text files under ``prompts/``, written for tianping.

A template marks its fields as ``{name}``. :func:`fill` puts the values in literally (an answer that holds
braces, or text that looks like a field, is never read as one) and refuses a template whose fields and values
differ, so a renamed field fails at once instead of sending a prompt with a hole in it.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

__all__ = ["MAX_ANSWER_CHARS", "clip", "fill", "template"]

MAX_ANSWER_CHARS = 24_000
"""Longest answer (or reference) put into a judge prompt; a longer one is cut, and the cut says so."""

_FIELD = re.compile(r"\{([a-z_0-9]+)\}")


@cache
def template(name: str) -> str:
    """The text of ``prompts/<name>.txt`` without its final newline."""
    path = resources.files("tianping.judging").joinpath("prompts", f"{name}.txt")
    return path.read_text(encoding="utf-8").rstrip("\n")


def fill(text: str, **values: str) -> str:
    """``text`` with each ``{field}`` replaced by its value; every field needs a value and every value a field."""
    fields = set(_FIELD.findall(text))
    if fields != set(values):
        missing, unused = sorted(fields - set(values)), sorted(set(values) - fields)
        raise ValueError(f"judge prompt fields differ: missing values {missing}, values without a field {unused}")
    return _FIELD.sub(lambda m: values[m.group(1)], text)


def clip(text: str, limit: int = MAX_ANSWER_CHARS) -> str:
    """An answer as the judge sees it: cut at ``limit`` characters with a note (the judge must not read the cut as
    the answer's end), and a visible placeholder for an empty one."""
    if not text.strip():
        return "(empty reply)"
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... cut here for the judge: {len(text) - limit} more characters ...]"
