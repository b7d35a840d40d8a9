"""A lean HTTP/1.1 client for one job: POST a JSON body, receive a streamed response, stamp every byte.

Why not aiohttp here: to time a thousand token streams on one core, the per-token cost must be a few
microseconds. With a general client each body chunk goes socket -> protocol -> parser -> stream reader ->
a future -> the reading task woken -> the caller, and the time is read when the task runs, late by however
long the event loop was busy. Here the protocol's ``data_received`` stamps the time, the C parser
(``httptools``, the one uvicorn uses) hands the body to a sink in the same callback, and no task is
woken per token: the caller waits on one future for the headers and one for the end.

Kept deliberately small: ``http``/``https`` (certificates verified against the system's trust store, or a CA
file given, see :func:`tls_context`), keep-alive connection reuse with an optional limit on open
connections, chunked / content-length / close-delimited bodies, gzip or deflate bodies (inflated by
:class:`tianping.core.inflate.Inflater`). No proxies, no redirects, no HTTP/2 (the probe measures the endpoint
it is given).

Every reply is bounded by a :class:`~tianping.core.limits.ReplyLimits`: body bytes after decoding (counted
while inflating, in steps, so that one small compressed chunk cannot inflate unbounded), the compression ratio,
and all bytes received (head, chunk framing and trailers included). A reply past a bound fails its exchange
with :class:`ReplyTooLarge` and its connection is dropped; a compressed body that cannot be decoded, or that
ends inside its compressed data, fails it with :class:`HTTPProtocolError`. The counting is one addition per
socket read and one per body chunk, in the callbacks that already see the bytes.

A new connection is opened in three timed steps, each reported on the exchange that opened it
(:class:`ConnectPhases`): name resolution (``getaddrinfo``), the TCP connect, and the TLS handshake. An
exchange on a reused keep-alive connection reports none of them: that is a warm connection.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

from tianping.core.inflate import Inflater, TooLarge, Undecodable, compressed, size_text, too_large_text
from tianping.core.limits import DEFAULT_LIMITS, MIB, ReplyLimits
from tianping.core.secrets import strip_credentials

_clock = time.perf_counter

HEAD_BYTES = MIB
"""Most bytes received before the final response's headers are complete (httptools buffers a header whose
end has not come, so an endless header line would otherwise grow without bound)."""


class HTTPConnectError(ConnectionError):
    """The connection could not be opened, or it broke before the response ended."""


class HTTPProtocolError(Exception):
    """The server's bytes are not a valid HTTP/1.1 response."""


class TLSConfigError(ValueError):
    """The TLS settings cannot be used (a CA file that is missing or holds no certificate)."""


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A client context that verifies the server's certificate and host name: against the system's trust
    store, or against ``ca_file`` (PEM) alone when given, for a private CA or a self-signed server."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except FileNotFoundError:
        raise TLSConfigError(f"CA file {ca_file}: no such file") from None
    except (ssl.SSLError, OSError) as exc:
        raise TLSConfigError(f"CA file {ca_file}: not a PEM certificate file ({exc})") from None


@dataclass(slots=True)
class ConnectPhases:
    """Seconds spent opening a new connection: DNS, TCP connect, TLS handshake (None for plain HTTP)."""

    dns_s: float
    connect_s: float
    tls_s: float | None


def _tls_error_text(host: str, port: int, exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = exc.verify_message or str(exc)
        return (
            f"TLS certificate of {host}:{port} not trusted: {why} (verification is on; to trust a private or "
            "self-signed one, pass the issuing CA's certificate: --ca-file, or ca_file in a monitor config)"
        )
    return f"TLS handshake with {host}:{port} failed: {exc}"


class ReplyTooLarge(Exception):
    """The reply passed one of its :class:`ReplyLimits`; the message names the bound and how to raise it."""


def _wire_cap(max_body: int) -> int:
    """Bytes a reply may take on the wire after its head: its body bound, plus half of it for chunk framing (a
    token per chunk adds ~8 bytes to an event of 30 or more) and for a compressed form a little larger than the
    plain text, plus HEAD_BYTES for trailers."""
    return max_body + max_body // 2 + HEAD_BYTES


def too_large(limits: ReplyLimits) -> ReplyTooLarge:
    return ReplyTooLarge(too_large_text(limits.max_body_bytes))


@dataclass(frozen=True)
class Target:
    """Where requests go: parsed once from the URL."""

    scheme: str
    host: str
    port: int
    path: str
    host_header: str

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {strip_credentials(url)!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        default = (parts.scheme == "https" and port == 443) or (parts.scheme == "http" and port == 80)
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, parts.hostname, port, path, host if default else f"{host}:{port}")


BodySink = Callable[[float, bytes], None]
"""Receives each run of (decoded) body bytes with the time it came off the socket; may raise to abort."""


@dataclass(slots=True)
class Exchange:
    """One request/response on a connection: status and headers, then body bytes fed to a sink."""

    sink_for: Callable[[int, dict[str, str]], BodySink | None]
    """Called once the headers are in: the sink for a body to stream, or None to collect it (up to a limit)."""
    on_sent: Callable[[float], None] | None = None
    """Called with the time the request's bytes were handed to the socket."""
    collect_limit: int = 4096
    limits: ReplyLimits = DEFAULT_LIMITS
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    collected: bytearray = field(default_factory=bytearray)
    sent_t: float | None = None
    complete: bool = False
    error: BaseException | None = None
    keep_alive: bool = False
    head: asyncio.Future | None = None
    done: asyncio.Future | None = None
    sink: BodySink | None = None
    inflate: Inflater | None = None
    """Decodes a gzip or deflate body (counting it); None for a body sent as it is."""
    close_delimited: bool = False
    t: float = 0.0
    received: int = 0
    """Every byte read for this exchange: head, framing, body as sent (compressed or not), trailers."""
    receive_cap: int = HEAD_BYTES
    """Bound on ``received``: HEAD_BYTES until the final headers are in, then room for the body bound and its
    chunk framing (see ``_wire_cap``)."""
    body_bytes: int = 0
    """Body bytes of a body sent as it is (a compressed one is counted by ``inflate``)."""
    max_body: int = 0
    """``limits.max_body_bytes``, read once per exchange rather than twice per body chunk."""
    phases: ConnectPhases | None = None
    """How the connection was opened, when this exchange opened it; None on a reused connection."""

    def __post_init__(self) -> None:
        self.max_body = self.limits.max_body_bytes

    def fail(self, exc: BaseException) -> None:
        if self.error is None and not self.complete:
            self.error = exc
        for fut in (self.head, self.done):
            if fut is not None and not fut.done():
                fut.set_exception(exc)


class _Connection(asyncio.Protocol):
    """One keep-alive connection; ``exchange`` is the request in flight on it, if any."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.exchange: Exchange | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._header_name = b""

    # transport callbacks -----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        ex = self.exchange
        if ex is None:  # bytes on an idle connection: it cannot be trusted for the next request
            self.close()
            return
        ex.t = _clock()
        received = ex.received = ex.received + len(data)
        if received > ex.receive_cap:
            if ex.status is None or ex.status < 200:
                ex.fail(ReplyTooLarge(f"response head larger than {size_text(HEAD_BYTES)}"))
            else:
                ex.fail(
                    ReplyTooLarge(
                        f"reply of more than {size_text(_wire_cap(ex.max_body))} on the wire, framing and "
                        "trailers included (1.5 x max_body_bytes + 1 MiB; raise with --max-reply-mb)"
                    )
                )
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            ex.fail(exc.__context__ or exc)
            self.close()
        except httptools.HttpParserError as exc:
            ex.fail(HTTPProtocolError(f"malformed HTTP response: {exc}"))
            self.close()
        except httptools.HttpParserUpgrade:
            ex.fail(HTTPProtocolError("the server switched protocols"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        ex = self.exchange
        if ex is None or ex.complete:
            return
        if ex.close_delimited and exc is None and ex.status is not None:
            self._finish(ex)  # a body without a length ends when the server closes
            return
        ex.fail(HTTPConnectError(f"connection closed before the response ended{f': {exc}' if exc else ''}"))

    # parser callbacks ----------------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        ex = self.exchange
        if ex is not None:
            ex.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        ex = self.exchange
        if ex is None:
            return
        ex.status = self._parser.get_status_code()
        ex.keep_alive = self._parser.should_keep_alive()
        encoding = ex.headers.get("content-encoding")
        if compressed(encoding):
            ex.inflate = Inflater(encoding, ex.limits)
        # another coding was not asked for: its bytes are passed on as they came, for the reader to judge
        ex.close_delimited = (
            "content-length" not in ex.headers and "chunked" not in ex.headers.get("transfer-encoding", "").lower()
        )
        if 100 <= ex.status < 200:
            return  # an interim response; the real one follows
        # the body bound itself is exact (on_body); this one stops what the body count does not see: chunk
        # framing and trailers (httptools buffers an unfinished trailer like an unfinished header)
        ex.receive_cap = ex.received + _wire_cap(ex.max_body)
        ex.sink = ex.sink_for(ex.status, ex.headers)
        if ex.head is not None and not ex.head.done():
            ex.head.set_result(ex.status)

    def on_body(self, body: bytes) -> None:
        ex = self.exchange
        if ex is None or ex.error is not None:
            return
        if ex.inflate is not None:
            self._inflate(ex, body)
            return
        size = ex.body_bytes = ex.body_bytes + len(body)
        if size > ex.max_body:
            raise too_large(ex.limits)
        if ex.sink is not None:
            ex.sink(ex.t, body)
        elif len(ex.collected) < ex.collect_limit:
            ex.collected += body[: ex.collect_limit - len(ex.collected)]

    def _inflate(self, ex: Exchange, data: bytes) -> None:
        """Inflate in bounded steps, each counted (and checked) by the inflater before it is delivered."""
        try:
            for piece in ex.inflate.steps(data):  # type: ignore[union-attr]
                if ex.sink is not None:
                    ex.sink(ex.t, piece)
                elif len(ex.collected) < ex.collect_limit:
                    ex.collected += piece[: ex.collect_limit - len(ex.collected)]
        except TooLarge as exc:
            raise ReplyTooLarge(str(exc)) from None
        except Undecodable as exc:
            raise HTTPProtocolError(str(exc)) from None

    def on_message_complete(self) -> None:
        ex = self.exchange
        if ex is not None and ex.status is not None and ex.status >= 200:
            self._finish(ex)

    # -------------------------------------------------------------------------------------------------

    def _finish(self, ex: Exchange) -> None:
        if ex.inflate is not None:
            try:
                ex.inflate.finish()
            except Undecodable as exc:  # the body ended inside its compressed data
                ex.fail(HTTPProtocolError(str(exc)))
                return
        ex.complete = True
        if ex.head is not None and not ex.head.done():
            ex.head.set_result(ex.status)
        if ex.done is not None and not ex.done.done():
            ex.done.set_result(None)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class ConnectionPool:
    """Keep-alive connections to one target, opened on demand; ``limit`` > 0 caps how many are open at once."""

    def __init__(self, target: Target, limit: int = 0, ssl_context: ssl.SSLContext | None = None):
        self.target = target
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(limit) if limit > 0 else None
        self._ssl = (ssl_context or tls_context()) if target.scheme == "https" else None
        self._loop = asyncio.get_running_loop()
        self._open: set[_Connection] = set()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    async def _open_socket(self, phases: list[float]) -> socket.socket:
        """Resolve the host and connect to its addresses in turn; appends the DNS and connect times."""
        t = self.target
        loop = self._loop
        start = _clock()
        try:
            infos = await loop.getaddrinfo(t.host, t.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise HTTPConnectError(f"cannot resolve {t.host}: {exc}") from None
        resolved = _clock()
        phases.append(resolved - start)
        errors: list[str] = []
        for family, kind, proto, _, addr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, addr)
            except OSError as exc:
                sock.close()
                errors.append(f"{addr[0]}: {exc}")
                continue
            except BaseException:
                sock.close()
                raise
            phases.append(_clock() - resolved)
            return sock
        raise HTTPConnectError(f"cannot connect to {t.host}:{t.port}: {'; '.join(errors) or 'no address'}")

    async def _connect(self) -> tuple[_Connection, ConnectPhases]:
        t = self.target
        times: list[float] = []
        sock = await self._open_socket(times)
        start = _clock()
        try:
            _, conn = await self._loop.create_connection(
                _Connection, sock=sock, ssl=self._ssl, server_hostname=t.host if self._ssl else None
            )
        except ssl.SSLError as exc:
            sock.close()
            raise HTTPConnectError(_tls_error_text(t.host, t.port, exc)) from None
        except OSError as exc:
            sock.close()
            raise HTTPConnectError(f"cannot connect to {t.host}:{t.port}: {exc}") from None
        except BaseException:
            sock.close()
            raise
        tls = _clock() - start if self._ssl is not None else None
        return conn, ConnectPhases(times[0], times[1], tls)

    async def _acquire(self, exchange: Exchange) -> _Connection:
        if self._slots is not None:
            await self._slots.acquire()
        try:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                    return conn
            conn, exchange.phases = await self._connect()
            self._open.add(conn)
            return conn
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise

    def _release(self, conn: _Connection, reusable: bool) -> None:
        if reusable and not conn.closed:
            conn.exchange = None
            self._idle.append(conn)
        else:
            conn.close()
            self._open.discard(conn)
        if self._slots is not None:
            self._slots.release()

    async def request(self, body: bytes, headers: dict[str, str], exchange: Exchange, *, method: str = "POST") -> None:
        """Send one request and wait for its whole response; body bytes go to the exchange's sink as they come.

        On return the exchange is complete; on any exception (including cancellation) the connection is dropped.
        """
        conn = await self._acquire(exchange)
        ok = False
        try:
            exchange.head = self._loop.create_future()
            exchange.done = self._loop.create_future()
            conn.exchange = exchange
            t = self.target
            lines = [f"{method} {t.path} HTTP/1.1", f"Host: {t.host_header}", f"Content-Length: {len(body)}"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            assert conn.transport is not None
            # stamped before the write: the OS may switch to the server between the write and a later stamp, and
            # a reply's times must never start after the server already had the request
            sent_t = _clock()
            conn.transport.write(head + body)
            exchange.sent_t = sent_t
            if exchange.on_sent is not None:
                exchange.on_sent(exchange.sent_t)
            await exchange.head
            await exchange.done
            ok = exchange.keep_alive
        finally:
            for fut in (exchange.head, exchange.done):  # an error sets both; only one was awaited
                if fut is not None and fut.done() and not fut.cancelled():
                    fut.exception()
                elif fut is not None:
                    fut.cancel()
            self._release(conn, ok and exchange.complete and exchange.error is None)

    async def aclose(self) -> None:
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()
