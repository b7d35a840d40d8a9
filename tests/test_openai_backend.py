"""OpenAIChatBackend against the fake OpenAI-compatible server (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import traceback
import urllib.request
from email.utils import formatdate
from pathlib import Path

import pytest

from fake_openai import FakeOpenAIServer, oracle_answer_fn, request_key, running_server
from tianping.core import GenerationParams, Message, Request
from tianping.models.base import ModelBackend
from tianping.models.errors import (
    AuthError,
    BadRequest,
    ConnectError,
    ModelNotFound,
    RateLimited,
    RequestTimeout,
    ServerError,
)
from tianping.models.openai_api import OpenAIChatBackend, parse_retry_after

KEY_ENV = "TIANPING_TEST_OPENAI_KEY"
SECRET = "sk-test-SECRET-5f1c9a7e3b2d4c6e8a0b"


def chat(text: str = "What is 2 + 2?", **params) -> Request:
    return Request(
        model="openai/fake-model",
        messages=(Message("system", "Be brief."), Message("user", text)),
        params=GenerationParams(**params),
    )


def make(server: FakeOpenAIServer | str, **kw) -> OpenAIChatBackend:
    base_url = server if isinstance(server, str) else server.base_url
    kw.setdefault("backoff_base_s", 0.001)
    kw.setdefault("backoff_max_s", 0.01)
    kw.setdefault("timeout_s", 10)
    kw.setdefault("api_key_env", KEY_ENV)
    return OpenAIChatBackend(model="fake-model", base_url=base_url, **kw)


async def one(server_opts: dict, request: Request, **backend_opts):
    """Start a server, send one request, return (response or exception, server, backend)."""
    async with FakeOpenAIServer(**server_opts) as server:
        backend = make(server, **backend_opts)
        try:
            try:
                return await backend.generate(request), server, backend
            except Exception as exc:  # noqa: BLE001 - returned for the test to inspect
                return exc, server, backend
        finally:
            await backend.aclose()


def run(coro):
    return asyncio.run(coro)


# -- answers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_chat_answer_and_usage(stream):
    resp, server, backend = run(
        one(
            {"answer_fn": lambda body: "The answer is 4.", "keepalive": True},
            chat(max_tokens=32),
            stream=stream,
        )
    )
    assert resp.first.text == "The answer is 4."
    assert resp.first.finish_reason == "stop"
    assert resp.first.raw is None and resp.first.reasoning is None
    assert resp.attempts == 1 and resp.latency_s > 0
    assert resp.prompt_tokens == 7 and resp.completion_tokens == 4
    body = server.last_body
    assert body["model"] == "fake-model"
    assert body["messages"][1] == {"role": "user", "content": "What is 2 + 2?"}
    assert body["max_tokens"] == 32
    assert body.get("stream", False) is stream
    if stream:
        assert body["stream_options"] == {"include_usage": True}
    assert backend.model_id == "openai/fake-model"
    assert isinstance(backend, ModelBackend)


@pytest.mark.parametrize("stream", [False, True])
def test_completions_endpoint_for_prompt(stream):
    req = Request(model="openai/fake-model", prompt="Once upon a time")
    resp, server, _ = run(one({}, req, stream=stream))
    assert resp.first.text == "You said: Once upon a time"
    assert server.last_body["prompt"] == "Once upon a time"
    assert "messages" not in server.last_body


@pytest.mark.parametrize("stream", [False, True])
def test_n_choices(stream):
    resp, server, _ = run(one({"answer_fn": lambda b: "B"}, chat(n=2, temperature=0.7), stream=stream))
    assert [c.text for c in resp.completions] == ["B", "B"]
    assert server.last_body["n"] == 2


def test_extra_body_is_sent():
    resp, server, _ = run(one({}, chat(), extra_body={"top_k": 20, "chat_template_kwargs": {"x": 1}}))
    assert server.last_body["top_k"] == 20 and server.last_body["chat_template_kwargs"] == {"x": 1}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "mode, incomplete",
    [
        ("field", False),
        ("reasoning_field", False),
        ("think_tag", False),
        ("leading_close", False),
        ("unterminated", True),
        ("field_length", True),
    ],
)
def test_reasoning_modes(mode, incomplete, stream):
    resp, _, _ = run(one({"reasoning": mode, "answer_fn": lambda b: "The answer is 9."}, chat(), stream=stream))
    c = resp.first
    assert c.incomplete is incomplete
    assert c.reasoning and c.reasoning.startswith("Let me think about this carefully.")
    assert "think>" not in c.reasoning
    if incomplete:
        assert c.text == "" and c.finish_reason == "length"
    else:
        assert c.text == "The answer is 9."
    if mode in ("field", "reasoning_field") and not stream:
        assert resp.reasoning_tokens is not None and resp.reasoning_tokens > 0


# -- retries and errors ----------------------------------------------------------------------------------


def test_429_retry_after_is_honoured():
    async def go():
        async with FakeOpenAIServer(fail_mode="429", fail_first=1, retry_after=0.3) as server:
            backend = make(server, backoff_max_s=5)
            t0 = time.monotonic()
            resp = await backend.generate(chat())
            elapsed = time.monotonic() - t0
            await backend.aclose()
            return resp, elapsed, server

    resp, elapsed, server = run(go())
    assert resp.attempts == 2 and server.requests_total == 2
    assert elapsed >= 0.3
    assert resp.latency_s < 0.3  # latency is the successful attempt's only


def test_retry_after_capped_at_backoff_max():
    async def go():
        async with FakeOpenAIServer(fail_mode="429", fail_first=1, retry_after=30) as server:
            backend = make(server, backoff_max_s=0.05)
            t0 = time.monotonic()
            resp = await backend.generate(chat())
            await backend.aclose()
            return resp, time.monotonic() - t0

    resp, elapsed = run(go())
    assert resp.attempts == 2 and elapsed < 2


def test_parse_retry_after():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    in_10s = parse_retry_after(formatdate(time.time() + 10, usegmt=True))
    assert 8 <= in_10s <= 10.5
    assert parse_retry_after(formatdate(time.time() - 100, usegmt=True)) == 0.0


def test_500_then_success():
    resp, server, _ = run(one({"fail_mode": "500", "fail_first": 1}, chat()))
    assert resp.attempts == 2 and resp.first.text.startswith("You said:")
    assert server.requests_total == 2


def test_persistent_429_raises_rate_limited_after_retries():
    exc, server, _ = run(one({"fail_mode": "429"}, chat(), max_retries=3))
    assert isinstance(exc, RateLimited) and exc.status == 429
    assert server.requests_total == 4
    assert "gave up after 4 attempts" in str(exc) and "Rate limit reached" in str(exc)


def test_401_is_fatal_not_retried_and_key_never_shown(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)

    async def go():
        # The server expects another key and echoes the one it got, as some servers do.
        async with FakeOpenAIServer(api_key="the-right-key") as server:
            backend = make(server)
            with pytest.raises(AuthError) as info:
                await backend.generate(chat())
            await backend.aclose()
            return info.value, server, backend

    exc, server, backend = run(go())
    assert exc.fatal and not exc.retryable and exc.status == 401
    assert server.requests_total == 1
    assert server.last_headers["Authorization"] == f"Bearer {SECRET}"  # the key was sent...
    text = str(exc)
    assert "401" in text and server.base_url + "/chat/completions" in text and KEY_ENV in text
    shown = [
        text,
        repr(exc),
        repr(backend),
        str(backend),
        repr(vars(backend)),
        "".join(traceback.format_exception(exc)),
    ]
    for s in shown:
        assert SECRET not in s  # ...but never shown
    assert "Incorrect API key provided: ***" in text


def test_no_key_no_authorization_header(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    resp, server, backend = run(one({}, chat()))
    assert "Authorization" not in server.last_headers
    assert "api_key=unset" in repr(backend)


def test_403_is_auth_error():
    exc, server, _ = run(one({"fail_mode": "403"}, chat()))
    assert isinstance(exc, AuthError) and exc.fatal and server.requests_total == 1


def test_404_is_model_not_found():
    exc, server, _ = run(one({"fail_mode": "404"}, chat()))
    assert isinstance(exc, ModelNotFound) and exc.fatal and exc.status == 404
    assert server.requests_total == 1
    assert "fake-model" in str(exc) and "The model does not exist" in str(exc)


def test_400_is_bad_request_not_retried():
    exc, server, _ = run(one({"fail_mode": "400"}, chat()))
    assert type(exc) is BadRequest and not exc.fatal and not exc.retryable
    assert server.requests_total == 1 and "HTTP 400" in str(exc)


@pytest.mark.parametrize("mode, needle", [("non_json", "non-JSON body"), ("error_in_200", "error object")])
def test_bad_200_retried_then_succeeds(mode, needle):
    resp, server, _ = run(one({"fail_mode": mode, "fail_first": 2}, chat()))
    assert resp.attempts == 3 and server.requests_total == 3


@pytest.mark.parametrize(
    "mode, needle",
    [
        ("non_json", "non-JSON body"),
        ("error_in_200", "error object in HTTP 200"),
    ],
)
def test_bad_200_persistent_raises_server_error(mode, needle):
    exc, server, _ = run(one({"fail_mode": mode}, chat(), max_retries=2))
    assert isinstance(exc, ServerError)
    assert server.requests_total == 3
    text = str(exc)
    assert needle in text and server.base_url in text and "gave up after 3 attempts" in text
    if mode == "error_in_200":
        assert "The server had an error" in text
    else:
        assert "502 Bad Gateway" in text


@pytest.mark.parametrize("mode", ["truncated_stream", "error_in_stream"])
def test_broken_stream_retried(mode):
    resp, server, _ = run(one({"fail_mode": mode, "fail_first": 1}, chat(), stream=True))
    assert resp.attempts == 2 and resp.first.text.startswith("You said:")


def test_truncated_stream_persistent():
    exc, server, _ = run(one({"fail_mode": "truncated_stream"}, chat(), stream=True, max_retries=1))
    assert isinstance(exc, ServerError) and "truncated stream" in str(exc)
    assert server.requests_total == 2


def test_connection_refused_raises_connect_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = make(f"http://user:hunter2@127.0.0.1:{port}/v1", max_retries=2)

    async def go():
        try:
            with pytest.raises(ConnectError) as info:
                await backend.generate(chat())
            return info.value
        finally:
            await backend.aclose()

    exc = run(go())
    assert exc.retryable and exc.attempts == 3
    text = str(exc)
    assert f"127.0.0.1:{port}/v1/chat/completions" in text and "gave up after 3 attempts" in text
    assert "hunter2" not in text and "hunter2" not in repr(backend)


def test_request_timeout():
    async def go():
        async with FakeOpenAIServer(latency_s=2.0) as server:
            backend = make(server, timeout_s=0.2, max_retries=1)
            t0 = time.monotonic()
            with pytest.raises(RequestTimeout) as info:
                await backend.generate(chat())
            elapsed = time.monotonic() - t0
            await backend.aclose()
            return info.value, elapsed, server

    exc, elapsed, server = run(go())
    assert elapsed < 1.5 and server.requests_total == 2
    assert "0.2s" in str(exc)


# -- concurrency, rate limit, load ------------------------------------------------------------------------


def test_concurrency_bound_and_single_session():
    async def go():
        async with FakeOpenAIServer(latency_s=0.05) as server:
            backend = make(server, concurrency=4)
            await backend.generate(chat("warm up"))
            session = backend._session
            results = await asyncio.gather(*(backend.generate(chat(f"q{i}")) for i in range(20)))
            assert backend._session is session
            await backend.aclose()
            return results, server

    results, server = run(go())
    assert len(results) == 20
    assert server.max_in_flight == 4


def test_rpm_spaces_requests():
    async def go():
        async with FakeOpenAIServer() as server:
            backend = make(server, rpm=600, concurrency=8)
            await asyncio.gather(*(backend.generate(chat(f"q{i}")) for i in range(5)))
            await backend.aclose()
            return list(server.arrivals)

    arrivals = run(go())
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert len(arrivals) == 5
    assert min(gaps) >= 0.08, gaps
    assert arrivals[-1] - arrivals[0] >= 0.38


def test_error_rate_all_succeed_with_retries():
    async def go():
        async with FakeOpenAIServer(error_rate=0.05, seed=7) as server:
            backend = make(server, concurrency=32)
            requests = [chat(f"question {i}") for i in range(200)]
            results = await asyncio.gather(*(backend.generate(r) for r in requests))
            await backend.aclose()
            return requests, results, server

    requests, results, server = run(go())
    assert all(r.first.text.startswith("You said: question") for r in results)
    retried = sum(r.attempts > 1 for r in results)
    assert 1 <= retried <= 40
    assert server.requests_total == 200 + sum(r.attempts - 1 for r in results)
    assert len(server.answers_by_key) == 200 and set(server.answers_by_key.values()) == {1}
    key = request_key({**requests[0].payload(), "model": "fake-model"})
    assert server.answers_by_key[key] == 1


def test_failures_are_deterministic_per_seed():
    async def attempts(seed):
        async with FakeOpenAIServer(error_rate=0.3, seed=seed) as server:
            backend = make(server)
            results = await asyncio.gather(*(backend.generate(chat(f"q{i}")) for i in range(30)))
            await backend.aclose()
            return [r.attempts for r in results]

    assert run(attempts(1)) == run(attempts(1))


# -- the fake server itself ------------------------------------------------------------------------------


def test_running_server_in_thread_from_sync_code():
    with running_server(answer_fn=lambda b: "ok") as server:
        assert server.base_url.startswith("http://127.0.0.1:")

        async def go():
            backend = make(server, stream=True)
            try:
                return await backend.generate(chat())
            finally:
                await backend.aclose()

        assert run(go()).first.text == "ok"
        assert server.requests_total == 1


def test_cli_serves_until_killed():
    script = Path(__file__).with_name("fake_openai.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--latency", "0.01"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")

        async def go():
            backend = make(url)
            try:
                return await backend.generate(chat("hello"))
            finally:
                await backend.aclose()

        assert run(go()).first.text == "You said: hello"
        with urllib.request.urlopen(url.removesuffix("/v1") + "/fake/stats", timeout=5) as resp:
            stats = json.load(resp)
        assert stats["requests_total"] == 1 and stats["answers_total"] == 1 and stats["first_arrival"] > 0
        reset = urllib.request.Request(url.removesuffix("/v1") + "/fake/reset", method="POST", data=b"")
        urllib.request.urlopen(reset, timeout=5).close()
        with urllib.request.urlopen(url.removesuffix("/v1") + "/fake/stats", timeout=5) as resp:
            assert json.load(resp)["requests_total"] == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


GSM8K = Path("/work/shared/datasets/gsm8k/test.jsonl")


@pytest.mark.skipif(not GSM8K.exists(), reason="GSM8K test file not available")
def test_oracle_answers():
    rows = [json.loads(line) for line in GSM8K.read_text(encoding="utf-8").splitlines()[:40]]
    right = oracle_answer_fn(accuracy=1.0)
    wrong = oracle_answer_fn(accuracy=0.0)
    half = oracle_answer_fn(accuracy=0.5, seed=3)
    n_right = 0
    for row in rows:
        gold = row["answer"].rsplit("####", 1)[-1].strip().replace(",", "")
        prompt = f"Solve step by step.\nQuestion: {row['question']}\nAnswer:"
        body = {"messages": [{"role": "user", "content": prompt}]}
        assert right(body).endswith(f"The answer is {gold}.")
        assert not wrong(body).endswith(f"The answer is {gold}.")
        n_right += half(body).endswith(f"The answer is {gold}.")
        assert half(body) == half(body)
    assert 8 <= n_right <= 32
    # Found anywhere in the prompt, not only on a line of its own.
    body = {"prompt": f"Q: {rows[0]['question']} Think, then answer."}
    assert right(body).endswith("The answer is 18.")

    mc = {"messages": [{"role": "user", "content": "Which is a prime?\nA. 4\nB. 6\nC. 7\nD. 9\nAnswer:"}]}
    out = right(mc)
    assert out[-1] in "ABCD" and out == right(mc) and out.startswith("Considering")


def test_invalid_base_url_rejected_at_construction():
    with pytest.raises(ValueError, match="base_url"):
        OpenAIChatBackend(model="m", base_url="127.0.0.1:8000/v1")


def test_backend_reusable_after_aclose_on_a_new_event_loop():
    with running_server() as server:
        backend = make(server)

        async def go(text):
            try:
                return (await backend.generate(chat(text))).first.text
            finally:
                await backend.aclose()

        assert run(go("one")) == "You said: one"
        assert run(go("two")) == "You said: two"  # a second asyncio.run: a fresh session on the new loop
