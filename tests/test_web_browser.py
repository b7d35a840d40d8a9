"""The dashboard in a real browser: ``tianping serve`` as a subprocess on 127.0.0.1 over a store the real engine
wrote, driven by Playwright with the system Chromium. Every page loads with its charts drawn and no console
error (a Content-Security-Policy violation is one); hostile model names and outputs never run (a canary server
on 127.0.0.1 counts zero requests); click-through, filters, a vote, and the screenshot command."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_web_support import CHROMIUM, CHROMIUM_ARGS, PAGE_KINDS, TOKEN, CanaryServer, Seeded, seed, serving

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is in the dev extra")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"{CHROMIUM} is not installed")


@pytest.fixture(scope="module")
def canary() -> Iterator[CanaryServer]:
    with CanaryServer() as server:
        yield server


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, canary: CanaryServer) -> Seeded:
    return seed(tmp_path_factory.mktemp("browser"), canary.url, data_dir)


@pytest.fixture(scope="module")
def server(seeded: Seeded) -> Iterator[str]:
    env = {**os.environ, "TIANPING_TOKEN": TOKEN}
    args = [
        "--results-dir",
        str(seeded.results),
        "--models",
        str(seeded.registry),
        "--monitor-store",
        str(seeded.monitor),
    ]
    with serving(args, env) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    # after the store is seeded and served: Playwright's sync API keeps an event loop running in this thread,
    # where the seeding's asyncio.run would then refuse to start (under pytest 9.2, unlike 9.0, the chain of
    # `page`, which every test names first, came up before the module's `server`)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.problems = []  # console errors (CSP violations among them) and uncaught exceptions
    pg.on("console", lambda m: pg.problems.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.problems.append(f"pageerror: {e}"))
    yield pg
    context.close()


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("load")
    charts = page.locator("div.chart").count()
    if charts:
        page.wait_for_function(f"document.querySelectorAll('div.chart[data-drawn] .main-svg').length >= {charts}")


def _assert_clean(page: Any, canary: CanaryServer) -> None:
    assert page.problems == [], (page.url, page.problems)
    assert page.evaluate("typeof window.__pwned") == "undefined", page.url
    assert page.locator("img").count() == 0, page.url  # the dashboard has no images; a hostile <img> would be one
    assert canary.hits == [], canary.hits


def test_every_page_loads_charts_and_runs_nothing_from_the_data(page: Any, server: str, canary: CanaryServer) -> None:
    seen: set[str] = set()
    todo = ["/", "/leaderboards"]
    samples = 0
    while todo:
        path = todo.pop(0)
        if path in seen or path.startswith("/static/") or path.startswith("/vote"):
            continue
        if "/sample/" in path:
            if samples >= 4:
                continue
            samples += 1
        seen.add(path)
        _open(page, server + path)
        _assert_clean(page, canary)
        links = page.eval_on_selector_all("a[href^='/']", "els => els.map(e => e.getAttribute('href'))")
        todo.extend(link for link in links if link not in seen)
    kinds = {p.split("/")[1] for p in seen}
    assert kinds >= PAGE_KINDS
    assert samples == 4
    # the hostile strings are on the pages, as text
    _open(page, server + "/runs")
    assert "<script>fetch(" in page.inner_text("#runs")
    _assert_clean(page, canary)


def test_click_through_leaderboard_model_run_sample(page: Any, server: str, canary: CanaryServer) -> None:
    _open(page, server + "/leaderboards")
    page.click("a.board-link:text-is('gsm8k')")
    assert "/leaderboard/benchmark/gsm8k" in page.url
    first = page.locator("#board tbody tr").first
    leader = first.locator("a.model").inner_text()
    first.locator("a.model").click()
    assert page.locator("h1").inner_text() == f"Model: {leader}"
    page.locator("#model-scores a.run").first.click()
    assert "/run/" in page.url and page.locator("#samples tbody tr").count() > 0
    page.locator("#samples a.sample-link").first.click()
    assert "/sample/" in page.url
    assert page.inner_text("#outcome") in ("correct", "wrong", "extraction_failed", "incomplete", "error")
    assert page.inner_text("#prompt").strip()
    _assert_clean(page, canary)


def test_hostile_output_shows_as_text(page: Any, server: str, seeded: Seeded, canary: CanaryServer) -> None:
    _open(page, server + "/runs")
    page.locator("#runs tr", has_text="name-img").locator("a.run").first.click()
    page.locator("#samples a.sample-link").first.click()
    output = page.inner_text("#output")
    assert "<script>fetch(" in output and "javascript:fetch(" in output and "<svg onload" in output
    assert page.locator("#output *").count() == 0  # no element made from the output
    _assert_clean(page, canary)


def test_leaderboard_filters_hide_rows(page: Any, server: str, canary: CanaryServer) -> None:
    _open(page, server + "/leaderboards")
    page.click("a.board-link:text-is('arc_challenge')")
    rows = page.locator("#board tbody tr")
    assert rows.count() == 6
    page.select_option("select[data-attr=group]", "closed, overseas")
    visible = [r for r in rows.all() if r.is_visible()]
    assert len(visible) == 2 and all("closed" in r.inner_text() for r in visible)
    page.select_option("select[data-attr=group]", "")
    page.select_option("select[data-attr=org]", "Alpha Lab")
    assert sum(r.is_visible() for r in rows.all()) == 2
    _assert_clean(page, canary)


def _visible_traces(page: Any) -> list[dict[str, Any]]:
    return page.evaluate(
        "Array.from(document.getElementById('trend-chart').data).filter(t => t.visible !== false).map(t => t.meta)"
    )


def test_trend_chart_filters_by_dimension_and_group(page: Any, server: str, canary: CanaryServer) -> None:
    _open(page, server + "/trends")
    dims = page.eval_on_selector_all("#trend-dimension option", "os => os.map(o => o.value)")
    assert "Mathematics" in dims and "Reasoning" in dims
    page.select_option("#trend-dimension", "Mathematics")
    shown = _visible_traces(page)
    assert shown and {t["dimension"] for t in shown} == {"Mathematics"}
    groups = {t["group"] for t in shown if t["group"]}
    assert {"open, domestic", "closed, overseas"} <= groups
    page.uncheck("input.trend-group[value='closed, overseas']")
    after = _visible_traces(page)
    assert "closed, overseas" not in {t["group"] for t in after} and len(after) < len(shown)
    assert any(t["role"] == "frontier" for t in after)
    drawn = page.locator("#trend-chart .scatterlayer .trace").count()
    assert drawn == len(after)
    assert page.locator("#quadrant tbody tr").count() >= 2
    _assert_clean(page, canary)


def test_cast_a_vote_and_see_it_counted(page: Any, server: str, canary: CanaryServer) -> None:
    _open(page, server + "/arena")
    before = int(re.search(r"(\d+) vote", page.inner_text("#vote-count")).group(1))
    _open(page, server + "/vote")
    page.fill("#token", TOKEN)
    page.click("#login-form button")
    page.wait_for_selector("#vote-form")
    assert page.inner_text("#answer-a").strip() and page.inner_text("#answer-b").strip()
    page.click("#vote-b")
    page.wait_for_selector("#vote-message")
    assert page.inner_text("#vote-message") == "Vote recorded."
    assert page.inner_text("#vote-total") == f"{before + 1} vote(s) recorded."
    _open(page, server + "/arena")
    assert page.inner_text("#vote-count") == f"{before + 1} vote(s) recorded."
    _assert_clean(page, canary)


def _png_width(path: Path) -> int:
    return struct.unpack(">I", path.read_bytes()[16:20])[0]


def test_screenshot_command_writes_1400px_pages(server: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tianping.web.screenshots", "--url", server, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    shots = sorted(tmp_path.glob("dashboard-*.png"))
    names = {p.stem.removeprefix("dashboard-") for p in shots}
    assert {"overview", "leaderboard", "model", "run", "trends", "arena", "monitor", "safety"} <= names
    widths = {p.name: _png_width(p) for p in shots}
    assert set(widths.values()) == {1400}, widths
