"""Hostile HTTP servers on 127.0.0.1: the replies a well-behaved endpoint never sends, for tests of clients.

A client of an untrusted endpoint must survive gzip bombs, endless streams, odd JSON, redirects to other
hosts and broken HTTP. ``HostileServer`` serves one aiohttp handler on every path and records what
arrived; ``RawServer`` writes bytes straight to the socket, for what aiohttp.web refuses to produce (bad
status lines, broken chunked encoding, bodies shorter than their Content-Length). Both have the life cycle
of ``fake_openai.LocalAppServer`` (``async with``, or ``fake_openai.in_background`` from sync code), and
every endless reply stops after ``deadline_s`` seconds or ``max_bytes`` bytes, so that a client that
never hangs up cannot keep a test running.

    async with HostileServer(reply({"choices": "not a list"})) as server:
        backend = OpenAIChatBackend(model="m", base_url=server.base_url)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import struct
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import web

from fake_openai import LocalAppServer, in_background

__all__ = [
    "HostileServer",
    "RawServer",
    "Received",
    "chat_body",
    "endless_body",
    "endless_sse",
    "gzip_bomb",
    "in_background",
    "read_request",
    "redirect",
    "reply",
    "sse",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DEADLINE_S = 30.0
"""Longest an endless reply runs, whether or not the client is still reading."""
MAX_BYTES = 1 << 30
"""Most bytes an endless reply sends."""


@dataclass(frozen=True, slots=True)
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HostileServer(LocalAppServer):
    """Serves ``handler`` on every path and method of 127.0.0.1:``port`` (0 picks a free one).

    ``requests`` lists every request as it arrived, before the handler ran, so that a test can assert that a
    server was (or was not) reached. ``handler`` may be replaced between requests.
    """

    def __init__(self, handler: Handler, *, port: int = 0):
        self.handler = handler
        self.port = port
        self.requests: list[Received] = []

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()  # cached by aiohttp: the handler may read it again
        self.requests.append(Received(request.method, request.path, request.query_string, dict(request.headers), body))
        return await self.handler(request)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


# -- handlers ------------------------------------------------------------------------------------------------


def chat_body(content: Any = "ok", **choice: Any) -> dict[str, Any]:
    """A chat completion object with one choice; ``choice`` overrides or adds fields of that choice."""
    one = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop", **choice}
    return {"id": "x", "object": "chat.completion", "choices": [one], "usage": {"prompt_tokens": 3}}


def reply(
    body: bytes | str | Any,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> Handler:
    """A handler answering every request with ``body`` (bytes and str as they are, anything else as JSON)."""
    if isinstance(body, str):
        data = body.encode("utf-8", "surrogatepass")
    elif isinstance(body, bytes):
        data = body
    else:
        data = json.dumps(body).encode()  # ensure_ascii: lone surrogates travel as \udXXX escapes
    all_headers = {"Content-Type": content_type, **(headers or {})}

    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=data, headers=all_headers)

    return handle


def sse(events: Iterable[bytes | str | Any], *, done: bool = True, headers: dict[str, str] | None = None) -> Handler:
    """A handler streaming ``events`` as server-sent events (bytes as whole lines, anything else as JSON
    ``data:``), then ``data: [DONE]`` unless ``done`` is false."""
    lines: list[bytes] = []
    for event in events:
        if isinstance(event, bytes):
            lines.append(event)
        elif isinstance(event, str):
            lines.append(b"data: " + event.encode("utf-8", "surrogatepass") + b"\n\n")
        else:
            lines.append(b"data: " + json.dumps(event).encode() + b"\n\n")
    if done:
        lines.append(b"data: [DONE]\n\n")
    payload = b"".join(lines)
    all_headers = {"Content-Type": "text/event-stream", **(headers or {})}

    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(status=200, body=payload, headers=all_headers)

    return handle


async def _pour(
    request: web.Request,
    resp: web.StreamResponse,
    head: bytes,
    piece: bytes,
    deadline_s: float,
    max_bytes: int,
) -> web.StreamResponse:
    await resp.prepare(request)
    stop_at = time.monotonic() + deadline_s
    sent = 0
    # A client that stops reading fills the socket buffer and write() waits: the server never buffers more.
    with contextlib.suppress(ConnectionError, RuntimeError):
        await resp.write(head)
        while sent < max_bytes and time.monotonic() < stop_at:
            await resp.write(piece)
            sent += len(piece)
        await resp.write_eof()
    return resp


def endless_sse(
    *, content: str = "spam ", per_write: int = 256, deadline_s: float = DEADLINE_S, max_bytes: int = MAX_BYTES
) -> Handler:
    """A chat stream whose content never ends (no finish_reason, no [DONE])."""
    event = b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": content}}]}).encode() + b"\n\n"
    piece = event * per_write

    async def handle(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
        return await _pour(request, resp, b"", piece, deadline_s, max_bytes)

    return handle


def endless_body(*, deadline_s: float = DEADLINE_S, max_bytes: int = MAX_BYTES) -> Handler:
    """A chunked JSON body that opens a string and never closes it."""
    head = b'{"choices": [{"index": 0, "message": {"content": "'
    piece = b"spam " * 13_000

    async def handle(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        return await _pour(request, resp, head, piece, deadline_s, max_bytes)

    return handle


def redirect(status: int, location: str | Callable[[web.Request], str]) -> Handler:
    """A handler redirecting every request to ``location`` (or to what it returns for the request)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        where = location(request) if callable(location) else location
        return web.Response(status=status, headers={"Location": where}, text="moved")

    return handle


@functools.lru_cache(maxsize=4)
def gzip_bomb(inflated_mib: int = 1024) -> bytes:
    """A valid gzip member of ``inflated_mib`` MiB of zeros, about 1/1000 of that size, built in well under a
    second: after a full flush deflate restarts from nothing, so the compressed form of each further MiB of
    zeros is the same bytes, and only the trailer (CRC-32 and length) has to be computed over the whole."""
    zeros = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    final_block = c.flush()[:-8]
    crc = 0
    for _ in range(inflated_mib):
        crc = zlib.crc32(zeros, crc)
    trailer = struct.pack("<II", crc, (inflated_mib << 20) & 0xFFFFFFFF)
    return first + again * (inflated_mib - 1) + final_block + trailer


# -- raw sockets -------------------------------------------------------------------------------------------

RawResponder = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(request head, body) of one HTTP/1.1 request with a Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return head, await reader.readexactly(length)


class RawServer:
    """Answers each connection to 127.0.0.1:``port`` by reading one request and writing ``response`` (bytes,
    then closing), or by handing the socket to ``response`` (an async function of reader and writer).

    Each connection is cut after ``deadline_s``; ``requests`` counts the requests read.
    """

    def __init__(self, response: bytes | RawResponder, *, port: int = 0, deadline_s: float = DEADLINE_S):
        self.response = response
        self.port = port
        self.deadline_s = deadline_s
        self.requests = 0
        self.base_url = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            async with asyncio.timeout(self.deadline_s):
                if isinstance(self.response, bytes):
                    await read_request(reader)
                    self.requests += 1
                    writer.write(self.response)
                    await writer.drain()
                else:
                    self.requests += 1
                    await self.response(reader, writer)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        return self.base_url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
