"""Naming what a user probably meant: an unknown key of a YAML file, an unknown benchmark. A typo is the usual cause,
so the nearest known names come first, then the whole list."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any


def nearest(name: str, known: Sequence[str], n: int = 2) -> list[str]:
    """The known names closest to ``name`` (difflib's ratio of at least 0.75), best first."""
    return difflib.get_close_matches(name, list(known), n=n, cutoff=0.75)


def did_you_mean(name: str, known: Sequence[str], n: int = 2, shown: Callable[[str], str] = str) -> str:
    """``did you mean a or b?`` naming the known names nearest ``name`` (each as ``shown`` writes it: a model id
    around a backend name, say), or "" when none is near; each message puts it in its own punctuation."""
    near = nearest(name, known, n)
    return f"did you mean {' or '.join(shown(x) for x in near)}?" if near else ""


def unknown_key(key: str, known: Sequence[str], noun: str = "key") -> str:
    """``unknown key; did you mean X? (known: ...)`` (the hint only when a known key is near)."""
    hint = did_you_mean(key, known)
    hint = f"; {hint}" if hint else ""
    return f"unknown {noun}{hint} (known: {', '.join(known)})" if known else f"unknown {noun}{hint}"


def fields_at(model: Any, loc: Sequence[str | int]) -> list[str]:
    """The field names of the pydantic model found at ``loc`` inside ``model`` (a pydantic model class; empty
    when there is none): what an ``extra_forbidden`` error at ``(*loc, key)`` could have named. List indexes and
    mapping keys on the way are stepped over."""
    current: Any = model
    keyed = False  # the next part is a key of a mapping field, not a field name
    for part in loc:
        if isinstance(part, int) or keyed:
            keyed = False
            continue
        fields = getattr(current, "model_fields", None)
        if not isinstance(fields, dict) or part not in fields:
            return []
        annotation = fields[part].annotation
        keyed = _is_mapping(annotation)
        current = _model_in(annotation)
        if current is None:
            return []
    fields = getattr(current, "model_fields", None)
    return list(fields) if isinstance(fields, dict) else []


def _is_mapping(annotation: Any) -> bool:
    if typing.get_origin(annotation) is dict:
        return True
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and any(
        _is_mapping(arg) for arg in typing.get_args(annotation)
    )


def unknown_field(model: Any, loc: Sequence[str | int], noun: str = "field") -> str:
    """The message of pydantic's ``extra_forbidden`` error at ``loc`` (the unknown key last) inside ``model``."""
    return unknown_key(str(loc[-1]), fields_at(model, loc[:-1]), noun) if loc else f"unknown {noun}"


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside ``X``, ``X | None``, ``list[X]`` or ``dict[str, X]``."""
    if isinstance(annotation, type) and isinstance(getattr(annotation, "model_fields", None), dict):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list, tuple, dict, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def validation_problems(exc: Any, model: Any) -> list[tuple[str, str]]:
    """``(where, message)`` for each error of a pydantic ``ValidationError`` raised by ``model``: the dotted
    location (``(top level)`` for the whole), and pydantic's message, except that an unknown key names the
    nearest known keys and lists them (pydantic says only "Extra inputs are not permitted")."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = ".".join(str(part) for part in loc) or "(top level)"
        message = unknown_field(model, loc) if err["type"] == "extra_forbidden" else str(err["msg"])
        problems.append((where, message))
    return problems
