"""Local fake applications built on a model, for the ``http/<target.yaml>`` backend's tests (127.0.0.1 only).

One server holds several apps, each on its own path, all answering through ``answer_fn(turns)`` where ``turns``
is the list of user messages of the conversation so far (one for a stateless app):

- ``POST /json/chat``: JSON ``{"message": ...}`` -> ``{"data": {"answer": ...}}``; checks ``X-Api-Key`` when the
  server has an ``api_key``.
- ``POST /form/ask``: form field ``q`` -> an HTML page with the answer in ``<div id="answer">``.
- ``GET /get/ask?q=...`` -> ``{"answer": ...}``.
- ``POST /session/chat``: JSON ``{"text": ...}``; the conversation is kept per ``sid`` cookie (set on the first
  request) -> ``{"reply": ...}``.
- ``POST /conv/{id}/messages`` with ``POST /conv/new`` semantics folded in: JSON ``{"text": ...}`` to
  ``/conv/new/messages`` starts a conversation and the reply carries ``conversation_id``; later turns go to
  ``/conv/<id>/messages``.
- ``POST /fail/{n}``: fails the first ``n`` requests with 503, then answers as ``/json/chat`` does.
- ``POST /big``: a reply of ``big_bytes`` bytes. ``POST /redirect``: a 302 elsewhere.

Every request is kept in ``received`` as ``(path, headers, body text)``.
"""

from __future__ import annotations

import html
import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from fake_openai import LocalAppServer, in_background

Answer = Callable[[list[str]], str]


def echo(turns: list[str]) -> str:
    return f"You said: {turns[-1]}"


class FakeApps(LocalAppServer):
    def __init__(self, answer_fn: Answer = echo, *, api_key: str | None = None, big_bytes: int = 2 * 1024 * 1024):
        self.answer_fn = answer_fn
        self.api_key = api_key
        self.big_bytes = big_bytes
        self.received: list[tuple[str, dict[str, str], str]] = []
        self.sessions: dict[str, list[str]] = {}
        self.failures: dict[str, int] = {}
        self._ids = itertools.count(1)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/json/chat", self._json_chat)
        app.router.add_post("/form/ask", self._form_ask)
        app.router.add_get("/get/ask", self._get_ask)
        app.router.add_post("/session/chat", self._session_chat)
        app.router.add_post("/conv/{cid}/messages", self._conv)
        app.router.add_post("/fail/{n}", self._fail)
        app.router.add_post("/big", self._big)
        app.router.add_post("/redirect", self._redirect)

    async def _record(self, request: web.Request) -> str:
        text = await request.text()
        self.received.append((request.path_qs, dict(request.headers), text))
        return text

    async def _json_chat(self, request: web.Request) -> web.Response:
        body = json.loads(await self._record(request))
        if self.api_key is not None and request.headers.get("X-Api-Key") != self.api_key:
            return web.json_response({"error": f"bad key {request.headers.get('X-Api-Key')}"}, status=401)
        return web.json_response({"data": {"answer": self.answer_fn([body["message"]])}, "status": "ok"})

    async def _form_ask(self, request: web.Request) -> web.Response:
        await self._record(request)
        form = await request.post()
        answer = html.escape(self.answer_fn([str(form["q"])]))
        page = f'<html><body><h1>Help</h1><div id="answer">{answer}</div></body></html>'
        return web.Response(text=page, content_type="text/html")

    async def _get_ask(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({"answer": self.answer_fn([request.query["q"]])})

    async def _session_chat(self, request: web.Request) -> web.Response:
        body = json.loads(await self._record(request))
        sid = request.cookies.get("sid")
        fresh = sid is None or sid not in self.sessions
        if fresh:
            sid = f"s{next(self._ids)}"
            self.sessions[sid] = []
        self.sessions[sid].append(body["text"])
        response = web.json_response({"reply": self.answer_fn(list(self.sessions[sid]))})
        if fresh:
            response.set_cookie("sid", sid, httponly=True)
        return response

    async def _conv(self, request: web.Request) -> web.Response:
        body = json.loads(await self._record(request))
        cid = request.match_info["cid"]
        if cid == "new":
            cid = f"c{next(self._ids)}"
            self.sessions[cid] = []
        elif cid not in self.sessions:
            return web.json_response({"error": "no such conversation"}, status=400)
        self.sessions[cid].append(body["text"])
        return web.json_response({"conversation_id": cid, "reply": self.answer_fn(list(self.sessions[cid]))})

    async def _fail(self, request: web.Request) -> web.Response:
        text = await self._record(request)
        key = request.match_info["n"]
        self.failures[key] = self.failures.get(key, 0) + 1
        if self.failures[key] <= int(key):
            return web.json_response({"error": "busy"}, status=503)
        return web.json_response({"data": {"answer": self.answer_fn([json.loads(text)["message"]])}})

    async def _big(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.Response(body=b"x" * self.big_bytes, content_type="text/plain")

    async def _redirect(self, request: web.Request) -> web.Response:
        await self._record(request)
        raise web.HTTPFound("http://example.invalid/elsewhere")


@contextmanager
def running_apps(answer_fn: Answer = echo, **opts: Any) -> Iterator[FakeApps]:
    """``FakeApps`` in a background thread with its own event loop (sync tests, CLI subprocesses)."""
    with in_background(FakeApps(answer_fn, **opts)) as apps:
        yield apps
