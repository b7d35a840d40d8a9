"""OpenAIChatBackend against hostile servers on 127.0.0.1 (tests/hostile_server.py).

Whatever a server sends, ``generate`` returns a Response or raises a ModelError (which the engine records as
that sample's error): odd JSON, wrong types, gzip bombs, endless streams, empty replies, redirects elsewhere
and broken HTTP. Replies past a bound of ``ReplyLimits`` stop at the bound with memory to match.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import time
import zlib
from typing import Any

import pytest
from aiohttp import web

from hostile_server import (
    HostileServer,
    RawServer,
    chat_body,
    endless_body,
    endless_sse,
    gzip_bomb,
    in_background,
    read_request,
    redirect,
    reply,
    sse,
)
from tianping.core import GenerationParams, Message, Request, Response
from tianping.core.limits import MIB, ReplyLimits
from tianping.models.errors import BadRequest, ConnectError, EmptyReply, ModelError, ReplyTooLarge, ServerError
from tianping.models.openai_api import OpenAIChatBackend

KEY_ENV = "TIANPING_TEST_HOSTILE_KEY"
SECRET = "sk-hostile-SECRET-0a1b2c3d4e5f60718293"


def chat(text: str = "What is 2 + 2?", **params: Any) -> Request:
    return Request(model="openai/m", messages=(Message("user", text),), params=GenerationParams(**params))


def completion(text: str = "Once upon a time") -> Request:
    return Request(model="openai/m", prompt=text)


def make(base_url: str, **kw: Any) -> OpenAIChatBackend:
    kw.setdefault("backoff_base_s", 0.001)
    kw.setdefault("backoff_max_s", 0.01)
    kw.setdefault("timeout_s", 20)
    kw.setdefault("max_retries", 0)
    kw.setdefault("api_key_env", KEY_ENV)
    return OpenAIChatBackend(model="m", base_url=base_url, **kw)


async def _ask(server: Any, request: Request | None, opts: dict[str, Any]) -> Response | BaseException:
    async with server:
        backend = make(server.base_url, **opts)
        try:
            return await backend.generate(request or chat())
        except Exception as exc:  # noqa: BLE001 - returned for the test to inspect
            return exc
        finally:
            await backend.aclose()


def ask(handler: Any, request: Request | None = None, **opts: Any) -> tuple[Response | BaseException, Any]:
    """Serve ``handler`` (or a ready server), send one request; (Response or exception, server)."""
    server = handler if isinstance(handler, (HostileServer, RawServer)) else HostileServer(handler)
    return asyncio.run(_ask(server, request, opts)), server


def model_error(result: Any, kind: type[ModelError] = ModelError) -> ModelError:
    assert isinstance(result, kind), f"expected {kind.__name__}, got {type(result).__name__}: {result!r}"
    return result


def stored_safely(resp: Response) -> None:
    """What the store would write: every string must encode to UTF-8."""
    for c in resp.completions:
        for value in (c.text, c.reasoning, c.finish_reason, c.raw):
            if value is not None:
                value.encode("utf-8")


def chunk(content: Any = None, *, index: Any = 0, finish: Any = None, **delta: Any) -> dict[str, Any]:
    d = dict(delta)
    if content is not None:
        d["content"] = content
    return {"choices": [{"index": index, "delta": d, "finish_reason": finish}]}


# -- 3. odd but valid replies --------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_lone_surrogates_become_replacement_characters(stream: bool) -> None:
    if stream:
        handler = sse(
            [
                chunk(reasoning_content="thinking \udfff"),
                chunk("a\ud800b"),
                chunk(finish="stop\ud800"),
            ]
        )
    else:
        handler = reply(
            chat_body(
                content="a\ud800b",
                finish_reason="stop\ud800",
                message={"content": "a\ud800b", "reasoning_content": "thinking \udfff"},
            )
        )
    resp, _ = ask(handler, stream=stream)
    assert isinstance(resp, Response), resp
    stored_safely(resp)
    c = resp.first
    assert c.text == "a\ufffdb" and c.reasoning == "thinking \ufffd" and c.finish_reason == "stop\ufffd"


def test_surrogate_pair_split_across_events_is_one_character() -> None:
    resp, _ = ask(sse([chunk("smile \ud83d"), chunk("\ude00"), chunk(finish="stop")]), stream=True)
    assert isinstance(resp, Response) and resp.first.text == "smile \U0001f600"


def test_raw_surrogate_bytes_and_invalid_utf8_are_replaced() -> None:
    # json.loads decodes bytes with "surrogatepass", so UTF-8-encoded surrogates pass as lone surrogates,
    # and it refuses bytes that are not UTF-8 at all.
    body = b'{"choices": [{"index": 0, "message": {"content": "a\xed\xa0\x80b \xff c"}, "finish_reason": "stop"}]}'
    resp, _ = ask(reply(body))
    assert isinstance(resp, Response), resp
    stored_safely(resp)
    assert resp.first.text.startswith("a\ufffd") and resp.first.text.endswith("b \ufffd c")


def test_completions_text_with_surrogate() -> None:
    body = {"choices": [{"index": 0, "text": "x\udc00", "finish_reason": "stop"}]}
    resp, _ = ask(reply(body), completion())
    assert isinstance(resp, Response) and resp.first.text == "x\ufffd"


DEEP = 200_000


@pytest.mark.parametrize(
    "where, handler, stream",
    [
        ("body", reply(b'{"choices": ' + b"[" * DEEP + b"]" * DEEP + b"}"), False),
        ("event", sse([b"data: " + b"[" * DEEP + b"]" * DEEP + b"\n\n"]), True),
        ("error body", reply(b'{"error": ' + b"[" * DEEP + b"]" * DEEP + b"}", status=500), False),
    ],
)
def test_deeply_nested_json_is_a_server_error(where: str, handler: Any, stream: bool) -> None:
    exc, server = ask(handler, stream=stream, max_retries=1)
    err = model_error(exc, ServerError)
    assert err.retryable and len(server.requests) == 2
    if where == "error body":
        assert err.status == 500 and "HTTP 500" in str(err)
    else:
        assert "nested too deeply" in str(err)
    assert len(str(err)) < 600


MALFORMED = [
    # (case, body, message fragment or None when a Response is the right outcome)
    (
        "finish_reason dict",
        chat_body(finish_reason={"a": 1}),
        "'choices[0].finish_reason': expected a string, got dict",
    ),
    ("finish_reason number", chat_body(finish_reason=3), "'choices[0].finish_reason': expected a string, got int"),
    ("finish_reason list", chat_body(finish_reason=["stop"]), "expected a string, got list"),
    ("usage list", {**chat_body("hi"), "usage": [1, 2]}, None),
    ("usage string", {**chat_body("hi"), "usage": "lots"}, None),
    ("usage details list", {**chat_body("hi"), "usage": {"completion_tokens_details": [1]}}, None),
    ("reasoning number", chat_body(message={"content": "hi", "reasoning_content": 5}), "reasoning_content': expected"),
    ("reasoning dict", chat_body(message={"content": "hi", "reasoning": {"a": 1}}), "message.reasoning': expected"),
    ("message string", chat_body(message="hi"), "'choices[0].message': expected an object, got str"),
    ("message list", chat_body(message=["hi"]), "'choices[0].message': expected an object, got list"),
    ("choices dict", {"choices": {"0": chat_body()["choices"][0]}}, "'choices': expected a list, got dict"),
    ("choices string", {"choices": "hi"}, "'choices': expected a list, got str"),
    ("choices number", {"choices": 7}, "'choices': expected a list, got int"),
    ("choice list", {"choices": [["hi"]]}, "'choices[0]': expected an object, got list"),
    ("choice null", {"choices": [None]}, "'choices[0]': expected an object, got NoneType"),
    ("content dict", chat_body({"text": "hi"}), "'choices[0].message.content': expected a string, got dict"),
    ("content number", chat_body(42), "'choices[0].message.content': expected a string, got int"),
    ("content bool", chat_body(True), "expected a string, got bool"),
    ("content part number", chat_body([{"type": "text", "text": "a"}, 5]), "content[1]': expected"),
    ("content part text dict", chat_body([{"type": "text", "text": {"x": 1}}]), "content[0].text': expected"),
    ("index string", {"choices": [chat_body()["choices"][0], {**chat_body()["choices"][0], "index": "1"}]}, "index"),
    ("index negative", chat_body(index=-1), "'choices[0].index'"),
    ("index bool", chat_body(index=True), "'choices[0].index'"),
    ("body list", [1, 2], "not an object"),
    ("body string", b'"hello"', "not an object"),
    ("error number", {"error": 5}, "error object in HTTP 200"),
    ("tool_calls dict", chat_body(None, message={"content": None, "tool_calls": {"x": 1}}), None),
]


@pytest.mark.parametrize("case, body, fragment", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_wrong_types_are_a_named_server_error_or_coerced(case: str, body: Any, fragment: str | None) -> None:
    result, server = ask(reply(body), max_retries=1)
    if fragment is None:
        assert isinstance(result, Response), result
        stored_safely(result)
        return
    err = model_error(result, ServerError)
    assert err.retryable and len(server.requests) == 2
    assert fragment in str(err)


def test_malformed_message_shows_a_scrubbed_excerpt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)

    async def echo_key(request: web.Request) -> web.Response:
        key = request.headers.get("Authorization", "")
        filler = "x" * 5000
        return web.json_response(chat_body(finish_reason={"auth": key, "filler": filler}))

    err = model_error(ask(echo_key)[0], ServerError)
    text = str(err)
    assert "malformed response" in text and "finish_reason" in text
    assert SECRET not in text and "***" in text
    assert "xxxx" in text and len(text) < 800  # an excerpt of the reply, cut short


def test_list_of_parts_content_is_joined() -> None:
    parts = [{"type": "text", "text": "The answer "}, "is ", {"type": "image_url", "image_url": {}}, {"text": "4."}]
    resp, _ = ask(reply(chat_body(parts)))
    assert isinstance(resp, Response) and resp.first.text == "The answer is 4."


@pytest.mark.parametrize(
    "value",
    [1e30, -5, "12", True, float("nan"), float("inf"), 2**31, 10**30, 12.0, [12], {"n": 12}],
    ids=repr,
)
@pytest.mark.parametrize("stream", [False, True])
def test_odd_token_counts_are_dropped(value: Any, stream: bool) -> None:
    usage = {
        "prompt_tokens": value,
        "completion_tokens": value,
        "completion_tokens_details": {"reasoning_tokens": value},
    }
    if stream:
        handler = sse([chunk("hi"), chunk(finish="stop"), {"choices": [], "usage": usage}])
    else:
        handler = reply({**chat_body("hi"), "usage": usage})
    resp, _ = ask(handler, stream=stream)
    assert isinstance(resp, Response), resp
    assert resp.prompt_tokens is None and resp.completion_tokens is None and resp.reasoning_tokens is None


def test_plausible_token_counts_are_kept() -> None:
    usage = {"prompt_tokens": 0, "completion_tokens": 2**31 - 1, "completion_tokens_details": {"reasoning_tokens": 7}}
    resp, _ = ask(reply({**chat_body("hi"), "usage": usage}))
    assert isinstance(resp, Response)
    assert (resp.prompt_tokens, resp.completion_tokens, resp.reasoning_tokens) == (0, 2**31 - 1, 7)


STREAM_MALFORMED = [
    ("choices dict", [{"choices": {"0": 1}}], "'choices': expected a list, got dict"),
    ("choice string", [{"choices": ["x"]}], "'choices[0]': expected an object, got str"),
    ("delta list", [{"choices": [{"index": 0, "delta": ["x"]}]}], "'choices[0].delta': expected an object, got list"),
    ("content number", [chunk(5)], "'choices[0].delta.content': expected a string, got int"),
    ("reasoning dict", [chunk(reasoning_content={"a": 1})], "'choices[0].delta.reasoning_content': expected"),
    ("finish list", [chunk("a", finish=["stop"])], "'choices[0].finish_reason': expected a string, got list"),
    ("index string", [chunk("a", index="0")], "'choices[0].index'"),
    ("index negative", [chunk("a", index=-1)], "'choices[0].index'"),
    ("completion text dict", [{"choices": [{"index": 0, "text": {"a": 1}}]}], "'choices[0].text': expected"),
    ("usage string", [{"choices": [], "usage": "lots"}], None),
    ("chunk number", [42], None),
    ("chunk list", [[1, 2]], None),
    ("choices null", [{"choices": None}], None),
]


@pytest.mark.parametrize("case, events, fragment", STREAM_MALFORMED, ids=[m[0] for m in STREAM_MALFORMED])
def test_stream_wrong_types_are_a_named_server_error_or_ignored(case: str, events: list, fragment: str | None) -> None:
    request = completion() if "completion" in case else chat()
    final = {"choices": [{"index": 0, "text": "ok", "finish_reason": "stop"}]} if "completion" in case else None
    tail = [final] if final else [chunk("ok"), chunk(finish="stop")]
    result, server = ask(sse([*events, *tail]), request, stream=True, max_retries=1)
    if fragment is None:
        assert isinstance(result, Response), result
        assert result.first.text == "ok"
        return
    err = model_error(result, ServerError)
    assert err.retryable and len(server.requests) == 2
    assert fragment in str(err) and "malformed" in str(err)


# -- 4. bounds on what a reply may cost ----------------------------------------------------------------------

CHILD = r"""
import asyncio, json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # a regression fails here, not the machine
from tianping.core import Message, Request
from tianping.models.openai_api import OpenAIChatBackend

def peak_mib():
    # VmHWM, not ru_maxrss: the latter keeps the peak of the forked parent (pytest, torch loaded) from before exec
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024

async def main():
    backend = OpenAIChatBackend(model="m", base_url=sys.argv[1], stream=sys.argv[2] == "1", max_retries=0,
                                timeout_s=60, api_key_env="TIANPING_NO_SUCH_KEY")
    request = Request(model="openai/m", messages=(Message("user", "hi"),))
    before = peak_mib()
    t0 = time.monotonic()
    try:
        await backend.generate(request)
        out = {"type": "Response", "message": ""}
    except BaseException as exc:
        out = {"type": type(exc).__name__, "message": str(exc)[:1000]}
    finally:
        await backend.aclose()
    out["seconds"] = time.monotonic() - t0
    out["before_mib"] = before
    out["peak_mib"] = peak_mib()
    print(json.dumps(out))

asyncio.run(main())
"""


def in_child(handler: Any, *, stream: bool) -> dict[str, Any]:
    """Send one request from a fresh interpreter (server in this process); what it raised, how long it took, and
    its peak RSS before and after."""
    with in_background(HostileServer(handler)) as server:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, server.base_url, "1" if stream else "0"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


PEAK_MIB = 300
GROWTH_MIB = 150


@pytest.mark.parametrize("stream", [False, True])
def test_gzip_bomb_stops_early_with_bounded_memory(stream: bool) -> None:
    bomb = gzip_bomb(1024)  # 1 GiB of zeros in about 1 MB
    kind = "text/event-stream" if stream else "application/json"
    out = in_child(reply(bomb, headers={"Content-Encoding": "gzip"}, content_type=kind), stream=stream)
    assert out["type"] == "ReplyTooLarge", out
    assert "max_compression_ratio" in out["message"] and "100" in out["message"]
    assert out["seconds"] < 10, out
    assert out["peak_mib"] < PEAK_MIB and out["peak_mib"] - out["before_mib"] < GROWTH_MIB, out


@pytest.mark.parametrize("stream", [False, True])
def test_endless_reply_stops_at_max_body_bytes_with_bounded_memory(stream: bool) -> None:
    out = in_child(endless_sse() if stream else endless_body(), stream=stream)
    assert out["type"] == "ReplyTooLarge", out
    assert "reply larger than 16 MiB (max_body_bytes; raise with --max-reply-mb)" in out["message"]
    assert out["seconds"] < 15, out
    assert out["peak_mib"] < PEAK_MIB and out["peak_mib"] - out["before_mib"] < GROWTH_MIB, out


def test_gzip_past_max_body_bytes_below_the_ratio() -> None:
    limits = ReplyLimits(max_body_bytes=2 * MIB, max_compression_ratio=1e9)
    exc, server = ask(reply(gzip_bomb(8), headers={"Content-Encoding": "gzip"}), limits=limits, max_retries=2)
    err = model_error(exc, ReplyTooLarge)
    assert not err.retryable and not err.fatal and len(server.requests) == 1
    assert "reply larger than 2 MiB (max_body_bytes" in str(err)


@pytest.mark.parametrize("chunked", [False, True])
def test_100_mb_reply_is_refused_at_the_bound(chunked: bool) -> None:
    size = 100 * 1000 * 1000

    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        if chunked:
            resp.enable_chunked_encoding()
        else:
            resp.content_length = size
        await resp.prepare(request)
        piece = b" " * (1 << 20)
        try:
            for _ in range(size >> 20):
                await resp.write(piece)
        except (ConnectionError, RuntimeError):
            pass
        return resp

    t0 = time.monotonic()
    exc, server = ask(big, max_retries=2)
    err = model_error(exc, ReplyTooLarge)
    assert len(server.requests) == 1 and time.monotonic() - t0 < 10
    assert "max_body_bytes" in str(err) and "16 MiB" in str(err)


@pytest.mark.parametrize("stream", [False, True])
def test_two_million_choices_are_refused(stream: bool) -> None:
    if stream:
        handler = sse([{"choices": [{}] * 2_000_000}])
    else:
        handler = reply(b'{"choices": [' + b",".join([b"{}"] * 2_000_000) + b"]}")
    exc, server = ask(handler, stream=stream, max_retries=2)
    err = model_error(exc, ReplyTooLarge)
    assert "more than 256 choices (max_choices)" in str(err) and len(server.requests) == 1


def test_stream_choice_index_past_max_choices_is_refused() -> None:
    exc, _ = ask(sse([chunk("a", index=10**9), chunk(finish="stop", index=10**9)]), stream=True)
    assert "max_choices" in str(model_error(exc, ReplyTooLarge))


def test_error_status_with_endless_body_is_still_the_status_error() -> None:
    async def endless_500(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=500, headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        try:
            for _ in range(10_000):
                await resp.write(b"internal error " * 4096)
        except (ConnectionError, RuntimeError):
            pass
        return resp

    t0 = time.monotonic()
    exc, _ = ask(endless_500)
    err = model_error(exc, ServerError)
    assert err.status == 500 and "internal error" in str(err) and time.monotonic() - t0 < 10


@pytest.mark.parametrize(
    "encoding, compress",
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send it
        ("identity", lambda b: b),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_compressed_replies_are_decoded(encoding: str, compress: Any, stream: bool) -> None:
    if stream:
        events = [chunk("The answer "), chunk("is 4."), chunk(finish="stop")]
        raw = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
        kind = "text/event-stream"
    else:
        raw, kind = json.dumps(chat_body("The answer is 4.")).encode(), "application/json"
    handler = reply(compress(raw), headers={"Content-Encoding": encoding}, content_type=kind)
    resp, server = ask(handler, stream=stream)
    assert isinstance(resp, Response), resp
    assert resp.first.text == "The answer is 4."
    assert "gzip" in server.requests[0].headers.get("Accept-Encoding", "")


def test_two_gzip_members_are_one_body() -> None:
    raw = json.dumps(chat_body("The answer is 4.")).encode()
    both = gzip.compress(raw[:20]) + gzip.compress(raw[20:])
    resp, _ = ask(reply(both, headers={"Content-Encoding": "gzip"}))
    assert isinstance(resp, Response) and resp.first.text == "The answer is 4."


@pytest.mark.parametrize(
    "encoding, body",
    [("gzip", b"this is not gzip at all"), ("br", b"\x0b\x02\x80hi\x03"), ("gzip", gzip.compress(b"{}" * 99)[:-12])],
    ids=["garbage", "unadvertised", "truncated"],
)
def test_undecodable_compressed_body_is_a_server_error(encoding: str, body: bytes) -> None:
    exc, server = ask(reply(body, headers={"Content-Encoding": encoding}), max_retries=1)
    err = model_error(exc, ServerError)
    assert err.retryable and len(server.requests) == 2 and "Content-Encoding" in str(err)


# -- 5. empty replies ----------------------------------------------------------------------------------------

EMPTY = [
    ("chat empty string", reply(chat_body("")), chat(), False),
    ("chat null content", reply(chat_body(None)), chat(), False),
    ("chat no content field", reply({"choices": [{"index": 0, "message": {"role": "assistant"}}]}), chat(), False),
    ("chat empty, length", reply(chat_body("", finish_reason="length")), chat(max_tokens=1), False),
    ("chat empty reasoning", reply(chat_body(message={"content": "", "reasoning_content": ""})), chat(), False),
    ("completion empty", reply({"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}), completion(), False),
    ("stream chat", sse([chunk("", role="assistant"), chunk(finish="stop")]), chat(), True),
    ("stream completion", sse([{"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}]), completion(), True),
    ("n=2 both empty", reply({"choices": [chat_body("")["choices"][0]] * 2}), chat(n=2), False),
]


@pytest.mark.parametrize("case, handler, request_, stream", EMPTY, ids=[e[0] for e in EMPTY])
def test_empty_reply_is_a_retryable_error(case: str, handler: Any, request_: Request, stream: bool) -> None:
    exc, server = ask(handler, request_, stream=stream, max_retries=2)
    err = model_error(exc, EmptyReply)
    assert isinstance(err, ServerError) and err.retryable and not err.fatal
    assert len(server.requests) == 3
    assert "empty reply (no content, no reasoning) from http://127.0.0.1:" in str(err)


def test_empty_reply_then_answer_succeeds() -> None:
    answers = [chat_body(""), chat_body("The answer is 4.")]

    async def once_empty(request: web.Request) -> web.Response:
        return web.json_response(answers.pop(0))

    resp, _ = ask(once_empty, max_retries=2)
    assert isinstance(resp, Response) and resp.attempts == 2 and resp.first.text == "The answer is 4."


_REASONING_ONLY = chat_body(message={"content": "", "reasoning_content": "hmm"}, finish_reason="length")
_TOOL_CALL = chat_body(message={"content": None, "tool_calls": [{"id": "1"}]}, finish_reason="tool_calls")
_ONE_OF_TWO = {"choices": [chat_body("")["choices"][0], {**chat_body("B")["choices"][0], "index": 1}]}
NOT_EMPTY = [
    ("reasoning only, length", reply(_REASONING_ONLY), chat(), False),
    ("reasoning only, stream", sse([chunk(reasoning_content="hmm"), chunk(finish="length")]), chat(), True),
    ("tool call", reply(_TOOL_CALL), chat(), False),
    ("tool call, stream", sse([chunk(tool_calls=[{"index": 0, "id": "1"}]), chunk(finish="tool_calls")]), chat(), True),
    ("one of two empty", reply(_ONE_OF_TWO), chat(n=2), False),
    ("whitespace", reply(chat_body(" ")), chat(), False),
]


@pytest.mark.parametrize("case, handler, request_, stream", NOT_EMPTY, ids=[e[0] for e in NOT_EMPTY])
def test_not_empty_replies_are_answers(case: str, handler: Any, request_: Request, stream: bool) -> None:
    resp, _ = ask(handler, request_, stream=stream)
    assert isinstance(resp, Response), resp
    if "reasoning" in case:
        assert resp.first.incomplete and resp.first.reasoning == "hmm"
    if case == "one of two empty":
        assert [c.text for c in resp.completions] == ["", "B"]


# -- 12. redirects -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_another_origin_is_refused(status: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)

    async def go() -> tuple[Any, HostileServer, HostileServer]:
        async with HostileServer(reply(chat_body("elsewhere"))) as other:
            target = f"http://user:pw-9z@127.0.0.1:{other.port}/v1/chat/completions?api_key=zz-77&x=1"
            first = HostileServer(redirect(status, target))
            return await _ask(first, None, {"max_retries": 2}), first, other

    exc, first, other = asyncio.run(go())
    err = model_error(exc, BadRequest)
    assert not err.retryable and not err.fatal
    assert len(first.requests) == 1 and other.requests == []  # neither the prompt nor the key went there
    text = str(err)
    assert f"redirect to another origin refused: http://127.0.0.1:{other.port}/v1/chat/completions" in text
    assert "pw-9z" not in text and "zz-77" not in text and SECRET not in text


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("absolute", [False, True])
def test_same_origin_redirect_is_followed_with_method_and_body(status: int, absolute: bool) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/v1/"):
            path = request.path.replace("/v1/", "/v2/")
            return web.Response(status=status, headers={"Location": f"{server.origin}{path}" if absolute else path})
        assert request.method == "POST"
        body = await request.json()
        return web.json_response(chat_body(f"v2 got {body['messages'][0]['content']}"))

    server = HostileServer(handler)
    resp, _ = ask(server)
    assert isinstance(resp, Response), resp
    assert resp.first.text == "v2 got What is 2 + 2?"
    assert [r.path for r in server.requests] == ["/v1/chat/completions", "/v2/chat/completions"]
    assert server.requests[0].body == server.requests[1].body


@pytest.mark.parametrize("status", [301, 302, 303])
def test_same_origin_redirect_that_would_drop_the_body_is_refused(status: int) -> None:
    exc, server = ask(redirect(status, "/v2/chat/completions"), max_retries=2)
    err = model_error(exc, BadRequest)
    assert f"HTTP {status}" in str(err) and "POST" in str(err) and len(server.requests) == 1


def test_redirect_loop_stops_after_five() -> None:
    exc, server = ask(redirect(307, "/v1/chat/completions"), max_retries=2)
    err = model_error(exc, BadRequest)
    assert "too many redirects" in str(err) and len(server.requests) == 6


def test_redirect_without_location_is_an_error() -> None:
    exc, _ = ask(reply(b"moved", status=307, content_type="text/plain"))
    assert isinstance(exc, ModelError) and "307" in str(exc)


# -- broken HTTP ---------------------------------------------------------------------------------------------


async def _close_at_once(reader: Any, writer: Any) -> None:
    await read_request(reader)


async def _huge_header(reader: Any, writer: Any) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nX-Junk: " + b"a" * 200_000 + b"\r\nContent-Length: 2\r\n\r\n{}")
    await writer.drain()


BROKEN = [
    ("bad status line", b"HTTP/1.1 two hundred OK\r\n\r\n"),
    ("not http", b"SSH-2.0-OpenSSH_9.6\r\n"),
    ("short body", b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"choices\""),
    ("bad chunk size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
    ("chunked cut off", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"choices\": ["),
    ("gzip cut off", b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\n\r\n"
     + gzip.compress(b'{"choices": []}')[:10]),
    ("non-latin1 header", b"HTTP/1.1 200 OK\r\nX-Name: \xff\xfe\r\nContent-Length: 2\r\n\r\n{}"),
    ("closed at once", _close_at_once),
    ("huge header", _huge_header),
]  # fmt: skip


@pytest.mark.parametrize("case, response", BROKEN, ids=[b[0] for b in BROKEN])
@pytest.mark.parametrize("stream", [False, True])
def test_broken_http_is_a_retryable_model_error(case: str, response: Any, stream: bool) -> None:
    exc, server = ask(RawServer(response, deadline_s=10), stream=stream, max_retries=1)
    err = model_error(exc)
    assert err.retryable, err
    assert server.requests == 2


def test_credentials_in_the_base_url_are_never_shown() -> None:
    async def go() -> tuple[Any, Any]:
        async with RawServer(_huge_header, deadline_s=10) as raw, HostileServer(reply(chat_body("hi"))) as ok:
            failed = await _ask_url(f"http://user:hunter2@127.0.0.1:{raw.port}/v1?api_key=SEKRIT-42&api-version=7")
            answered = await _ask_url(f"http://127.0.0.1:{ok.port}/v1/?api-version=7&token=TOK-9")
            return (failed, answered), ok

    (failed, answered), ok = asyncio.run(go())
    text = str(model_error(failed, ConnectError))
    assert "Got more than 8190 bytes" in text
    assert "hunter2" not in text and "SEKRIT-42" not in text
    # The path goes before the query, which is sent as given.
    assert isinstance(answered, Response) and answered.first.text == "hi"
    assert ok.requests[0].path == "/v1/chat/completions" and ok.requests[0].query == "api-version=7&token=TOK-9"


async def _ask_url(base_url: str) -> Response | BaseException:
    backend = make(base_url)
    try:
        return await backend.generate(chat())
    except Exception as exc:  # noqa: BLE001 - returned for the test to inspect
        return exc
    finally:
        await backend.aclose()


def test_api_key_and_password_in_the_base_url_together_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    with pytest.raises(ValueError, match="only one Authorization") as info:
        make("http://user:hunter2@127.0.0.1:9/v1")
    assert "hunter2" not in str(info.value) and SECRET not in str(info.value)
