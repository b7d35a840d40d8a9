"""The one OpenAI stream parser (``tianping.models.sse``) that the evaluation backend and the serving probe share.

Framing: the same events however the bytes are cut into reads (every boundary, one byte at a time), CRLF / LF / CR
line ends, comments and keep-alive blank lines, multi-line ``data``, ``[DONE]``, bounds on a line and an event,
and each event stamped with the arrival time of the read that completed it. Deltas: typed fields, the reasoning
fields, refusals naming the field. Reasoning: ``<think>`` blocks and reasoning fields give the same split to the
backend (whole text) and to the probe (piece by piece, timed).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp import web

from hostile_server import HostileServer
from tianping.core import GenerationParams, Message, Request
from tianping.core.limits import DEFAULT_LIMITS
from tianping.models.openai_api import OpenAIChatBackend
from tianping.models.openai_reply import _build_response, _StreamChoices
from tianping.models.reasoning import REASONING_FIELDS, ReasoningTracker, reasoning_field, split_reasoning
from tianping.models.sse import (
    ChoiceDelta,
    DeltaRefused,
    DeltaTooLarge,
    SSEDecoder,
    SSEError,
    SSEEvent,
    SSETooLarge,
    read_delta,
)
from tianping.serving.probe import ProbeTimeouts, StreamingProbe, _SSESink, _Stream

BIG = 1 << 20


def decode(chunks: list[bytes], *, strict: bool = False, close: bool = True, **kw: Any) -> list[SSEEvent]:
    """The events of ``chunks``, the i-th read arriving at time i."""
    dec = SSEDecoder(max_event=kw.pop("max_event", BIG), strict=strict, **kw)
    out: list[SSEEvent] = []
    for i, chunk in enumerate(chunks):
        out += dec.feed(float(i), chunk)
    if close:
        out += dec.close(float(len(chunks)))
    return out


def shape(events: list[SSEEvent]) -> list[tuple[bytes, str | None, str | None, bool]]:
    """An event without its time."""
    return [(e.data, e.event, e.id, e.done) for e in events]


# A stream with every framing feature: LF, CRLF and CR line ends (a CRLF whose halves may land in two reads),
# comments, blank keep-alive lines, multi-line data, data without the space, event and id fields, an empty data
# line, retry, and bytes after [DONE] that must never be read.
STREAM = (
    b": keep-alive\n\n"
    b"\n"
    b'data: {"a": 1}\n\n'
    b'data: {"b":\r\ndata: 2}\r\n\r\n'
    b"event: ping\rid: 7\rdata:x\r\r"
    b": comment inside\ndata: y\nretry: 100\n\n"
    b"data\n\n"
    b"data: [DONE]\n\n"
    b"data: after the end\n\n"
)
EXPECTED = [
    (b'{"a": 1}', None, None, False),
    (b'{"b":\n2}', None, None, False),
    (b"x", "ping", "7", False),
    (b"y", None, "7", False),
    (b"", None, "7", False),
    (b"[DONE]", None, "7", True),
]
# the offset of the byte that completes each event (the end of its blank line; a CRLF ends at its CR)
COMPLETES = [
    STREAM.index(b'{"a": 1}\n\n') + 9,
    STREAM.index(b"2}\r\n\r\n") + 4,
    STREAM.index(b"data:x\r\r") + 7,
    STREAM.index(b"retry: 100\n\n") + 11,
    STREAM.index(b"data\n\n") + 5,
    STREAM.index(b"[DONE]\n\n") + 7,
]


def test_the_stream_in_one_read() -> None:
    assert shape(decode([STREAM])) == EXPECTED
    assert [e.t for e in decode([STREAM])] == [0.0] * len(EXPECTED)


def test_one_byte_at_a_time_gives_the_same_events_stamped_by_the_byte_that_completed_them() -> None:
    events = decode([STREAM[i : i + 1] for i in range(len(STREAM))])
    assert shape(events) == EXPECTED
    assert [e.t for e in events] == [float(at) for at in COMPLETES]


@pytest.mark.parametrize("split", range(1, len(STREAM)))
def test_every_boundary_gives_the_same_events(split: int) -> None:
    events = decode([STREAM[:split], STREAM[split:]])
    assert shape(events) == EXPECTED
    # an event completed by a byte of the first read has that read's time, else the second's
    assert [e.t for e in events] == [0.0 if at < split else 1.0 for at in COMPLETES]


def test_every_pair_of_boundaries_gives_the_same_events() -> None:
    stream = b'data: {"b":\r\ndata: 2}\r\n\r\n: c\r\rdata: [DONE]\r\n\r\n'
    want = shape(decode([stream]))
    assert want == [(b'{"b":\n2}', None, None, False), (b"[DONE]", None, None, True)]
    for i in range(1, len(stream)):
        for j in range(i, len(stream)):
            assert shape(decode([stream[:i], stream[i:j], stream[j:]])) == want, (i, j)


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_line_ends(eol: bytes) -> None:
    stream = eol.join([b"data: one", b"", b"data: two", b"data: lines", b"", b""])
    assert shape(decode([stream])) == [(b"one", None, None, False), (b"two\nlines", None, None, False)]


def test_a_crlf_split_across_reads_is_one_line_end() -> None:
    # were the LF a second line end, the two data lines would be two events
    events = decode([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"])
    assert shape(events) == [(b"a\nb", None, None, False)]
    assert events[0].t == 2.0  # the CR of the blank line completed it


def test_comments_and_keep_alive_blank_lines_are_no_events() -> None:
    assert decode([b": ping\n\n\n\n:\n\r\n: another\r\n\r\n"]) == []
    # a comment inside an event leaves its data alone
    assert shape(decode([b"data: a\n: note\ndata: b\n\n"])) == [(b"a\nb", None, None, False)]


def test_an_event_without_data_is_no_event_and_its_type_does_not_carry_over() -> None:
    assert shape(decode([b"event: x\n\ndata: d\n\n"])) == [(b"d", None, None, False)]


def test_field_value_loses_one_leading_space_only() -> None:
    assert shape(decode([b"data:  two spaces\n\ndata:none\n\n"])) == [
        (b" two spaces", None, None, False),
        (b"none", None, None, False),
    ]


def test_done_ends_the_stream_and_nothing_after_it_is_read() -> None:
    dec = SSEDecoder(max_event=64, strict=True)
    events = dec.feed(1.0, b"data: 1\n\ndata: [DONE]\n\nnot sse at all, and longer than max_event" * 3)
    assert [(e.data, e.done) for e in events] == [(b"1", False), (b"[DONE]", True)]
    assert dec.done
    assert dec.feed(2.0, b"data: 2\n\n") == [] and dec.close(3.0) == []
    assert shape(decode([b"data:  [DONE] \n\n"])) == [(b" [DONE] ", None, None, True)]


def test_close_gives_an_unterminated_last_event_as_it_is() -> None:
    assert shape(decode([b"data: a\n\ndata: b"])) == [(b"a", None, None, False), (b"b", None, None, False)]
    assert shape(decode([b"data: a\ndata: b\n"])) == [(b"a\nb", None, None, False)]
    assert shape(decode([b"data: a\r"])) == [(b"a", None, None, False)]
    assert decode([b"data: a\n\n  \t"], strict=True)[-1].data == b"a"  # trailing blanks are not a line
    assert [e.t for e in decode([b"data: a\n\n", b"data: b"])] == [0.0, 2.0]  # stamped with the close


def test_strict_refuses_what_sse_does_not_have_and_the_lenient_skips_it() -> None:
    body = [b'{"choices": []}\n\ndata: ok\n\n']
    with pytest.raises(SSEError, match="malformed SSE line"):
        decode(body, strict=True)
    assert shape(decode(body)) == [(b"ok", None, None, False)]
    assert shape(decode([b"id: 1\nretry: 5\nevent: e\ndata: d\n\n"], strict=True)) == [(b"d", "e", "1", False)]


# -- bounds ---------------------------------------------------------------------------------------------------


def test_an_endless_line_raises_before_it_is_held() -> None:
    dec = SSEDecoder(max_event=64 * 1024)
    fed = 0
    with pytest.raises(SSETooLarge) as info:
        dec.feed(0.0, b"data: ")
        while fed < 10 * BIG:
            dec.feed(0.0, b"x" * 4096)
            fed += 4096
    assert fed <= 64 * 1024 and info.value.limit == 64 * 1024


def test_an_endless_event_of_short_lines_raises() -> None:
    dec = SSEDecoder(max_event=64 * 1024)
    fed = 0
    with pytest.raises(SSETooLarge) as info:
        while fed < 10 * BIG:
            dec.feed(0.0, b"data: xxxxxxxxxxxxxxxx\n" * 100)
            fed += 2300
    assert info.value.what == "event" and fed <= 64 * 1024


def test_an_endless_run_of_comments_without_a_blank_line_raises() -> None:
    dec = SSEDecoder(max_event=4096)
    with pytest.raises(SSETooLarge):
        for _ in range(1000):
            dec.feed(0.0, b": ping\n")


def test_an_event_past_the_bound_in_one_read_raises_and_one_at_it_passes() -> None:
    line = b"data: " + b"x" * 994  # 1000 bytes, an event of 1001 with its line end
    assert shape(decode([line + b"\n\n"], max_event=1001)) == [(b"x" * 994, None, None, False)]
    assert shape(decode([b"a" + line + b"\n\n"], max_event=1002)) == []  # a field the lenient mode skips
    with pytest.raises(SSETooLarge):
        decode([line + b"\n\n"], max_event=1000)
    with pytest.raises(SSETooLarge):
        decode([line[:500], line[500:] + b"\n\n"], max_event=1000)


def test_a_line_bound_below_the_event_bound() -> None:
    with pytest.raises(SSETooLarge) as info:
        decode([b"data: " + b"x" * 200 + b"\n\n"], max_event=BIG, max_line=100)
    assert info.value.what == "line"
    ok = b"".join(b"data: " + b"x" * 90 + b"\n" for _ in range(5)) + b"\n"
    assert len(decode([ok], max_event=BIG, max_line=100)) == 1


def test_an_event_in_many_small_reads_and_many_events_in_one_read_cost_linear_time() -> None:
    event = b'data: {"choices":[{"delta":{"content":"' + b"a" * 900_000 + b'"}}]}\n\n'
    dec = SSEDecoder(max_event=BIG)
    t0 = time.perf_counter()
    got = []
    for i in range(0, len(event), 10):  # 90,000 reads of 10 bytes
        got += dec.feed(0.0, event[i : i + 10])
    many = SSEDecoder(max_event=BIG).feed(0.0, b"data: {}\n\n" * 100_000)
    assert time.perf_counter() - t0 < 3.0
    assert len(got) == 1 and len(got[0].data) == len(event) - 8 and len(many) == 100_000


# -- deltas ---------------------------------------------------------------------------------------------------


def test_read_delta_types_every_field() -> None:
    obj = {
        "choices": [
            {"index": 0, "delta": {"content": "Hi", "reasoning_content": "hmm"}, "finish_reason": None},
            {"index": 1, "delta": {"content": [{"type": "text", "text": "a"}, "b", {"type": "image"}]}},
            {"index": 2, "delta": {"reasoning": "r"}, "finish_reason": "length"},
            {"index": 3, "delta": {"tool_calls": [{"index": 0}]}, "finish_reason": "tool_calls"},
            {"delta": {"content": ""}},
        ],
        "usage": {"completion_tokens": 3},
    }
    delta = read_delta(obj, 256)
    assert delta.usage == {"completion_tokens": 3} and delta.error is None
    assert delta.choices == [
        ChoiceDelta(0, "Hi", "hmm", None, False),
        ChoiceDelta(1, "ab", None, None, False),
        ChoiceDelta(2, None, "r", "length", False),
        ChoiceDelta(3, None, None, "tool_calls", True),
        ChoiceDelta(4, None, None, None, False),
    ]
    completion = read_delta({"choices": [{"index": 0, "text": "t", "reasoning_content": "r"}]}, 256, chat=False)
    assert completion.choices == [ChoiceDelta(0, "t", "r", None, False)]
    assert read_delta({"choices": [], "usage": {}}, 256).usage is None


def test_read_delta_error_in_stream() -> None:
    assert read_delta({"error": {"message": "overloaded"}, "choices": "ignored"}, 256).error == "overloaded"
    assert read_delta({"error": "plain"}, 256).error == "plain"
    assert read_delta({"error": None, "choices": []}, 256).error is None


@pytest.mark.parametrize(
    "obj, fragment",
    [
        ({"choices": {"0": 1}}, "'choices': expected a list, got dict"),
        ({"choices": ["x"]}, "'choices[0]': expected an object, got str"),
        ({"choices": [{"delta": ["x"]}]}, "'choices[0].delta': expected an object, got list"),
        ({"choices": [{"delta": {"content": 5}}]}, "'choices[0].delta.content': expected a string, got int"),
        ({"choices": [{"delta": {"reasoning_content": {"a": 1}}}]}, "'choices[0].delta.reasoning_content'"),
        ({"choices": [{"delta": {"reasoning": 5}}]}, "'choices[0].delta.reasoning'"),
        ({"choices": [{"delta": {}, "finish_reason": ["stop"]}]}, "'choices[0].finish_reason': expected a string"),
        ({"choices": [{"index": "0", "delta": {}}]}, "'choices[0].index'"),
        ({"choices": [{"index": True, "delta": {}}]}, "'choices[0].index'"),
        ({"choices": [{"index": -1, "delta": {}}]}, "'choices[0].index'"),
    ],
)
def test_read_delta_refuses_a_field_of_the_wrong_type_by_name(obj: dict[str, Any], fragment: str) -> None:
    with pytest.raises(DeltaRefused) as info:
        read_delta(obj, 256)
    assert not isinstance(info.value, DeltaTooLarge)
    assert info.value.what == "malformed stream event" and fragment in info.value.detail


def test_read_delta_bounds_the_choices() -> None:
    with pytest.raises(DeltaTooLarge, match="reply with 3 choices, more than 2 choices"):
        read_delta({"choices": [{}, {}, {}]}, 2)
    with pytest.raises(DeltaTooLarge, match="more than 2 choices"):
        read_delta({"choices": [{"index": 2, "delta": {}}]}, 2)


# -- reasoning: one split for both callers ------------------------------------------------------------------


def test_reasoning_field_is_read_one_way() -> None:
    assert REASONING_FIELDS == ("reasoning_content", "reasoning")
    assert reasoning_field({"reasoning_content": "a", "reasoning": "b"}) == ("a", "reasoning_content")
    assert reasoning_field({"reasoning_content": "", "reasoning": "b"}) == ("b", "reasoning")
    assert reasoning_field({}) == (None, "reasoning")
    for delta in ({"reasoning_content": "a", "reasoning": "b"}, {"reasoning_content": "", "reasoning": "b"}, {}):
        assert read_delta({"choices": [{"delta": delta}]}, 1).choices[0].reasoning == (
            reasoning_field(delta)[0] or None
        )


def _piece(content: str | None = None, reasoning: tuple[str, str] | None = None, finish: str | None = None) -> bytes:
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta[reasoning[0]] = reasoning[1]
    return (
        b"data: " + json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).encode() + b"\n\n"
    )


# (name, content pieces (a tuple: a reasoning field piece), finish, 1-based piece where the answer begins or None)
REASONING_CASES = [
    ("think block, tags split", ["<th", "ink>why", " so</th", "ink>", "\n\n", "Yes"], "stop", 6),
    ("think block, answer with the tag", ["  <think>a</think>", "B"], "stop", 2),
    ("answer in the closing piece", ["<think>a", "</think> B"], "stop", 2),
    ("template opened the block", ["thinking", " more</think>", "Answer"], "stop", 3),
    ("plain", ["plain", " answer"], "stop", 1),
    ("starts like a tag", ["<", "div>"], "stop", 1),
    ("reasoning_content field", [("reasoning_content", "I add"), ("reasoning_content", " 3"), "\n\n", "7"], "stop", 4),
    ("reasoning field", [("reasoning", "hmm"), "", " ok"], "stop", 3),
    ("think never closed", ["<think>", "still going"], "length", None),
    ("field, cut off in reasoning", [("reasoning_content", "hmm")], "length", None),
]


def _events(pieces: list[Any], finish: str) -> list[bytes]:
    out = [_piece(reasoning=p) if isinstance(p, tuple) else _piece(p) for p in pieces]
    return [*out, _piece(finish=finish), b"data: [DONE]\n\n"]


def _backend_completion(chunks: list[bytes]) -> Any:
    """The evaluation backend's reading of a stream: its own event loop (``_take``) and assembly, without HTTP."""
    backend = OpenAIChatBackend(model="m", base_url="http://127.0.0.1:9/v1", stream=True)
    dec = SSEDecoder(max_event=DEFAULT_LIMITS.max_body_bytes)
    assembled = _StreamChoices(chat=True)
    done = False
    for i, chunk in enumerate(chunks):
        done = done or backend._take(dec.feed(float(i + 1), chunk), assembled)
    assert done
    return _build_response(assembled.response(), 0.0, 1, True, DEFAULT_LIMITS).first


def _probe_stream(chunks: list[bytes]) -> _Stream:
    """The probe's reading of a stream: the read numbered i (from 1) arrives at time i."""
    stream = _Stream(0.0)
    sink = _SSESink(stream)
    for i, chunk in enumerate(chunks):
        sink(float(i + 1), chunk)
    sink.close(float(len(chunks) + 1))
    return stream


@pytest.mark.parametrize("name, pieces, finish, answer_piece", REASONING_CASES, ids=[c[0] for c in REASONING_CASES])
def test_backend_and_probe_split_reasoning_the_same_way(
    name: str, pieces: list[Any], finish: str, answer_piece: int | None
) -> None:
    chunks = _events(pieces, finish)
    completion = _backend_completion(chunks)
    stream = _probe_stream(chunks)
    contents = [p for p in pieces if isinstance(p, str)]
    fields = "".join(p[1] for p in pieces if isinstance(p, tuple)) or None
    # the backend's split is split_reasoning of what the stream assembled
    assert completion == split_reasoning("".join(contents), fields, finish)
    # the probe saw reasoning exactly when the backend found some, and an answer exactly when it has text
    assert stream.reasoning_seen == (completion.reasoning is not None)
    assert (stream.answer_t is not None) == bool(completion.text)
    assert stream.answer_t == (float(answer_piece) if answer_piece else None)
    if answer_piece:  # the answer the backend extracted begins in the piece the probe stamped
        start = pieces[answer_piece - 1]
        assert isinstance(start, str) and completion.text[:1] in start
    assert stream.done_t is not None and stream.finish_reason == finish


@pytest.mark.parametrize(
    "name, pieces, finish, answer_piece", REASONING_CASES[:4], ids=[c[0] for c in REASONING_CASES[:4]]
)
def test_the_split_does_not_depend_on_how_the_bytes_were_cut(
    name: str, pieces: list[Any], finish: str, answer_piece: int | None
) -> None:
    body = b"".join(_events(pieces, finish))
    whole_completion = _backend_completion([body])
    whole = _probe_stream([body])
    for split in range(1, len(body)):
        parts = [body[:split], body[split:]]
        assert _backend_completion(parts) == whole_completion
        stream = _probe_stream(parts)
        assert (stream.reasoning_seen, stream.answer_t is None, stream.tokens) == (
            whole.reasoning_seen,
            whole.answer_t is None,
            whole.tokens,
        )


def test_the_tracker_keeps_constant_state_for_blank_pieces() -> None:
    tracker = ReasoningTracker()
    t0 = time.perf_counter()
    for i in range(200_000):
        tracker.content(float(i), " ")
    assert time.perf_counter() - t0 < 2.0  # re-stripping a growing prefix would be quadratic
    tracker.content(1e6, "<think>x</think>y")
    assert tracker.reasoning_seen and tracker.answer_at == 1e6


# -- end to end: the same bytes over HTTP to both callers ---------------------------------------------------


def _pouring(body: bytes, piece: int) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for i in range(0, len(body), piece):
            await resp.write(body[i : i + piece])
            await asyncio.sleep(0)
        await resp.write_eof()
        return resp

    return handle


@pytest.mark.parametrize("piece", [1, 7, 4096])
def test_backend_and_probe_read_the_same_stream_over_http(piece: int) -> None:
    pieces: list[Any] = [("reasoning_content", "let me"), ("reasoning_content", " see"), "\n\n", "The answer", " is 4."]
    body = b"".join(_events(pieces, "stop")).replace(b"\n", b"\r\n")  # CRLF, as some servers send
    body = b": hello\r\n\r\n" + body.replace(b'data: {"choices"', b'data: {"choices"\r\ndata: ', 1)  # two data lines

    async def go() -> tuple[Any, Any]:
        async with HostileServer(_pouring(body, piece)) as server:
            backend = OpenAIChatBackend(model="m", base_url=server.base_url, stream=True, max_retries=0)
            probe = StreamingProbe(server.base_url, "m", timeouts=ProbeTimeouts(5, 5, 20))
            try:
                request = Request(model="openai/m", messages=(Message("user", "2+2?"),), params=GenerationParams())
                return await backend.generate(request), await probe.probe([{"role": "user", "content": "2+2?"}])
            finally:
                await backend.aclose()
                await probe.aclose()

    response, record = asyncio.run(go())
    first = response.first
    assert first.text == "The answer is 4." and first.reasoning == "let me see" and first.finish_reason == "stop"
    assert record.ok, record
    assert record.client_output_tokens == 5 and record.finish_reason == "stop"
    assert record.ttft_s is not None and record.ttfat_s is not None and record.ttfat_s >= record.ttft_s
