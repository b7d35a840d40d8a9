"""Model Context Protocol: MCP servers as an agent task's tool providers, and any tool provider served over MCP.

``McpToolProvider`` (``client``) connects to a server over stdio (a command started and stopped with the episode)
or streamable HTTP (a URL) and answers the ``ToolProvider`` interface. ``serve_provider`` (``server``) does the
reverse: it serves a provider factory over stdio or HTTP, one provider per client session;
``python -m tianping.agents.mcp.serve ENV_NAME`` serves one of tianping's environments that way, and
``through_mcp`` (``bridge``) plays one episode's calls through a server and client inside the process.

The ``mcp`` SDK is optional (``pip install 'tianping[mcp]'``): this package imports it only when a connection or a
server starts, so the definitions and the error messages load without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tianping.agents.mcp.bridge import through_mcp
    from tianping.agents.mcp.client import McpToolProvider
    from tianping.agents.mcp.config import McpServerDef
    from tianping.agents.mcp.errors import McpServerError, McpUnavailable
    from tianping.agents.mcp.server import serve_provider, serving

__all__ = ["McpServerDef", "McpServerError", "McpToolProvider", "McpUnavailable", "serve_provider", "serving",
           "through_mcp"]  # fmt: skip

_HOMES = {
    "McpToolProvider": "tianping.agents.mcp.client",
    "McpServerDef": "tianping.agents.mcp.config",
    "McpServerError": "tianping.agents.mcp.errors",
    "McpUnavailable": "tianping.agents.mcp.errors",
    "serve_provider": "tianping.agents.mcp.server",
    "serving": "tianping.agents.mcp.server",
    "through_mcp": "tianping.agents.mcp.bridge",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(home), name)
