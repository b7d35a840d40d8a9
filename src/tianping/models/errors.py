"""Why a request to a model failed.

``retryable`` tells the backend's retry loop whether another attempt may succeed; ``fatal`` tells the
engine that the run cannot go on (a wrong key or model name fails every request the same way).
"""

from __future__ import annotations


class ModelError(Exception):
    retryable: bool = False
    fatal: bool = False

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class RateLimited(ModelError):
    """HTTP 429."""

    retryable = True


class ServerError(ModelError):
    """HTTP 5xx, a non-JSON body, an error object inside a 200, or a truncated stream."""

    retryable = True


class ConnectError(ModelError):
    """The endpoint could not be reached or dropped the connection."""

    retryable = True


class RequestTimeout(ModelError):
    retryable = True


class AuthError(ModelError):
    """HTTP 401/403: every request will fail the same way."""

    fatal = True


class BadRequest(ModelError):
    """HTTP 4xx other than 401/403/408/429: this request will never succeed as sent."""


class ModelNotFound(BadRequest):
    """HTTP 404: wrong base URL or model name."""

    fatal = True


class EmptyReply(ServerError):
    """An HTTP 200 whose every choice is empty (no content, no reasoning, no tool call): a transport failure
    rather than an answer, so it is retried and never cached."""


class ReplyTooLarge(ModelError):
    """A reply past a bound of ``ReplyLimits`` (size, compression ratio, number of choices). The same request
    would most likely get the same reply, so it is not retried; the run goes on."""
