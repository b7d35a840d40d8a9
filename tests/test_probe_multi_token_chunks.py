"""Servers that put several tokens in one stream chunk: TPOT is over tokens, and the client's count is
compared with the server's in the same unit.

The server here sends ``k`` chunks ``gap`` seconds apart, each of ``per`` tokens, and reports
``usage.completion_tokens = k * per``. True TPOT is ``gap / per``: the span from the first chunk to the
last holds the ``(k - 1) * per`` tokens after the first chunk.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tianping.serving.probe import ProbeTimeouts, StreamingProbe
from tianping.serving.token_count import TokenCounterError, load_token_counter

MSG = [{"role": "user", "content": "hi"}]
TIMEOUTS = ProbeTimeouts(ttft_s=5.0, idle_s=2.0, total_s=20.0)
REF_TOKENIZER = Path(__file__).resolve().parents[1] / "src/tianping/refmodels/tp-ref-clean/tokenizer.json"
WORD = " the"  # one token of the reference tokenizer (checked below)


def _event(obj: dict) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _delta(text: str, finish: str | None = None) -> bytes:
    return _event({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]})


async def _server(k: int, per: int, gap: float, usage: bool):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(x.split(b":")[1]) for x in head.split(b"\r\n") if x.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        pieces = [_delta(WORD * per) for _ in range(k)] + [_delta("", "stop")]
        if usage:
            pieces.append(_event({"choices": [], "usage": {"completion_tokens": k * per, "prompt_tokens": 1}}))
        pieces.append(b"data: [DONE]\n\n")
        for i, piece in enumerate(pieces):
            if 0 < i < k:
                await asyncio.sleep(gap)
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"


def _probe(k: int, per: int, gap: float, *, usage: bool = True, tokenizer: str | None = None):
    async def go():
        server, url = await _server(k, per, gap, usage)
        async with server:
            probe = StreamingProbe(url, "m", timeouts=TIMEOUTS, tokenizer=tokenizer)
            try:
                return await probe.probe(MSG)
            finally:
                await probe.aclose()

    return asyncio.run(go())


def test_tpot_over_tokens_with_server_usage():
    r = _probe(k=6, per=4, gap=0.08)
    assert r.ok, r
    span = sum(r.itl_s)
    assert r.output_tokens == r.server_output_tokens == 24
    assert r.tpot_s == pytest.approx(span / 20)  # 20 tokens came after the first chunk's 4
    assert r.tpot_s == pytest.approx(0.02, abs=0.004)
    assert r.output_tps == pytest.approx(20 / span)
    assert r.output_chunks == 6
    # without a tokenizer the client counts chunks: no mismatch can be claimed from more tokens than chunks
    assert r.client_count_unit == "chunks" and r.client_output_tokens == 6
    assert r.token_count_mismatch is None, r


def test_tokenizer_counts_tokens_and_mismatch_compares_tokens():
    r = _probe(k=6, per=4, gap=0.05, tokenizer=str(REF_TOKENIZER))
    assert r.ok, r
    assert r.client_output_tokens == 24 and r.server_output_tokens == 24 and r.client_count_unit == "tokens"
    assert r.token_count_mismatch == 0 and r.output_chunks == 6
    assert r.tpot_s == pytest.approx(sum(r.itl_s) / 20)


def test_tokenizer_without_usage_still_gives_tpot_over_tokens():
    r = _probe(k=5, per=3, gap=0.06, usage=False, tokenizer=str(REF_TOKENIZER))
    assert r.ok, r
    assert r.output_tokens == r.client_output_tokens == 15 and r.server_output_tokens is None
    assert r.tpot_s == pytest.approx(sum(r.itl_s) / 12)
    assert r.tpot_s == pytest.approx(0.02, abs=0.004)


def test_no_tokenizer_no_usage_falls_back_to_chunks():
    r = _probe(k=5, per=3, gap=0.03, usage=False)
    assert r.ok, r
    assert r.output_tokens == r.output_chunks == r.client_output_tokens == 5
    assert r.tpot_s == pytest.approx(sum(r.itl_s) / 4)  # time per chunk: all that can be known


def test_server_count_below_the_chunk_count_is_a_mismatch_without_tokenizer():
    """Each token-bearing chunk holds a token at least: a server reporting fewer is wrong whatever the chunking."""

    async def go():
        reply = [_delta(" a"), _delta(" b"), _delta(" c", "stop")]
        reply.append(_event({"choices": [], "usage": {"completion_tokens": 2}}))
        server, url = await _fixed_server(b"".join(reply) + b"data: [DONE]\n\n")
        async with server:
            probe = StreamingProbe(url, "m", timeouts=TIMEOUTS)
            try:
                return await probe.probe(MSG)
            finally:
                await probe.aclose()

    r = asyncio.run(go())
    assert r.ok and r.output_chunks == 3 and r.token_count_mismatch == -1, r


async def _fixed_server(body: bytes):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(x.split(b":")[1]) for x in head.split(b"\r\n") if x.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n" % len(body))
        writer.write(body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"


def test_reference_tokenizer_counts_the_word_as_one_token():
    count = load_token_counter(str(REF_TOKENIZER))
    assert count(WORD) == 1 and count(WORD * 4) == 4


def test_unknown_tokenizer_is_a_clear_error(tmp_path):
    with pytest.raises(TokenCounterError, match="no-such-tokenizer"):
        load_token_counter(str(tmp_path / "no-such-tokenizer"))
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(TokenCounterError, match="tokenizer.json"):
        load_token_counter(str(bad))


def test_loadtest_cli_takes_a_tokenizer(tmp_path):
    from typer.testing import CliRunner

    from fake_stream_server import running_stream_server
    from tianping.cli import app

    runner = CliRunner()
    head = ["loadtest", "--model", "m", "--no-live", "-n", "1", "--base-url", "http://127.0.0.1:9/v1"]
    bad = runner.invoke(app, [*head, "--tokenizer", str(tmp_path / "nope")])
    assert bad.exit_code == 2 and "--tokenizer" in bad.output and "nope" in bad.output
    out = tmp_path / "lt.json"
    with running_stream_server(ttft_s=0.01, itl_s=0.002, output_tokens=5) as server:
        args = ["loadtest", "--model", "m", "--no-live", "-n", "2", "--max-tokens", "5", "--base-url", server.base_url]
        args += ["--json", str(out)]
        done = runner.invoke(app, [*args, "--tokenizer", str(REF_TOKENIZER)])
    assert done.exit_code == 0, done.output
    records = [r for stage in json.loads(out.read_text())["stages"] for r in stage["records"]]
    assert records and all(r["client_count_unit"] == "tokens" for r in records)
    # the fake server's " tok" is two tokens of the reference tokenizer, five chunks of it
    assert all(r["client_output_tokens"] == 10 and r["output_chunks"] == 5 for r in records)
