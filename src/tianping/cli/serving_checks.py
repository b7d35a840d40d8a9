"""Flag checks of ``loadtest`` and ``monitor`` beyond those every command shares (``tianping.cli.common``):
numbers that must be finite, and the reply bounds built from ``--max-reply-mb``. A bad value ends in one line
naming the flag and exit 2 (``tianping.cli.errors``), found before any load is sent or any probe starts."""

from __future__ import annotations

import math

from tianping.cli.errors import fail
from tianping.core.limits import MIB, ReplyLimits

DEFAULT_MAX_REPLY_MB = 16.0
MIN_MAX_REPLY_MB = 1 / 1024  # ReplyLimits refuses a body bound under 1024 bytes


def number_problem(value: float | None, *, positive: bool = False, minimum: float | None = None) -> str | None:
    """Why ``value`` is not acceptable (NaN, infinite, not positive, under ``minimum``), or None."""
    if value is None:
        return None
    if not math.isfinite(value):
        return f"must be a finite number, got {value}"
    if positive and not value > 0:
        return f"must be greater than 0, got {value:g}"
    if minimum is not None and value < minimum:
        return f"must be at least {minimum:g}, got {value:g}"
    return None


def check_number(flag: str, value: float | None, *, positive: bool = False, minimum: float | None = None) -> None:
    problem = number_problem(value, positive=positive, minimum=minimum)
    if problem is not None:
        raise fail(f"{flag} {problem}")


def reply_limits(max_reply_mb: float, where: str = "--max-reply-mb") -> ReplyLimits:
    """The reply bounds for a body bound of ``max_reply_mb`` MiB (other bounds at their defaults)."""
    problem = number_problem(max_reply_mb, positive=True, minimum=MIN_MAX_REPLY_MB)
    if problem is not None:
        raise fail(f"{where} {problem} (MiB)")
    return ReplyLimits(max_body_bytes=int(max_reply_mb * MIB))
