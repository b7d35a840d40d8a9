"""The streaming probe against hostile servers: every reply is bounded, every oddity is that request's failure.

Raw servers on 127.0.0.1 (``asyncio.start_server``, port 0, in a background thread) send exactly the bytes of a
case: a gzip bomb, an endless stream, a huge body, an event with two million choices, an endless header, JSON
nested 200,000 deep, a lone surrogate, fields of the wrong type. The memory cases run the probe in a subprocess
that reports its own peak RSS, so that the bound is measured on the probe alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tianping.core.limits import MIB, ReplyLimits
from tianping.serving.load import LoadShape, StageConfig, run_stage
from tianping.serving.probe import ProbeTimeouts, StreamingProbe, _short, _SSESink, _Stream
from tianping.serving.records import FAILURE_CLASSES

MSG = [{"role": "user", "content": "hi"}]
FAST = ProbeTimeouts(ttft_s=5.0, idle_s=5.0, total_s=30.0)
PEAK_RSS_MB = 300
SRC = Path(__file__).resolve().parent.parent / "src"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


# -- servers ------------------------------------------------------------------------------------------------


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    await reader.readexactly(length)


def _head(extra: str = "", status: str = "200 OK", ctype: str = "text/event-stream") -> bytes:
    # every case closes its connection after one reply, so that each request meets the case meant for it
    return f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nConnection: close\r\n{extra}\r\n".encode()


def _event(obj: object) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


TOKEN = _event({"choices": [{"index": 0, "delta": {"content": "tok"}, "finish_reason": None}]})
FINISH = _event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
DONE = b"data: [DONE]\n\n"


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _pump(writer: asyncio.StreamWriter, piece: bytes, *, chunked: bool = False, seconds: float = 60.0) -> None:
    """Write ``piece`` again and again until the client goes away (or a minute passes: never in a passing test)."""
    data = _chunked(piece) if chunked else piece
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        writer.write(data)
        await writer.drain()


def _reply(data: bytes) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(data)
        await writer.drain()
        writer.close()

    return handle


def _stream_of(*events: bytes) -> Handler:
    """A chunked 200 stream of ``events`` and [DONE]."""
    body = b"".join(events) + DONE
    return _reply(_head("Transfer-Encoding: chunked\r\n") + _chunked(body) + b"0\r\n\r\n")


@contextlib.contextmanager
def serving(handler: Handler) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 from a background event loop; yields the base URL."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, object] = {}

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass  # the probe hung up: what a hostile case expects
        finally:
            writer.transport.abort()

    async def start() -> None:
        server = await asyncio.start_server(guarded, "127.0.0.1", 0)
        box["server"] = server
        box["port"] = server.sockets[0].getsockname()[1]
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield f"http://127.0.0.1:{box['port']}/v1"
    finally:

        async def stop() -> None:
            server = box["server"]
            server.close()  # type: ignore[attr-defined]
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


# -- the hostile cases that send a lot --------------------------------------------------------------------


def _zeros_bomb() -> bytes:
    """About 1 MB of gzip that inflates to 1 GiB of zeros."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MIB)
    return b"".join([*(comp.compress(block) for _ in range(1024)), comp.flush()])


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return _zeros_bomb()


def _gzip_bomb(bomb: bytes) -> Handler:
    return _reply(_head(f"Content-Encoding: gzip\r\nContent-Length: {len(bomb)}\r\n") + bomb)


def _endless_sse() -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_head("Transfer-Encoding: chunked\r\n"))
        await _pump(writer, TOKEN * 1000, chunked=True)  # tokens, never a finish or [DONE]

    return handle


def _endless_body() -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_head() + b"data: ")  # one event that never ends
        await _pump(writer, b"x" * 65536)

    return handle


def _huge_body() -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_head(f"Content-Length: {100 * MIB}\r\n"))  # 100 MB of well-formed events
        await _pump(writer, TOKEN * 1000)

    return handle


def _two_million_choices() -> Handler:
    choice = b'{"index":0,"delta":{"content":"a"}},'
    body = b'data: {"choices":[' + choice * 2_000_000 + b'{"index":0,"delta":{}}]}\n\n' + DONE
    return _reply(_head(f"Content-Length: {len(body)}\r\n") + body)


def _endless_header() -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nX-Endless: ")
        await _pump(writer, b"a" * 65536)

    return handle


def _endless_trailer() -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_head("Transfer-Encoding: chunked\r\n") + _chunked(TOKEN) + b"0\r\nX-Trailer: ")
        await _pump(writer, b"a" * 65536)

    return handle


def _tiny_chunks() -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_head("Transfer-Encoding: chunked\r\n"))
        await _pump(writer, b"".join(_chunked(TOKEN[i : i + 1]) for i in range(len(TOKEN))) * 100)

    return handle


def _endless_error_page() -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_head("Transfer-Encoding: chunked\r\n", status="500 Internal Server Error", ctype="text/html"))
        await _pump(writer, b"<p>sorry</p>" * 5000, chunked=True)

    return handle


_CHILD = """
import asyncio, json, resource, sys, time
from tianping.serving.probe import ProbeTimeouts, StreamingProbe

async def main():
    probe = StreamingProbe(sys.argv[1], "m", timeouts=ProbeTimeouts(ttft_s=10, idle_s=10, total_s=40))
    t0 = time.monotonic()
    try:
        r = await probe.probe([{"role": "user", "content": "hi"}])
    finally:
        await probe.aclose()
    return r, time.monotonic() - t0

def peak_mb():
    # VmHWM, not ru_maxrss: the latter keeps the peak of the forked parent from before exec
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

r, elapsed = asyncio.run(main())
print(json.dumps({"failure": r.failure, "error": r.error, "elapsed": elapsed, "peak_mb": peak_mb()}))
"""

# case -> (server, words the error must contain)
_BIG_CASES = {
    "gzip_bomb": ("bomb", "max_compression_ratio"),
    "endless_sse": (_endless_sse, "larger than 16 MiB (max_body_bytes; raise with --max-reply-mb)"),
    "endless_body": (_endless_body, "one stream event larger than 1 MiB"),
    "huge_body": (_huge_body, "larger than 16 MiB (max_body_bytes"),
    "two_million_choices": (_two_million_choices, "one stream event larger than 1 MiB"),
    "endless_header": (_endless_header, "response head larger than 1 MiB"),
    "endless_error_page": (_endless_error_page, "larger than 16 MiB (max_body_bytes"),
    "endless_trailer": (_endless_trailer, "reply of more than 25 MiB on the wire"),
}


@pytest.mark.parametrize("case", list(_BIG_CASES))
def test_hostile_reply_is_bounded_in_memory_and_time(case: str, bomb: bytes) -> None:
    make, expected = _BIG_CASES[case]
    handler = _gzip_bomb(bomb) if make == "bomb" else make()  # type: ignore[operator]
    with serving(handler) as url:
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, url], capture_output=True, text=True, timeout=90, cwd=str(SRC)
        )
        wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["failure"] == "reply_too_large", out
    assert expected in out["error"], out
    assert out["elapsed"] < 15 and wall < 60, out
    assert out["peak_mb"] < PEAK_RSS_MB, out


# -- bounds with limits of one's own, in process ---------------------------------------------------------


async def _probe(url: str, limits: ReplyLimits | None = None) -> object:
    kw = {"limits": limits} if limits is not None else {}
    probe = StreamingProbe(url, "m", timeouts=FAST, **kw)
    try:
        return await probe.probe(MSG)
    finally:
        await probe.aclose()


def _probe_once(handler: Handler, limits: ReplyLimits | None = None):  # noqa: ANN202
    with serving(handler) as url:
        return asyncio.run(_probe(url, limits))


def test_body_bound_follows_the_limits_and_a_reply_under_it_passes() -> None:
    events = TOKEN * 40 + FINISH
    r = _probe_once(_stream_of(events))
    assert r.ok and r.client_output_tokens == 40, r
    small = ReplyLimits(max_body_bytes=2048)
    r = _probe_once(_stream_of(events), small)
    assert r.failure == "reply_too_large" and "larger than 2 KiB (max_body_bytes" in r.error, r


def test_well_compressed_reply_under_the_ratio_passes_and_a_bomb_stops_at_the_body_bound() -> None:
    body = gzip.compress(TOKEN * 2000 + FINISH + DONE)  # ~110 KB inflated: under RATIO_CHECK_AFTER
    r = _probe_once(_reply(_head(f"Content-Encoding: gzip\r\nContent-Length: {len(body)}\r\n") + body))
    assert r.ok and r.client_output_tokens == 2000, r
    bomb = gzip.compress(TOKEN * 200_000)  # ~11 MB of events in ~30 KB
    no_ratio = ReplyLimits(max_body_bytes=4 * MIB, max_compression_ratio=1e9)
    r = _probe_once(_reply(_head(f"Content-Encoding: gzip\r\nContent-Length: {len(bomb)}\r\n") + bomb), no_ratio)
    assert r.failure == "reply_too_large" and "larger than 4 MiB (max_body_bytes" in r.error, r
    r = _probe_once(_reply(_head(f"Content-Encoding: gzip\r\nContent-Length: {len(bomb)}\r\n") + bomb))
    assert r.failure == "reply_too_large" and "max_compression_ratio" in r.error, r


def test_one_byte_chunks_parse_and_are_bounded() -> None:
    body = b"".join(_chunked(b[i : i + 1]) for b in (TOKEN * 5 + FINISH + DONE,) for i in range(len(b)))
    r = _probe_once(_reply(_head("Transfer-Encoding: chunked\r\n") + body + b"0\r\n\r\n"))
    assert r.ok and r.client_output_tokens == 5, r
    r = _probe_once(_tiny_chunks(), ReplyLimits(max_body_bytes=64 * 1024))
    assert r.failure == "reply_too_large" and "64 KiB" in r.error, r


def test_choices_past_the_bound() -> None:
    many = _event({"choices": [{"index": i, "delta": {"content": "a"}} for i in range(300)]})
    r = _probe_once(_stream_of(many, FINISH))
    assert r.failure == "reply_too_large" and "300 choices" in r.error and "max_choices" in r.error, r
    r = _probe_once(_stream_of(many, FINISH), ReplyLimits(max_choices=500))
    assert r.ok, r


# -- malformed but small: classified, never raised --------------------------------------------------------

_BAD_JSON_CASES = {
    "lone_surrogate": (b'data: {"choices":[{"index":0,"delta":{"content":"\\ud800"}}]}\n\n', "bad_response"),
    "nested_200k": (b"data: " + b"[" * 200_000 + b"]" * 200_000 + b"\n\n", "bad_response"),
    "nested_100k_objects": (
        b'data: {"choices":' + b'{"a":' * 100_000 + b"1" + b"}" * 100_001 + b"\n\n",
        "bad_response",
    ),
    "choices_dict": (_event({"choices": {"0": {"delta": {"content": "a"}}}}), "bad_response"),
    "choices_strings": (_event({"choices": ["a", "b"]}), "bad_response"),
    "choices_number": (_event({"choices": 5}), "bad_response"),
    "delta_list": (_event({"choices": [{"index": 0, "delta": ["content", "a"]}]}), "bad_response"),
    "content_number": (_event({"choices": [{"index": 0, "delta": {"content": 5}}]}), "bad_response"),
    "finish_object": (_event({"choices": [{"index": 0, "delta": {}, "finish_reason": {"x": 1}}]}), "bad_response"),
    "top_level_array": (b"data: [1, 2, 3]\n\n", "bad_response"),
    "usage_string": (_event({"choices": [], "usage": "lots"}), "bad_response"),
    "usage_tokens_1e30": (_event({"choices": [], "usage": {"completion_tokens": 1e30}}), "bad_response"),
    "usage_tokens_big_int": (b'data: {"choices":[],"usage":{"prompt_tokens":' + b"9" * 40 + b"}}\n\n", "bad_response"),
    "usage_tokens_negative": (_event({"choices": [], "usage": {"completion_tokens": -3}}), "bad_response"),
    "usage_tokens_bool": (_event({"choices": [], "usage": {"completion_tokens": True}}), "bad_response"),
    "usage_details_list": (
        _event({"choices": [], "usage": {"completion_tokens": 1, "completion_tokens_details": [1]}}),
        "bad_response",
    ),
}


def _bad_stream(event: bytes) -> Handler:
    return _stream_of(TOKEN, event, FINISH)


@pytest.mark.parametrize("case", list(_BAD_JSON_CASES))
def test_malformed_event_is_that_requests_failure(case: str) -> None:
    event, expected = _BAD_JSON_CASES[case]
    r = _probe_once(_bad_stream(event))
    assert not r.ok and r.failure == expected, (case, r)
    assert r.error and len(r.error) <= 200
    json.dumps(r.to_dict(), ensure_ascii=False).encode("utf-8")  # writable as UTF-8 JSON (and so to SQLite)


def test_load_loop_survives_every_hostile_reply_in_turn(bomb: bytes) -> None:
    handlers: list[Handler] = [_bad_stream(e) for e, _ in _BAD_JSON_CASES.values()]
    handlers += [_gzip_bomb(bomb), _endless_sse(), _endless_body(), _endless_header(), _stream_of(TOKEN, FINISH)]
    count = {"n": 0}

    async def rotate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        i = count["n"]
        count["n"] += 1
        await handlers[i % len(handlers)](reader, writer)

    small = ReplyLimits(max_body_bytes=2 * MIB)
    with serving(rotate) as url:

        async def go():  # noqa: ANN202
            probe = StreamingProbe(url, "m", timeouts=FAST, limits=small)
            try:
                cfg = StageConfig(LoadShape("concurrency", concurrency=3), max_requests=2 * len(handlers))
                return await run_stage(probe, cfg)
            finally:
                await probe.aclose()

        result = asyncio.run(asyncio.wait_for(go(), 60))
    recs = [t.record for t in result.records]
    assert len(recs) == 2 * len(handlers)
    assert sum(r.ok for r in recs) == 2
    for r in recs:
        assert r.ok or r.failure in FAILURE_CLASSES, r
        assert r.ok or "Traceback" not in (r.error or "")
    classes = {r.failure for r in recs}
    assert {"bad_response", "reply_too_large"} <= classes


# -- the parts, directly ------------------------------------------------------------------------------------


def test_an_event_in_many_small_reads_costs_linear_time() -> None:
    stream = _Stream(0.0)
    sink = _SSESink(stream)
    event = b'data: {"choices":[{"index":0,"delta":{"content":"' + b"a" * 900_000 + b'"}}]}\n\n'
    t0 = time.perf_counter()
    for i in range(0, len(event), 10):  # 90,000 reads of 10 bytes
        sink(float(i), event[i : i + 10])
    assert time.perf_counter() - t0 < 3.0  # joining on every read would copy ~40 GB
    assert stream.tokens == 1


def test_error_text_is_safe_to_store() -> None:
    text = _short("bad \ud800 thing sk-abc123456", ("sk-abc123456",))
    assert "sk-abc" not in text
    text.encode("utf-8")  # no lone surrogate left
