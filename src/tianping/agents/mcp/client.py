"""An MCP server as the tool provider of one episode.

The SDK's transports and session live in one task of their own (the owner) from connect to close: anyio's task
groups must be left in the task that entered them, and a failing HTTP transport cancels the task that hosts it,
which must not be the episode's. Calls travel to the owner as jobs and come back as futures, so a server that
crashes or hangs is an error of that episode (``McpServerError``) within the episode's bounds, never a hang or a
stray cancellation of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from tianping.agents.mcp.config import McpServerDef, ResolvedServer
from tianping.agents.mcp.errors import McpServerError, require_sdk
from tianping.agents.tools import ToolResult, ToolSpec

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""What the OpenAI ``tools`` API accepts as a function name; a tool it would refuse fails the listing instead."""
_MAX_PAGES = 32
_MAX_LISTED = 4096
_MAX_DESCRIPTION = 8192
_CLOSE_WAIT_S = 10.0
"""The SDK's stdio shutdown (close stdin, wait, SIGTERM, SIGKILL) is bounded at about 6.5 s; HTTP sends a DELETE."""
_GRACE_S = 5.0
"""How much longer than its own bound a caller waits for the owner before it stops trusting it."""
_STDERR_TAIL = 2000

# JSON-RPC codes (the MCP SDK's): a server refusing the call itself is the model's mistake, a lost connection not.
_INVALID_PARAMS = -32602
_METHOD_NOT_FOUND = -32601
_CONNECTION_CLOSED = -32000


@dataclass
class _Job:
    what: str
    """``call of tool 'x'``: how messages name it."""
    work: Callable[[Any], Awaitable[Any]]
    timeout: float
    future: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class _Timeout(Exception):
    pass


class McpToolProvider:
    """The tools of one MCP server for one episode: connect (``start``, or the first ``list_tools``), call, close.

    A stdio server is started on connect and stopped on ``aclose``; its stderr is kept (not shown) and its tail
    quoted when it fails. Use it as ``async with McpToolProvider(spec) as tools:`` or call ``aclose`` yourself.
    """

    def __init__(self, server: McpServerDef | ResolvedServer, *, environ: Mapping[str, str] | None = None) -> None:
        self._server = server.resolve(environ) if isinstance(server, McpServerDef) else server
        self._spec = self._server.spec
        self._jobs: asyncio.Queue[_Job | None] | None = None
        self._owner: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[list[ToolSpec]] | None = None
        self._tools: list[ToolSpec] | None = None
        self._failure: McpServerError | None = None
        self._closing = False
        self._start_lock = asyncio.Lock()
        self._stderr: IO[str] | None = None

    @property
    def shown(self) -> str:
        """The server as messages name it: the command and its arguments, or the URL, with secrets redacted."""
        return self._server.shown

    async def __aenter__(self) -> McpToolProvider:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the ToolProvider interface ----------------------------------------------------------------------------

    async def list_tools(self) -> Sequence[ToolSpec]:
        await self.start()
        assert self._tools is not None
        return list(self._tools)

    async def call(self, name: str, arguments: Mapping[str, Any]) -> ToolResult:
        await self.start()
        assert self._tools is not None
        offered = [t.name for t in self._tools]
        if name not in offered:
            return ToolResult(f"error: there is no tool named {name!r}; the tools are: {', '.join(offered)}", ok=False)
        what = f"call of tool {name!r}"
        args = dict(arguments)

        async def work(session: Any) -> Any:
            return await session.call_tool(name, args)

        try:
            result = await self._submit(_Job(what, work, self._spec.call_timeout_s))
        except _Refused as refused:
            return ToolResult(f"error: {refused}", ok=False)
        return ToolResult(self._result_text(result), ok=not getattr(result, "is_error", False))

    async def aclose(self) -> None:
        if self._closing:
            return
        self._closing = True
        owner = self._owner
        if owner is not None and not owner.done():
            assert self._jobs is not None and self._ready is not None
            if self._ready.done():
                self._jobs.put_nowait(None)  # the owner leaves its job loop and closes session and transport
                done, _ = await asyncio.wait({owner}, timeout=_CLOSE_WAIT_S)
            else:
                done = set()  # still connecting: nothing reads the queue yet
            if not done:
                # The SDK's stdio shutdown is shielded from cancellation, so the process is still stopped.
                owner.cancel()
                await asyncio.wait({owner}, timeout=_CLOSE_WAIT_S)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    # -- connecting ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, complete the handshake and list the tools, within ``connect_timeout_s``; idempotent."""
        if self._failure is not None:
            raise self._failure
        if self._tools is not None:
            return
        if self._closing:
            raise McpServerError(f"MCP server {self.shown}: the provider is closed")
        async with self._start_lock:
            if self._tools is not None:
                return
            if self._failure is not None:
                raise self._failure
            sdk = require_sdk("mcp")
            _quiet_sdk_logs()
            loop = asyncio.get_running_loop()
            self._jobs = asyncio.Queue()
            self._ready = loop.create_future()
            if self._spec.command is not None:
                # Kept open until aclose: the server writes to it for the whole episode.
                self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
            self._owner = loop.create_task(self._own(sdk), name=f"mcp {self.shown}")
            timeout = self._spec.connect_timeout_s
            try:
                done, _ = await asyncio.wait({self._ready}, timeout=timeout)
            except asyncio.CancelledError:
                await self.aclose()
                raise
            if not done:
                self._fail(f"did not complete the handshake and the tool listing within {timeout:g} s")
            elif (exc := self._ready.exception()) is not None:
                self._fail(exc if isinstance(exc, McpServerError) else _describe(exc, self._server.redact))
            if self._failure is not None:
                await self.aclose()
                raise self._failure
            self._tools = self._ready.result()

    async def _own(self, sdk: Any) -> None:
        """The owner task: transport, session, handshake, listing, then the jobs until ``aclose``."""
        import anyio

        assert self._jobs is not None and self._ready is not None
        try:
            async with contextlib.AsyncExitStack() as stack:
                session = await self._connect(sdk, stack)
                await session.initialize()
                tools = await self._list(session)
                if not self._ready.done():
                    self._ready.set_result(tools)
                async with anyio.create_task_group() as group:
                    while (job := await self._jobs.get()) is not None:
                        group.start_soon(self._run_job, session, job)
                    group.cancel_scope.cancel()
        except BaseException as exc:  # whatever ended the connection is reported, not raised
            if not self._closing or not isinstance(exc, asyncio.CancelledError):
                self._fail(exc if isinstance(exc, McpServerError) else _describe(exc, self._server.redact))
        finally:
            ended = self._failure or McpServerError(f"MCP server {self.shown}: the connection is closed")
            if not self._ready.done():
                self._ready.set_exception(ended)
                self._ready.exception()  # retrieved: a start that timed out no longer waits for it
            while not self._jobs.empty():
                job = self._jobs.get_nowait()
                if job is not None and not job.future.done():
                    job.future.set_exception(ended)

    async def _connect(self, sdk: Any, stack: contextlib.AsyncExitStack) -> Any:
        server = self._server
        if self._spec.command is not None:
            params = sdk.StdioServerParameters(
                command=self._spec.command, args=server.args, env=server.env or None, cwd=self._spec.cwd
            )
            try:
                streams = await stack.enter_async_context(sdk.stdio_client(params, errlog=self._stderr))
            except OSError as exc:
                raise McpServerError(f"MCP server {self.shown}: cannot start it: {server.redact(str(exc))}") from None
        else:
            streamable = require_sdk("mcp.client.streamable_http")
            httpx = require_sdk("httpx2")  # the SDK's HTTP client (2.x), installed with it
            # Reads wait as long as a call may: a tool's answer comes on the POST's response stream.
            timeout = httpx.Timeout(self._spec.connect_timeout_s, read=self._spec.call_timeout_s + _GRACE_S)
            client = await stack.enter_async_context(httpx.AsyncClient(headers=server.headers, timeout=timeout))
            streams = await stack.enter_async_context(streamable.streamable_http_client(server.url, http_client=client))
        info = sdk.types.Implementation(name="tianping", version=_tianping_version())
        return await stack.enter_async_context(sdk.ClientSession(streams[0], streams[1], client_info=info))

    async def _list(self, session: Any) -> list[ToolSpec]:
        types = require_sdk("mcp.types")
        listed: list[Any] = []
        cursor = None
        for _ in range(_MAX_PAGES):
            params = types.PaginatedRequestParams(cursor=cursor) if cursor is not None else None
            page = await session.list_tools(params=params)
            listed.extend(page.tools)
            if len(listed) > _MAX_LISTED:
                raise self._error(f"lists more than {_MAX_LISTED} tools")
            cursor = page.next_cursor
            if cursor is None:
                break
        else:
            raise self._error(f"lists its tools over more than {_MAX_PAGES} pages")
        by_name: dict[str, Any] = {}
        for tool in listed:
            if tool.name in by_name:
                raise self._error(f"lists the tool {tool.name!r} twice")
            by_name[tool.name] = tool
        wanted = self._spec.tools
        if wanted is not None:
            missing = [n for n in wanted if n not in by_name]
            if missing:
                raise self._error(f"has no tool {', '.join(map(repr, missing))} (it offers: {', '.join(by_name)})")
            by_name = {n: by_name[n] for n in wanted}
        if len(by_name) > self._spec.max_tools:
            raise self._error(
                f"offers {len(by_name)} tools, more than max_tools={self._spec.max_tools} "
                "(raise it, or choose some with 'tools')"
            )
        return [self._spec_of(tool) for tool in by_name.values()]

    def _spec_of(self, tool: Any) -> ToolSpec:
        if not _TOOL_NAME.match(tool.name):
            raise self._error(
                f"offers a tool named {tool.name!r}, which the OpenAI tools API refuses (letters, digits, '_' and "
                "'-', at most 64); leave it out with 'tools'"
            )
        schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
        if schema.get("type", "object") != "object":
            raise self._error(f"gives the tool {tool.name!r} an input schema that is not an object")
        description = (tool.description or tool.title or "")[:_MAX_DESCRIPTION]
        return ToolSpec(tool.name, description, {"type": "object", **schema})

    # -- calls -----------------------------------------------------------------------------------------------

    async def _submit(self, job: _Job) -> Any:
        if self._failure is not None:
            raise self._failure
        assert self._jobs is not None and self._owner is not None
        if self._owner.done():
            raise self._fail("the connection is closed")
        self._jobs.put_nowait(job)
        done, _ = await asyncio.wait({job.future, self._owner}, timeout=job.timeout + _GRACE_S,
                                     return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if job.future not in done:
            job.future.cancel()
            reason = "the connection ended" if self._owner.done() else "did not answer"
            raise self._fail(f"{reason} during the {job.what}")
        exc = job.future.exception()
        if exc is None:
            return job.future.result()
        if isinstance(exc, _Timeout):
            raise self._fail(f"did not answer the {job.what} within {job.timeout:g} s")
        if isinstance(exc, _Refused):
            raise exc
        raise self._fail(exc if isinstance(exc, McpServerError) else _describe(exc, self._server.redact, job.what))

    async def _run_job(self, session: Any, job: _Job) -> None:
        import anyio

        outcome: Any = None
        error: BaseException | None = None
        with anyio.move_on_after(job.timeout) as scope:
            try:
                outcome = await job.work(session)
            except Exception as exc:  # the caller decides what it means
                error = _refusal(exc) or exc
        if scope.cancelled_caught:
            error = _Timeout()
        if job.future.done():  # the caller gave up on it
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(outcome)

    def _result_text(self, result: Any) -> str:
        parts: list[str] = []
        for block in getattr(result, "content", None) or []:
            kind = getattr(block, "type", None)
            if kind == "text":
                parts.append(block.text)
            elif kind == "resource":
                text = getattr(block.resource, "text", None)
                parts.append(text if isinstance(text, str) else f"[binary resource {block.resource.uri}]")
            elif kind == "resource_link":
                parts.append(f"[resource {block.uri}]")
            else:
                mime = getattr(block, "mime_type", None)
                parts.append(f"[{kind} content{f' ({mime})' if mime else ''}, not shown]")
        structured = getattr(result, "structured_content", None)
        if not parts and structured is not None:
            parts.append(json.dumps(structured, ensure_ascii=False))
        text = "\n".join(parts)
        cap = self._spec.max_result_chars
        if len(text) > cap:
            text = f"{text[:cap]}\n[... {len(text) - cap} more characters cut]"
        return text

    # -- failures --------------------------------------------------------------------------------------------

    def _error(self, problem: str) -> McpServerError:
        return McpServerError(f"MCP server {self.shown}: {self._server.redact(problem)}")

    def _fail(self, problem: str | McpServerError) -> McpServerError:
        """Record the episode's failure once and return it: the first cause is the one reported, with the tail
        of a stdio server's stderr."""
        if self._failure is None:
            error = problem if isinstance(problem, McpServerError) else self._error(problem)
            tail = self._stderr_tail()
            if tail:
                error = McpServerError(f"{error}\n--- the server's stderr, last lines ---\n{tail}")
            self._failure = error
        return self._failure

    def _stderr_tail(self) -> str:
        if self._stderr is None or self._stderr.closed:
            return ""
        try:
            self._stderr.flush()
            size = self._stderr.seek(0, 2)
            self._stderr.seek(max(0, size - _STDERR_TAIL * 4))
            text = self._stderr.read()
        except (OSError, ValueError):
            return ""
        return self._server.redact(text[-_STDERR_TAIL:].strip())


class _Refused(Exception):
    """The server refused a call as malformed (unknown tool, bad arguments): the model's mistake."""


def _refusal(exc: Exception) -> _Refused | None:
    if getattr(exc, "code", None) in (_INVALID_PARAMS, _METHOD_NOT_FOUND) and hasattr(exc, "error"):
        return _Refused(str(exc) or "the server refused the call")
    return None


def _describe(exc: BaseException, redact: Callable[[str], str], during: str | None = None) -> str:
    """One line for what ended a connection, digging the cause out of anyio's exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = next((e for e in exc.exceptions if not isinstance(e, asyncio.CancelledError)), exc.exceptions[0])
    code = getattr(exc, "code", None)
    when = f" during the {during}" if during else ""
    if code == _CONNECTION_CLOSED:
        return f"closed the connection{when} ({redact(str(exc))})"
    if isinstance(exc, asyncio.CancelledError):
        return f"the connection was cancelled{when}"
    if code is not None and hasattr(exc, "error"):
        return f"answered{when} with error {code}: {redact(str(exc))}"
    text = redact(str(exc))
    return f"failed{when}: {type(exc).__name__}{f': {text}' if text else ''}"


def _quiet_sdk_logs() -> None:
    # The SDK logs what it meets on a failing connection (a late answer, a failed DELETE) with tracebacks, which
    # Python's last-resort handler would print into tianping's output; the failure reaches the run as one
    # McpServerError instead. Records still propagate to handlers a user configures.
    sdk_logger = logging.getLogger("mcp")
    if not any(isinstance(h, logging.NullHandler) for h in sdk_logger.handlers):
        sdk_logger.addHandler(logging.NullHandler())


def _tianping_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tianping")
    except PackageNotFoundError:
        return "unknown"
