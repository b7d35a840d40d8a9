"""Any tool provider served as an MCP server, over stdio or streamable HTTP, with the SDK's low-level server.

Each client session gets a provider of its own from the factory (its own temp folder, database, calendar) and
keeps it until the session ends: the stdio process exits, or an HTTP client deletes its session or leaves it idle.
Calls within a session are answered one at a time, as an episode makes them; sessions run side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from tianping.agents.mcp.errors import require_sdk
from tianping.agents.tools import ToolProvider

ProviderFactory = Callable[[], ToolProvider | Awaitable[ToolProvider]]

HTTP_PATH = "/mcp"
_SESSION_IDLE_S = 30 * 60
_MAX_SESSIONS = 256
"""Each session holds a provider (files, a database): a client that opens sessions without end is refused."""
_STOP_WAIT_S = 5.0


@dataclass
class _Live:
    provider: ToolProvider
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class _Sessions:
    """The provider of each session, made on the session's first request and closed when the session ends."""

    def __init__(self, factory: ProviderFactory) -> None:
        self._factory = factory
        self._live: dict[object, _Live] = {}
        self._making: dict[object, asyncio.Future[_Live]] = {}

    async def of(self, ctx: Any) -> _Live:
        connection = _connection(ctx)
        key: object = connection if connection is not None else _session_header(ctx)
        live = self._live.get(key)
        if live is not None:
            return live
        pending = self._making.get(key)
        if pending is not None:  # a second request of a new session, while the first makes its provider
            return await asyncio.shield(pending)
        pending = asyncio.get_running_loop().create_future()
        self._making[key] = pending
        try:
            made = self._factory()
            provider = await made if inspect.isawaitable(made) else made
        except BaseException as exc:
            if isinstance(exc, Exception):
                pending.set_exception(exc)
                pending.exception()  # retrieved: there may be no second request waiting on it
            else:
                pending.cancel()
            raise
        finally:
            del self._making[key]
        live = _Live(provider)
        self._live[key] = live
        pending.set_result(live)
        stack = getattr(connection, "exit_stack", None)
        if stack is not None:
            stack.push_async_callback(self._close, key)
        return live

    async def _close(self, key: object) -> None:
        live = self._live.pop(key, None)
        if live is not None:
            await live.provider.aclose()

    async def close_all(self) -> None:
        for key in list(self._live):
            await self._close(key)


def _connection(ctx: Any) -> Any:
    # The SDK (2.x) keeps the per-connection state, and the teardown stack it unwinds when the session ends, on the
    # request's session as ``_connection``; low-level handlers have no public way to it yet. Without it, sessions
    # are told apart by their HTTP session id and their providers closed when the server stops.
    return getattr(ctx.session, "_connection", None)


def _session_header(ctx: Any) -> object:
    request = getattr(ctx, "request", None)
    headers = getattr(request, "headers", None)
    return headers.get("mcp-session-id") if headers is not None else "stdio"


def build_server(provider_factory: ProviderFactory, name: str = "tianping") -> tuple[Any, _Sessions]:
    """A low-level MCP server whose tools are those of a provider per session, and the session registry."""
    lowlevel = require_sdk("mcp.server.lowlevel")
    types = require_sdk("mcp.types")
    sessions = _Sessions(provider_factory)

    async def list_tools(ctx: Any, params: Any) -> Any:
        live = await sessions.of(ctx)
        async with live.lock:
            specs = await live.provider.list_tools()
        tools = [types.Tool(name=s.name, description=s.description, input_schema=dict(s.parameters)) for s in specs]
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: Any) -> Any:
        live = await sessions.of(ctx)
        async with live.lock:
            result = await live.provider.call(params.name, params.arguments or {})
        return types.CallToolResult(content=[types.TextContent(text=result.text)], is_error=not result.ok)

    server = lowlevel.Server(name, version=_version(), on_list_tools=list_tools, on_call_tool=call_tool)
    return server, sessions


async def serve_provider(
    provider_factory: ProviderFactory,
    transport: Literal["stdio", "http"] = "stdio",
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    name: str = "tianping",
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve a provider factory until the client hangs up (stdio) or the task is cancelled (HTTP; a signal).

    Over HTTP, ``port=0`` takes a free port; ``on_ready`` gets the endpoint's URL once it accepts connections
    (by default it is written to stderr as ``MCP server: URL``; stdout stays free, as stdio needs it).
    """
    if transport == "stdio":
        server, sessions = build_server(provider_factory, name)
        stdio = require_sdk("mcp.server.stdio")
        try:
            async with stdio.stdio_server() as (read, write):
                if on_ready is not None:
                    on_ready("stdio")
                await server.run(read, write, server.create_initialization_options())
        finally:
            await sessions.close_all()
    elif transport == "http":
        async with _http(provider_factory, host, port, name) as (url, running):
            (on_ready or _announce)(url)
            await asyncio.shield(running)
    else:
        raise ValueError(f"transport must be 'stdio' or 'http', not {transport!r}")


@contextlib.asynccontextmanager
async def serving(
    provider_factory: ProviderFactory, host: str = "127.0.0.1", port: int = 0, *, name: str = "tianping"
) -> AsyncIterator[str]:
    """Serve a provider factory over streamable HTTP inside this process while the block runs; yields the URL."""
    async with _http(provider_factory, host, port, name) as (url, _):
        yield url


@contextlib.asynccontextmanager
async def _http(
    provider_factory: ProviderFactory, host: str, port: int, name: str
) -> AsyncIterator[tuple[str, asyncio.Future[None]]]:
    uvicorn = require_sdk("uvicorn")
    server, sessions = build_server(provider_factory, name)
    options: dict[str, Any] = {"streamable_http_path": HTTP_PATH, "host": host}
    # Session bounds came in a later 2.x; without them a server keeps sessions until their clients end them.
    accepted = inspect.signature(server.streamable_http_app).parameters
    bounds = {"session_idle_timeout": _SESSION_IDLE_S, "max_sessions": _MAX_SESSIONS}
    options.update({k: v for k, v in bounds.items() if k in accepted})
    app = server.streamable_http_app(**options)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Bound here rather than by uvicorn, so that port 0 is known before the first client needs it.
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    bound = sock.getsockname()[1]
    # No logging setup (log_config=None): inside tianping it would replace the process's own.
    config = uvicorn.Config(app, log_config=None, lifespan="on", timeout_graceful_shutdown=_STOP_WAIT_S)
    web = _server_class(uvicorn)(config)
    running = asyncio.ensure_future(web.serve(sockets=[sock]))
    try:
        while not web.started and not running.done():
            await asyncio.sleep(0.02)
        if not web.started:
            await running  # raises what stopped it
            raise OSError(f"the MCP HTTP server on {host}:{bound} stopped before it started")
        shown_host = f"[{host}]" if family == socket.AF_INET6 else host
        yield f"http://{shown_host}:{bound}{HTTP_PATH}", running
    finally:
        # Asked to stop rather than cancelled: uvicorn ends its connections and the lifespan (which ends the
        # sessions and closes their providers) in order.
        if not running.done():
            web.should_exit = True
            await asyncio.wait({running}, timeout=_STOP_WAIT_S * 2)
        if not running.done():
            running.cancel()
            await asyncio.wait({running}, timeout=_STOP_WAIT_S)
        sock.close()
        await sessions.close_all()


def _server_class(uvicorn: Any) -> Any:
    class Server(uvicorn.Server):  # type: ignore[misc, name-defined]
        """uvicorn's server without its signal handlers: whoever runs it decides what a signal does (the
        ``python -m`` entry stops it; inside a run, tianping's own handlers stay in place)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server


def _announce(url: str) -> None:
    print(f"MCP server: {url}", file=sys.stderr, flush=True)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tianping")
    except PackageNotFoundError:
        return "unknown"
