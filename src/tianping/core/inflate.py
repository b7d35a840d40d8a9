"""A reply body decoded as it arrives (gzip or deflate), bounded by :class:`~tianping.core.limits.ReplyLimits`.

One implementation for every client of tianping: the OpenAI backend (aiohttp, whose own decompression is
turned off) and the load-test probe's HTTP/1.1 client. Neither lets zlib decide how much memory a reply takes:
older aiohttp versions inflate each network chunk whole (a 64 KiB chunk of a gzip bomb becomes 64 MiB at once)
and none bounds the total. Here each call to zlib is given only the room left under both bounds (the body
bound and the compression ratio, the latter checked past ``RATIO_CHECK_AFTER``), and at most ``STEP`` bytes,
so that memory never runs ahead of the check and a caller can hand on each step as it comes.

Content-Encodings: ``gzip`` / ``x-gzip`` (several members one after another are one body), ``deflate``
(zlib-wrapped as the standard says, or raw deflate as some servers send it) and identity. Bytes after the
compressed data are ignored but counted, so that they too come to an end; a body that ends inside its
compressed data is an error.

Errors are this module's own, for each caller to map to its error type and wording: :class:`TooLarge` names
the bound passed (``max_body_bytes`` or ``max_compression_ratio``), :class:`Undecodable` says why the bytes
cannot be decoded.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

from tianping.core.limits import MIB, RATIO_CHECK_AFTER, ReplyLimits

__all__ = ["HEAD_BYTES", "STEP", "Inflater", "TooLarge", "Undecodable", "compressed", "size_text", "too_large_text"]

STEP = 256 * 1024
"""Most bytes one decompression step produces: the unit in which inflated bytes are counted and handed on."""
HEAD_BYTES = 1024
"""Bytes of the decoded body kept as ``Inflater.head``, for error messages."""

_GZIP = ("gzip", "x-gzip")
_IDENTITY = ("", "identity")
_GZIP_MAGIC = b"\x1f\x8b"


def size_text(n: float) -> str:
    """A byte count as messages show it: ``16 MiB``, ``64 KiB``."""
    return f"{n / MIB:g} MiB" if n >= MIB else f"{n / 1024:g} KiB"


def too_large_text(limit: int) -> str:
    """What a reply past the body bound is told, whoever reads it."""
    return f"reply larger than {size_text(limit)} (max_body_bytes; raise with --max-reply-mb)"


def compressed(encoding: str | None) -> bool:
    """Whether a Content-Encoding header names a coding that :class:`Inflater` inflates (gzip or deflate)."""
    return encoding is not None and encoding.strip().lower() in ("gzip", "x-gzip", "deflate")


class TooLarge(Exception):
    """The body passed ``bound`` (``"max_body_bytes"`` or ``"max_compression_ratio"``): ``size`` bytes decoded
    (or received after the compressed data) from ``wire`` bytes (for the ratio, the compressed bytes inflated)."""

    def __init__(self, bound: str, message: str, size: int = 0, wire: int = 0):
        super().__init__(message)
        self.bound = bound
        self.size = size
        self.wire = wire


class Undecodable(Exception):
    """The body cannot be decoded: a Content-Encoding not supported, bytes that are not what it names, or a body
    that ends inside its compressed data."""


class Inflater:
    """Counts a body as it arrives and inflates it, refusing it past the limits.

    ``wire`` counts the bytes received, ``used`` those of them that zlib has inflated, ``size`` the bytes decoded
    (plus any after the compressed data), and ``head`` keeps the start of the decoded body. ``limit`` is the bound
    on ``size`` (default ``limits.max_body_bytes``); past ``RATIO_CHECK_AFTER`` decoded bytes, ``size`` may be at
    most ``limits.max_compression_ratio`` times ``used``.
    """

    __slots__ = (
        "limits",
        "limit",
        "encoding",
        "identity",
        "wire",
        "used",
        "size",
        "head",
        "_z",
        "_gzip",
        "_members",
        "_ended",
    )

    def __init__(self, encoding: str | None, limits: ReplyLimits, limit: int | None = None):
        enc = encoding.strip().lower() if encoding else ""
        if enc not in _IDENTITY and enc not in _GZIP and enc != "deflate":
            raise Undecodable(f"reply with unsupported Content-Encoding {encoding!r}")
        self.limits = limits
        self.limit = limits.max_body_bytes if limit is None else limit
        self.encoding = enc
        self.identity = enc in _IDENTITY
        self.wire = 0
        self.used = 0
        self.size = 0
        self.head = b""
        self._z: Any = None
        self._gzip = enc in _GZIP
        self._members = 0
        self._ended = False

    def feed(self, data: bytes) -> bytes:
        """The decoded bytes of ``data`` (the next bytes of the body), all at once."""
        if self.identity:
            self.wire += len(data)
            self.size += len(data)
            if self.size > self.limit:
                raise self._too_large()
            if not self.head:
                self.head = data[:HEAD_BYTES]
            return data
        out = list(self.steps(data))
        return out[0] if len(out) == 1 else b"".join(out)

    def steps(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of ``data`` in steps of at most ``STEP`` bytes, each counted and checked against the
        bounds before it is yielded."""
        if self.identity:
            if data:
                yield self.feed(data)
            return
        self.wire += len(data)
        limit = self.limit
        ratio = self.limits.max_compression_ratio
        more = False  # a full step may leave output inside zlib even when all the input is consumed
        while data or more:
            if self._ended:
                self.size += len(data)
                if self.size > limit:
                    raise self._too_large()
                return
            z = self._z
            if z is None:
                if self._gzip:
                    # A gzip body may be several members one after another.
                    if self._members and data[:2] != _GZIP_MAGIC[: len(data[:2])]:
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
            # zlib's room: what is left under the body bound and under the ratio times all bytes received (what
            # they could inflate to); the ratio itself is then checked on the bytes zlib has used
            by_ratio = max(float(RATIO_CHECK_AFTER), self.wire * ratio)
            room = (int(by_ratio) if by_ratio < limit else limit) - self.size + 1
            fed = len(data)
            try:
                piece = z.decompress(data, STEP if room > STEP else room)
            except zlib.error as exc:
                raise Undecodable(
                    f"reply whose Content-Encoding {self.encoding!r} could not be decoded ({exc})"
                ) from None
            if z.eof:
                data = z.unused_data
                self._z = None
                more = False
            else:
                data = z.unconsumed_tail  # zlib stops short of the input only at the room it was given
                more = len(piece) == STEP
            self.used += fed - len(data)
            size = self.size = self.size + len(piece)
            if size > limit:
                raise self._too_large()
            if size > RATIO_CHECK_AFTER and size > ratio * self.used:
                raise TooLarge(
                    "max_compression_ratio",
                    f"reply inflates more than {ratio:g} times its compressed size (max_compression_ratio): "
                    "a compression bomb",
                    size,
                    self.used,
                )
            if piece:
                if not self.head:
                    self.head = piece[:HEAD_BYTES]
                yield piece

    def finish(self) -> None:
        """The body has ended: an error if it ended inside its compressed data."""
        if self._z is not None:
            raise Undecodable(f"reply cut off inside its Content-Encoding {self.encoding!r} data")

    def _too_large(self) -> TooLarge:
        return TooLarge("max_body_bytes", too_large_text(self.limit), self.size, self.wire)
