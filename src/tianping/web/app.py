"""The FastAPI application: every page of :class:`tianping.web.pages.Site` under GET, the voting page's two
POST routes (only with a write token), static files (the dashboard's own and plotly.js from the ``plotly``
package), and the security headers on every response."""

from __future__ import annotations

import random
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from tianping.web.data import Snapshot
from tianping.web.pages import Page, Site
from tianping.web.render import Links, render
from tianping.web.security import HEADERS, Guard
from tianping.web.votes import Vote, VoteStore

SESSION_COOKIE = "tianping_session"
_STATIC = {"app.js": "text/javascript", "app.css": "text/css", "plotly.min.js": "text/javascript"}


def plotly_js() -> Path:
    """plotly.js as the installed ``plotly`` package ships it (no CDN: the dashboard works offline)."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise RuntimeError(f"{path}: plotly.min.js is missing from the installed plotly package; reinstall plotly")
    return path


def static_path(name: str) -> Path | None:
    if name not in _STATIC:
        return None
    if name == "plotly.min.js":
        return plotly_js()
    return Path(str(resources.files("tianping.web").joinpath("static", name)))


class _Headers(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for key, value in HEADERS.items():
            response.headers.setdefault(key, value)
        return response


def _vote_pairs(site: Site, snap: Snapshot) -> list[tuple[str, str, str, dict[str, str]]]:
    """(benchmark, sample id, prompt, model -> output) for every item that two or more models answered."""

    def make() -> list[tuple[str, str, str, dict[str, str]]]:
        from tianping.report.collect import prompt_text

        answers: dict[tuple[str, str], dict[str, str]] = {}
        prompts: dict[tuple[str, str], str] = {}
        runs = {s.run.key: s.run for s in snap.latest.values()}
        for run in runs.values():
            store = site.stores.store(run.store)
            if store is None:
                continue
            for row in store.sample_rows(run.run_id):
                s = snap.latest.get((row["model"], row["benchmark"]))
                if s is None or s.run.key != run.key or not row["output"]:
                    continue
                key = (row["benchmark"], row["sample_id"])
                answers.setdefault(key, {})[row["model"]] = row["output"]
                prompts.setdefault(key, prompt_text(row["prompt"]))
        return [(b, sid, prompts[(b, sid)], outs) for (b, sid), outs in sorted(answers.items()) if len(outs) >= 2]

    return snap.memo("vote_pairs", make)


def create_app(
    site: Site,
    *,
    token: str | None = None,
    votes_store: Path | str | None = None,
    votes_per_minute: int = 20,
    warm: bool = False,
) -> FastAPI:
    """The dashboard over ``site``; ``token`` (``TIANPING_TOKEN``) turns voting on, the votes stored as battles
    in ``votes_store`` (a results folder or a store URL; default: the site's first store); ``warm`` reads the
    stores in the background at once instead of on the first request."""
    app = FastAPI(title="tianping dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(_Headers)
    guard = Guard(token, votes_per_minute=votes_per_minute)
    votes = None
    if guard.writable:
        votes = VoteStore(votes_store if votes_store is not None else site.stores.locations[0])
    app.state.site, app.state.guard, app.state.votes = site, guard, votes
    if warm:
        threading.Thread(target=site.warm, name="dashboard-warm", daemon=True).start()

    def html(page: Page | None, request: Request, status: int = 200) -> Response:
        if page is None:
            page, status = site.not_found(request.url.path), 404
        template, ctx = page
        return HTMLResponse(render(template, ctx, Links(current=request.url.path)), status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code != 404:
            return PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=exc.headers)
        # a page in a browser, not the framework's JSON; the site's snapshot is read in a thread, as a route is
        return await run_in_threadpool(html, None, request)

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        path = static_path(name)
        if path is None:
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(path, media_type=_STATIC[name], headers={"Cache-Control": "public, max-age=3600"})

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/", response_class=HTMLResponse)
    def overview(request: Request) -> Response:
        return html(site.overview(), request)

    @app.get("/leaderboards", response_class=HTMLResponse)
    def leaderboards(request: Request) -> Response:
        return html(site.leaderboards(), request)

    @app.get("/leaderboard/{kind}/{key}", response_class=HTMLResponse)
    def leaderboard(kind: str, key: str, request: Request) -> Response:
        return html(site.leaderboard(kind, key), request)

    @app.get("/model/{key}", response_class=HTMLResponse)
    def model(key: str, request: Request) -> Response:
        return html(site.model(key), request)

    @app.get("/compare", response_class=HTMLResponse)
    def compare_form(request: Request) -> Response:
        return html(site.compare([]), request)

    @app.get("/compare/{keys}", response_class=HTMLResponse)
    def compare(keys: str, request: Request) -> Response:
        return html(site.compare([k for k in keys.split("~") if k]), request)

    @app.get("/benchmark/{key}", response_class=HTMLResponse)
    def benchmark(key: str, request: Request) -> Response:
        return html(site.benchmark(key), request)

    @app.get("/runs", response_class=HTMLResponse)
    def runs(request: Request) -> Response:
        return html(site.runs(), request)

    @app.get("/run/{key}", response_class=HTMLResponse)
    def run(key: str, request: Request) -> Response:
        return html(site.run(key), request)

    @app.get("/run/{key}/sample/{sample}", response_class=HTMLResponse)
    def sample(key: str, sample: str, request: Request) -> Response:
        return html(site.sample(key, sample), request)

    @app.get("/safety", response_class=HTMLResponse)
    def safety(request: Request) -> Response:
        return html(site.safety(), request)

    @app.get("/monitor", response_class=HTMLResponse)
    def monitor(request: Request) -> Response:
        return html(site.monitor(), request)

    @app.get("/arena", response_class=HTMLResponse)
    def arena(request: Request) -> Response:
        return html(site.arena(votes), request)

    @app.get("/trends", response_class=HTMLResponse)
    def trends(request: Request) -> Response:
        return html(site.trends(), request)

    # voting ------------------------------------------------------------------------------------------------------

    def vote_page(
        request: Request, sid: str | None, *, message: str = "", error: str = "", status: int = 200
    ) -> Response:
        snap = site.snap
        ctx: dict[str, Any] = {
            "title": "Vote",
            "snap": snap,
            "writable": guard.writable,
            "session": sid is not None,
            "message": message,
            "error": error,
            "pair": None,
            "total": votes.count() if votes else 0,
        }
        if sid is not None:
            pairs = _vote_pairs(site, snap)
            if pairs:
                benchmark, sample_id, prompt, outs = random.choice(pairs)
                model_a, model_b = random.sample(sorted(outs), 2)
                token = guard.signer.dumps({"b": benchmark, "s": sample_id, "a": model_a, "m": model_b})
                ctx["pair"] = {
                    "benchmark": benchmark,
                    "prompt": prompt,
                    "a": outs[model_a],
                    "b": outs[model_b],
                    "token": token,
                    "csrf": guard.csrf(sid, token),
                }
        return html(("vote.html.j2", ctx), request, status)

    def same_origin(request: Request) -> bool:
        """A browser's form post names its origin; one from another site is refused (CSRF, on top of the token)."""
        origin = request.headers.get("origin")
        if origin is None or origin == "null":
            return origin is None
        return origin.rstrip("/") == f"{request.url.scheme}://{request.url.netloc}"

    @app.get("/vote", response_class=HTMLResponse)
    def vote_get(request: Request) -> Response:
        message = "Vote recorded." if request.query_params.get("voted") == "1" else ""
        return vote_page(request, guard.session_id(request.cookies.get(SESSION_COOKIE)), message=message)

    @app.post("/vote/login")
    def vote_login(request: Request, token: str = Form("")) -> Response:
        if not guard.writable:
            return PlainTextResponse("read-only dashboard: voting is off", status_code=403)
        if not same_origin(request):
            return PlainTextResponse("cross-site request refused", status_code=403)
        if not guard.token_ok(token):
            return vote_page(request, None, error="Wrong token.", status=403)
        response = RedirectResponse("/vote", status_code=303)
        response.set_cookie(SESSION_COOKIE, guard.new_session(), httponly=True, samesite="strict", path="/")
        return response

    @app.post("/vote")
    def vote_post(request: Request, pair: str = Form(""), csrf: str = Form(""), winner: str = Form("")) -> Response:
        if not guard.writable or votes is None:
            return PlainTextResponse("read-only dashboard: voting is off", status_code=403)
        sid = guard.session_id(request.cookies.get(SESSION_COOKIE))
        if sid is None:
            return PlainTextResponse("no session: enter the token on /vote first", status_code=403)
        if not same_origin(request) or not guard.csrf_ok(sid, pair, csrf):
            return PlainTextResponse("CSRF check failed", status_code=403)
        shown = guard.signer.loads(pair)
        if not isinstance(shown, dict) or winner not in ("a", "b", "tie", "both_bad"):
            return PlainTextResponse("bad vote", status_code=400)
        if not guard.allow(sid):
            return vote_page(request, sid, error="Too many votes: wait a minute.", status=429)
        votes.add(Vote(shown["b"], shown["s"], shown["a"], shown["m"], winner, guard.voter(sid)))
        return RedirectResponse("/vote?voted=1", status_code=303)

    return app
