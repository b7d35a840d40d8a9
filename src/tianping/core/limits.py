"""Bounds on what a server may send back, shared by ``run``, ``loadtest`` and ``monitor``.

A reply is untrusted input: without a bound, a gzip bomb, an endless stream or a body with millions of
choices grows the client's memory until the machine gives out. A reply past any bound is that request's
error, naming the bound and the flag that raises it; it never ends the run.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class ReplyLimits:
    max_body_bytes: int = 16 * MIB
    """Most bytes of one reply after decompression: a whole JSON body, or all the events of one stream."""
    max_compression_ratio: float = 100.0
    """Most decompressed bytes per byte received; checked once a body has inflated past 1 MiB, so that a
    small, well-compressed JSON body passes and a gzip bomb stops early."""
    max_choices: int = 256
    """Most choices in one reply (a request asks for at most ``n``, which the definitions cap at 200)."""

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1024:
            raise ValueError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")
        if not self.max_compression_ratio >= 1:  # also refuses NaN
            raise ValueError(f"max_compression_ratio must be >= 1, got {self.max_compression_ratio}")
        if self.max_choices < 1:
            raise ValueError(f"max_choices must be >= 1, got {self.max_choices}")


RATIO_CHECK_AFTER = MIB
"""Decompressed bytes below which the compression ratio is not checked."""

DEFAULT_LIMITS = ReplyLimits()
