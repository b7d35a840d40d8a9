"""A small tool provider with state, failures, a crash and a hang, served over MCP by tianping's own server:
``python tests/mcp_toy_server.py [stdio|http]``. The MCP tests start it as a subprocess."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from tianping.agents.tools import ToolResult, ToolSpec

_NUMBER = {"type": "number"}


class ToyProvider:
    live = 0
    """Providers made and not yet closed in this process: a session's provider is closed when the session ends."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.closed = False
        ToyProvider.live += 1

    async def list_tools(self) -> Sequence[ToolSpec]:
        return [
            ToolSpec("add", "Add two numbers.", {"type": "object", "properties": {"a": _NUMBER, "b": _NUMBER},
                                                  "required": ["a", "b"]}),
            ToolSpec("remember", "Keep a note for this session.",
                     {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
            ToolSpec("recall", "The notes kept in this session."),
            ToolSpec("big", "A text of n characters.",
                     {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}),
            ToolSpec("live_sessions", "How many sessions have a provider now."),
            ToolSpec("pid", "The server's process id."),
            ToolSpec("crash", "Ends the server process at once."),
            ToolSpec("hang", "Never answers."),
        ]  # fmt: skip

    async def call(self, name: str, arguments: Mapping[str, Any]) -> ToolResult:
        if name == "add":
            a, b = arguments.get("a"), arguments.get("b")
            if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b)):
                return ToolResult("error: 'a' and 'b' must be numbers", ok=False)
            return ToolResult(str(a + b))  # type: ignore[operator]
        if name == "remember":
            self.notes.append(str(arguments.get("text", "")))
            return ToolResult(f"noted ({len(self.notes)})")
        if name == "recall":
            return ToolResult("\n".join(self.notes) or "(no notes)")
        if name == "big":
            return ToolResult("x" * int(arguments.get("n", 0)))
        if name == "live_sessions":
            return ToolResult(str(ToyProvider.live))
        if name == "pid":
            return ToolResult(str(os.getpid()))
        if name == "crash":
            sys.stderr.write("toy server: crashing on purpose\n")
            sys.stderr.flush()
            os._exit(3)
        if name == "hang":
            await asyncio.sleep(3600)
        return ToolResult(f"error: there is no tool named {name!r}", ok=False)

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            ToyProvider.live -= 1


if __name__ == "__main__":
    from tianping import aio
    from tianping.agents.mcp.server import serve_provider

    transport = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    try:
        aio.run(serve_provider(ToyProvider, transport))  # type: ignore[arg-type]
    except KeyboardInterrupt:  # SIGTERM or SIGINT: the way a test stops it
        sys.exit(130)
