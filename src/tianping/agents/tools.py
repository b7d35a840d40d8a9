"""What an agent task's tools look like to the conversation loop, wherever they run: in-process environments
(``tianping.agents.env``) or a Model Context Protocol server (``tianping.agents.mcp``).

A provider lists its tools as JSON-schema specs (sent to the model as OpenAI ``tools``) and answers one call at a
time with text. A call that is wrong (unknown tool, arguments that do not fit the schema, a failing action) is
answered with an error text the model can read, as a real tool would: it is the model's mistake, counted as an
invalid call by the task, never an exception that ends the episode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    """A JSON schema of the arguments object."""

    def openai(self) -> dict[str, Any]:
        """The spec as one entry of an OpenAI ``tools`` list."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": dict(self.parameters)},
        }


@dataclass(frozen=True)
class ToolResult:
    text: str
    """What the model is shown."""
    ok: bool = True
    """False for a call the tool refused (unknown tool, bad arguments, failed action): an invalid call."""


@runtime_checkable
class ToolProvider(Protocol):
    """The tools of one episode; the provider owns the episode's state (a temp folder, a database, a calendar)."""

    async def list_tools(self) -> Sequence[ToolSpec]: ...

    async def call(self, name: str, arguments: Mapping[str, Any]) -> ToolResult: ...

    async def aclose(self) -> None: ...
