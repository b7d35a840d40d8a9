"""Backend for OpenAI-compatible servers (OpenAI, vLLM, SGLang, TGI, llama.cpp, LMDeploy, ...).

``/chat/completions`` is used for requests with messages and ``/completions`` for requests with a prompt,
both appended to the API root the user gives (``base_url``, e.g. ``http://127.0.0.1:8000/v1``).

The hot path is kept lean: one ``aiohttp.ClientSession`` per backend (created on first use), the request
body serialised once, headers set once on the session, no logging or extra objects unless something fails.

A reply is untrusted input. Whatever a server sends, ``generate`` returns a ``Response`` or raises a
``ModelError``: every read is bounded by ``ReplyLimits`` (bytes after decompression, compression ratio,
choices), every field is type-checked before use, strings are made encodable, an HTTP 200 with nothing in it
is an error rather than an answer, and redirects are followed only within the endpoint's own origin (a
redirect elsewhere would send the prompt and the API key there).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import random
import time
import zlib
from typing import Any, Generic, TypeVar
from urllib.parse import quote, quote_plus

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError
from yarl import URL

from tianping.core import Completion, Request, Response
from tianping.core.limits import DEFAULT_LIMITS, MIB, RATIO_CHECK_AFTER, ReplyLimits
from tianping.core.secrets import has_credentials, strip_credentials
from tianping.models.errors import (
    AuthError,
    BadRequest,
    ConnectError,
    EmptyReply,
    ModelError,
    ModelNotFound,
    RateLimited,
    ReplyTooLarge,
    RequestTimeout,
    ServerError,
)
from tianping.models.reasoning import split_reasoning

__all__ = ["OpenAIChatBackend"]

logger = logging.getLogger(__name__)

_ERROR_SNIPPET = 200
_HEAD_BYTES = 1024
"""Bytes of a reply kept for error messages (the excerpt shown is cut to ``_ERROR_SNIPPET`` characters)."""
_ERROR_BODY_MAX = 64 * 1024
"""Most bytes read of an error status's body: enough for any error object, and never a whole endless body."""
_MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
_MAX_COUNT = 2**31
_jitter = random.Random()
_T = TypeVar("_T")


class _RateLimiter:
    """Spaces request starts at least ``60 / rpm`` seconds apart (a token bucket of size one)."""

    __slots__ = ("interval", "next_at")

    def __init__(self, rpm: float):
        self.interval = 60.0 / rpm
        self.next_at = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        at = self.next_at if self.next_at > now else now
        self.next_at = at + self.interval
        if at > now:
            await asyncio.sleep(at - now)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            if when is None:
                return None
            seconds = when.timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _display_url(url: str) -> str:
    """The URL as shown in messages: no user info, no query string (either may hold a credential)."""
    try:
        u = URL(url)
        if u.user is not None or u.password is not None:
            u = u.with_user(None)
        return str(u.with_query(None).with_fragment(None))
    except (ValueError, TypeError):
        return "<invalid url>"


def _server_message(body: bytes) -> str:
    """The error message a server put in its body, whatever shape the body has."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        return _message_of(json.loads(text))
    except (ValueError, TypeError, RecursionError):
        return text or "<empty body>"


def _message_of(data: Any) -> str:
    if isinstance(data, dict):
        for key in ("error", "message", "detail"):
            if key in data and data[key]:
                inner = data[key]
                if isinstance(inner, dict):
                    msg = inner.get("message") or inner.get("msg") or inner.get("detail")
                    if msg:
                        return str(msg)
                    return json.dumps(inner, ensure_ascii=False)
                if isinstance(inner, (list, tuple)):
                    return json.dumps(inner, ensure_ascii=False)
                return str(inner)
    return json.dumps(data, ensure_ascii=False) if not isinstance(data, str) else data


def _safe(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD, so that it encodes to UTF-8.

    JSON escapes (``"\\ud800"``) and UTF-8-encoded surrogates (json.loads decodes with "surrogatepass") both
    give str values that cannot be stored. Going through UTF-16 joins surrogate pairs that arrived apart (in
    two stream events) into their character and replaces each lone one with a single U+FFFD.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


_decode_json = json.JSONDecoder().decode


def _loads(raw: bytes) -> Any:
    """JSON from bytes, reading what is not UTF-8 as U+FFFD rather than refusing the whole reply.

    Raises ValueError for what is not JSON and RecursionError for JSON nested too deeply. (json.loads on bytes
    would also sniff UTF-16/32 and pass encoded surrogates through; this is faster, once per stream event.)"""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    return _decode_json(text)


def _count(value: Any) -> int | None:
    """A token count, or None for anything but an int in [0, 2**31) (floats, strings, booleans, NaN, 1e30)."""
    return value if type(value) is int and 0 <= value < _MAX_COUNT else None


def _size(n: float) -> str:
    return f"{n / MIB:g} MiB" if n >= MIB else f"{n / 1024:g} KiB"


class _Refused(Exception):
    """A reply refused by code that does not know the endpoint; the backend raises ``error`` instead, naming the
    endpoint and showing an excerpt of ``source`` (the start of the reply, or the offending event)."""

    error: type[ModelError] = ServerError

    def __init__(self, what: str, detail: str = "", source: bytes = b""):
        super().__init__(what)
        self.what = what
        self.detail = detail
        self.source = source


class _TooLarge(_Refused):
    error = ReplyTooLarge


class _Malformed(_Refused):
    def __init__(self, field: str, expected: str, value: Any):
        super().__init__("malformed response", f": field {field!r}: expected {expected}, got {type(value).__name__}")


class _Empty(_Refused):
    error = EmptyReply


def _too_large(limits: ReplyLimits, detail: str = "", source: bytes = b"") -> _TooLarge:
    return _TooLarge(
        f"reply larger than {_size(limits.max_body_bytes)} (max_body_bytes; raise with --max-reply-mb)", detail, source
    )


def _too_many_choices(limits: ReplyLimits, source: bytes = b"") -> _TooLarge:
    return _TooLarge(f"reply with more than {limits.max_choices} choices (max_choices)", "", source)


def _index(value: Any, k: int, limits: ReplyLimits) -> int:
    if value is None:
        return k
    if type(value) is not int or value < 0:
        raise _Malformed(f"choices[{k}].index", "a non-negative integer", value)
    if value >= limits.max_choices:
        raise _too_many_choices(limits)
    return value


def _as_text(value: Any, k: int, name: str) -> str | None:
    """A content or reasoning field as a string: list-of-parts content is joined (parts without text, such as
    images, are skipped); anything else that is not a string is malformed."""
    if value is None:
        return None
    if type(value) is str:
        return _safe(value)
    if type(value) is not list:
        raise _Malformed(f"choices[{k}].{name}", "a string", value)
    out: list[str] = []
    for j, part in enumerate(value):
        if type(part) is str:
            out.append(part)
        elif type(part) is dict:
            text = part.get("text")
            if text is None:
                continue
            if type(text) is not str:
                raise _Malformed(f"choices[{k}].{name}[{j}].text", "a string", text)
            out.append(text)
        else:
            raise _Malformed(f"choices[{k}].{name}[{j}]", "a string or an object", part)
    return _safe("".join(out))


def _reasoning_of(obj: dict[str, Any]) -> tuple[Any, str]:
    value = obj.get("reasoning_content")
    if value:
        return value, "reasoning_content"
    return obj.get("reasoning"), "reasoning"


class _Decoder:
    """Counts a body as it arrives and inflates it (gzip or deflate), refusing it past the limits.

    aiohttp's own decompression is turned off: older versions inflate each network chunk whole (a 64 KiB
    chunk of a gzip bomb becomes 64 MiB at once) and none bounds the total. Here each call to zlib is given
    the room left under both bounds, so memory never runs ahead of the check.
    """

    __slots__ = ("limits", "limit", "wire", "size", "head", "encoding", "_z", "_gzip", "_members", "_ended")

    def __init__(self, encoding: str | None, limits: ReplyLimits, limit: int):
        self.limits = limits
        self.limit = limit
        self.wire = 0
        self.size = 0
        self.head = b""
        self._z: Any = None
        self._gzip = False
        self._members = 0
        self._ended = False
        enc = encoding.strip().lower() if encoding else ""
        self.encoding = enc
        if enc in ("gzip", "x-gzip"):
            self._gzip = True
        elif enc not in ("", "identity", "deflate"):
            raise _Refused(f"reply with unsupported Content-Encoding {encoding!r} (gzip and deflate were asked for)")

    def feed(self, raw: bytes) -> bytes:
        if not self.encoding or self.encoding == "identity":
            self.wire += len(raw)
            self.size += len(raw)
            if self.size > self.limit:
                raise _too_large(self.limits, source=self.head)
            if not self.head:
                self.head = raw[:_HEAD_BYTES]
            return raw
        return self._inflate(raw)

    def _inflate(self, raw: bytes) -> bytes:
        self.wire += len(raw)
        out: list[bytes] = []
        data = raw
        ratio = self.limits.max_compression_ratio
        while data:
            if self._ended:
                # Bytes after the compressed data are ignored, but counted, so that they too come to an end.
                self.size += len(data)
                if self.size > self.limit:
                    raise _too_large(self.limits, source=self.head)
                break
            z = self._z
            if z is None:
                if self._gzip:
                    # A gzip body may be several members one after another.
                    if self._members and data[:2] != b"\x1f\x8b"[: len(data[:2])]:
                        self._ended = True
                        continue
                    z = zlib.decompressobj(31)
                elif self._members:
                    self._ended = True
                    continue
                else:
                    # "deflate" is zlib-wrapped (RFC 1950) by the standard, and raw deflate from some servers.
                    z = zlib.decompressobj(15 if data[0] & 0x0F == 8 else -15)
                self._z = z
                self._members += 1
            by_ratio = max(float(RATIO_CHECK_AFTER), self.wire * ratio)
            bound = int(by_ratio) if by_ratio < self.limit else self.limit
            try:
                piece = z.decompress(data, bound - self.size + 1)
            except zlib.error as exc:
                raise _Refused(
                    f"reply whose Content-Encoding {self.encoding!r} could not be decoded ({exc})", source=self.head
                ) from None
            self.size += len(piece)
            if piece:
                if not self.head:
                    self.head = piece[:_HEAD_BYTES]
                out.append(piece)
            if self.size > bound:
                if bound < self.limit:
                    raise _TooLarge(
                        f"compressed reply inflating more than {ratio:g} times (max_compression_ratio)",
                        f": {_size(self.size)} from {_size(self.wire)}",
                        self.head,
                    )
                raise _too_large(self.limits, source=self.head)
            if z.eof:
                data = z.unused_data
                self._z = None
            else:
                data = z.unconsumed_tail  # empty: zlib stops short of the input only at the room it was given
        return out[0] if len(out) == 1 else b"".join(out)

    def finish(self) -> None:
        if self._z is not None:
            raise _Refused(f"reply cut off inside its Content-Encoding {self.encoding!r} data", source=self.head)


async def _lines(resp: aiohttp.ClientResponse, decoder: _Decoder):
    """The lines of a response body, however long (aiohttp's own readline limits a line to 128 KiB), as far as
    ``decoder`` lets the body go."""
    buf = bytearray()
    async for raw in resp.content.iter_any():
        chunk = decoder.feed(raw)
        if b"\n" not in chunk:
            buf += chunk
            continue
        lines = chunk.split(b"\n")
        if buf:
            buf += lines[0]
            lines[0] = bytes(buf)
            buf.clear()
        tail = lines.pop()
        for line in lines:
            yield line
        buf += tail
    decoder.finish()
    if buf:
        yield bytes(buf)


def _hidden_parts(url: URL, key: str | None) -> tuple[str, ...]:
    """What messages must never show: the API key, the URL's password and its credential-like query values, as
    given and percent-encoded (longest first, so that no part of one is left behind by a shorter one)."""
    found = {key} if key else set()
    if url.password:
        found.add(url.password)
    for name, value in url.query.items():
        if value and has_credentials(str(URL.build(scheme="http", host="h", query={name: value}))):
            found.add(value)
    found |= {quote(s, safe="") for s in found} | {quote_plus(s, safe="") for s in found}
    return tuple(sorted(found, key=len, reverse=True))


class _Secret(Generic[_T]):
    """Holds the API key (or what must be hidden like it); shows nothing of it."""

    __slots__ = ("value",)

    def __init__(self, value: _T):
        self.value = value

    def __repr__(self) -> str:
        return "<secret>" if self.value else "<unset>"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self.value)


class OpenAIChatBackend:
    """``ModelBackend`` for OpenAI-compatible ``/chat/completions`` and ``/completions`` endpoints.

    Transient failures (429, 5xx, 408, connection errors, timeouts, non-JSON or malformed bodies, error objects
    inside a 200, empty replies, truncated streams) are retried up to ``max_retries`` times with exponential
    backoff and full jitter, or after the server's ``Retry-After`` (capped at ``backoff_max_s``). 401/403 raise
    ``AuthError`` and 404 raises ``ModelNotFound`` (both fatal), other 4xx and refused redirects raise
    ``BadRequest``, a reply past ``limits`` raises ``ReplyTooLarge``; none of these is retried.

    ``extra_body`` is merged over each request's payload (like the OpenAI client's ``extra_body``); note that
    it is not part of ``Request.key``. The API key is read once from ``api_key_env`` and is never shown.
    """

    def __init__(
        self,
        *,
        model: str,
        base_url: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 32,
        timeout_s: float = 120,
        max_retries: int = 6,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30,
        rpm: float | None = None,
        stream: bool = False,
        extra_body: dict[str, Any] | None = None,
        limits: ReplyLimits = DEFAULT_LIMITS,
    ):
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if rpm is not None and rpm <= 0:
            raise ValueError("rpm must be > 0 (or None for no limit)")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        if not isinstance(limits, ReplyLimits):
            raise TypeError(f"limits must be a ReplyLimits, got {type(limits).__name__}")
        self.model = model
        self.model_id = f"openai/{model}"
        root = base_url.rstrip("/")
        try:
            parsed = URL(root)
        except (ValueError, TypeError):
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(
                f"base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, got {_display_url(root)!r}"
            )
        self.base_url = root
        if parsed.query_string or parsed.fragment:
            # Appended to the string, the path would land inside the query (".../v1?api-version=1/completions").
            path = parsed.path.rstrip("/")
            self._chat_url = str(parsed.with_path(path + "/chat/completions").with_query(parsed.query))
            self._completions_url = str(parsed.with_path(path + "/completions").with_query(parsed.query))
        else:
            self._chat_url = root + "/chat/completions"
            self._completions_url = root + "/completions"
        self._chat_display = _display_url(self._chat_url)
        self._completions_display = _display_url(self._completions_url)
        self.api_key_env = api_key_env
        self._key = _Secret(os.environ.get(api_key_env) or None)
        if self._key and (parsed.user is not None or parsed.password is not None):
            raise ValueError(
                f"base_url {_display_url(root)!r} carries a user name or password and ${api_key_env} holds an API "
                "key: a request carries only one Authorization, so give one of them"
            )
        self._hidden = _Secret(_hidden_parts(parsed, self._key.value))
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.rpm = rpm
        self.stream = stream
        self.extra_body = dict(extra_body) if extra_body else None
        self.limits = limits
        self._limiter = _RateLimiter(rpm) if rpm else None
        self._session: aiohttp.ClientSession | None = None
        self._sem: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return (
            f"OpenAIChatBackend(model={self.model!r}, base_url={_display_url(self.base_url)!r}, "
            f"api_key={'set' if self._key else 'unset'}, concurrency={self.concurrency}, "
            f"stream={self.stream}, rpm={self.rpm})"
        )

    __str__ = __repr__

    # -- session -----------------------------------------------------------------------------------------

    def _open(self) -> aiohttp.ClientSession:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "Accept-Encoding": "gzip, deflate",  # what _Decoder inflates
        }
        if self._key:
            headers["Authorization"] = f"Bearer {self._key.value}"
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            raise_for_status=False,
            auto_decompress=False,
        )
        self._sem = asyncio.Semaphore(self.concurrency)
        self._loop = asyncio.get_running_loop()
        return self._session

    async def aclose(self) -> None:
        session, self._session, self._sem = self._session, None, None
        if session is not None and not session.closed:
            await session.close()

    async def __aenter__(self) -> OpenAIChatBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- requests ----------------------------------------------------------------------------------------

    async def generate(self, request: Request) -> Response:
        payload = request.payload()
        if self.extra_body:
            payload.update(self.extra_body)
        payload["model"] = self.model
        if self.stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        if request.messages is not None:
            url, chat = self._chat_url, True
        else:
            url, chat = self._completions_url, False

        session = self._session
        if session is None or session.closed or self._loop is not asyncio.get_running_loop():
            # First use, after aclose(), or used from another event loop (the old session cannot serve it).
            session = self._open()
        sem = self._sem
        assert sem is not None
        attempt = 0
        while True:
            attempt += 1
            try:
                async with sem:
                    if self._limiter is not None:
                        await self._limiter.wait()
                    t0 = time.perf_counter()
                    data, source = await self._attempt(session, url, body, chat)
                    latency = time.perf_counter() - t0
                return self._to_response(data, source, latency, attempt, chat)
            except ModelError as err:
                error = err
            # Outside the except block, so that the raised error does not chain the aiohttp exception
            # (whose request info would carry the request headers).
            error.__context__ = None
            error.__cause__ = None
            if not error.retryable or attempt > self.max_retries:
                if attempt > 1:
                    error.args = (f"{error.args[0]} (gave up after {attempt} attempts)",)
                error.attempts = attempt  # type: ignore[attr-defined]
                raise error
            if error.retry_after is not None:
                delay = min(error.retry_after, self.backoff_max_s)
            else:
                cap = min(self.backoff_max_s, self.backoff_base_s * (2 ** (attempt - 1)))
                delay = _jitter.uniform(0.0, cap)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("%s: attempt %d failed (%s); retrying in %.2fs", self.model_id, attempt, error, delay)
            await asyncio.sleep(delay)

    async def _attempt(
        self, session: aiohttp.ClientSession, url: str | URL, body: bytes, chat: bool
    ) -> tuple[dict[str, Any], bytes]:
        """One HTTP exchange: the response object (streams are assembled into one) and the start of the reply."""
        try:
            for _ in range(_MAX_REDIRECTS + 1):
                async with session.post(url, data=body, allow_redirects=False) as resp:
                    status = resp.status
                    if 200 <= status < 300:
                        if self.stream and resp.content_type == "text/event-stream":
                            return await self._read_stream(resp, chat)
                        raw = await self._read_body(resp)
                        break
                    if status in _REDIRECT_STATUSES:
                        url = self._redirect(url, status, resp.headers.get("Location"), chat)
                        continue
                    raise self._status_error(status, await self._read_error_body(resp), resp.headers, chat)
            else:
                raise BadRequest(f"too many redirects (more than {_MAX_REDIRECTS}) from {self._where(chat)}")
        except ModelError:
            raise
        except _Refused as exc:
            raise self._refusal(exc, chat) from None
        except TimeoutError:
            raise RequestTimeout(f"no complete answer within {self.timeout_s:g}s from {self._where(chat)}") from None
        except (aiohttp.ClientError, OSError, HttpProcessingError, EOFError) as exc:
            raise ConnectError(
                f"connection to {self._where(chat)} failed: {type(exc).__name__}: {self._clip(str(exc))}"
            ) from None
        except Exception as exc:  # noqa: BLE001 - whatever else a broken reply makes aiohttp raise
            raise ServerError(
                f"unreadable reply from {self._where(chat)}: {type(exc).__name__}: {self._clip(str(exc))}"
            ) from None
        try:
            data = _loads(raw)
        except ValueError:
            raise ServerError(
                f"non-JSON body (HTTP {resp.status}, content-type {resp.content_type!r}) from {self._where(chat)}: "
                f"{self._excerpt(raw)}",
                status=200,
            ) from None
        except RecursionError:
            raise self._refusal(_Refused("reply JSON nested too deeply", source=raw), chat) from None
        if type(data) is not dict:
            raise ServerError(
                f"unexpected JSON body (not an object) from {self._where(chat)}: {self._excerpt(raw)}", status=200
            )
        if data.get("error"):
            raise ServerError(
                f"error object in HTTP 200 from {self._where(chat)}: {self._clip(_message_of(data))}", status=200
            )
        return data, raw

    async def _read_body(self, resp: aiohttp.ClientResponse) -> bytes:
        """The whole body, decompressed, or ``_TooLarge`` as soon as it is known to be past the limits."""
        limits = self.limits
        declared = resp.content_length
        encoding = resp.headers.get("Content-Encoding")
        if declared is not None and encoding is None:
            if declared > limits.max_body_bytes:
                raise _too_large(limits, f": Content-Length {declared}")
            if "Transfer-Encoding" not in resp.headers:
                return await resp.read()  # exactly Content-Length bytes, already known to be within the limit
        decoder = _Decoder(encoding, limits, limits.max_body_bytes)
        parts = [decoder.feed(raw) async for raw in resp.content.iter_any()]
        decoder.finish()
        return b"".join(parts)

    async def _read_error_body(self, resp: aiohttp.ClientResponse) -> bytes:
        """Up to ``_ERROR_BODY_MAX`` bytes of an error status's body (for its message); b"" when unreadable."""
        parts: list[bytes] = []
        size = 0
        try:
            decoder = _Decoder(resp.headers.get("Content-Encoding"), self.limits, 1 << 62)
            async for raw in resp.content.iter_any():
                piece = decoder.feed(raw)
                parts.append(piece)
                size += len(piece)
                if size >= _ERROR_BODY_MAX:
                    break
        except (_Refused, aiohttp.ClientError, HttpProcessingError, OSError, EOFError, TimeoutError):
            pass  # the status tells what went wrong; the body only adds detail
        return b"".join(parts)[:_ERROR_BODY_MAX]

    def _redirect(self, url: str | URL, status: int, location: str | None, chat: bool) -> URL:
        """Where a redirect of the POST may go: the same origin only, and only by 307/308, which keep the method
        and body. Another host would receive the prompt and the API key, and answer in the endpoint's name."""
        where = self._where(chat)
        current = URL(url) if isinstance(url, str) else url
        try:
            target = current.join(URL(location)) if location else None
        except (ValueError, TypeError):
            target = None
        if target is None or not target.host:
            raise ServerError(f"HTTP {status} redirect without a usable Location from {where}", status=status)
        if (target.scheme, target.host, target.port) != (current.scheme, current.host, current.port):
            raise BadRequest(
                f"redirect to another origin refused: {strip_credentials(str(target))} (HTTP {status} from {where}; "
                "give that endpoint as the base URL if it is the one meant)",
                status=status,
            )
        if status not in (307, 308):
            raise BadRequest(
                f"HTTP {status} redirect of a POST refused (it would be resent as a GET, without the request) "
                f"from {where} to {strip_credentials(str(target))}",
                status=status,
            )
        return target.with_user(None) if target.user or target.password else target

    async def _read_stream(self, resp: aiohttp.ClientResponse, chat: bool) -> tuple[dict[str, Any], bytes]:
        """Assemble server-sent events into a non-streaming-shaped response object."""
        limits = self.limits
        declared = resp.content_length
        if declared is not None and declared > limits.max_body_bytes:
            raise _too_large(limits, f": Content-Length {declared}")
        decoder = _Decoder(resp.headers.get("Content-Encoding"), limits, limits.max_body_bytes)
        max_choices = limits.max_choices
        contents: dict[int, list[str]] = {}
        reasonings: dict[int, list[str]] = {}
        finish: dict[int, str | None] = {}
        tools: set[int] = set()
        usage: Any = None
        done = False
        async for line in _lines(resp, decoder):
            if not line.startswith(b"data:"):
                continue  # blank separators, ": ping" keep-alives, "event:" / "id:" lines
            data = line[5:].strip()
            if data == b"[DONE]":
                done = True
                break
            if not data:
                continue
            try:
                chunk = _loads(data)
            except ValueError:
                raise ServerError(
                    f"non-JSON event in stream from {self._where(chat)}: {self._excerpt(data)}", status=200
                ) from None
            except RecursionError:
                raise _Refused("stream event JSON nested too deeply", source=data) from None
            if type(chunk) is not dict:
                continue
            if chunk.get("error"):
                raise ServerError(
                    f"error event in stream from {self._where(chat)}: {self._clip(_message_of(chunk))}", status=200
                )
            if chunk.get("usage"):
                usage = chunk["usage"]
            choices = chunk.get("choices")
            if not choices:
                continue
            try:
                if type(choices) is not list:
                    raise _Malformed("choices", "a list", choices)
                if len(choices) > max_choices:
                    raise _too_many_choices(limits)
                for k, choice in enumerate(choices):
                    if type(choice) is not dict:
                        raise _Malformed(f"choices[{k}]", "an object", choice)
                    i = choice.get("index")
                    if type(i) is not int or not 0 <= i < max_choices:
                        i = _index(i, k, limits)
                    if chat:
                        delta = choice.get("delta")
                        if delta is None:
                            delta = {}
                        elif type(delta) is not dict:
                            raise _Malformed(f"choices[{k}].delta", "an object", delta)
                        piece = delta.get("content")
                        thought = delta.get("reasoning_content") or delta.get("reasoning")
                        if not piece and not thought and (delta.get("tool_calls") or delta.get("function_call")):
                            tools.add(i)
                    else:
                        delta = choice
                        piece = choice.get("text")
                        thought = choice.get("reasoning_content") or choice.get("reasoning")
                    if piece:
                        if type(piece) is not str:
                            piece = _as_text(piece, k, "delta.content" if chat else "text")
                        contents.setdefault(i, []).append(piece)
                    elif i not in contents:
                        contents[i] = []
                    if thought:
                        if type(thought) is not str:
                            name = _reasoning_of(delta)[1]
                            thought = _as_text(thought, k, "delta." + name if chat else name)
                        reasonings.setdefault(i, []).append(thought)
                    reason = choice.get("finish_reason")
                    if reason:
                        if type(reason) is not str:
                            raise _Malformed(f"choices[{k}].finish_reason", "a string", reason)
                        finish[i] = reason
                    else:
                        finish.setdefault(i, None)
            except _Refused as exc:
                if isinstance(exc, _Malformed):
                    exc.what = "malformed stream event"
                exc.source = data
                raise
        if not done and (not finish or not all(finish.values())):
            got = sum(len("".join(p)) for p in contents.values())
            raise ServerError(
                f"truncated stream from {self._where(chat)}: connection ended without [DONE] or "
                f"finish_reason after {got} characters",
                status=200,
            )
        choices_out = []
        for i in sorted(contents.keys() | reasonings.keys()):
            reasoning = "".join(reasonings[i]) if i in reasonings else None
            content = "".join(contents.get(i, ()))
            if chat:
                message: dict[str, Any] = {"content": content, "reasoning_content": reasoning}
                if i in tools:
                    message["tool_calls"] = True
                choices_out.append({"index": i, "message": message, "finish_reason": finish.get(i)})
            else:
                choices_out.append(
                    {"index": i, "text": content, "reasoning_content": reasoning, "finish_reason": finish.get(i)}
                )
        return {"choices": choices_out, "usage": usage}, decoder.head

    def _to_response(self, data: dict[str, Any], source: bytes, latency: float, attempts: int, chat: bool) -> Response:
        try:
            return _build_response(data, latency, attempts, chat, self.limits)
        except _Refused as exc:
            if not exc.source:
                exc.source = source
            raise self._refusal(exc, chat) from None
        except ModelError:
            raise
        except (AttributeError, TypeError, KeyError, ValueError, RecursionError) as exc:
            raise ServerError(
                f"malformed response from {self._where(chat)}: {type(exc).__name__}: {self._clip(str(exc))}; "
                f"reply began: {self._excerpt(source)}",
                status=200,
            ) from None

    # -- errors ------------------------------------------------------------------------------------------

    def _where(self, chat: bool) -> str:
        return self._chat_display if chat else self._completions_display

    def _scrub(self, text: str) -> str:
        """Remove the API key and the base URL's credentials from text that came from elsewhere (servers may echo
        the key; aiohttp's exceptions show the URL)."""
        for secret in self._hidden.value:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def _clip(self, text: str) -> str:
        """Text from a reply as shown in a message: encodable, without credentials, cut to a snippet."""
        longest = max(map(len, self._hidden.value), default=0)
        return self._scrub(_safe(text[: _ERROR_SNIPPET + longest]))[:_ERROR_SNIPPET]

    def _excerpt(self, raw: bytes) -> str:
        """The start of a raw reply, for a message."""
        return repr(self._clip(raw[: _ERROR_SNIPPET * 4 + 256].decode("utf-8", errors="replace")))

    def _refusal(self, exc: _Refused, chat: bool) -> ModelError:
        text = f"{exc.what} from {self._where(chat)}{exc.detail}"
        if exc.source:
            text += f"; reply began: {self._excerpt(exc.source)}"
        return exc.error(text, status=200)

    def _status_error(self, status: int, body: bytes, headers: Any, chat: bool) -> ModelError:
        message = self._clip(_server_message(body))
        where = self._where(chat)
        text = f"HTTP {status} from {where}: {message}"
        retry_after = parse_retry_after(headers.get("Retry-After"))
        if status in (401, 403):
            hint = f" (check the API key in ${self.api_key_env})" if status == 401 else ""
            return AuthError(text + hint, status=status)
        if status == 404:
            return ModelNotFound(
                f"{text} (check the base URL and that the server serves model {self.model!r})", status=status
            )
        if status == 429:
            return RateLimited(text, status=status, retry_after=retry_after)
        if status == 408:
            return RequestTimeout(text, status=status, retry_after=retry_after)
        if status >= 500:
            return ServerError(text, status=status, retry_after=retry_after)
        return BadRequest(text, status=status)


def _build_response(data: dict[str, Any], latency: float, attempts: int, chat: bool, limits: ReplyLimits) -> Response:
    choices = data.get("choices")
    if type(choices) is not list:
        if choices:
            raise _Malformed("choices", "a list", choices)
        choices = None
    if not choices:
        raise _Refused("response without choices")
    if len(choices) > limits.max_choices:
        raise _too_many_choices(limits)
    completions: list[tuple[int, Completion]] = []
    empty = True
    for k, choice in enumerate(choices):
        if type(choice) is not dict:
            raise _Malformed(f"choices[{k}]", "an object", choice)
        index = _index(choice.get("index"), k, limits)
        if chat:
            message = choice.get("message")
            if message is None:
                message = {}
            elif type(message) is not dict:
                raise _Malformed(f"choices[{k}].message", "an object", message)
            content = _as_text(message.get("content"), k, "message.content")
            thought, name = _reasoning_of(message)
            reasoning = _as_text(thought, k, "message." + name) if thought else None
            if empty and (message.get("tool_calls") or message.get("function_call")):
                empty = False
        else:
            content = _as_text(choice.get("text"), k, "text")
            thought, name = _reasoning_of(choice)
            reasoning = _as_text(thought, k, name) if thought else None
        reason = choice.get("finish_reason")
        if reason is not None:
            if type(reason) is not str:
                raise _Malformed(f"choices[{k}].finish_reason", "a string", reason)
            reason = _safe(reason)
        if content or reasoning:
            empty = False
        completions.append((index, split_reasoning(content, reasoning or None, reason)))
    if empty:
        # An HTTP 200 with nothing in it is a failed transport, not a wrong answer: retried, never cached.
        raise _Empty("empty reply (no content, no reasoning)")
    if len(completions) > 1:
        completions.sort(key=lambda pair: pair[0])
    usage = data.get("usage")
    if type(usage) is dict:
        details = usage.get("completion_tokens_details")
        prompt_tokens = _count(usage.get("prompt_tokens"))
        completion_tokens = _count(usage.get("completion_tokens"))
        reasoning_tokens = _count(details.get("reasoning_tokens")) if type(details) is dict else None
    else:
        prompt_tokens = completion_tokens = reasoning_tokens = None
    return Response(
        completions=tuple(c for _, c in completions),
        latency_s=latency,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        reasoning_tokens=reasoning_tokens,
        attempts=attempts,
    )
