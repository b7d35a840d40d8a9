"""The record of one probed call: what every serving measurement is computed from.

Timings are seconds on the client's monotonic clock, measured from the moment the request was sent (its bytes
handed to the socket); the client-side wait before that is ``queue_s``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

FAILURE_CLASSES = (
    "rate_limited",  # HTTP 429
    "server_error",  # HTTP 5xx
    "auth",  # HTTP 401/403
    "http_error",  # any other non-2xx status
    "connect_error",  # could not connect, or the connection was reset
    "ttft_timeout",  # no token before the TTFT deadline
    "idle_timeout",  # after the first token, no data event for the idle deadline (comments do not count)
    "total_timeout",  # the whole call took longer than the total deadline
    "stream_error",  # an error event inside the stream
    "truncated",  # the stream ended without a finish reason or [DONE]
    "empty_output",  # finished without a single token
    "content_filter",  # finish_reason content_filter
    "length_in_reasoning",  # the token limit was reached while the model was still reasoning
    "bad_response",  # malformed SSE, non-JSON chunks, an HTML page with status 200, fields of the wrong type
    "reply_too_large",  # past a bound of ReplyLimits: body bytes, compression ratio, one event's size, choices
)


@dataclass
class ProbeRecord:
    endpoint: str
    model: str
    provider: str | None = None
    started_at: float = 0.0
    """Unix time at which the request was sent."""
    ok: bool = False
    failure: str | None = None
    """One of FAILURE_CLASSES when ``ok`` is False."""
    http_status: int | None = None
    error: str | None = None
    ttft_s: float | None = None
    """Time to the first token of any kind, reasoning included (never a role-only chunk or a comment)."""
    ttfat_s: float | None = None
    """Time to the first answer (non-reasoning) token."""
    e2e_s: float | None = None
    itl_s: list[float] = field(default_factory=list)
    """Inter-token latencies: gaps between successive token-bearing chunks."""
    tpot_s: float | None = None
    """(last token time - first token time) / (output tokens after the first chunk): time per token, never per
    chunk, where the tokens are known (see ``tianping.serving.probe`` for how the first chunk is counted)."""
    output_tokens: int | None = None
    """From the server's usage report when it sends one, else the client-side count."""
    server_output_tokens: int | None = None
    client_output_tokens: int = 0
    """The client's count: tokens of the reply's text by the model's tokenizer (``client_count_unit``
    ``tokens``), or without a tokenizer the token-bearing chunks (``chunks``; one token per chunk assumed)."""
    client_count_unit: str | None = None
    """``tokens`` or ``chunks``: what ``client_output_tokens`` counted."""
    output_chunks: int | None = None
    """Token-bearing stream events (chunks) the client received; a chunk may hold several tokens."""
    token_count_mismatch: int | None = None
    """server_output_tokens - client_output_tokens when the client counted tokens (like with like). When it
    counted chunks, set only for a server count below the chunk count (as server - chunks): each
    token-bearing chunk holds at least one token, so that count is wrong for sure; one above may be honest."""
    output_tps: float | None = None
    """Tokens after the first chunk / (last token time - first token time): the decode rate, 1 / tpot_s."""
    prompt_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_prompt_tokens: int | None = None
    finish_reason: str | None = None
    queue_s: float | None = None
    """Seconds from the probe call to the request being sent: client-side wait (connection set-up, other
    requests being sent, a connector limit), kept out of ttft/ttfat/e2e and reported here. None when the
    request was never sent."""
    connection_reused: bool | None = None
    """True when the request went on a kept-alive connection (warm), False when it opened one (cold); None
    when it was never sent."""
    dns_s: float | None = None
    """Opening the connection (cold only): name resolution seconds. Part of ``queue_s``, never of ttft_s."""
    connect_s: float | None = None
    """Opening the connection (cold only): TCP connect seconds."""
    tls_s: float | None = None
    """Opening the connection (cold https only): TLS handshake seconds."""
    stamp_source: str | None = None
    """``arrival``: event times are when their bytes came off the socket; ``read``: when the probe read them
    (the fallback where the connection could not be hooked; loop delays then add to every time)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
