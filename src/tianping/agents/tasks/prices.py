"""Token prices, for the cost of an agent episode: a small YAML file named by ``TIANPING_PRICES``.

The file maps a model id (as the run names it) to US dollars per million tokens::

    openai/gpt-4o-mini: {input: 0.15, output: 0.60}
    openai/qwen2.5-72b-instruct: {input: 0.40, output: 1.20}

A run keeps the prices it started with (its inputs), so a resumed run costs its episodes alike. Without the
variable, or for a model the file does not list, no cost is computed (and none is shown). Episodes whose server
reported no token usage are not costed either: estimated tokens are no bill.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import yaml

from tianping.core.errors import TaskConfigError

PRICES_ENV = "TIANPING_PRICES"
PRICES_INPUT = "agent:prices"
"""The key of the prices among a run's stored inputs."""

Prices = Mapping[str, tuple[float, float]]
"""Model id -> (dollars per million prompt tokens, dollars per million completion tokens)."""


class _Tokens(Protocol):
    prompt_tokens: int
    completion_tokens: int


def parse_prices(data: Any, source: str) -> dict[str, tuple[float, float]]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise TaskConfigError(f"{source}: expected a mapping of model ids to {{input: ..., output: ...}}")
    out = {}
    for model, entry in data.items():
        if not isinstance(entry, Mapping) or set(entry) != {"input", "output"}:
            raise TaskConfigError(
                f"{source}: {model}: expected {{input: <$ per 1M tokens>, output: <$ per 1M tokens>}}"
            )
        values = []
        for key in ("input", "output"):
            value = entry[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise TaskConfigError(f"{source}: {model}.{key}: must be a non-negative number of dollars")
            values.append(float(value))
        out[str(model)] = (values[0], values[1])
    return out


def _file() -> tuple[str, Any] | None:
    path = os.environ.get(PRICES_ENV, "").strip()
    if not path:
        return None
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise TaskConfigError(f"{PRICES_ENV}={path}: cannot read the prices file: {exc.strerror}") from None
    try:
        return path, yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TaskConfigError(f"{path}: not valid YAML: {exc}") from None


def prices_input() -> dict[str, Any]:
    """What a run keeps of the configured prices ({} when none are)."""
    found = _file()
    if found is None:
        return {}
    path, data = found
    prices = parse_prices(data, path)
    return {PRICES_INPUT: {"source": path, "prices": {m: {"input": i, "output": o} for m, (i, o) in prices.items()}}}


def read_prices(stored: Mapping[str, Any] | None, resumed: bool) -> Prices:
    """The prices a run uses: those it stored when it started (``resumed``), else the configured file's."""
    if resumed:
        return parse_prices((stored or {}).get("prices"), "the run's stored prices")
    found = _file()
    return {} if found is None else parse_prices(found[1], found[0])


def cost_of(prices: Prices, model: str, tokens: _Tokens) -> float | None:
    """Dollars the tokens cost at the model's prices; None when the model has none."""
    price = prices.get(model)
    if price is None:
        return None
    return (tokens.prompt_tokens * price[0] + tokens.completion_tokens * price[1]) / 1_000_000
