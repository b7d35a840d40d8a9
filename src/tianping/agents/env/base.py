"""What the built-in environments share: tools declared with JSON-schema specs and answered by ``tool_<name>``
methods, arguments checked against the spec before any action runs, refusals answered as error texts, and the
final-state checks a task declares.

An environment is a ``ToolProvider`` (``tianping.agents.tools``) that owns one episode's state. It is built from a
seed (the task's starting state) alone, so that the conversation loop and an MCP server can both serve it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from tianping.agents.tools import ToolResult, ToolSpec

MAX_RESULT_CHARS = 8000
"""Most characters of one tool result the model is shown: a listing or a query cannot flood the context."""


class ToolError(Exception):
    """A call the tool refuses; ``str(exc)`` is what the model is shown."""


class SpecError(ValueError):
    """A seed or a check that an environment cannot take; ``field`` names the offending part."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class CheckResult:
    check: str
    """The check in words (``file report.txt equals '...'``)."""
    passed: bool
    detail: str = ""
    """What was found when it failed."""

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "passed": self.passed, "detail": self.detail}


def tool(
    name: str, description: str, properties: Mapping[str, Any] | None = None, required: Sequence[str] = ()
) -> ToolSpec:
    """A tool spec whose arguments are an object of ``properties`` and nothing else."""
    schema: dict[str, Any] = {"type": "object", "properties": dict(properties or {}), "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return ToolSpec(name, description, schema)


class Environment(ABC):
    """One episode's tools and state. Subclasses list ``TOOLS``, answer each with ``tool_<name>(**arguments)``
    (returning the text shown, raising ``ToolError`` to refuse) and read the final state in ``check``."""

    name: ClassVar[str]
    TOOLS: ClassVar[tuple[ToolSpec, ...]]
    CHECK_KEYS: ClassVar[frozenset[str]]
    """The key that names each kind of check this environment reads (``file``, ``sql``, ...)."""

    def __init__(self, seed: Mapping[str, Any] | None = None) -> None:
        self._specs = {spec.name: spec for spec in self.TOOLS}

    @classmethod
    def validate_seed(cls, seed: Mapping[str, Any]) -> None:
        """Raise ``SpecError`` for a seed the environment cannot start from (checked when tasks load)."""
        return None

    @classmethod
    def validate_check(cls, check: Mapping[str, Any]) -> None:
        """Raise ``SpecError`` for a check the environment cannot read (checked when tasks load)."""
        kinds = [key for key in check if key in cls.CHECK_KEYS]
        if len(kinds) != 1:
            raise SpecError(
                "checks", f"a {cls.name} check names exactly one of {sorted(cls.CHECK_KEYS)}, got {sorted(check)}"
            )

    @classmethod
    def context(cls, seed: Mapping[str, Any], language: str) -> str:
        """What the model is told of the environment in the seed's state beside the tools (today's date); '' for
        nothing."""
        return ""

    async def list_tools(self) -> Sequence[ToolSpec]:
        return self.TOOLS

    async def call(self, name: str, arguments: Mapping[str, Any]) -> ToolResult:
        spec = self._specs.get(name)
        if spec is None:
            return ToolResult(f"error: no tool named {name!r} (tools: {', '.join(self._specs)})", ok=False)
        problem = argument_problem(spec.parameters, arguments)
        if problem is not None:
            return ToolResult(f"error: {name}: {problem}", ok=False)
        try:
            text = getattr(self, "tool_" + name)(**_as_declared(spec.parameters, arguments))
        except ToolError as exc:
            return ToolResult(f"error: {exc}", ok=False)
        except OSError as exc:  # a name too long for the file system, a full disk: the call fails, not the episode
            return ToolResult(f"error: {name}: {exc.strerror or type(exc).__name__}", ok=False)
        return ToolResult(clip(text))

    async def aclose(self) -> None:
        """Release what the episode holds (a temp folder, a database)."""
        return None

    @abstractmethod
    def check(self, check: Mapping[str, Any]) -> CheckResult:
        """Whether the final state passes one declared check."""


def clip(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters not shown]"


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def argument_problem(schema: Mapping[str, Any], arguments: Any) -> str | None:
    """Why ``arguments`` do not fit the object ``schema`` (the subset of JSON schema the tools use: types,
    required, enum, bounds, no unknown properties), or None when they do."""
    if not isinstance(arguments, Mapping):
        return f"arguments must be a JSON object, got {type(arguments).__name__}"
    properties: Mapping[str, Any] = schema.get("properties") or {}
    missing = [key for key in schema.get("required") or () if key not in arguments]
    if missing:
        return f"missing required argument{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
    if schema.get("additionalProperties") is False:
        unknown = sorted(key for key in arguments if key not in properties)
        if unknown:
            takes = ", ".join(properties) or "none"
            return f"unknown argument{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} (takes: {takes})"
    for key, value in arguments.items():
        if key in properties:
            problem = _value_problem(properties[key], value)
            if problem is not None:
                return f"argument {key}: {problem}"
    return None


def _as_declared(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments with integral numbers of integer parameters as ints (JSON schema's integer takes 3.0)."""
    properties: Mapping[str, Any] = schema.get("properties") or {}
    return {
        key: int(value) if (properties.get(key) or {}).get("type") == "integer" and isinstance(value, float) else value
        for key, value in arguments.items()
    }


def _value_problem(schema: Mapping[str, Any], value: Any) -> str | None:
    kind = schema.get("type")
    if kind == "integer" and isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    if kind is not None:
        allowed = _TYPES[kind]
        # JSON has no separate boolean and integer: true is not 1 here
        if isinstance(value, bool) and kind != "boolean" or not isinstance(value, allowed):
            return f"must be {'an' if kind[0] in 'aeiou' else 'a'} {kind}, got {_json_type(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
    if "enum" in schema and value not in schema["enum"]:
        return f"must be one of {', '.join(map(str, schema['enum']))}"
    if isinstance(value, str) and len(value) > schema.get("maxLength", len(value)):
        return f"longer than {schema['maxLength']} characters"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"must be at least {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"must be at most {schema['maximum']}"
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", len(value)):
            return f"more than {schema['maxItems']} items"
        items = schema.get("items")
        for i, item in enumerate(value):
            problem = _value_problem(items, item) if items else None
            if problem is not None:
                return f"item {i} {problem}"
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    for name, types in _TYPES.items():
        if isinstance(value, types) and not (isinstance(value, bool) and name != "boolean"):
            return name
    return type(value).__name__


def same_number(a: Any, b: Any, tolerance: float = 1e-9) -> bool:
    """Numbers equal within an absolute or relative tolerance; anything else compared as it is."""
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, int | float) or not isinstance(b, int | float):
        return bool(a == b)
    return math.isclose(float(a), float(b), rel_tol=tolerance, abs_tol=tolerance)


def short(text: Any, limit: int = 60) -> str:
    """A value as a short quoted text for a check's description."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"
