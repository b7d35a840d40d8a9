"""The idle deadline runs from the last data event, also when it is much shorter than the TTFT deadline.

The watchdog once armed its timer at the TTFT deadline and never brought it forward when the first token
came, so a stall after a few tokens was reported at the TTFT deadline. Timeouts here are deliberately unequal.
"""

from __future__ import annotations

import asyncio
import json
import time

from fake_stream_server import FakeStreamServer
from tianping.serving.probe import ProbeTimeouts, StreamingProbe

MSG = [{"role": "user", "content": "hi"}]


async def _probe(base_url: str, timeouts: ProbeTimeouts):
    probe = StreamingProbe(base_url, "m", timeouts=timeouts)
    try:
        t = time.perf_counter()
        record = await probe.probe(MSG)
        return record, time.perf_counter() - t
    finally:
        await probe.aclose()


def test_stall_after_tokens_is_reported_idle_seconds_after_the_last_token():
    async def go():
        async with FakeStreamServer(ttft_s=0.02, itl_s=0.01, mode="idle_timeout", keepalive_s=0.05) as server:
            return await _probe(server.base_url, ProbeTimeouts(ttft_s=20.0, idle_s=0.3, total_s=30.0))

    r, took = asyncio.run(go())
    assert r.failure == "idle_timeout" and r.client_output_tokens == 3, r
    last_token = r.ttft_s + sum(r.itl_s)
    # fired idle_s after the last data event, not at the 20 s TTFT deadline
    assert 0.3 <= r.e2e_s - last_token < 0.45, r
    assert took < 2.0


def test_ttft_deadline_still_holds_when_idle_is_shorter():
    """Before the first token only the TTFT deadline counts: a short idle limit must not cut a slow start."""

    async def go():
        async with FakeStreamServer(ttft_s=0.5, itl_s=0.01, output_tokens=3) as server:
            return await _probe(server.base_url, ProbeTimeouts(ttft_s=5.0, idle_s=0.1, total_s=10.0))

    r, _ = asyncio.run(go())
    assert r.ok and abs(r.ttft_s - 0.5) < 0.05, r


def _event(delta: dict, finish: str | None = None) -> bytes:
    return (
        b"data: " + json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).encode() + b"\n\n"
    )


async def _paced_server(steps: list[tuple[float, bytes]]):
    """Sends a chunked SSE reply, each piece after its delay, so the gaps between events are known."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(x.split(b":")[1]) for x in head.split(b"\r\n") if x.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        for delay, piece in steps:
            await asyncio.sleep(delay)
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"


def test_empty_content_data_events_reset_the_idle_clock_comments_do_not():
    """A data event with empty content is the server's own stream (a token whose text is not complete yet, a
    multi-byte character cut in two): it resets the idle clock. A comment does not (see test_probe)."""
    beat = _event({"content": ""})
    steps = [(0.0, _event({"content": "a"}))] + [(0.15, beat)] * 6 + [(0.0, _event({"content": "b"}, "stop"))]
    steps.append((0.0, b"data: [DONE]\n\n"))

    async def go():
        server, url = await _paced_server(steps)
        async with server:
            return await _probe(url, ProbeTimeouts(ttft_s=5.0, idle_s=0.3, total_s=10.0))

    r, _ = asyncio.run(go())
    assert r.ok and r.client_output_tokens == 2, r
    assert r.itl_s[0] > 0.8  # 6 x 0.15 s of empty events, each within the 0.3 s idle limit


def test_comment_only_gap_after_a_token_times_out():
    steps = [(0.0, _event({"content": "a"}))] + [(0.1, b": keep-alive\n\n")] * 8 + [(0.0, b"data: [DONE]\n\n")]

    async def go():
        server, url = await _paced_server(steps)
        async with server:
            return await _probe(url, ProbeTimeouts(ttft_s=5.0, idle_s=0.3, total_s=10.0))

    r, _ = asyncio.run(go())
    assert r.failure == "idle_timeout" and 0.3 <= r.e2e_s < 0.45, r
    assert r.error == "no data event for 0.3 s"
