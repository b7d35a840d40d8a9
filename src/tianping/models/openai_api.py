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
import contextlib
import json
import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar
from urllib.parse import quote, quote_plus

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError
from yarl import URL

from tianping.core import LogLikelihood, Request, Response
from tianping.core.inflate import Inflater, TooLarge, Undecodable, size_text
from tianping.core.limits import DEFAULT_LIMITS, ReplyLimits
from tianping.core.secrets import has_credentials, key_hint, strip_credentials
from tianping.core.task import GENERATE, LOGLIKELIHOOD, TOOLS
from tianping.models.errors import (
    AuthError,
    BadRequest,
    ConnectError,
    ModelError,
    ModelNotFound,
    RateLimited,
    RequestTimeout,
    ServerError,
)
from tianping.models.openai_reply import (
    _build_response,
    _loads,
    _message_of,
    _Refused,
    _safe,
    _server_message,
    _StreamChoices,
    _too_large,
    _TooLarge,
    parse_retry_after,
    read_prompt_logprobs,
    read_token_logprobs,
)
from tianping.models.sse import SSEDecoder, SSEEvent, SSETooLarge, read_delta

__all__ = ["OpenAIChatBackend"]

logger = logging.getLogger(__name__)

_ERROR_SNIPPET = 200
"""Characters of a reply shown in an error message."""
_ERROR_BODY_MAX = 64 * 1024
"""Most bytes read of an error status's body: enough for any error object, and never a whole endless body."""
_MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
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


def body_with_model(payload_json: str, model: str) -> bytes:
    """The request body: a request's payload JSON with ``"model"`` added last, byte for byte what
    ``json.dumps({**payload, "model": model}, ensure_ascii=False)`` gives, without encoding the prompt again (the
    request already encoded it twice, for its key and for the store)."""
    if not payload_json.startswith("{") or not payload_json.endswith("}"):
        raise ValueError(f"not a JSON object: {payload_json[:40]!r}")
    comma = ", " if payload_json != "{}" else ""
    return f'{payload_json[:-1]}{comma}"model": {json.dumps(model, ensure_ascii=False)}}}'.encode()


def _display_url(url: str) -> str:
    """The URL as shown in messages: no user info, no query string (either may hold a credential)."""
    try:
        u = URL(url)
        if u.user is not None or u.password is not None:
            u = u.with_user(None)
        return str(u.with_query(None).with_fragment(None))
    except (ValueError, TypeError):
        return "<invalid url>"


class _Decoder(Inflater):
    """An ``Inflater`` whose errors are refusals, worded by the backend with the endpoint and the reply's start.

    aiohttp's own decompression is turned off (see ``tianping.core.inflate`` for why)."""

    __slots__ = ()

    def feed(self, data: bytes) -> bytes:
        try:
            return super().feed(data)
        except (TooLarge, Undecodable) as exc:
            raise self._refused(exc) from None

    def finish(self) -> None:
        try:
            super().finish()
        except Undecodable as exc:
            raise self._refused(exc) from None

    def _refused(self, exc: TooLarge | Undecodable) -> _Refused:
        if not isinstance(exc, TooLarge):
            return _Refused(str(exc), source=self.head)
        if exc.bound == "max_compression_ratio":
            return _TooLarge(
                f"compressed reply inflating more than {self.limits.max_compression_ratio:g} times "
                "(max_compression_ratio)",
                f": {size_text(exc.size)} from {size_text(exc.wire)}",
                self.head,
            )
        return _TooLarge(str(exc), "", self.head)


def _decoder(encoding: str | None, limits: ReplyLimits, limit: int) -> _Decoder:
    try:
        return _Decoder(encoding, limits, limit)
    except Undecodable as exc:  # a coding that was not asked for
        raise _Refused(f"{exc} (gzip and deflate were asked for)") from None


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

    supports = frozenset({GENERATE, TOOLS})
    """Generation and tool calls (``tools``: the request's ``tools`` sent, ``message.tool_calls`` read); with
    ``completions_logprobs`` also log-likelihoods, read from the prompt log-probabilities that ``/completions``
    echoes (``loglikelihood``)."""
    takes_images = True
    """Chats with images (``Message.parts``) are sent as ``image_url`` parts; a backend without this attribute
    would drop them unseen, so the engine refuses to send it such a chat."""

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
        completions_logprobs: bool = False,
        image_max_side: int = 2048,
        image_max_bytes: int = 5 * 1024 * 1024,
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
        self.completions_logprobs = completions_logprobs
        if completions_logprobs:
            self.supports = frozenset({GENERATE, LOGLIKELIHOOD, TOOLS})
        self._session: aiohttp.ClientSession | None = None
        self._sem: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # images are scaled and capped as the server is sent them; neither setting is part of Request.key
        self.image_max_side = image_max_side
        self.image_max_bytes = image_max_bytes
        self._inliner: Any = None

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
        if request.continuations is not None:
            return await self._loglikelihood(request)
        # a request with tools is not streamed: tool calls arrive in pieces that the stream reader does not join
        streamed = self.stream and request.tools is None
        images = request.images()
        if not (images or self.extra_body or streamed):
            body = body_with_model(request.payload_json, self.model)
        else:
            payload = request.payload()
            if images:
                payload["messages"] = self._inline_images(payload["messages"], images)
            if self.extra_body:
                payload.update(self.extra_body)
            payload["model"] = self.model
            if streamed:
                payload["stream"] = True
                payload["stream_options"] = {"include_usage": True}
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        if request.messages is not None:
            url, chat = self._chat_url, True
        else:
            url, chat = self._completions_url, False

        tools = request.tools is not None

        def read(data: dict[str, Any], source: bytes, latency: float, attempt: int) -> Response:
            return self._to_response(data, source, latency, attempt, chat, tools)

        return await self._send(url, body, chat, read)

    def _inline_images(self, messages: list[dict[str, Any]], images: dict[str, Any]) -> list[dict[str, Any]]:
        """The chat's image references as ``image_url`` data URIs within the image limits; an image that cannot
        be sent within them is this request's ``BadRequest`` (sending it would fail alike every time)."""
        from tianping.multimodal.encode import ImageInliner, ImageLimits, ImageRefused

        if self._inliner is None:
            self._inliner = ImageInliner(ImageLimits(self.image_max_side, self.image_max_bytes))
        try:
            return self._inliner.messages(messages, images)
        except (ImageRefused, ValueError) as exc:
            raise BadRequest(f"{self.model_id}: {exc}") from None

    async def _send(
        self, url: str, body: bytes, chat: bool, read: Callable[[dict[str, Any], bytes, float, int], _T]
    ) -> _T:
        """POST ``body`` until an attempt gives a reply that ``read`` (data, reply start, latency, attempt) turns
        into a result, retrying what may succeed another time (see the class docstring)."""
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
                return read(data, source, latency, attempt)
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
        except SSETooLarge:  # an event is bounded by the whole reply's bound, which words it first
            raise self._refusal(_too_large(self.limits), chat) from None
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
        decoder = _decoder(encoding, limits, limits.max_body_bytes)
        parts = [decoder.feed(raw) async for raw in resp.content.iter_any()]
        decoder.finish()
        return b"".join(parts)

    async def _read_error_body(self, resp: aiohttp.ClientResponse) -> bytes:
        """Up to ``_ERROR_BODY_MAX`` bytes of an error status's body (for its message); b"" when unreadable."""
        parts: list[bytes] = []
        size = 0
        try:
            decoder = _decoder(resp.headers.get("Content-Encoding"), self.limits, 1 << 62)
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
        decoder = _decoder(resp.headers.get("Content-Encoding"), limits, limits.max_body_bytes)
        # one event may be as large as the whole reply, which the decoder bounds (and words) first
        sse = SSEDecoder(max_event=limits.max_body_bytes)
        assembled = _StreamChoices(chat)
        done = False
        async for raw in resp.content.iter_any():
            if self._take(sse.feed(time.perf_counter(), decoder.feed(raw)), assembled):
                done = True
                break  # what follows [DONE] is not read
        else:
            decoder.finish()
            done = self._take(sse.close(time.perf_counter()), assembled)
        if not done and not assembled.finished():
            raise ServerError(
                f"truncated stream from {self._where(chat)}: connection ended without [DONE] or "
                f"finish_reason after {assembled.characters()} characters",
                status=200,
            )
        return assembled.response(), decoder.head

    def _take(self, events: list[SSEEvent], assembled: _StreamChoices) -> bool:
        """Add the events of a stream to ``assembled``; True at ``[DONE]``. An event with blank data, or JSON that
        is not an object, is skipped; an error event is a ``ServerError``."""
        chat = assembled.chat
        for event in events:
            if event.done:
                return True
            data = event.data
            if not data.strip():
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
            try:
                delta = read_delta(chunk, self.limits.max_choices, chat=chat)
            except _Refused as exc:
                exc.source = data
                raise
            if delta.error is not None:
                raise ServerError(
                    f"error event in stream from {self._where(chat)}: {self._clip(delta.error)}", status=200
                )
            if delta.usage:
                assembled.usage = delta.usage
            if delta.choices:
                assembled.add(delta.choices)
        return False

    def _to_response(
        self, data: dict[str, Any], source: bytes, latency: float, attempts: int, chat: bool, tools: bool = False
    ) -> Response:
        with self._reading(source, chat, "response"):
            return _build_response(data, latency, attempts, chat, self.limits, tools)

    @contextlib.contextmanager
    def _reading(self, source: bytes, chat: bool, what: str) -> Iterator[None]:
        """Reading a reply: a refused one (too large, wrong types) and a malformed one become that request's
        ``ModelError`` naming the endpoint and the reply's start."""
        try:
            yield
        except _Refused as exc:
            if not exc.source:
                exc.source = source
            raise self._refusal(exc, chat) from None
        except ModelError:
            raise
        except (AttributeError, TypeError, KeyError, ValueError, RecursionError) as exc:
            raise ServerError(
                f"malformed {what} from {self._where(chat)}: {type(exc).__name__}: {self._clip(str(exc))}; "
                f"reply began: {self._excerpt(source)}",
                status=200,
            ) from None

    # -- log-likelihoods ---------------------------------------------------------------------------------

    async def _loglikelihood(self, request: Request) -> Response:
        """Each continuation's log-likelihood, as lm-eval's ``local-completions`` reads it: ``/completions`` with
        the prompt ``context + continuation``, ``echo`` and ``logprobs``, the continuation's tokens found by their
        ``text_offset``. One request per continuation, sent concurrently."""
        if not self.completions_logprobs:
            raise BadRequest(
                f"{self.model_id}: log-likelihood requests need an endpoint whose /completions returns prompt "
                "log-probabilities (completions_logprobs, --completions-logprobs)"
            )
        if request.prompt is None:
            raise BadRequest(
                f"{self.model_id}: the context is a chat (--apply-chat-template), which /completions cannot render "
                "with the model's template; score it on a local model (hf/<path>)"
            )
        t0 = time.perf_counter()
        scored = await asyncio.gather(*(self._score(request.prompt, c) for c in request.continuations or ()))
        return Response(
            completions=(),
            latency_s=time.perf_counter() - t0,
            attempts=max((attempts for _, attempts in scored), default=1),
            loglikelihoods=tuple(ll for ll, _ in scored),
        )

    async def prompt_token_logprobs(self, text: str) -> list[float]:
        """The log-probability of each token of ``text`` that has one (the first has none), as ``/completions``
        echoes them (``echo``, ``logprobs``): what contamination checks read (``tianping contamination
        white-box``). Needs ``completions_logprobs``."""
        if not self.completions_logprobs:
            raise BadRequest(
                f"{self.model_id}: token log-probabilities need an endpoint whose /completions returns prompt "
                "log-probabilities (completions_logprobs, --completions-logprobs)"
            )
        if not text:
            raise BadRequest(f"{self.model_id}: an empty text has no tokens to score")
        payload: dict[str, Any] = {**(self.extra_body or {})}
        payload.update(model=self.model, prompt=text, echo=True, logprobs=1, max_tokens=1, temperature=0)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")

        def read(data: dict[str, Any], source: bytes, latency: float, attempt: int) -> list[float]:
            with self._reading(source, False, "log-probabilities"):
                return read_token_logprobs(data, len(text), self.limits)

        return await self._send(self._completions_url, body, False, read)

    async def _score(self, context: str, continuation: str) -> tuple[LogLikelihood, int]:
        # lm-eval's _encode_pair: the context's trailing whitespace belongs to the continuation
        kept = context.rstrip()
        moved = context[len(kept) :] + continuation
        if not kept:
            raise BadRequest(f"{self.model_id}: an empty context cannot be scored on /completions (no first token)")
        if not moved:
            raise BadRequest(f"{self.model_id}: an empty continuation has nothing to score")
        prompt = kept + moved
        payload: dict[str, Any] = {**(self.extra_body or {})}
        # max_tokens 1 as lm-eval sends it (some servers refuse 0); the generated token is not read
        payload.update(model=self.model, prompt=prompt, echo=True, logprobs=1, max_tokens=1, temperature=0)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")

        def read(data: dict[str, Any], source: bytes, latency: float, attempt: int) -> tuple[LogLikelihood, int]:
            with self._reading(source, False, "log-probabilities"):
                logprob, greedy, tokens = read_prompt_logprobs(data, len(kept), len(prompt), self.limits)
            ll = LogLikelihood(
                logprob=logprob,
                greedy=greedy,
                tokens=tokens,
                chars=len(continuation),
                bytes=len(continuation.encode("utf-8")),
            )
            return ll, attempt

        return await self._send(self._completions_url, body, False, read)

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
            return AuthError(text + key_hint(status, self.api_key_env, bool(self._key)), status=status)
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
