"""One episode's tools played through a real MCP server and client, inside this process.

``through_mcp(environment)`` serves the given provider over streamable HTTP on 127.0.0.1 and yields an
``McpToolProvider`` connected to it: the model's calls make the whole round trip (schema listing, JSON-RPC,
the transport, result and error mapping) while the environment stays here, where the task's checks read its final
state after the episode. The caller keeps ownership: closing the MCP session does not close the environment.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from tianping.agents.mcp.client import McpToolProvider
from tianping.agents.mcp.config import McpServerDef
from tianping.agents.mcp.server import serving
from tianping.agents.tools import ToolProvider, ToolResult, ToolSpec


class _Borrowed:
    """The caller's provider, lent to the server's one session: the session's end does not close it."""

    def __init__(self, provider: ToolProvider) -> None:
        self._provider = provider

    async def list_tools(self) -> Sequence[ToolSpec]:
        return await self._provider.list_tools()

    async def call(self, name: str, arguments: Mapping[str, Any]) -> ToolResult:
        return await self._provider.call(name, arguments)

    async def aclose(self) -> None:
        return None


@contextlib.asynccontextmanager
async def through_mcp(provider: ToolProvider, **limits: Any) -> AsyncIterator[McpToolProvider]:
    """An MCP client of ``provider`` served over HTTP in this process; ``limits`` are ``McpServerDef`` bounds
    (``call_timeout_s``, ``max_result_chars``, ``max_tools``, ``connect_timeout_s``)."""
    borrowed = _Borrowed(provider)
    async with serving(lambda: borrowed, name="tianping-episode") as url:
        client = McpToolProvider(McpServerDef(url=url, **limits))
        try:
            yield client
        finally:
            await client.aclose()
