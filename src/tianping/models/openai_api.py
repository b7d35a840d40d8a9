"""Backend for OpenAI-compatible servers (OpenAI, vLLM, SGLang, TGI, llama.cpp, LMDeploy, ...).

``/chat/completions`` is used for requests with messages and ``/completions`` for requests with a prompt,
both appended to the API root the user gives (``base_url``, e.g. ``http://127.0.0.1:8000/v1``).

The hot path is kept lean: one ``aiohttp.ClientSession`` per backend (created on first use), the request
body serialised once, headers set once on the session, no logging or extra objects unless something fails.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import random
import time
from typing import Any

import aiohttp
from yarl import URL

from tianping.core import Completion, Request, Response
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
from tianping.models.reasoning import split_reasoning

__all__ = ["OpenAIChatBackend"]

logger = logging.getLogger(__name__)

_ERROR_SNIPPET = 200
_jitter = random.Random()


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
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - time.time()
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
        data = json.loads(text)
    except ValueError:
        return text or "<empty body>"
    return _message_of(data)


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


def _text_of(content: Any) -> str | None:
    """Message content as a string; list-of-parts content is joined."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return str(content)


async def _lines(resp: aiohttp.ClientResponse):
    """The lines of a response body, however long (aiohttp's own readline limits a line to 128 KiB)."""
    buf = b""
    async for chunk in resp.content.iter_any():
        if buf:
            chunk = buf + chunk
        lines = chunk.split(b"\n")
        buf = lines.pop()
        for line in lines:
            yield line
    if buf:
        yield buf


class _Secret:
    """Holds the API key; shows nothing of it."""

    __slots__ = ("value",)

    def __init__(self, value: str | None):
        self.value = value

    def __repr__(self) -> str:
        return "<secret>" if self.value else "<unset>"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self.value)


class OpenAIChatBackend:
    """``ModelBackend`` for OpenAI-compatible ``/chat/completions`` and ``/completions`` endpoints.

    Transient failures (429, 5xx, 408, connection errors, timeouts, non-JSON bodies, error objects inside a
    200, truncated streams) are retried up to ``max_retries`` times with exponential backoff and full jitter,
    or after the server's ``Retry-After`` (capped at ``backoff_max_s``). 401/403 raise ``AuthError`` and 404
    raises ``ModelNotFound`` (both fatal), other 4xx raise ``BadRequest``; none of these is retried.

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
    ):
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if rpm is not None and rpm <= 0:
            raise ValueError("rpm must be > 0 (or None for no limit)")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
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
        self._chat_url = root + "/chat/completions"
        self._completions_url = root + "/completions"
        self._chat_display = _display_url(self._chat_url)
        self._completions_display = _display_url(self._completions_url)
        self.api_key_env = api_key_env
        self._key = _Secret(os.environ.get(api_key_env) or None)
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.rpm = rpm
        self.stream = stream
        self.extra_body = dict(extra_body) if extra_body else None
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
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key.value}"
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            raise_for_status=False,
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
                    data = await self._attempt(session, url, body, chat)
                    latency = time.perf_counter() - t0
                return self._to_response(data, latency, attempt, chat)
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

    async def _attempt(self, session: aiohttp.ClientSession, url: str, body: bytes, chat: bool) -> dict[str, Any]:
        """One HTTP exchange; returns the response object (streams are assembled into one)."""
        try:
            async with session.post(url, data=body) as resp:
                if not 200 <= resp.status < 300:
                    raise self._status_error(resp.status, await resp.read(), resp.headers, chat)
                if self.stream and resp.content_type == "text/event-stream":
                    return await self._read_stream(resp, chat)
                raw = await resp.read()
        except ModelError:
            raise
        except TimeoutError:
            raise RequestTimeout(f"no complete answer within {self.timeout_s:g}s from {self._where(chat)}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise ConnectError(
                f"connection to {self._where(chat)} failed: {type(exc).__name__}: {self._scrub(str(exc))}"
            ) from None
        try:
            data = json.loads(raw)
        except ValueError:
            raise ServerError(
                f"non-JSON body (HTTP {resp.status}, content-type {resp.content_type!r}) from {self._where(chat)}: "
                f"{self._scrub(raw[:_ERROR_SNIPPET].decode('utf-8', errors='replace'))!r}",
                status=200,
            ) from None
        if not isinstance(data, dict):
            raise ServerError(f"unexpected JSON body (not an object) from {self._where(chat)}", status=200)
        if data.get("error"):
            raise ServerError(
                f"error object in HTTP 200 from {self._where(chat)}: {self._scrub(_message_of(data)[:_ERROR_SNIPPET])}",
                status=200,
            )
        return data

    async def _read_stream(self, resp: aiohttp.ClientResponse, chat: bool) -> dict[str, Any]:
        """Assemble server-sent events into a non-streaming-shaped response object."""
        contents: dict[int, list[str]] = {}
        reasonings: dict[int, list[str]] = {}
        finish: dict[int, str | None] = {}
        usage: dict[str, Any] | None = None
        done = False
        async for line in _lines(resp):
            if not line.startswith(b"data:"):
                continue  # blank separators, ": ping" keep-alives, "event:" / "id:" lines
            data = line[5:].strip()
            if data == b"[DONE]":
                done = True
                break
            if not data:
                continue
            try:
                chunk = json.loads(data)
            except ValueError:
                raise ServerError(
                    f"non-JSON event in stream from {self._where(chat)}: "
                    f"{self._scrub(data[:_ERROR_SNIPPET].decode('utf-8', errors='replace'))!r}",
                    status=200,
                ) from None
            if not isinstance(chunk, dict):
                continue
            if chunk.get("error"):
                raise ServerError(
                    f"error event in stream from {self._where(chat)}: "
                    f"{self._scrub(_message_of(chunk)[:_ERROR_SNIPPET])}",
                    status=200,
                )
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                i = choice.get("index", 0)
                if chat:
                    delta = choice.get("delta") or {}
                    piece = delta.get("content")
                    thought = delta.get("reasoning_content") or delta.get("reasoning")
                else:
                    piece = choice.get("text")
                    thought = choice.get("reasoning_content") or choice.get("reasoning")
                if piece:
                    contents.setdefault(i, []).append(_text_of(piece) or "")
                elif i not in contents:
                    contents[i] = []
                if thought:
                    reasonings.setdefault(i, []).append(thought)
                if choice.get("finish_reason"):
                    finish[i] = choice["finish_reason"]
                else:
                    finish.setdefault(i, None)
        if not done and (not finish or not all(finish.values())):
            got = sum(len("".join(p)) for p in contents.values())
            raise ServerError(
                f"truncated stream from {self._where(chat)}: connection ended without [DONE] or "
                f"finish_reason after {got} characters",
                status=200,
            )
        choices = []
        for i in sorted(contents.keys() | reasonings.keys()):
            reasoning = "".join(reasonings[i]) if i in reasonings else None
            content = "".join(contents.get(i, ()))
            if chat:
                choices.append(
                    {
                        "index": i,
                        "message": {"content": content, "reasoning_content": reasoning},
                        "finish_reason": finish.get(i),
                    }
                )
            else:
                choices.append(
                    {
                        "index": i,
                        "text": content,
                        "reasoning_content": reasoning,
                        "finish_reason": finish.get(i),
                    }
                )
        return {"choices": choices, "usage": usage}

    def _to_response(self, data: dict[str, Any], latency: float, attempts: int, chat: bool) -> Response:
        try:
            return _build_response(data, latency, attempts, chat, self._where(chat))
        except ModelError:
            raise
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            raise ServerError(
                f"malformed response from {self._where(chat)}: {type(exc).__name__}: {exc}", status=200
            ) from None

    # -- errors ------------------------------------------------------------------------------------------

    def _where(self, chat: bool) -> str:
        return self._chat_display if chat else self._completions_display

    def _scrub(self, text: str) -> str:
        """Remove the API key from text that came from elsewhere (servers may echo it)."""
        key = self._key.value
        if key and key in text:
            text = text.replace(key, "***")
        return text

    def _status_error(self, status: int, body: bytes, headers: Any, chat: bool) -> ModelError:
        message = self._scrub(_server_message(body))[:_ERROR_SNIPPET]
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


def _build_response(data: dict[str, Any], latency: float, attempts: int, chat: bool, where: str) -> Response:
    choices = data.get("choices")
    if not choices:
        raise ServerError(f"response without choices from {where}", status=200)
    if len(choices) > 1:
        choices = sorted(choices, key=lambda c: c.get("index", 0))
    completions: list[Completion] = []
    for choice in choices:
        if chat:
            message = choice.get("message") or {}
            content = _text_of(message.get("content"))
            reasoning = message.get("reasoning_content") or message.get("reasoning")
        else:
            content = choice.get("text")
            reasoning = choice.get("reasoning_content") or choice.get("reasoning")
        completions.append(split_reasoning(content, reasoning or None, choice.get("finish_reason")))
    usage = data.get("usage") or {}
    details = usage.get("completion_tokens_details") or {}
    return Response(
        completions=tuple(completions),
        latency_s=latency,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        reasoning_tokens=details.get("reasoning_tokens"),
        attempts=attempts,
    )
