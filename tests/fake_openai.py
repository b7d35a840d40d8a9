"""A local fake OpenAI-compatible server for tests and benchmark scripts.

Serves ``/v1/chat/completions`` and ``/v1/completions`` (streaming and not) on 127.0.0.1 only, with
deterministic answers, failures and reasoning output, and counts what it received. A ``/v1/completions``
request with ``echo`` and ``logprobs`` gets the prompt's log-probabilities (``prompt_logprobs``: whitespace
tokens, each one's log-probability a hash of it and the token before), as vLLM serves them to lm-eval's
``local-completions``; ``logprobs_fault`` spoils them in a named way.

In a test::

    async with FakeOpenAIServer(latency_s=0.01) as server:   # same event loop
        backend = OpenAIChatBackend(model="m", base_url=server.base_url)

    with running_server(error_rate=0.05) as server:          # own thread and loop (sync tests, subprocesses)
        ...

From a shell (serves until killed; prints the base URL on its first line)::

    python tests/fake_openai.py --port 0 --latency 0.05 --error-rate 0.05 --oracle
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self, TypeVar

from aiohttp import web

FAIL_MODES = ("non_json", "error_in_200", "truncated_stream", "error_in_stream")
"""Named fail modes; a fail mode may also be an HTTP status as a string ("401", "404", "429", "500", ...)."""

LOGPROBS_FAULTS = ("missing", "short_offsets", "nan", "huge", "straddle")
"""How ``logprobs_fault`` spoils an echo reply: no ``logprobs``; offsets that never reach past the prompt's
start; a NaN log-probability; a megabyte of padding; offsets shifted so that no token starts where a
continuation starts."""

REASONING_MODES = (
    None,
    "field",
    "reasoning_field",
    "think_tag",
    "leading_close",
    "unterminated",
    "field_length",
)


def request_key(body: dict[str, Any]) -> str:
    """Hash of a request body without its stream flags: the same sample streamed or not has one key."""
    core = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    canonical = json.dumps(core, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _unit(*parts: Any) -> float:
    """A deterministic number in [0, 1) from its inputs."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def last_user_text(body: dict[str, Any]) -> str:
    """The last user message of a chat body, or the prompt of a completion body."""
    messages = body.get("messages")
    if messages:
        for message in reversed(messages):
            if message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, list):
                    return "".join(p.get("text", "") for p in content if isinstance(p, dict))
                return content or ""
        return ""
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        return str(prompt[-1]) if prompt else ""
    return prompt or ""


_TOKEN_RE = re.compile(r"\s*\S+|\s+")


def fake_token_logprob(previous: str, token: str) -> tuple[float, float]:
    """(log-probability of ``token`` after ``previous``, that of the one alternative listed beside it): the
    token is the greedy one when its own is at least the alternative's."""
    own = -(0.01 + 6.0 * _unit("logprob", previous, token))
    alternative = -(0.01 + 6.0 * _unit("alternative", previous, token))
    return own, alternative


def prompt_logprobs(prompt: str) -> list[tuple[str, int, float | None, dict[str, float] | None]]:
    """The fake tokenisation of a prompt with what the server says of each token: (token, text offset,
    log-probability, top alternatives). Tokens are runs of non-space characters with the whitespace before
    them; the first token has no log-probability (nothing comes before it), as OpenAI's API answers."""
    out: list[tuple[str, int, float | None, dict[str, float] | None]] = []
    previous = ""
    for match in _TOKEN_RE.finditer(prompt):
        token = match.group()
        if not out:
            out.append((token, match.start(), None, None))
        else:
            own, alternative = fake_token_logprob(previous, token)
            out.append((token, match.start(), own, {token: own, "\u2047alt": alternative}))
        previous = token
    return out


def echo_answer(body: dict[str, Any]) -> str:
    """The default answer: a deterministic echo of the (start of the) last user message."""
    text = " ".join(last_user_text(body).split())
    return "You said: " + text[:200]


# -- oracle --------------------------------------------------------------------------------------------------

_HEAD_WORDS = 4


class _Gsm8k:
    """GSM8K test questions -> gold number, with an index on each question's first words."""

    def __init__(self, rows: list[tuple[str, str]]):
        self.gold = {q: g for q, g in rows}
        self.normal = {q: " ".join(q.split()) for q in self.gold}
        self.by_head: dict[tuple[str, ...], list[str]] = {}
        for q in self.gold:
            self.by_head.setdefault(tuple(q.split()[:_HEAD_WORDS]), []).append(q)
        self.head_lengths = sorted({len(head) for head in self.by_head}, reverse=True)

    def find(self, text: str) -> tuple[str, str] | None:
        """The GSM8K question in ``text`` (the last one, as few-shot examples come first) and its gold."""
        # Fast path: a line of the prompt is the question (optionally after "Question:").
        for line in reversed(text.splitlines()):
            line = _QUESTION_PREFIX.sub("", line.strip())
            if line in self.gold:
                return line, self.gold[line]
        # Anywhere in the text: look up each run of words that could start a question, then verify.
        words = text.split()
        if not words:
            return None
        normal_text = " ".join(words)
        best: tuple[int, str] | None = None
        for i in range(len(words)):
            for k in self.head_lengths:
                for q in self.by_head.get(tuple(words[i : i + k]), ()):
                    at = normal_text.rfind(self.normal[q])
                    if at != -1 and (best is None or at > best[0]):
                        best = (at, q)
        return (best[1], self.gold[best[1]]) if best else None


_GSM8K: _Gsm8k | None = None
_GSM8K_LOCK = threading.Lock()
_OPTION_RE = re.compile(r"^\s*\(?([A-J])[.)]\s*\S", re.MULTILINE)
_QUESTION_PREFIX = re.compile(r"^(question|problem|q)\s*[:：]\s*", re.IGNORECASE)


def _gsm8k() -> _Gsm8k:
    """The GSM8K test set, loaded once from ``$TIANPING_DATA_DIR`` (empty when the file is missing)."""
    global _GSM8K
    with _GSM8K_LOCK:
        if _GSM8K is None:
            beside_repo = Path(__file__).resolve().parents[2] / "shared" / "datasets"
            root = Path(os.environ.get("TIANPING_DATA_DIR") or beside_repo)
            rows: list[tuple[str, str]] = []
            path = root / "gsm8k" / "test.jsonl"
            if path.exists():
                with path.open(encoding="utf-8") as f:
                    for line in f:
                        if line.strip():
                            row = json.loads(line)
                            gold = row["answer"].rsplit("####", 1)[-1].strip().replace(",", "")
                            rows.append((row["question"].strip(), gold))
            _GSM8K = _Gsm8k(rows)
        return _GSM8K


def _wrong(gold: str, h: float) -> str:
    try:
        value = float(gold)
    except ValueError:
        return gold + "0"
    wrong = value + 1 + int(h * 9)
    return str(int(wrong)) if wrong == int(wrong) else str(wrong)


def oracle_answer_fn(accuracy: float = 0.7, seed: int = 0) -> Callable[[dict[str, Any]], str]:
    """An answer_fn that knows GSM8K's gold answers and is right on a hash-chosen ``accuracy`` fraction.

    Multiple-choice prompts (option lines ``A.`` / ``A)`` / ``(A)``) get a hash-chosen letter. Anything else
    gets the echo answer. The GSM8K file is read on first use from ``$TIANPING_DATA_DIR/gsm8k/test.jsonl``
    (default ``../shared/datasets`` beside the repository).
    """
    cache: dict[str, str] = {}

    def answer(body: dict[str, Any]) -> str:
        text = last_user_text(body)
        if text in cache:
            return cache[text]
        found = _gsm8k().find(text)
        if found is not None:
            question, gold = found
            h = _unit(seed, "gsm8k", question)
            value = gold if h < accuracy else _wrong(gold, _unit(seed, "wrong", question))
            out = f"Working through it step by step gives {value}. The answer is {value}."
        else:
            letters = sorted(set(_OPTION_RE.findall(text)))
            if len(letters) >= 2 and letters[0] == "A":
                letter = letters[int(_unit(seed, "mc", text) * len(letters))]
                out = f"Considering each option in turn, the best choice is {letter}. The answer is {letter}"
            else:
                out = echo_answer(body)
        if len(cache) < 100_000:
            cache[text] = out
        return out

    return answer


# -- server --------------------------------------------------------------------------------------------------


def _words(text: str | list[Any] | None) -> int:
    if isinstance(text, list):  # a content of parts (text and images): its text parts
        return sum(len(str(p.get("text", "")).split()) for p in text if isinstance(p, dict))
    return len(text.split()) if text else 0


def _split(text: str, parts: int) -> list[str]:
    """Split text into about ``parts`` pieces that join back to it exactly."""
    if not text:
        return []
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


class LocalAppServer:
    """An aiohttp application on 127.0.0.1: the start/stop and ``async with`` life cycle both fake servers share.

    A subclass sets ``port`` (0 picks a free one) and implements ``add_routes``; ``start`` returns the base URL.
    """

    backlog = 1024
    port: int = 0
    base_url: str = ""
    _runner: web.AppRunner | None = None

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024**2)
        self.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=self.backlog)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


ServerT = TypeVar("ServerT", bound=LocalAppServer)


@contextlib.contextmanager
def in_background(server: ServerT) -> Iterator[ServerT]:
    """Run ``server`` in a background thread with its own event loop (sync tests, subprocess clients)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=type(server).__name__, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=30)
        yield server
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


class FakeOpenAIServer(LocalAppServer):
    """A deterministic OpenAI-compatible server; see the module docstring.

    Failures: ``error_rate`` fails a hash-chosen fraction of attempts (chosen from ``seed``, the request key
    and how many times that key was seen, so a retry can succeed) with a status from ``error_statuses``.
    ``fail_mode`` fails every request (or only each key's first ``fail_first`` attempts) in a given way.
    Counters: ``requests_total``, ``requests_by_key`` (every request), ``answers_by_key`` (successful
    answers), ``in_flight`` / ``max_in_flight``, ``arrivals`` / ``first_arrival`` / ``last_arrival``
    (``time.monotonic()``, comparable across processes on Linux), ``last_body``, ``last_headers``;
    ``stats()`` sums them up, also served at ``GET /fake/stats``; ``POST /fake/reset`` zeroes them.
    """

    def __init__(
        self,
        *,
        answer_fn: Callable[[dict[str, Any]], str] | None = None,
        latency_s: float = 0.0,
        error_rate: float = 0.0,
        error_statuses: tuple[int, ...] = (429, 500),
        seed: int = 0,
        retry_after: float | None = None,
        reasoning: str | None = None,
        fail_mode: str | None = None,
        fail_first: int | None = None,
        stream_chunks: int = 4,
        keepalive: bool = False,
        api_key: str | None = None,
        port: int = 0,
        logprobs_fault: str | None = None,
    ):
        if reasoning not in REASONING_MODES:
            raise ValueError(f"reasoning must be one of {REASONING_MODES}")
        if logprobs_fault is not None and logprobs_fault not in LOGPROBS_FAULTS:
            raise ValueError(f"logprobs_fault must be one of {LOGPROBS_FAULTS}")
        self.logprobs_fault = logprobs_fault
        if fail_mode is not None and fail_mode not in FAIL_MODES and not fail_mode.isdigit():
            raise ValueError(f"fail_mode must be one of {FAIL_MODES} or an HTTP status")
        self.answer_fn = answer_fn or echo_answer
        self.latency_s = latency_s
        self.error_rate = error_rate
        self.error_statuses = tuple(error_statuses)
        self.seed = seed
        self.retry_after = retry_after
        self.reasoning = reasoning
        self.fail_mode = fail_mode
        self.fail_first = fail_first
        self.stream_chunks = stream_chunks
        self.keepalive = keepalive
        self.api_key = api_key
        self.port = port
        self.base_url = ""
        self.requests_total = 0
        self.requests_by_key: Counter[str] = Counter()
        self.answers_by_key: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.arrivals: deque[float] = deque(maxlen=100_000)
        self.first_arrival: float | None = None
        self.last_arrival: float | None = None
        self.last_body: dict[str, Any] | None = None
        self.last_headers: dict[str, str] = {}

    # -- lifecycle -----------------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/fake/stats", self._stats)
        app.router.add_post("/fake/reset", self._reset)

    def reset_counters(self) -> None:
        self.requests_total = 0
        self.requests_by_key.clear()
        self.answers_by_key.clear()
        self.max_in_flight = self.in_flight
        self.arrivals.clear()
        self.first_arrival = self.last_arrival = None

    def stats(self) -> dict[str, Any]:
        """The counters as JSON-friendly values (also served at ``GET /fake/stats``; times are monotonic)."""
        return {
            "requests_total": self.requests_total,
            "answers_total": sum(self.answers_by_key.values()),
            "distinct_keys": len(self.requests_by_key),
            "max_requests_per_key": max(self.requests_by_key.values(), default=0),
            "max_answers_per_key": max(self.answers_by_key.values(), default=0),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "first_arrival": self.first_arrival,
            "last_arrival": self.last_arrival,
        }

    # -- handlers ------------------------------------------------------------------------------------------

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset_counters()
        return web.json_response({"ok": True})

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake", "object": "model"}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, chat=True)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, chat=False)

    async def _handle(self, request: web.Request, chat: bool) -> web.StreamResponse:
        self.requests_total += 1
        now = time.monotonic()
        self.arrivals.append(now)
        if self.first_arrival is None:
            self.first_arrival = now
        self.last_arrival = now
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
        try:
            raw = await request.read()
            try:
                body = json.loads(raw)
            except ValueError:
                return _error(400, "request body is not JSON")
            self.last_body = body
            self.last_headers = dict(request.headers)
            key = request_key(body)
            attempt = self.requests_by_key[key]
            self.requests_by_key[key] = attempt + 1
            if self.latency_s:
                await asyncio.sleep(self.latency_s)

            if self.api_key is not None:
                auth = request.headers.get("Authorization", "")
                if auth != f"Bearer {self.api_key}":
                    given = auth.removeprefix("Bearer ")
                    return _error(401, f"Incorrect API key provided: {given}", "invalid_api_key")

            mode = self.fail_mode
            if mode is not None and (self.fail_first is None or attempt < self.fail_first):
                if mode.isdigit():
                    return self._status(int(mode))
                if mode == "non_json":
                    return web.Response(
                        status=200, text="<html><body>502 Bad Gateway</body></html>", content_type="text/html"
                    )
                if mode == "error_in_200":
                    return web.json_response(
                        {
                            "error": {
                                "message": "The server had an error while processing your request",
                                "type": "server_error",
                            }
                        }
                    )
                # truncated_stream / error_in_stream are applied below, while answering
            else:
                mode = None
            if self.error_rate and _unit(self.seed, key, attempt) < self.error_rate:
                h = _unit(self.seed, "status", key, attempt)
                return self._status(self.error_statuses[int(h * len(self.error_statuses))])

            stream = bool(body.get("stream"))
            if stream:
                response = await self._stream(request, body, chat, mode)
            elif mode in ("truncated_stream", "error_in_stream"):
                response = web.Response(
                    status=200,
                    text='{"id": "cmpl-1", "choices": [{"index": 0, "mes',
                    content_type="application/json",
                )
            elif not chat and body.get("echo") and body.get("logprobs") is not None:
                response = web.json_response(self._echo(body), dumps=json.dumps)
            else:
                response = web.json_response(self._answer(body, chat))
            if mode is None:
                self.answers_by_key[key] += 1
            return response
        finally:
            self.in_flight -= 1

    def _status(self, status: int) -> web.Response:
        messages = {
            401: ("Incorrect API key provided", "invalid_api_key"),
            403: ("You are not allowed to use this model", "permission_denied"),
            404: ("The model does not exist", "model_not_found"),
            400: ("Invalid request: bad parameter", "invalid_request_error"),
            429: ("Rate limit reached, please retry", "rate_limit_exceeded"),
        }
        message, code = messages.get(status, (f"Simulated server failure {status}", "server_error"))
        headers = {}
        if self.retry_after is not None and status in (429, 503):
            headers["Retry-After"] = f"{self.retry_after:g}"
        return _error(status, message, code, headers)

    # -- answers -------------------------------------------------------------------------------------------

    def _parts(self, body: dict[str, Any], answer: Any = None) -> tuple[str, str | None, str, str]:
        """(content, reasoning for a separate field, field name, finish_reason) for one choice; ``answer``: what
        the answer_fn already returned for this request (it is asked once per request: tests count its calls)."""
        answer = self.answer_fn(body) if answer is None else answer
        if isinstance(answer, dict):  # a reply with tool calls: its text part here, the calls from _tool_calls
            answer = answer.get("content") or ""
        thought = "Let me think about this carefully. First I read the question, then I check each step."
        mode = self.reasoning
        if mode == "field":
            return answer, thought, "reasoning_content", "stop"
        if mode == "reasoning_field":
            return answer, thought, "reasoning", "stop"
        if mode == "field_length":
            return "", thought + " Still thinking", "reasoning_content", "length"
        if mode == "think_tag":
            return f"<think>\n{thought}\n</think>\n\n{answer}", None, "", "stop"
        if mode == "leading_close":
            return f"{thought}\n</think>\n\n{answer}", None, "", "stop"
        if mode == "unterminated":
            return f"<think>\n{thought} Still thinking and thinking", None, "", "length"
        return answer, None, "", "stop"

    def _usage(self, body: dict[str, Any], content: str, thought: str | None, n: int) -> dict[str, Any]:
        prompt = sum(_words(m.get("content")) for m in body.get("messages") or ()) + _words(
            body.get("prompt") if isinstance(body.get("prompt"), str) else None
        )
        completion = n * (_words(content) + _words(thought))
        usage: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if thought or self.reasoning in ("think_tag", "leading_close", "unterminated"):
            usage["completion_tokens_details"] = {"reasoning_tokens": n * _words(thought or content)}
        return usage

    def _tool_calls(self, answer: Any) -> list[Any] | None:
        """The tool calls an answer_fn returned (``{"content": ..., "tool_calls": [...]}``): each a
        ``{"name", "arguments"}`` pair (arguments: a JSON string, or an object sent as one), or a raw entry with
        its own ``function`` sent as it is (to send malformed calls); None for a text answer."""
        if not isinstance(answer, dict) or answer.get("tool_calls") is None:
            return None
        calls = answer["tool_calls"]
        if not isinstance(calls, list):
            return calls  # sent as it is: a malformed reply
        return [
            c if not isinstance(c, dict) or "function" in c
            else {"id": f"call_{i}", "type": "function",
                  "function": {"name": c.get("name"), "arguments": c.get("arguments")}}
            for i, c in enumerate(calls)
        ]  # fmt: skip

    def _answer(self, body: dict[str, Any], chat: bool) -> dict[str, Any]:
        n = int(body.get("n") or 1)
        answer = self.answer_fn(body)
        content, thought, field, finish = self._parts(body, answer)
        calls = self._tool_calls(answer) if chat else None
        if calls is not None and finish == "stop":
            finish = "tool_calls"
        choices = []
        for i in range(n):
            if chat:
                message: dict[str, Any] = {"role": "assistant", "content": content or None if calls else content}
                if calls is not None:
                    message["tool_calls"] = calls
                if thought is not None:
                    message[field] = thought
                choices.append({"index": i, "message": message, "finish_reason": finish})
            else:
                choice: dict[str, Any] = {"index": i, "text": content, "finish_reason": finish}
                if thought is not None:
                    choice[field] = thought
                choices.append(choice)
        return {
            "id": "cmpl-fake",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": choices,
            "usage": self._usage(body, content, thought, n),
        }

    def _echo(self, body: dict[str, Any]) -> dict[str, Any]:
        """An echoed completion with the prompt's log-probabilities (``prompt_logprobs``), one generated token
        after it when ``max_tokens`` is not 0; spoiled as ``logprobs_fault`` says."""
        prompt = body.get("prompt")
        prompt = prompt if isinstance(prompt, str) else ""
        rows = prompt_logprobs(prompt)
        if body.get("max_tokens", 16) != 0:
            rows.append((" the", len(prompt), -1.0, {" the": -1.0}))
        fault = self.logprobs_fault
        offsets = [offset for _, offset, _, _ in rows]
        values: list[float | None] = [value for _, _, value, _ in rows]
        if fault == "short_offsets":
            offsets = [0 for _ in offsets]
        elif fault == "straddle":
            offsets = [offset + 1 if k else 0 for k, offset in enumerate(offsets)]
        elif fault == "nan" and len(values) > 1:
            values[-1 if body.get("max_tokens") == 0 else -2] = float("nan")
        logprobs: dict[str, Any] | None = {
            "tokens": [token for token, _, _, _ in rows],
            "text_offset": offsets,
            "token_logprobs": values,
            "top_logprobs": [top for _, _, _, top in rows],
        }
        if fault == "missing":
            logprobs = None
        elif fault == "huge" and logprobs is not None:
            logprobs["padding"] = "x" * 2**20
        text = prompt + (" the" if body.get("max_tokens", 16) != 0 else "")
        return {
            "id": "cmpl-fake",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "text": text, "logprobs": logprobs, "finish_reason": "length"}],
            "usage": {"prompt_tokens": len(rows), "completion_tokens": 1, "total_tokens": len(rows) + 1},
        }

    async def _stream(
        self, request: web.Request, body: dict[str, Any], chat: bool, mode: str | None
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        n = int(body.get("n") or 1)
        content, thought, field, finish = self._parts(body)
        base = {
            "id": "cmpl-fake",
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
        }

        def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            return b"data: " + json.dumps({**base, "choices": choices, **extra}).encode() + b"\n\n"

        def piece(
            i: int,
            text: str | None = None,
            reasoning: str | None = None,
            finish_reason: str | None = None,
            role: bool = False,
        ) -> dict[str, Any]:
            if chat:
                delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {}
                if text is not None:
                    delta["content"] = text
                if reasoning is not None:
                    delta[field] = reasoning
                return {"index": i, "delta": delta, "finish_reason": finish_reason}
            out: dict[str, Any] = {"index": i, "text": text or "", "finish_reason": finish_reason}
            if reasoning is not None:
                out[field] = reasoning
            return out

        if chat:
            await resp.write(event([piece(i, role=True) for i in range(n)]))
        if self.keepalive:
            await resp.write(b": ping\n\n")
        for part in _split(thought or "", self.stream_chunks):
            await resp.write(event([piece(i, reasoning=part) for i in range(n)]))
        for k, part in enumerate(_split(content, self.stream_chunks)):
            await resp.write(event([piece(i, text=part) for i in range(n)]))
            if self.keepalive:
                await resp.write(b": ping\n\n")
            if k == 0 and mode == "truncated_stream":
                await resp.write_eof()
                return resp
            if k == 0 and mode == "error_in_stream":
                await resp.write(
                    b'data: {"error": {"message": "Internal error while generating", '
                    b'"type": "server_error", "code": 500}}\n\n'
                )
                await resp.write_eof()
                return resp
        await resp.write(event([piece(i, finish_reason=finish) for i in range(n)]))
        if (body.get("stream_options") or {}).get("include_usage"):
            await resp.write(event([], usage=self._usage(body, content, thought, n)))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def _error(status: int, message: str, code: str = "error", headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": code, "code": code}}, status=status, headers=headers
    )


@contextlib.contextmanager
def running_server(**opts: Any) -> Iterator[FakeOpenAIServer]:
    """Run a ``FakeOpenAIServer(**opts)`` in a background thread with its own event loop."""
    with in_background(FakeOpenAIServer(**opts)) as server:
        yield server


def serve_forever(server: Any, *, use_uvloop: bool = True) -> None:
    """Start a fake server (anything with ``async start() -> url`` and ``async stop()``), print its base URL
    as the first line of output, and serve until interrupted: the command-line mode of both fake servers."""

    async def serve() -> None:
        url = await server.start()
        print(url, flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    runner: Any = asyncio.run
    if use_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            runner = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(serve())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds of delay per request")
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--error-statuses", default="429,500")
    parser.add_argument("--retry-after", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reasoning", default=None, choices=[m for m in REASONING_MODES if m])
    parser.add_argument("--fail-mode", default=None)
    parser.add_argument("--fail-first", type=int, default=None)
    parser.add_argument("--keepalive", action="store_true", help="send ': ping' comments in streams")
    parser.add_argument("--api-key", default=None, help="require this bearer key")
    parser.add_argument("--oracle", action="store_true", help="answer GSM8K / multiple choice prompts")
    parser.add_argument("--accuracy", type=float, default=0.7, help="oracle accuracy on GSM8K")
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args(argv)

    server = FakeOpenAIServer(
        answer_fn=oracle_answer_fn(args.accuracy, args.seed) if args.oracle else None,
        latency_s=args.latency,
        error_rate=args.error_rate,
        error_statuses=tuple(int(s) for s in args.error_statuses.split(",") if s),
        seed=args.seed,
        retry_after=args.retry_after,
        reasoning=args.reasoning,
        fail_mode=args.fail_mode,
        fail_first=args.fail_first,
        keepalive=args.keepalive,
        api_key=args.api_key,
        port=args.port,
    )

    serve_forever(server, use_uvloop=not args.no_uvloop)


if __name__ == "__main__":
    main()
