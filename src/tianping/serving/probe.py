"""A streaming probe: one timed chat-completion call to an OpenAI-compatible endpoint, as a ``ProbeRecord``.

Timing: the clock starts as the request is sent (stamped as its bytes are handed to the socket), so that time spent
waiting in the client before sending (other probes being set up, a connection being opened, a connection
limit) does not count as server latency; that wait is kept apart as ``queue_s``. The transport is
``tianping.serving.h1``: every run of body bytes is stamped in the protocol callback that receives it from the
socket and split into SSE events there (by :class:`tianping.models.sse.SSEDecoder`, the parser the evaluation
backend uses too), so an event's time is the arrival time of the bytes that completed it and no task is woken
per token. TTFT is the first event whose delta carries content or reasoning (never a
role-only chunk, a keep-alive comment, or the first byte); TTFAT the first answer (non-reasoning) content; ITL
the gaps between successive token-bearing events (chunks, which may hold several tokens each).

TPOT is over tokens, not chunks: ``(last - first) / (output_tokens - first_chunk_tokens)``, the span from the
first token-bearing chunk to the last divided by the tokens that came in it (all after the first chunk's).
``output_tokens`` is the server's ``usage.completion_tokens`` when it reports one, else the client's count.
``first_chunk_tokens`` is counted by the model's tokenizer when the probe has one
(:mod:`tianping.serving.token_count`); without one, and with a server count, it is the average tokens per
chunk (``output_tokens / output_chunks``: exact when the server sends equal chunks); with neither, tokens are
chunks and TPOT is the time per chunk after the first. ``output_tps`` is the same tokens over the same span.

The probe never raises for anything the server does (or fails to do): every outcome is a record, with
``failure`` one of ``FAILURE_CLASSES`` when ``ok`` is False.

A reply is untrusted input, bounded by the probe's :class:`~tianping.core.limits.ReplyLimits`: the transport
counts body bytes (after decompression) and all bytes received; here one SSE event is at most
``max_body_bytes / 16`` (what a JSON parser builds from a document can be twenty times its size, so the
document parsed at once is what bounds memory) and carries at most ``max_choices`` choices. Past a bound the
record fails with ``reply_too_large``; the stream's duration is bounded by the deadlines of
:class:`ProbeTimeouts`. Credentials never reach a record: the endpoint is stored without them, and the key,
URL user info and credential query values are masked in every error text.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from tianping.core.limits import DEFAULT_LIMITS, ReplyLimits
from tianping.core.secrets import has_credentials, key_hint, looks_like_secret, strip_credentials
from tianping.models.reasoning import ReasoningTracker
from tianping.models.sse import DeltaRefused, DeltaTooLarge, SSEDecoder, SSEError, SSEEvent, SSETooLarge, read_delta
from tianping.serving.h1 import (
    ConnectionPool,
    Exchange,
    HTTPConnectError,
    HTTPProtocolError,
    ReplyTooLarge,
    Target,
    size_text,
    tls_context,
)
from tianping.serving.records import ProbeRecord
from tianping.serving.token_count import TokenCounter, load_token_counter
from tianping.serving.watchdog import Watchdog

try:  # orjson is faster per event; the standard library is the fallback
    from orjson import dumps as _dumps
    from orjson import loads as _loads
except ImportError:  # pragma: no cover
    import json

    _loads = json.loads

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj).encode()


_ERROR_CHARS = 200
_FINISH_CHARS = 64
_MAX_TOKEN_COUNT = 1 << 40
"""A usage count at or above this is not a token count (a server sending 1e30 is broken, not fast)."""
_MIN_EVENT_BYTES = 64 * 1024


def event_limit(limits: ReplyLimits) -> int:
    """Most bytes of one SSE event: the unit parsed at once, whose parsed form may be ~20x its size."""
    return max(_MIN_EVENT_BYTES, limits.max_body_bytes // 16)


@dataclass(frozen=True)
class ProbeTimeouts:
    ttft_s: float = 60.0
    """No token (content or reasoning) this long after sending: ``ttft_timeout``."""
    idle_s: float = 30.0
    """No data event this long after the last one, once the first token has come: ``idle_timeout``. Any data
    event counts, one with empty content too (a token whose text is not complete yet, such as half of a
    multi-byte character, comes as an empty delta); comments (keep-alives) do not."""
    total_s: float = 600.0
    """The whole call (from the probe call, client-side wait included) longer than this: ``total_timeout``."""


class _Failure(Exception):
    def __init__(self, failure: str, error: str):
        super().__init__(error)
        self.failure = failure
        self.error = error


class _Stream:
    """The state of one streamed response, fed event by event (``on_event``): token times, usage, finish.

    What is reasoning and what is answer (reasoning fields, inline ``<think>`` blocks) is told by a
    :class:`~tianping.models.reasoning.ReasoningTracker`, the streaming side of the backend's split."""

    __slots__ = (
        "t0",
        "first_t",
        "last_t",
        "last_data_t",
        "itl",
        "tokens",
        "split",
        "finish_reason",
        "done_t",
        "usage",
        "max_choices",
        "on_first",
        "texts",
        "first_texts",
    )

    def __init__(self, t0: float, max_choices: int = DEFAULT_LIMITS.max_choices, keep_text: bool = False):
        self.t0 = t0
        self.first_t: float | None = None
        self.last_t: float | None = None
        self.last_data_t = t0
        self.itl: list[float] = []
        self.tokens = 0
        self.split = ReasoningTracker()
        self.finish_reason: str | None = None
        self.done_t: float | None = None
        self.usage: Any = None
        self.max_choices = max_choices
        self.on_first: Callable[[], None] | None = None
        """Called once, at the first token: the watchdog's deadline moves from TTFT to idle there."""
        self.texts: list[str] | None = [] if keep_text else None
        """Every token-bearing piece of text (answer and reasoning), kept only for a tokenizer to count."""
        self.first_texts = 0
        """How many of ``texts`` came in the first token-bearing event."""

    @property
    def answer_t(self) -> float | None:
        """When the first answer (non-reasoning) content came."""
        return self.split.answer_at

    @property
    def reasoning_seen(self) -> bool:
        return self.split.reasoning_seen

    def _token(self, t: float) -> None:
        if self.first_t is None:
            self.first_t = t
            if self.on_first is not None:
                self.on_first()
        else:
            self.itl.append(t - self.last_t)  # type: ignore[operator]
        self.last_t = t
        self.tokens += 1

    def on_event(self, event: SSEEvent) -> None:
        """One SSE event, stamped with the arrival time of the bytes that completed it."""
        t = event.t
        self.last_data_t = t
        if event.done:
            self.done_t = t
            return
        payload = event.data
        try:
            obj = _loads(payload)
        except (ValueError, RecursionError):  # orjson refuses lone surrogates and deep nesting as ValueError
            raise _Failure("bad_response", f"non-JSON data: {payload[:80]!r}") from None
        if obj.__class__ is not dict:
            raise _Failure("bad_response", f"unexpected data: {payload[:80]!r}")
        try:
            delta = read_delta(obj, self.max_choices)
        except DeltaTooLarge as exc:
            raise _Failure("reply_too_large", f"{exc.what}{exc.detail}") from None
        except DeltaRefused as exc:
            raise _Failure("bad_response", f"{exc.what}{exc.detail}") from None
        if delta.error is not None:
            raise _Failure("stream_error", f"error in stream: {delta.error}")
        if delta.usage is not None:
            self.usage = delta.usage
        token = False
        texts = self.texts
        for choice in delta.choices:
            if choice.reasoning:
                token = True
                self.split.reasoning()
                if texts is not None:
                    texts.append(choice.reasoning)
            if choice.content:
                token = True
                self.split.content(t, choice.content)
                if texts is not None:
                    texts.append(choice.content)
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason[:_FINISH_CHARS]
        if token:
            if texts is not None and self.first_t is None:
                self.first_texts = len(texts)
            self._token(t)

    def event(self, t: float, block: bytes) -> None:
        """One SSE event given whole (its lines, without the blank line that ends it), completed at time ``t``."""
        for event in SSEDecoder(max_event=len(block) + 2, strict=True).feed(t, block + b"\n\n"):
            self.on_event(event)


def url_secrets(url: str) -> tuple[str, ...]:
    """What in ``url`` is a credential: the password, a user name that is a key (``https://KEY@host``, or one
    without a password), and the values of credential query parameters, each as written and decoded (a server
    may echo either). Values under 4 characters are left out: masking them would garble every message (a
    status code, a word) and hide next to nothing."""
    try:
        parts = urlsplit(url.strip())
        user, password = parts.username, parts.password
    except ValueError:
        return ()
    found = [password]
    if user and (password is None or looks_like_secret(unquote_plus(user))):
        found.append(user)
    for item in parts.query.split("&"):
        name, _, value = item.partition("=")
        if value and has_credentials(f"http://h/?{name}=x"):
            found.append(value)
    out: list[str] = []
    for value in found:
        for form in (value, unquote_plus(value) if value else value):
            if form and len(form) >= 4 and form not in out:
                out.append(form)
    return tuple(sorted(out, key=len, reverse=True))  # a longer secret first: one may contain another


def redact(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _short(text: str, secrets: tuple[str, ...]) -> str:
    text = redact(" ".join(str(text).split()), secrets)
    # a lone surrogate from the server would make the record unwritable (UTF-8 JSON, SQLite)
    return text[:_ERROR_CHARS].encode("utf-8", "replace").decode("utf-8")


def _http_failure(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status in (401, 403):
        return "auth"
    if status >= 500:
        return "server_error"
    return "http_error"


def _count(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if value.__class__ is not int or not 0 <= value < _MAX_TOKEN_COUNT:  # bool is not a count either
        raise _Failure("bad_response", f"usage {where} is not a token count: {str(value)[:40]}")
    return value


def _usage_counts(usage: Any) -> tuple[int | None, int | None, int | None, int | None]:
    """(completion, prompt, reasoning, cached) tokens of a usage report; a report of the wrong shape fails."""
    if usage is None:
        return None, None, None, None
    if not isinstance(usage, dict):
        raise _Failure("bad_response", f"usage is not an object: {str(usage)[:40]}")
    details = usage.get("completion_tokens_details") or {}
    pdetails = usage.get("prompt_tokens_details") or {}
    if not isinstance(details, dict) or not isinstance(pdetails, dict):
        raise _Failure("bad_response", "usage token details are not objects")
    return (
        _count(usage.get("completion_tokens"), "completion_tokens"),
        _count(usage.get("prompt_tokens"), "prompt_tokens"),
        _count(details.get("reasoning_tokens"), "reasoning_tokens"),
        _count(pdetails.get("cached_tokens"), "cached_tokens"),
    )


class _SSESink:
    """The body sink of a streamed reply: its bytes, as they arrive, go through the shared SSE decoder
    (:class:`tianping.models.sse.SSEDecoder`, linear time however the events are cut into reads, one event at
    most ``max_event`` bytes) and each event it completes goes to the stream, stamped with the arrival time of
    the read that completed it."""

    __slots__ = ("stream", "decoder")

    def __init__(self, stream: _Stream, max_event: int = event_limit(DEFAULT_LIMITS)):
        self.stream = stream
        self.decoder = SSEDecoder(max_event=max_event, strict=True)

    def _refused(self, exc: SSEError) -> _Failure:
        if isinstance(exc, SSETooLarge):
            return _Failure(
                "reply_too_large",
                f"one stream event larger than {size_text(self.decoder.max_event)} "
                "(max_body_bytes / 16; raise with --max-reply-mb)",
            )
        return _Failure("bad_response", str(exc))

    def _take(self, events: list[SSEEvent]) -> None:
        stream = self.stream
        for event in events:
            try:
                stream.on_event(event)
            except (AttributeError, TypeError, KeyError) as exc:  # a field of a shape nothing checked
                raise _Failure("bad_response", f"unexpected JSON shape ({exc}): {event.data[:80]!r}") from None

    def __call__(self, t: float, data: bytes) -> None:
        try:
            events = self.decoder.feed(t, data)  # after [DONE] the rest is drained, unread
        except SSEError as exc:
            raise self._refused(exc) from None
        if events:
            self._take(events)

    def close(self, t: float) -> None:
        """The body ended: an unterminated last event is judged as it is."""
        try:
            events = self.decoder.close(t)
        except SSEError as exc:
            raise self._refused(exc) from None
        self._take(events)


def _chat_url(base_url: str) -> str:
    """``<base_url>/chat/completions``, a query of the base URL (``?api-version=``) kept after the path."""
    try:
        parts = urlsplit(base_url.strip())
    except ValueError:
        return base_url
    path = parts.path.rstrip("/") + "/chat/completions"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


class StreamingProbe:
    """Probes ``<base_url>/chat/completions`` with streamed calls over one shared HTTP session.

    ``limits`` bounds each reply (see the module's docstring); ``endpoint`` is the URL as records show it,
    without credentials.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        provider: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeouts: ProbeTimeouts = ProbeTimeouts(),
        extra_body: dict | None = None,
        connector_limit: int = 0,
        limits: ReplyLimits = DEFAULT_LIMITS,
        tokenizer: str | TokenCounter | None = None,
        ca_file: str | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.url = _chat_url(self.base_url)
        self.endpoint = strip_credentials(self.url)
        self.limits = limits
        self._max_event = event_limit(limits)
        self.model = model
        self.provider = provider
        self.timeouts = timeouts
        self.extra_body = dict(extra_body or {})
        self.connector_limit = connector_limit
        self._api_key_env = api_key_env
        self._api_key = os.environ.get(api_key_env) or None
        self._secrets = url_secrets(self.url)
        if self._api_key:
            self._secrets = tuple(sorted({*self._secrets, self._api_key}, key=len, reverse=True))
        self._headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self._api_key:
            self._headers["Authorization"] = f"Bearer {self._api_key}"
        self._pool: ConnectionPool | None = None
        # an https endpoint's certificate is always verified: by the system's trust store or by ``ca_file``
        # (a CA file that cannot be read raises TLSConfigError here, once, not in every record)
        self._ssl = tls_context(ca_file) if self.url.strip().lower().startswith("https:") else None
        # a tokenizer that cannot be loaded is the caller's error, raised here rather than in every record
        self._count: TokenCounter | None = load_token_counter(tokenizer) if isinstance(tokenizer, str) else tokenizer

    def _get_pool(self) -> ConnectionPool:
        """The connection pool of the running event loop (a new loop gets a new pool)."""
        loop = asyncio.get_running_loop()
        if self._pool is None or self._pool.loop is not loop:
            self._pool = ConnectionPool(Target.parse(self.url), limit=self.connector_limit, ssl_context=self._ssl)
        return self._pool

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                if pool.loop is asyncio.get_running_loop():
                    await pool.aclose()
            except Exception:  # noqa: BLE001 - closing must never fail the caller
                pass

    def _body(
        self, messages: list[dict], max_tokens: int | None, temperature: float | None, extra: dict | None
    ) -> dict:
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if temperature is not None:
            body["temperature"] = temperature
        body.update(self.extra_body)
        if extra:
            body.update(extra)
        body["stream"] = True
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        return body

    async def probe(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        temperature: float | None = 0.0,
        extra: dict | None = None,
    ) -> ProbeRecord:
        record = ProbeRecord(endpoint=self.endpoint, model=self.model, provider=self.provider, stamp_source="arrival")
        body = _dumps(self._body(messages, max_tokens, temperature, extra))
        to = self.timeouts
        wall0 = time.time()
        t0 = time.perf_counter()
        stream = _Stream(t0, self.limits.max_choices, keep_text=self._count is not None)
        sse = _SSESink(stream, self._max_event)
        task = asyncio.current_task()
        assert task is not None, "probe() runs inside a task"
        dog = Watchdog(task, stream, total_deadline=t0 + to.total_s, ttft_deadline=t0 + to.ttft_s, idle_s=to.idle_s)
        stream.on_first = dog.first_token

        def on_sent(t: float) -> None:  # timings from the moment the request was sent
            stream.t0 = stream.last_data_t = t
            dog.ttft_deadline = t + to.ttft_s

        def sink_for(status: int, headers: dict[str, str]) -> _SSESink | None:
            record.http_status = status
            if not 200 <= status < 300:
                return None  # the body is collected for the error message
            if "text/html" in headers.get("content-type", "").lower():
                raise _Failure("bad_response", f"HTML page with status {status}")
            return sse

        exchange = Exchange(sink_for=sink_for, on_sent=on_sent, limits=self.limits)
        try:
            dog.arm()
            await self._get_pool().request(body, self._headers, exchange)
            if record.http_status is not None and not 200 <= record.http_status < 300:
                text = bytes(exchange.collected).decode("utf-8", "replace")
                hint = key_hint(record.http_status, self._api_key_env, bool(self._api_key))
                raise _Failure(_http_failure(record.http_status), f"HTTP {record.http_status}{hint}: {text}")
            sse.close(time.perf_counter())
        except _Failure as exc:
            record.failure = exc.failure
            record.error = _short(exc.error, self._secrets)
        except ReplyTooLarge as exc:
            record.failure = "reply_too_large"
            record.error = _short(str(exc), self._secrets)
        except asyncio.CancelledError:
            if not dog.fired or task.uncancel() > 0:
                raise  # cancelled from outside: not ours to swallow
            self._classify_timeout(record, stream, dog)
        except HTTPProtocolError as exc:
            record.failure = "bad_response"
            record.error = _short(str(exc), self._secrets)
        except (HTTPConnectError, OSError, ValueError) as exc:
            record.failure = "connect_error"
            record.error = _short(f"{type(exc).__name__}: {exc}", self._secrets)
        except Exception as exc:  # noqa: BLE001 - a probe reports, it does not raise
            record.failure = "bad_response"
            record.error = _short(f"{type(exc).__name__}: {exc}", self._secrets)
        finally:
            dog.disarm()
        end = time.perf_counter()
        if exchange.sent_t is not None:  # on_sent has moved stream.t0 there already
            record.queue_s = exchange.sent_t - t0
            record.connection_reused = exchange.phases is None
        if exchange.phases is not None:  # kept also when the request failed after a TLS handshake
            record.dns_s, record.connect_s = exchange.phases.dns_s, exchange.phases.connect_s
            record.tls_s = exchange.phases.tls_s
        record.started_at = wall0 + (stream.t0 - t0)
        self._fill(record, stream, end)
        return record

    def _client_count(self, record: ProbeRecord, stream: _Stream) -> float | None:
        """Counts the reply's tokens with the tokenizer, if the probe has one (after the stream: no timing is
        affected); the tokens of the first token-bearing chunk are returned for TPOT."""
        if self._count is None or stream.texts is None:
            return None
        try:
            first = self._count("".join(stream.texts[: stream.first_texts]))
            total = self._count("".join(stream.texts))
        except Exception as exc:  # noqa: BLE001 - a tokenizer failing on odd text must not fail the probe
            record.error = record.error or _short(f"tokenizer failed: {type(exc).__name__}: {exc}", self._secrets)
            return None
        record.client_output_tokens, record.client_count_unit = total, "tokens"
        return float(first)

    def _classify_timeout(self, record: ProbeRecord, stream: _Stream, dog: Watchdog) -> None:
        to = self.timeouts
        if dog.total_deadline <= dog.token_deadline():
            record.failure = "total_timeout"
            record.error = f"no end after {to.total_s:g} s"
        elif stream.first_t is None:
            record.failure = "ttft_timeout"
            record.error = f"no token after {to.ttft_s:g} s"
        else:
            record.failure = "idle_timeout"
            record.error = f"no data event for {to.idle_s:g} s"

    def _fill(self, record: ProbeRecord, stream: _Stream, end: float) -> None:
        t0 = stream.t0
        record.e2e_s = (stream.done_t if stream.done_t is not None else end) - t0
        if stream.first_t is not None:
            record.ttft_s = stream.first_t - t0
        if stream.answer_t is not None:
            record.ttfat_s = stream.answer_t - t0
        record.itl_s = stream.itl
        record.output_chunks = record.client_output_tokens = stream.tokens
        record.client_count_unit = "chunks"
        record.finish_reason = stream.finish_reason
        first_tokens = self._client_count(record, stream)
        try:
            server_tokens, prompt, reasoning, cached = _usage_counts(stream.usage)
        except _Failure as exc:
            server_tokens = prompt = reasoning = cached = None
            if record.failure is None:
                record.failure, record.error = exc.failure, _short(exc.error, self._secrets)
        counted = record.client_count_unit == "tokens"
        if server_tokens is not None:
            record.server_output_tokens = server_tokens
            record.output_tokens = server_tokens
            if counted or server_tokens < stream.tokens:  # below the chunk count: wrong for sure
                record.token_count_mismatch = server_tokens - record.client_output_tokens
        else:
            record.output_tokens = record.client_output_tokens
        record.prompt_tokens = prompt
        record.reasoning_tokens = reasoning
        record.cached_prompt_tokens = cached
        n = record.output_tokens or 0
        if first_tokens is None:  # no tokenizer: the first chunk is one token, or an average chunk
            first_tokens = 1.0 if server_tokens is None or not stream.tokens else server_tokens / stream.tokens
        after_first = n - first_tokens
        if stream.first_t is not None and stream.last_t is not None:
            span = stream.last_t - stream.first_t
            if stream.tokens >= 2 and after_first > 0 and span > 0:
                record.tpot_s = span / after_first
                record.output_tps = after_first / span
        if record.failure is not None:
            return
        # the stream ended on its own: judge it
        finished = stream.finish_reason is not None or stream.done_t is not None
        if stream.finish_reason == "content_filter":
            record.failure, record.error = "content_filter", "finish_reason content_filter"
        elif not finished:
            record.failure, record.error = "truncated", "stream ended without a finish reason or [DONE]"
        elif stream.tokens == 0:
            record.failure, record.error = "empty_output", "finished without a token"
        elif stream.finish_reason == "length" and stream.reasoning_seen and stream.answer_t is None:
            record.failure, record.error = "length_in_reasoning", "token limit reached while reasoning"
        else:
            record.ok = True
