"""The probe's HTTP/1.1 transport against raw servers that send exactly the bytes a case needs.

The fake streaming server (aiohttp) always answers with chunked encoding; real endpoints also send
close-delimited bodies, gzip, CRLF event separators, and occasionally bytes that are not HTTP at all.
"""

from __future__ import annotations

import asyncio
import gzip
import json

from tianping.serving.h1 import Target
from tianping.serving.probe import ProbeTimeouts, StreamingProbe

MSG = [{"role": "user", "content": "hi"}]
FAST = ProbeTimeouts(ttft_s=1.0, idle_s=1.0, total_s=5.0)


def _event(delta: dict | None, finish: str | None = None, sep: bytes = b"\n\n") -> bytes:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    return b"data: " + json.dumps({"choices": [choice]}).encode() + sep


def _sse(sep: bytes = b"\n\n") -> bytes:
    return (
        _event({"role": "assistant"}, sep=sep)
        + b"".join(_event({"content": f"t{i} "}, sep=sep) for i in range(3))
        + _event({}, "stop", sep=sep)
        + b"data: [DONE]"
        + sep
    )


async def _raw_server(reply: bytes, *, close: bool = True, connections: list | None = None):
    """A server that reads one request head and body, writes ``reply`` and (optionally) closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if connections is not None:
            connections.append(writer)
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            writer.write(reply)
            await writer.drain()
            if close:
                writer.close()
                return

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1"


async def _probe_raw(reply: bytes, **kw):
    server, url = await _raw_server(reply, **kw)
    async with server:
        probe = StreamingProbe(url, "m", timeouts=FAST)
        try:
            return await probe.probe(MSG)
        finally:
            await probe.aclose()


def test_close_delimited_body_ends_when_the_server_closes():
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" + _sse()
    r = asyncio.run(_probe_raw(reply))
    assert r.ok and r.client_output_tokens == 3 and r.finish_reason == "stop", r


def test_crlf_event_separators_and_content_length_body():
    body = _sse(sep=b"\r\n\r\n")
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    r = asyncio.run(_probe_raw(head + body))
    assert r.ok and r.client_output_tokens == 3, r


def test_gzip_body_is_inflated():
    body = gzip.compress(_sse())
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    r = asyncio.run(_probe_raw(head + body))
    assert r.ok and r.client_output_tokens == 3, r


def test_bytes_that_are_not_http_are_a_bad_response():
    r = asyncio.run(_probe_raw(b"SSH-2.0-OpenSSH_9.2\r\n\r\n"))
    assert not r.ok and r.failure == "bad_response", r


def test_close_before_the_length_is_complete_is_a_connect_error():
    body = _sse()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {len(body) + 100}\r\n\r\n"
    r = asyncio.run(_probe_raw(head.encode() + body))
    # [DONE] arrived, but the body was cut short of its declared length: the transfer broke
    assert not r.ok and r.failure == "connect_error", r


def test_keep_alive_connection_is_reused():
    body = _sse()
    reply = f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n".encode()

    async def go():
        connections: list = []
        server, url = await _raw_server(reply + body, close=False, connections=connections)
        async with server:
            probe = StreamingProbe(url, "m", timeouts=FAST)
            records = [await probe.probe(MSG) for _ in range(3)]
            await probe.aclose()
            for writer in connections:
                writer.close()
        return records, len(connections)

    records, opened = asyncio.run(go())
    assert all(r.ok for r in records)
    assert opened == 1


def test_target_parsing():
    t = Target.parse("https://api.example.com/v1/chat/completions?x=1")
    assert (t.scheme, t.host, t.port, t.path, t.host_header) == (
        "https",
        "api.example.com",
        443,
        "/v1/chat/completions?x=1",
        "api.example.com",
    )
    assert Target.parse("http://127.0.0.1:8000/v1").host_header == "127.0.0.1:8000"
