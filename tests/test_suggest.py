"""An unknown key in any YAML file tianping reads names the nearest known keys, found at the key's own place in
the schema (tianping.core.suggest)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from tianping.core.suggest import fields_at, nearest, unknown_field, unknown_key, validation_problems


class _Leaf(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = 0.0
    max_tokens: int = 1


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    generation: _Leaf | None = None


class _Root(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[_Item] = []
    by_name: dict[str, _Item] = {}
    concurrency: int = 1


def test_nearest_names_are_typos_not_anything() -> None:
    assert nearest("concurency", ["concurrency", "currency", "timeout_s"]) == ["concurrency", "currency"]
    assert nearest("gsm8kk", ["gsm8k", "mmlu"]) == ["gsm8k"]
    assert nearest("zzz", ["gsm8k", "mmlu"]) == []


def test_the_message_hints_only_when_a_key_is_near() -> None:
    assert unknown_key("limt", ["limit", "mode"]) == "unknown key; did you mean limit? (known: limit, mode)"
    assert unknown_key("cache", ["limit", "mode"]) == "unknown key (known: limit, mode)"
    assert unknown_key("x", [], "field") == "unknown field"


def test_the_known_keys_are_those_at_the_keys_place() -> None:
    assert fields_at(_Root, ()) == ["items", "by_name", "concurrency"]
    assert fields_at(_Root, ("items", 0)) == ["name", "generation"]
    assert fields_at(_Root, ("items", 3, "generation")) == ["temperature", "max_tokens"]
    assert fields_at(_Root, ("by_name", "a", "generation")) == ["temperature", "max_tokens"]
    assert fields_at(_Root, ("concurrency",)) == [] and fields_at(_Root, ("nope",)) == []


def test_pydantic_errors_become_places_and_hints() -> None:
    with pytest.raises(ValidationError) as caught:
        _Root.model_validate({"items": [{"name": "a", "generation": {"temprature": 1}}], "concurency": 2})
    problems = dict(validation_problems(caught.value, _Root))
    assert problems["items.0.generation.temprature"].startswith("unknown field; did you mean temperature?")
    assert problems["concurency"].startswith("unknown field; did you mean concurrency?")
    with pytest.raises(ValidationError) as caught:
        _Root.model_validate({"concurrency": "many"})
    ((where, message),) = validation_problems(caught.value, _Root)
    assert where == "concurrency" and "integer" in message
    assert unknown_field(_Root, ("items", 0, "nmae")).startswith("unknown field; did you mean name?")
