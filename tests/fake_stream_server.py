"""A fake OpenAI-compatible streaming server with known timing, for probe tests and serving benchmarks.

Serves ``POST /v1/chat/completions`` (streaming only) on 127.0.0.1. Each stream is one asyncio task that
sleeps to an absolute schedule: the role chunk at once (``role_chunk_first``), the first token ``ttft_s`` after
the request arrived, then one token every ``itl_s``: ``reasoning_tokens`` as ``reasoning_content`` (or inline
``<think>`` content, ``reasoning_style="think"``) and then ``output_tokens`` answer tokens, a finish chunk, a
usage chunk (when asked for; ``usage_error`` adds to completion_tokens) and ``[DONE]``. Chunk bytes are built
once, so thousands of concurrent streams stay cheap.

``mode`` (or ``fake_mode`` in a request body) selects a failure: an HTTP status ("429", "500", "401", ...),
or one of ``MODES``. Per request, the body may also set ``max_tokens`` (the number of answer tokens),
``fake_ttft_s``, ``fake_itl_s``, ``fake_reasoning_tokens``, ``fake_usage_error``, so that one server can
serve mixed workloads.

In a test::

    async with FakeStreamServer(ttft_s=0.1, itl_s=0.02) as server:   # same event loop
        ...
    with running_stream_server(ttft_s=0.1) as server:                # own thread and loop
        ...

From a shell (serves until killed; prints the base URL on its first line)::

    python tests/fake_stream_server.py --port 0 --ttft 0.2 --itl 0.04 --tokens 64
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from fake_openai import LocalAppServer, in_background, serve_forever  # tests/ is on the path (conftest, or as a script)

MODES = (
    "ttft_timeout",  # the role chunk, then only keep-alive comments
    "idle_timeout",  # a few tokens, then only keep-alive comments
    "stream_error",  # a few tokens, then data: {"error": ...}
    "truncated",  # a few tokens, then a clean end of stream without finish_reason or [DONE]
    "empty_output",  # finish_reason stop without a token
    "content_filter",  # a few tokens, then finish_reason content_filter
    "length_in_reasoning",  # reasoning tokens only, then finish_reason length
    "malformed_sse",  # a JSON chunk without the "data:" prefix
    "non_json_chunk",  # data: that is not JSON
    "html_200",  # an HTML page with status 200
    "reset_mid_stream",  # a few tokens, then the connection is aborted
    "echo_401",  # 401 whose message repeats the request's Authorization header and query (a careless gateway)
)
_PARTIAL = 3  # tokens sent before a mid-stream failure
_HANG_S = 3600.0


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    obj: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    obj.update(extra)
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


class FakeStreamServer(LocalAppServer):
    backlog = 4096  # thousands of streams start at once in the capacity benchmark

    def __init__(
        self,
        *,
        ttft_s: float = 0.05,
        itl_s: float = 0.01,
        output_tokens: int = 16,
        reasoning_tokens: int = 0,
        reasoning_style: str = "field",
        role_chunk_first: bool = True,
        keepalive_s: float | None = None,
        usage: bool = True,
        usage_error: int = 0,
        cached_tokens: int = 0,
        mode: str | None = None,
        port: int = 0,
        stamp_all: bool = False,
    ):
        if mode is not None and mode not in MODES and not mode.isdigit():
            raise ValueError(f"mode must be one of {MODES} or an HTTP status")
        if reasoning_style not in ("field", "reasoning", "think"):
            raise ValueError("reasoning_style must be field, reasoning or think")
        self.ttft_s = ttft_s
        self.itl_s = itl_s
        self.output_tokens = output_tokens
        self.reasoning_tokens = reasoning_tokens
        self.reasoning_style = reasoning_style
        self.role_chunk_first = role_chunk_first
        self.keepalive_s = keepalive_s
        self.usage = usage
        self.usage_error = usage_error
        self.cached_tokens = cached_tokens
        self.mode = mode
        self.port = port
        self.stamp_all = stamp_all
        """Stamp requests without a ``fake_tag`` too (as ``auto-<n>``): for clients that cannot add a field."""
        self.base_url = ""
        self.requests_total = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.last_body: dict[str, Any] | None = None
        self.bodies: list[dict[str, Any]] = []
        """Every request body, in arrival order (the tests send at most a few hundred)."""
        self.last_headers: dict[str, str] = {}
        self.stamps: dict[str, list[float]] = {}
        """For a request whose body has ``fake_tag``: [arrival, first token sent, last token sent] in
        ``time.monotonic()`` seconds (the clock of ``time.perf_counter()`` on Linux), also at GET /fake/stamps."""
        # chunk bytes, built once
        self._role = _chunk({"role": "assistant", "content": ""})
        self._answer = _chunk({"content": " tok"})
        self._reason_field = _chunk({"reasoning_content": " hmm"})
        self._reason_alt = _chunk({"reasoning": " hmm"})
        self._think_mid = _chunk({"content": " hmm"})
        self._think_open = _chunk({"content": "<think> hmm"})
        self._think_close = _chunk({"content": " hmm</think>"})
        self._think_both = _chunk({"content": "<think> hmm</think>"})
        self._finish = {r: _chunk({}, r) for r in ("stop", "length", "content_filter")}
        self._done = b"data: [DONE]\n\n"
        self._keepalive = b": keep-alive\n\n"

    # -- lifecycle -----------------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/fake/stamps", self._stamps)

    async def _stamps(self, request: web.Request) -> web.Response:
        return web.json_response(self.stamps)

    # -- streams -------------------------------------------------------------------------------------------

    def _reasoning_chunk(self, style: str, i: int, n: int) -> bytes:
        if style == "field":
            return self._reason_field
        if style == "reasoning":
            return self._reason_alt
        if n == 1:
            return self._think_both
        if i == 0:
            return self._think_open
        return self._think_close if i == n - 1 else self._think_mid

    async def _wait(self, resp: web.StreamResponse, target: float, keepalive_s: float | None) -> None:
        """Sleep until loop time ``target``, sending keep-alive comments every ``keepalive_s``."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            if now >= target:
                return
            if keepalive_s and target - now > keepalive_s:
                await asyncio.sleep(keepalive_s)
                await resp.write(self._keepalive)
            else:
                await asyncio.sleep(target - now)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        t_start = loop.time()
        self.requests_total += 1
        seq = self.requests_total  # numbered on arrival: later requests may arrive while this one awaits
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            try:
                body = await request.json()
            except ValueError:
                return _error(400, "invalid JSON body")
            self.last_body = body
            self.bodies.append(body)
            self.last_headers = dict(request.headers)
            return await self._serve(request, body, t_start, seq)
        finally:
            self.in_flight -= 1

    async def _serve(self, request: web.Request, body: dict[str, Any], t_start: float, seq: int) -> web.StreamResponse:
        mode = body.get("fake_mode", self.mode)
        if mode and str(mode).isdigit():
            status = int(mode)
            headers = {"Retry-After": "1"} if status == 429 else None
            return _error(status, f"fake error {status}", headers=headers)
        if mode == "echo_401":
            seen = f"{request.headers.get('Authorization', '')} for {request.path_qs}"
            return _error(401, f"invalid key: {seen}")
        if mode == "html_200":
            return web.Response(text="<html><body>Gateway says hi</body></html>", content_type="text/html")
        ttft = float(body.get("fake_ttft_s", self.ttft_s))
        itl = float(body.get("fake_itl_s", self.itl_s))
        n_answer = int(body["max_tokens"]) if body.get("max_tokens") is not None else self.output_tokens
        n_reason = int(body.get("fake_reasoning_tokens", self.reasoning_tokens))
        usage_error = int(body.get("fake_usage_error", self.usage_error))
        style = body.get("fake_reasoning_style", self.reasoning_style)
        keepalive_s = self.keepalive_s
        if mode in ("ttft_timeout", "idle_timeout") and not keepalive_s:
            keepalive_s = 0.05  # comments only: they must not count as activity
        if mode == "length_in_reasoning":
            n_reason, n_answer = max(n_reason, _PARTIAL), 0
        elif mode == "empty_output":
            n_reason, n_answer = 0, 0

        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        try:
            if self.role_chunk_first:
                await resp.write(self._role)
            if mode == "ttft_timeout":
                await self._wait(resp, t_start + _HANG_S, keepalive_s)
                return resp
            if mode == "malformed_sse":
                await resp.write(self._answer[len(b"data: ") :])
                await resp.write_eof()
                return resp
            if mode == "non_json_chunk":
                await resp.write(b"data: {not json\n\n")
                await resp.write_eof()
                return resp
            partial = mode in ("idle_timeout", "stream_error", "truncated", "content_filter", "reset_mid_stream")
            total = n_reason + n_answer
            if partial:
                total = min(total, _PARTIAL)
            first = t_start + ttft
            tag = body.get("fake_tag")
            if tag is None and self.stamp_all:
                tag = f"auto-{seq}"
            stamp: list[float] | None = None
            if tag is not None:
                stamp = self.stamps[str(tag)] = [t_start, 0.0, 0.0]
            loop = asyncio.get_running_loop()
            for k in range(total):
                await self._wait(resp, first + k * itl, keepalive_s)
                chunk = self._reasoning_chunk(style, k, n_reason) if k < n_reason else self._answer
                if stamp is not None:
                    stamp[2] = loop.time()
                    if k == 0:
                        stamp[1] = stamp[2]
                await resp.write(chunk)
            if mode == "idle_timeout":
                await self._wait(resp, t_start + _HANG_S, keepalive_s)
                return resp
            if mode == "stream_error":
                await resp.write(_chunk(None, error={"message": "fake failure", "type": "server_error"}))
                await resp.write_eof()
                return resp
            if mode == "truncated":
                await resp.write_eof()
                return resp
            if mode == "reset_mid_stream":
                if request.transport is not None:
                    request.transport.abort()
                return resp
            finish = "content_filter" if mode == "content_filter" else "length" if n_answer == 0 and total else "stop"
            await resp.write(self._finish[finish])
            if self.usage and (body.get("stream_options") or {}).get("include_usage"):
                await resp.write(_chunk(None, usage=self._usage(body, total, n_reason, usage_error)))
            await resp.write(self._done)
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client went away
        return resp

    def _usage(self, body: dict[str, Any], total: int, n_reason: int, usage_error: int) -> dict[str, Any]:
        words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
        return {
            "prompt_tokens": words,
            "completion_tokens": total + usage_error,
            "total_tokens": words + total + usage_error,
            "completion_tokens_details": {"reasoning_tokens": n_reason},
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
        }


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "fake", "code": status}}, status=status, headers=headers
    )


@contextlib.contextmanager
def running_stream_server(**opts: Any) -> Iterator[FakeStreamServer]:
    """Run a ``FakeStreamServer(**opts)`` in a background thread with its own event loop."""
    with in_background(FakeStreamServer(**opts)) as server:
        yield server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible streaming server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--ttft", type=float, default=0.05, help="seconds to the first token")
    parser.add_argument("--itl", type=float, default=0.01, help="seconds between tokens")
    parser.add_argument("--tokens", type=int, default=16, help="answer tokens per stream")
    parser.add_argument("--reasoning-tokens", type=int, default=0)
    parser.add_argument("--reasoning-style", default="field", choices=["field", "reasoning", "think"])
    parser.add_argument("--keepalive", type=float, default=None, help="seconds between keep-alive comments")
    parser.add_argument("--usage-error", type=int, default=0)
    parser.add_argument("--cached-tokens", type=int, default=0)
    parser.add_argument("--no-role-chunk", action="store_true")
    parser.add_argument("--mode", default=None)
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--stamp-all", action="store_true", help="stamp requests without a fake_tag too")
    args = parser.parse_args(argv)

    server = FakeStreamServer(
        ttft_s=args.ttft,
        itl_s=args.itl,
        output_tokens=args.tokens,
        reasoning_tokens=args.reasoning_tokens,
        reasoning_style=args.reasoning_style,
        role_chunk_first=not args.no_role_chunk,
        keepalive_s=args.keepalive,
        usage_error=args.usage_error,
        cached_tokens=args.cached_tokens,
        mode=args.mode,
        port=args.port,
        stamp_all=args.stamp_all,
    )

    serve_forever(server, use_uvloop=not args.no_uvloop)


if __name__ == "__main__":
    main()
