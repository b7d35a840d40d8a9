"""The errors of the MCP bridge, and the one place that imports the optional SDK."""

from __future__ import annotations

import importlib
from types import ModuleType

INSTALL_HINT = "pip install 'tianping[mcp]'"


class McpUnavailable(RuntimeError):
    """The ``mcp`` SDK is not installed, or is a major version this bridge was not written for."""


class McpServerError(RuntimeError):
    """An MCP server failed the episode: it did not start, crashed, hung, or broke the protocol or a bound.

    Unlike a wrong call by the model (answered as a ``ToolResult`` with ``ok=False``), this is the tool side's
    failure, so it ends the episode as an error rather than counting against the model. The message never holds a
    credential: URLs, headers and environment values are redacted before they reach it.
    """


def require_sdk(module: str = "mcp") -> ModuleType:
    """Import a module of the MCP SDK, or say how to install it."""
    try:
        sdk = importlib.import_module("mcp")
    except ImportError as exc:
        raise McpUnavailable(f"MCP needs the mcp package: {INSTALL_HINT}") from exc
    version = getattr(sdk, "__version__", None) or _installed_version()
    # The v1 SDK has another server API (decorators, FastMCP) and other client signatures.
    if version and version.split(".")[0].isdigit() and int(version.split(".")[0]) < 2:
        raise McpUnavailable(f"MCP needs mcp 2.x, found {version}: {INSTALL_HINT}")
    return importlib.import_module(module)


def _installed_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mcp")
    except PackageNotFoundError:
        return None
