"""The built-in agent environments: offline tools with state, one instance per episode.

Each is a ``ToolProvider`` built from a seed alone (``make_environment(name, seed)`` or the class itself), so the
conversation loop (``tianping.agents.loop``) and an MCP server can serve the same environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tianping.agents.env.base import CheckResult, Environment, SpecError, ToolError
from tianping.agents.env.calculator import CalculatorEnv
from tianping.agents.env.calendar import CalendarEnv
from tianping.agents.env.files import FileSystemEnv
from tianping.agents.env.sqlite import SqliteEnv

ENVIRONMENTS: dict[str, type[Environment]] = {
    FileSystemEnv.name: FileSystemEnv,
    SqliteEnv.name: SqliteEnv,
    CalendarEnv.name: CalendarEnv,
    CalculatorEnv.name: CalculatorEnv,
}


def make_environment(name: str, seed: Mapping[str, Any] | None = None) -> Environment:
    """A fresh environment of kind ``name`` in the seed's state."""
    try:
        kind = ENVIRONMENTS[name]
    except KeyError:
        raise SpecError("environment", f"unknown environment {name!r} (known: {', '.join(ENVIRONMENTS)})") from None
    return kind(seed)


__all__ = [
    "ENVIRONMENTS",
    "CalculatorEnv",
    "CalendarEnv",
    "CheckResult",
    "Environment",
    "FileSystemEnv",
    "SpecError",
    "SqliteEnv",
    "ToolError",
    "make_environment",
]
