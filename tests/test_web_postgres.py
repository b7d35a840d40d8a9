"""The dashboard on a PostgreSQL store (a throwaway cluster, see postgres_fixture.py), in-process through FastAPI's
test client: the same runs written by the real engine to PostgreSQL and to SQLite give the same boards; a run
stored later shows up (the cache's version is a query there, not a file's time); votes are stored as battles in
the database; ``tianping serve --store`` and ``TIANPING_STORE`` serve it, and its password is never shown."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine_helpers import make_spec, run_engine
from fake_openai import FakeOpenAIServer, in_background
from postgres_fixture import PASSWORD
from test_web_support import TOKEN
from tianping.store import Store
from tianping.web.app import create_app
from tianping.web.data import Stores, slug
from tianping.web.pages import Site

pytestmark = pytest.mark.postgres

MODELS = ["openai/alpha", "openai/beta"]


def _fill(store: Store, base_url: str, data_dir: Path, models: list[str]) -> list[str]:
    done = []
    for model in models:
        spec = make_spec(base_url, data_dir, ["gsm8k"], limit=6, model=model)
        result = run_engine(store, spec)
        assert result.status == "completed"
        done.append(result.run_id)
    return done


def _board(snap) -> dict[tuple[str, str], tuple]:
    return {k: (s.metric, s.score, s.n, s.ci_low, s.ci_high) for k, s in snap.latest.items()}


def test_a_postgresql_store_serves_the_same_boards_and_sees_new_runs(postgres_url, tmp_path: Path, data_dir: Path):
    pg = Store(postgres_url)
    lite = Store.open(tmp_path)
    with in_background(FakeOpenAIServer()) as server:
        _fill(pg, server.base_url, data_dir, MODELS)
        _fill(lite, server.base_url, data_dir, MODELS)
        lite.close()
        stores = Stores([postgres_url], min_age_s=0)
        client = TestClient(create_app(Site(stores)))
        board = client.get(f"/leaderboard/benchmark/{slug('gsm8k')}")
        assert board.status_code == 200 and all(m in board.text for m in MODELS)
        assert _board(stores.snapshot()) == _board(Stores([tmp_path]).snapshot())
        assert len(stores.snapshot().latest) == len(MODELS)

        # a run stored after the first request: the next one sees it (the database's fingerprint changed)
        before = stores.snapshot().version
        _fill(pg, server.base_url, data_dir, ["openai/gamma"])
        assert "openai/gamma" in client.get(f"/leaderboard/benchmark/{slug('gsm8k')}").text
        assert stores.snapshot().version != before
    pg.close()

    # click-through: model, run and sample pages, the run list and the arena page
    snap = stores.snapshot()
    run = snap.runs[0]
    pages = ["/", "/runs", f"/model/{slug(MODELS[0])}", f"/run/{run.key}", "/arena", "/trends"]
    run_page = client.get(f"/run/{run.key}").text
    pages += [p for p in re.findall(r'href="(/run/[^"]+/sample/[^"]+)"', run_page)[:2]]
    assert any("/sample/" in p for p in pages)
    for path in pages:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:200])
        assert PASSWORD not in r.text
    stores.close()


def test_votes_on_a_postgresql_store_are_battles_there(postgres_url, data_dir: Path):
    store = Store(postgres_url)
    with in_background(FakeOpenAIServer()) as server:
        _fill(store, server.base_url, data_dir, MODELS)
    store.close()
    client = TestClient(create_app(Site(Stores([postgres_url], min_age_s=0)), token=TOKEN))
    assert client.post("/vote/login", data={"token": TOKEN}, follow_redirects=False).status_code == 303
    page = client.get("/vote").text
    pair = re.search(r'name="pair" value="([^"]+)"', page).group(1)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    r = client.post("/vote", data={"pair": pair, "csrf": csrf, "winner": "tie"}, follow_redirects=False)
    assert r.status_code == 303
    assert "1 vote(s) recorded" in client.get("/arena").text
    store = Store(postgres_url, readonly=True)
    battles = store.battles("web")
    store.close()
    assert [(b["benchmark"], b["winner"]) for b in battles] == [("gsm8k", "tie")]
    assert {battles[0]["model_a"], battles[0]["model_b"]} == set(MODELS)


def _serve(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tianping", "serve", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TIANPING_TOKEN": "", **env},
    )


def test_serve_exports_a_postgresql_store_by_flag_and_by_environment(postgres_url, tmp_path: Path, data_dir: Path):
    store = Store(postgres_url)
    with in_background(FakeOpenAIServer()) as server:
        _fill(store, server.base_url, data_dir, MODELS[:1])
    store.close()
    for how, args, env in (
        ("flag", ["--store", postgres_url], {}),
        ("env", [], {"TIANPING_STORE": postgres_url}),
    ):
        out = tmp_path / how
        done = _serve(*args, "--export", str(out), env=env)
        assert done.returncode == 0, done.stderr
        boards = [f for f in out.rglob("*.html") if slug("gsm8k") in f.as_posix() and "leaderboard" in f.as_posix()]
        assert boards and MODELS[0] in boards[0].read_text(encoding="utf-8")
        for page in out.rglob("*.html"):
            assert PASSWORD not in page.read_text(encoding="utf-8"), page
        assert PASSWORD not in done.stdout + done.stderr
    wrong = postgres_url.replace(PASSWORD, "not-the-password")
    done = _serve("--store", wrong, "--export", str(tmp_path / "wrong"), env={})
    assert done.returncode == 2 and "--store postgresql://tianping@" in done.stderr
    assert "not-the-password" not in done.stderr and PASSWORD not in done.stderr
