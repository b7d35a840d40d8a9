"""The dashboard served in-process (FastAPI's test client over the real app) on a store the real engine wrote:
every page, escaping of hostile names and outputs, no secret from a run spec, the security headers, voting with
its token, CSRF check and rate limit, and the static export."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine_helpers import make_spec, run_engine
from fake_openai import FakeOpenAIServer, in_background
from test_web_support import HEADER_SECRET, PAGE_KINDS, SECRET, TOKEN, URL_SECRET, Seeded, seed
from tianping.store import Store
from tianping.web.app import create_app
from tianping.web.data import Stores, slug
from tianping.web.export import export_site
from tianping.web.pages import Site
from tianping.web.registry import load_registry

CANARY = "http://127.0.0.1:9"  # never contacted here: the browser tests watch a live canary


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Seeded:
    return seed(tmp_path_factory.mktemp("web"), CANARY, data_dir)


def _site(seeded: Seeded) -> Site:
    return Site(Stores([seeded.results], load_registry(seeded.registry)), monitor_stores=[seeded.monitor])


@pytest.fixture(scope="module")
def client(seeded: Seeded) -> TestClient:
    return TestClient(create_app(_site(seeded)))


def _links(html: str) -> list[str]:
    return re.findall(r'href="(/[^"]*)"', html)


def _pages(client: TestClient, seeded: Seeded) -> list[str]:
    """Every page a visitor can reach by links from the overview, plus the leaderboards and samples."""
    seen: set[str] = set()
    todo = ["/", "/leaderboards"]
    while todo:
        path = todo.pop()
        if path in seen or path.startswith("/static/"):
            continue
        seen.add(path)
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        if "/sample/" in path:
            continue
        todo.extend(p for p in _links(r.text) if p not in seen)
    return sorted(seen)


def test_every_linked_page_renders_and_escapes_hostile_strings(client: TestClient, seeded: Seeded) -> None:
    pages = _pages(client, seeded)
    kinds = {p.split("/")[1] for p in pages}
    assert kinds >= PAGE_KINDS
    assert any("/sample/" in p for p in pages)
    for path in pages:
        body = client.get(path).text
        for hostile in seeded.hostile:
            assert hostile not in body, path  # the raw string never reaches the page
        assert "<script>fetch" not in body and "<img src=x" not in body and "<svg onload" not in body, path
        # the only scripts are the dashboard's own files and JSON data
        scripts = re.findall(r"<script([^>]*)>", body)
        assert all('src="/static/' in s or 'type="application/json"' in s for s in scripts), (path, scripts)
    model_page = client.get(f"/model/{slug(seeded.hostile[0])}").text
    assert "openai/&lt;script&gt;fetch(" in model_page  # shown as text, escaped


def test_hostile_output_is_text_on_the_sample_page(client: TestClient, seeded: Seeded) -> None:
    run_page = client.get(f"/model/{slug(seeded.hostile[1])}").text
    run_path = next(p for p in _links(run_page) if p.startswith("/run/"))
    sample_path = next(p for p in _links(client.get(run_path).text) if "/sample/" in p)
    body = client.get(sample_path).text
    assert "&lt;script&gt;fetch(" in body and "javascript:fetch" in body  # visible as text
    assert 'href="javascript:' not in body.lower()
    # the JSON blobs in the page cannot close their element either
    for blob in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', body, re.S):
        assert "<" not in blob


def test_security_headers_and_read_only(client: TestClient) -> None:
    r = client.get("/")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert client.get("/vote").status_code == 200 and "Voting is off" in client.get("/vote").text
    assert client.post("/vote", data={"winner": "a"}).status_code == 403
    assert client.post("/vote/login", data={"token": ""}).status_code == 403
    assert client.delete("/").status_code == 405
    assert client.get("/model/nope").status_code == 404 and client.get("/run/nope/sample/x").status_code == 404
    assert client.get("/static/../pyproject.toml").status_code == 404
    plotly = client.get("/static/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000


def test_a_missing_page_is_a_404_page_with_the_way_back_and_the_asked_path_escaped(client: TestClient) -> None:
    """A browser got {"detail":"Not Found"} for a mistyped address and a bare "not found" for a removed run."""
    for path in ("/model/nope", "/leaderboard", "/run/nope", "/no/such/page/<b>x</b>"):
        r = client.get(path)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), path
        assert 'id="not-found"' in r.text and 'href="/runs"' in r.text and 'href="/"' in r.text, path
        assert "script-src 'self'" in r.headers["content-security-policy"], path
    hostile = client.get("/no/such/page/<b>x</b>").text
    assert "<b>x</b>" not in hostile and "&lt;b&gt;x&lt;/b&gt;" in hostile
    assert client.delete("/").status_code == 405  # other errors stay as they were


def test_no_secret_from_a_run_spec_is_shown(client: TestClient, seeded: Seeded) -> None:
    runs = client.get("/runs").text
    secret_run = next(p for p in _links(runs) if p.startswith("/run/") and "secret-run" in p)
    body = client.get(secret_run).text
    for secret in (SECRET, URL_SECRET, HEADER_SECRET, "header-secret-value"):
        assert secret not in body
    assert "[redacted]" in body and "MY_KEY" in body  # the env var's name is not a secret


def test_leaderboard_ranks_with_intervals_and_registry_fields(client: TestClient, seeded: Seeded) -> None:
    body = client.get(f"/leaderboard/benchmark/{slug('gsm8k')}").text
    rows = re.findall(r'<tr data-group="([^"]*)" data-org="([^"]*)" data-access="([^"]*)">(.*?)</tr>', body, re.S)
    assert len(rows) == 6
    groups = {g for g, _, _, _ in rows}
    assert {"open, domestic", "closed, overseas", "unregistered"} <= groups
    ranks = [int(re.search(r'<td class="num">(\d+)</td>', r[3]).group(1)) for r in rows]
    assert ranks == list(range(1, 7))
    intervals = [tuple(map(int, m)) for m in re.findall(r"(\d+)–(\d+)</td>", body)]
    assert len(intervals) == 6 and all(lo <= rank <= hi for (lo, hi), rank in zip(intervals, ranks, strict=True))
    composite = client.get(f"/leaderboard/dimension/{slug('composite')}").text
    assert "Composite" in composite and "benchmark(s)" in composite


def test_compare_gives_paired_differences(client: TestClient, seeded: Seeded) -> None:
    a, b = seeded.models[0], seeded.models[3]
    body = client.get(f"/compare/{slug(a)}~{slug(b)}").text
    rows = re.findall(r"<tr><td>(gsm8k|arc_challenge)</td>.*?</tr>", body, re.S)
    assert sorted(rows) == ["arc_challenge", "gsm8k"]
    assert "mcnemar" in body or "paired-t" in body
    assert "unpaired (model / baseline)" in body
    assert client.get(f"/compare/{slug(a)}~nope").status_code == 404


def test_trends_and_quadrant_use_the_registry(client: TestClient) -> None:
    body = client.get("/trends").text
    assert 'id="trend-chart"' in body and 'id="quadrant-chart"' in body
    assert "Mathematics" in body and "Reasoning" in body
    assert re.search(r"(high|low) level, (fast|slow) growth", body)


def test_monitor_and_arena_pages(client: TestClient, seeded: Seeded) -> None:
    monitor = client.get("/monitor").text
    assert "prov-a" in monitor and 'id="monitor-success"' in monitor and "http_500" in monitor
    arena = client.get("/arena").text
    assert "chat-arena" in arena and "1100" in arena and "[1070, 1130]" in arena


def _copy_of_the_store(seeded: Seeded, folder: Path) -> Site:
    """The seeded store copied, so that votes written to it leave the module's store as it was."""
    shutil.copy(seeded.results / "tianping.sqlite", folder / "tianping.sqlite")
    return Site(Stores([folder], load_registry(seeded.registry)), monitor_stores=[seeded.monitor])


def test_voting_needs_token_csrf_and_is_rate_limited(seeded: Seeded, tmp_path: Path) -> None:
    site = _copy_of_the_store(seeded, tmp_path)
    client = TestClient(create_app(site, token=TOKEN, votes_per_minute=2))
    assert "token" in client.get("/vote").text
    assert client.post("/vote/login", data={"token": "wrong"}).status_code == 403
    # a cross-site form post is refused even with the right token
    assert (
        client.post("/vote/login", data={"token": TOKEN}, headers={"origin": "http://evil.example"}).status_code == 403
    )
    r = client.post("/vote/login", data={"token": TOKEN}, follow_redirects=False)
    assert r.status_code == 303 and "httponly" in r.headers["set-cookie"].lower()
    page = client.get("/vote").text
    pair = re.search(r'name="pair" value="([^"]+)"', page).group(1)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert client.post("/vote", data={"pair": pair, "csrf": "forged", "winner": "a"}).status_code == 403
    assert client.post("/vote", data={"pair": pair + "x", "csrf": csrf, "winner": "a"}).status_code == 403
    for winner in ("a", "both_bad"):
        r = client.post("/vote", data={"pair": pair, "csrf": csrf, "winner": winner}, follow_redirects=False)
        assert r.status_code == 303
    assert client.post("/vote", data={"pair": pair, "csrf": csrf, "winner": "tie"}).status_code == 429
    assert "2 vote(s) recorded" in client.get("/arena").text
    # stored as battles in the store the dashboard serves, and nowhere else
    store = Store.open(tmp_path, readonly=True)
    battles = store.battles()
    store.close()
    assert [b["winner"] for b in battles] == ["a", "both_bad"] and {b["source"] for b in battles} == {"web"}
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".sqlite") == ["tianping.sqlite"]
    other = TestClient(create_app(site, token=TOKEN))  # a session of another server
    other.cookies.update(client.cookies)
    assert other.post("/vote", data={"pair": pair, "csrf": csrf, "winner": "a"}).status_code == 403


def test_static_export_writes_every_page_with_relative_links(seeded: Seeded, tmp_path: Path) -> None:
    out = tmp_path / "site"
    count = export_site(_site(seeded), out)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html"))
    assert count == len(files) and "index.html" in files
    assert any(f.startswith("run/") and "/sample/" in f for f in files)
    assert (out / "static" / "plotly.min.js").stat().st_size > 1_000_000
    for f in files:
        html = (out / f).read_text(encoding="utf-8")
        assert 'href="/' not in html and 'src="/' not in html, f  # every link relative: works from any folder
        for link in re.findall(r'(?:href|src)="([^"#]+)"', html):
            assert (out / f).parent.joinpath(link).resolve().is_file(), (f, link)
        for hostile in seeded.hostile:
            assert hostile not in html


def test_compare_says_how_many_samples_only_one_side_scored(tmp_path: Path, data_dir: Path) -> None:
    """Paired on the 6 samples both scored, the 4 only the wider run has are counted, not silently dropped."""
    store = Store.open(tmp_path)
    with in_background(FakeOpenAIServer()) as server:
        run_engine(store, make_spec(server.base_url, data_dir, ["gsm8k"], limit=10, model="openai/wide"))
        run_engine(store, make_spec(server.base_url, data_dir, ["gsm8k"], limit=6, model="openai/narrow"))
    store.close()
    client = TestClient(create_app(Site(Stores([tmp_path], min_age_s=0))))
    body = client.get(f"/compare/{slug('openai/wide')}~{slug('openai/narrow')}").text
    (row,) = re.findall(r"<tr><td>gsm8k</td>.*?</tr>", body, re.S)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells[0] == "6" and cells[-1] == "0 / 4", row  # N paired; unpaired: model / baseline


def test_compare_marks_a_lower_is_better_metric(tmp_path: Path, data_dir: Path) -> None:
    """On attack success a positive difference is the model doing worse: the row and the chart say so."""

    def answer(body: dict) -> str:
        # the complier gives in on about half of the prompts (hash-chosen), so items differ in how many broke
        prompt = json.dumps(body.get("messages"), sort_keys=True)
        if "complier" in str(body.get("model")) and hashlib.sha256(prompt.encode()).digest()[0] % 2 == 0:
            return "Sure, here is exactly how to do it. Step 1: gather the materials. Step 2: go on."
        return "I'm sorry, but I can't help with that request."

    store = Store.open(tmp_path)
    with in_background(FakeOpenAIServer(answer_fn=answer)) as server:
        for model in ("openai/refuser", "openai/complier"):
            assert run_engine(store, make_spec(server.base_url, data_dir, ["safety"], limit=6, model=model)).status
    store.close()
    client = TestClient(create_app(Site(Stores([tmp_path], min_age_s=0))))
    body = client.get(f"/compare/{slug('openai/refuser')}~{slug('openai/complier')}").text
    assert re.search(r'<tr><td>safety <span title="lower is better">↓</span></td>', body)
    assert "except on metrics marked ↓" in body and "safety ↓" in body  # the chart's label too
    # every board of it ranks the model that refused first: the benchmark's (attack success, upwards), the
    # safety suite's and the Safety dimension's (1 - rate)
    for kind in ("benchmark", "suite", "dimension"):
        board = client.get(f"/leaderboard/{kind}/{slug('safety')}").text
        ranked = re.findall(r'href="/model/[^"]*">(openai/\w+)</a>', board)
        assert ranked[:2] == ["openai/refuser", "openai/complier"], (kind, ranked)
    # the benchmark page's hardest items are the prompts that broke a model, not the ones every model refused
    page = client.get(f"/benchmark/{slug('safety')}").text
    assert "<th>mean attack_success ↓</th>" in page
    table = page.split('id="hardest"', 1)[1].split("</table>", 1)[0]
    means = [float(v) for v in re.findall(r'<td class="num">([\d.]+)</td><td class="num">\d+</td>', table)]
    assert means and means[0] == 50.0 and means == sorted(means, reverse=True) and means[-1] == 0.0, means


def test_a_partial_run_shows_its_scores_but_stays_off_the_boards(tmp_path: Path, data_dir: Path) -> None:
    store = Store.open(tmp_path)
    with in_background(FakeOpenAIServer()) as server:
        done = run_engine(store, make_spec(server.base_url, data_dir, ["gsm8k"], limit=5, model="openai/killed"))
        kept = run_engine(store, make_spec(server.base_url, data_dir, ["gsm8k"], limit=5, model="openai/finished"))
    store.update_run(done.run_id, status="running")  # as a run killed before writing its aggregates reads
    store.close()
    stores = Stores([tmp_path], min_age_s=0)
    client = TestClient(create_app(Site(stores)))
    board = client.get(f"/leaderboard/benchmark/{slug('gsm8k')}").text
    assert "openai/finished" in board and "openai/killed" not in board
    snap = stores.snapshot()
    partial = next(r for r in snap.runs if r.run_id == done.run_id)
    assert partial.partial and partial.status == "interrupted"
    run_page = client.get(f"/run/{partial.key}").text
    assert re.search(r"gsm8k</a></td><td>accuracy ★</td>", run_page)
    assert kept.run_id in client.get("/runs").text


def _scored_run(store: Store, run_id: str, model: str, scores: dict[str, float]) -> None:
    """A finished run written through the store's public methods, as the engine leaves one."""
    time.sleep(0.002)  # runs are ordered by their start, stamped to the millisecond
    store.create_run(run_id, {"models": [{"id": model}], "benchmarks": sorted(scores)}, "test")
    rows = [
        {"model": model, "benchmark": b, "metric": "accuracy", "group_kind": "all", "group_name": "", "score": p,
         "n": 100, "ci_low": p - 0.05, "ci_high": p + 0.05, "extraction_failures": 0, "incomplete": 0, "errors": 0}
        for b, p in scores.items()
    ]  # fmt: skip
    store.write_aggregates(run_id, rows)
    store.update_run(run_id, status="completed", finished_at="2026-01-01T00:00:00+00:00",
                     tasks={b: {"metric": "accuracy"} for b in scores})  # fmt: skip


def _composite(snap) -> list[tuple[str, float | None]]:
    from tianping.indicators.tree import default_tree
    from tianping.web.boards import dimension_board

    board = dimension_board(snap, default_tree(), "composite")
    return [(r.model, r.score) for r in board.rows]


def test_a_changed_store_is_rebuilt_in_the_background_while_the_old_snapshot_is_served(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    _scored_run(store, "r1", "m/a", {"gsm8k": 0.5, "mmlu": 0.4})
    _scored_run(store, "r2", "m/b", {"gsm8k": 0.7, "mmlu": 0.6})
    stores = Stores([tmp_path], min_age_s=0, background=True)
    site = Site(stores)
    first = stores.snapshot()  # the first snapshot is built at once
    assert {m for m, _ in first.latest} == {"m/a", "m/b"} and _composite(first)
    _scored_run(store, "r3", "m/a", {"gsm8k": 0.9, "mmlu": 0.8})  # a newer run of m/a
    store.close()
    assert stores.snapshot() is first  # served at once, from the snapshot the store had
    deadline = time.monotonic() + 60
    while stores.snapshot() is first:
        assert time.monotonic() < deadline, "the snapshot was never rebuilt"
        time.sleep(0.02)
    new = stores.snapshot()
    assert new.latest[("m/a", "gsm8k")].score == 0.9 and new.latest[("m/a", "gsm8k")].run.run_id == "r3"
    # the composite board, computed with the rollups kept from the first snapshot, is what a fresh read gives
    assert _composite(new) == _composite(Stores([tmp_path]).snapshot())
    assert dict(_composite(new))["m/a"] != dict(_composite(first))["m/a"]
    board = TestClient(create_app(site)).get(f"/leaderboard/benchmark/{slug('gsm8k')}").text
    assert re.search(r"90\.0", board) and not re.search(r"50\.0", board)  # m/a's newest run, not its first
    stores.close()
