"""The tools of one episode when its task file names MCP servers: the environment's and every server's, as one
``ToolProvider``.

Each server is connected for the episode (a ``command`` server is started and stopped with it; ``${NAME}`` values
are read from the environment now, never stored) and its tools are listed beside the environment's. Two tools of
one name would make a call ambiguous, so a clash fails the episode naming both owners. Calls go to the owner of
the tool; the final-state checks still read the environment alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from tianping.agents.mcp.config import McpServerDef
from tianping.agents.tools import ToolProvider, ToolResult, ToolSpec


class ServedBeside:
    """The environment's tools first, then each server's in the file's order; the environment is the caller's to
    close, the servers are closed by ``with_servers``."""

    def __init__(self, environment: ToolProvider, servers: Sequence[tuple[str, ToolProvider]]) -> None:
        self._environment = environment
        self._servers = list(servers)
        self._owners: dict[str, ToolProvider] | None = None
        self._specs: list[ToolSpec] = []

    async def list_tools(self) -> Sequence[ToolSpec]:
        if self._owners is None:
            from tianping.agents.mcp.errors import McpServerError

            owners: dict[str, ToolProvider] = {}
            named: dict[str, str] = {}
            specs: list[ToolSpec] = []
            for label, provider in [("the environment", self._environment), *self._servers]:
                for spec in await provider.list_tools():
                    if spec.name in named:
                        raise McpServerError(
                            f"{label} offers a tool {spec.name!r}, which {named[spec.name]} offers too: a call of it "
                            "would be ambiguous (list the server's other tools in its 'tools' field)"
                        )
                    named[spec.name], owners[spec.name] = label, provider
                    specs.append(spec)
            self._owners, self._specs = owners, specs
        return list(self._specs)

    async def call(self, name: str, arguments: Mapping[str, Any]) -> ToolResult:
        await self.list_tools()
        assert self._owners is not None
        owner = self._owners.get(name)
        if owner is None:
            offered = ", ".join(self._owners)
            return ToolResult(f"error: there is no tool named {name!r}; the tools are: {offered}", ok=False)
        return await owner.call(name, arguments)

    async def aclose(self) -> None:
        return None


@contextlib.asynccontextmanager
async def with_servers(environment: ToolProvider, servers: Sequence[McpServerDef]) -> AsyncIterator[ServedBeside]:
    """The environment's tools and the servers', connected for one episode and closed after it."""
    from tianping.agents.mcp.client import McpToolProvider

    async with contextlib.AsyncExitStack() as stack:
        connected: list[tuple[str, ToolProvider]] = []
        for i, server in enumerate(servers):
            client = McpToolProvider(server)  # ${NAME} values are filled in here, at connect time
            stack.push_async_callback(client.aclose)
            connected.append((f"MCP server mcp_servers[{i}] ({client.shown})", client))
        yield ServedBeside(environment, connected)
