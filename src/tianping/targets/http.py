"""The ``http/<target.yaml>`` backend: any HTTP application as a model under test.

A request's conversation reaches the application as the target file says (``turns``):

- ``single``: one user turn, one HTTP request; a request with more user turns is refused rather than cut short.
- ``history``: one HTTP request whose template renders the whole conversation (``messages``).
- ``session``: each user turn sent in order within one conversation with the app: a fresh cookie jar per
  conversation and, where the file says where, a conversation id read from the first reply and inserted into
  later requests. Assistant turns the request holds (a fabricated history) are not sent: the app answers each
  turn itself, and those answers are kept (``Completion.raw``, a JSON list of ``{user, reply}``).

A system prompt that no template reads is put before the first user turn, so that an attack that lives in the
system prompt still reaches the app.

Failures are ``ModelError`` types, retried as the OpenAI backend's are (connection errors, timeouts, 429 and 5xx;
a session is retried from its first turn with a fresh jar). Redirects are not followed (they could carry the
headers' secrets elsewhere), replies are read up to a size cap, and any resolved secret is masked in messages.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import aiohttp
from yarl import URL

from tianping.core import Completion, Message, Request, Response
from tianping.core.task import GENERATE
from tianping.models.errors import (
    AuthError,
    BadRequest,
    ConnectError,
    ModelError,
    ModelNotFound,
    RateLimited,
    ReplyTooLarge,
    RequestTimeout,
    ServerError,
)
from tianping.targets.definition import Target
from tianping.targets.extract import Unreadable
from tianping.targets.templates import TemplateProblem, context_for

_SNIPPET = 200
_BACKOFF_CAP_S = 8.0
_jitter = random.Random()


class UnreadableReply(ModelError):
    """A 2xx reply that does not hold the answer where the target file says: the same request would most likely
    get the same reply, so it is not retried."""


class _Spacer:
    """Starts requests at least ``60 / rpm`` seconds apart."""

    def __init__(self, rpm: float | None):
        self.interval = 60.0 / rpm if rpm else 0.0
        self.next_at = 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        at = max(self.next_at, now)
        self.next_at = at + self.interval
        if at > now:
            await asyncio.sleep(at - now)


class HTTPTargetBackend:
    supports = frozenset({GENERATE})

    def __init__(
        self,
        model_id: str,
        target: Target,
        *,
        timeout_s: float = 120.0,
        max_retries: int = 6,
        rpm: float | None = None,
        max_reply_bytes: int = 16 * 1024 * 1024,
        concurrency: int = 32,
    ) -> None:
        limits = target.spec.limits
        self.model_id = model_id
        self.target = target
        self.timeout_s = limits.timeout_s or timeout_s
        self.max_retries = limits.max_retries if limits.max_retries is not None else max_retries
        self.max_reply_bytes = limits.max_reply_kb * 1024 if limits.max_reply_kb else max_reply_bytes
        self.max_in_flight = limits.concurrency or concurrency
        """The engine sends at most this many samples at once (``tianping.engine.runner.in_flight``)."""
        self._spacer = _Spacer(limits.rpm or rpm)
        self._gate = asyncio.Semaphore(self.max_in_flight)
        self._connector: aiohttp.TCPConnector | None = None
        self._reads_system = bool({"system", "messages"} & target.templates.variables)

    async def aclose(self) -> None:
        if self._connector is not None:
            await self._connector.close()
            self._connector = None

    async def generate(self, request: Request) -> Response:
        messages = request.messages or (Message("user", request.prompt or ""),)
        users = [m.content for m in messages if m.role == "user"]
        if not users:
            raise BadRequest(f"{self.target.label}: the request has no user turn to send")
        if self.target.turns == "single" and len(users) > 1:
            raise BadRequest(
                f"{self.target.label}: the request is a conversation of {len(users)} user turns, and the target "
                f"sends one (set 'turns: session' with a 'session' block, or 'turns: history' with a template that "
                f"reads 'messages', in {self.target.path})"
            )
        started = time.monotonic()
        # an app answers once per conversation: n completions are n conversations (each retried on its own)
        answers = await asyncio.gather(
            *(self._answer(request, messages, users) for _ in range(max(1, request.params.n)))
        )
        return Response(
            completions=tuple(completion for completion, _ in answers),
            latency_s=time.monotonic() - started,
            attempts=max(attempts for _, attempts in answers),
        )

    async def _answer(
        self, request: Request, messages: tuple[Message, ...], users: list[str]
    ) -> tuple[Completion, int]:
        attempt = 0
        async with self._gate:
            while True:
                attempt += 1
                try:
                    text, transcript = await self._conversation(request, messages, users)
                    break
                except ModelError as exc:
                    if not exc.retryable or attempt > self.max_retries:
                        raise
                    await asyncio.sleep(_backoff(attempt, exc.retry_after))
        raw = json.dumps(transcript, ensure_ascii=False) if len(transcript) > 1 else None
        return Completion(text=text, finish_reason="stop", raw=raw), attempt

    # one conversation -------------------------------------------------------------------------

    async def _conversation(
        self, request: Request, messages: tuple[Message, ...], users: list[str]
    ) -> tuple[str, list[dict[str, str]]]:
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        if system and not self._reads_system:
            users = [f"{system}\n\n{users[0]}", *users[1:]]
        params = request.params
        if self.target.turns != "session":
            history = [{"role": m.role, "content": m.content} for m in messages]
            context = context_for(
                users[-1],
                history,
                system=system,
                turn=len(users) - 1,
                max_tokens=params.max_tokens,
                temperature=params.temperature,
            )
            async with self._client() as client:
                reply, _ = await self._send(client, context, first=True)
            return reply, [{"user": users[-1], "reply": reply}]
        transcript: list[dict[str, str]] = []
        so_far: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
        session_id: str | None = None
        async with self._client() as client:
            for turn, text in enumerate(users):
                so_far.append({"role": "user", "content": text})
                context = context_for(
                    text,
                    list(so_far),
                    system=system,
                    session_id=session_id,
                    turn=turn,
                    max_tokens=params.max_tokens,
                    temperature=params.temperature,
                )
                reply, found_id = await self._send(client, context, first=turn == 0)
                if turn == 0:
                    session_id = found_id
                so_far.append({"role": "assistant", "content": reply})
                transcript.append({"user": text, "reply": reply})
        return transcript[-1]["reply"], transcript

    def _client(self) -> aiohttp.ClientSession:
        """A client with its own cookie jar (one per conversation) over the backend's shared connections."""
        if self._connector is None or self._connector.closed:
            self._connector = aiohttp.TCPConnector(limit=self.max_in_flight)
        session = self.target.spec.session
        jar: aiohttp.abc.AbstractCookieJar = (
            aiohttp.CookieJar(unsafe=True) if session is None or session.cookies else aiohttp.DummyCookieJar()
        )
        return aiohttp.ClientSession(
            connector=self._connector,
            connector_owner=False,
            cookie_jar=jar,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            headers=self.target.headers,
        )

    async def _send(
        self, client: aiohttp.ClientSession, context: dict[str, Any], *, first: bool
    ) -> tuple[str, str | None]:
        """One HTTP exchange: the answer, and on the first turn the conversation id (where the file says)."""
        target = self.target
        try:
            rendered = target.templates.render(context)
        except TemplateProblem as exc:  # a value the load-time check could not foresee (a template's own logic)
            raise BadRequest(f"{target.path}: {exc.field}: {exc}") from None
        kwargs: dict[str, Any] = {"allow_redirects": False}
        if rendered.query:
            kwargs["params"] = rendered.query
        if rendered.json_body is not None:
            kwargs["data"] = rendered.json_body.encode("utf-8")
            if not any(name.lower() == "content-type" for name in target.headers):
                kwargs["headers"] = {"Content-Type": "application/json"}
        elif rendered.form is not None:
            kwargs["data"] = rendered.form  # aiohttp form-encodes a mapping
        where = _display(rendered.url)
        await self._spacer.wait()
        try:
            async with client.request(target.spec.method, rendered.url, **kwargs) as resp:
                body = await self._read(resp, where)
                text = body.decode(resp.charset or "utf-8", errors="replace")
                self._check_status(resp, text, where)
                headers = dict(resp.headers)
        except ModelError:
            raise
        except TimeoutError:
            raise RequestTimeout(f"{target.label}: no reply from {where} within {self.timeout_s:g}s") from None
        except aiohttp.InvalidURL:
            raise BadRequest(f"{target.path}: url: renders an invalid URL ({where})") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise ConnectError(f"{target.label}: cannot reach {where}: {target.redact(str(exc))}") from None
        try:
            reply = target.reply.extract(text, headers)
            found_id = target.session_id.extract(text, headers) if first and target.session_id else None
        except Unreadable as exc:
            raise UnreadableReply(f"{target.path}: {exc}: {target.redact(_snippet(text))}") from None
        return reply, found_id

    async def _read(self, resp: aiohttp.ClientResponse, where: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self.max_reply_bytes:
                raise ReplyTooLarge(
                    f"{self.target.label}: reply from {where} larger than {self.max_reply_bytes // 1024} KiB "
                    "(limits.max_reply_kb)"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _check_status(self, resp: aiohttp.ClientResponse, text: str, where: str) -> None:
        status = resp.status
        if 200 <= status < 300:
            return
        said = self.target.redact(_snippet(text))
        message = f"{self.target.label}: HTTP {status} from {where}: {said}"
        if 300 <= status < 400:
            raise BadRequest(f"{message} (a redirect to {_display(resp.headers.get('Location', '?'))} is not "
                             "followed: give the final URL in the target file)")  # fmt: skip
        if status in (401, 403):
            raise AuthError(message, status=status)
        if status == 404:
            raise ModelNotFound(message, status=status)
        if status == 429:
            raise RateLimited(message, status=status, retry_after=_retry_after(resp.headers.get("Retry-After")))
        if status == 408:
            raise RequestTimeout(message, status=status)
        if status >= 500:
            raise ServerError(message, status=status)
        raise BadRequest(message, status=status)


def _display(url: str) -> str:
    """A URL as shown in messages: no user info, no query string."""
    try:
        return str(URL(url).with_user(None).with_query(None).with_fragment(None))
    except (ValueError, TypeError):
        return "<invalid url>"


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text[:_SNIPPET] + ("…" if len(text) > _SNIPPET else "")


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds <= 600 else None


def _backoff(attempt: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return retry_after
    return min(_BACKOFF_CAP_S, 0.25 * 2 ** (attempt - 1)) * (0.5 + _jitter.random())
