"""tianping.core.inflate: one bounded decoder for every client (the OpenAI backend and the load-test probe)."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest

from hostile_server import chat_body, gzip_bomb
from tianping.core.inflate import STEP, Inflater, TooLarge, Undecodable, compressed
from tianping.core.limits import DEFAULT_LIMITS, MIB, ReplyLimits

RAW = json.dumps(chat_body("The answer is 4.")).encode()


def _decode(encoding: str | None, body: bytes, limits: ReplyLimits = DEFAULT_LIMITS, chunk: int = 7) -> Inflater:
    inflater = Inflater(encoding, limits)
    out = b"".join(inflater.feed(body[i : i + chunk]) for i in range(0, len(body), chunk))
    inflater.finish()
    assert out == RAW
    return inflater


@pytest.mark.parametrize(
    "encoding, compress",
    [
        ("gzip", gzip.compress),
        (" X-GZIP ", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send it
        ("identity", lambda b: b),
        (None, lambda b: b),
    ],
)
@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
def test_codings_are_decoded_and_counted(encoding: str | None, compress, chunk: int) -> None:  # noqa: ANN001
    body = compress(RAW)
    inflater = _decode(encoding, body, chunk=chunk)
    assert inflater.wire == len(body) and inflater.size == len(RAW)
    assert inflater.head and RAW.startswith(inflater.head)  # the first bytes decoded, for messages


@pytest.mark.parametrize("chunk", [1, 3, 1 << 20])
def test_two_gzip_members_are_one_body(chunk: int) -> None:
    _decode("gzip", gzip.compress(RAW[:20]) + gzip.compress(RAW[20:]), chunk=chunk)


def test_bytes_after_the_compressed_data_are_counted_up_to_the_bound() -> None:
    inflater = _decode("gzip", gzip.compress(RAW) + b"trailing garbage")
    assert inflater.size == len(RAW) + len(b"trailing garbage")
    limits = ReplyLimits(max_body_bytes=len(RAW) + 1024)
    inflater = Inflater("deflate", limits)
    inflater.feed(zlib.compress(RAW))
    with pytest.raises(TooLarge) as caught:
        inflater.feed(b"\0" * 1025)
    assert caught.value.bound == "max_body_bytes"


def test_steps_are_bounded() -> None:
    inflater = Inflater("gzip", ReplyLimits(max_compression_ratio=1e9))
    pieces = list(inflater.steps(gzip_bomb(3)))
    assert max(map(len, pieces)) <= STEP and sum(map(len, pieces)) == inflater.size == 3 * MIB
    inflater.finish()


def test_ratio_bound_stops_a_bomb_early() -> None:
    inflater = Inflater("gzip", DEFAULT_LIMITS)
    bomb = gzip_bomb(64)
    with pytest.raises(TooLarge) as caught:
        inflater.feed(bomb)
    exc = caught.value
    assert exc.bound == "max_compression_ratio" and "max_compression_ratio" in str(exc) and "100" in str(exc)
    # checked on the bytes inflated, not all those received (the whole bomb, enough for 6 MiB at 100 times), a
    # step at a time: it stops one step past 1 MiB, before a reader is handed more than that
    assert inflater.wire == len(bomb) and exc.wire < inflater.wire
    assert exc.size <= max(MIB, 100 * exc.wire) + STEP and exc.size < 2 * MIB


def test_size_bound_below_the_ratio() -> None:
    limits = ReplyLimits(max_body_bytes=2 * MIB, max_compression_ratio=1e9)
    inflater = Inflater("gzip", limits)
    bomb = gzip_bomb(8)
    with pytest.raises(TooLarge) as caught:
        for i in range(0, len(bomb), 4096):
            inflater.feed(bomb[i : i + 4096])
    exc = caught.value
    assert exc.bound == "max_body_bytes" and exc.size == 2 * MIB + 1
    assert "reply larger than 2 MiB (max_body_bytes; raise with --max-reply-mb)" in str(exc)
    identity = Inflater(None, ReplyLimits(max_body_bytes=1024))
    identity.feed(b"a" * 1024)
    with pytest.raises(TooLarge, match="larger than 1 KiB"):
        identity.feed(b"a")


@pytest.mark.parametrize(
    "encoding, body, expected",
    [
        ("gzip", b"this is not gzip at all", "could not be decoded"),
        ("deflate", b"\x78\x9c not deflate", "could not be decoded"),
        ("gzip", gzip.compress(b"{}" * 99)[:-12], "cut off inside its Content-Encoding 'gzip' data"),
        ("gzip", gzip.compress(RAW) + b"\x1f", "cut off"),  # a second member that never came
    ],
    ids=["garbage", "deflate garbage", "truncated", "second member cut off"],
)
def test_undecodable_bodies(encoding: str, body: bytes, expected: str) -> None:
    inflater = Inflater(encoding, DEFAULT_LIMITS)
    with pytest.raises(Undecodable, match=expected):
        inflater.feed(body)
        inflater.finish()


def test_unsupported_coding() -> None:
    with pytest.raises(Undecodable, match="unsupported Content-Encoding 'br'"):
        Inflater("br", DEFAULT_LIMITS)
    assert compressed("gzip") and compressed(" Deflate") and compressed("x-gzip")
    assert not compressed(None) and not compressed("") and not compressed("identity") and not compressed("br")
