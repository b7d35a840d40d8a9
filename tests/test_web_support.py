"""What the dashboard's tests share (no tests here): a store seeded by running the real engine against the fake
server, with hostile model names and outputs that would call a canary server on 127.0.0.1 if any of them ever
ran as markup or script, a run spec holding secrets, stored arena ratings, monitor records and a model registry."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from engine_helpers import make_spec, run_engine
from fake_openai import FakeOpenAIServer, in_background, oracle_answer_fn
from tianping.serving.monitor_store import MonitorStore
from tianping.serving.records import ProbeRecord
from tianping.spec import ModelSpec, RunSpec, SafetyOptions
from tianping.store import Store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET = "sk-TOPSECRET-0123456789"
URL_SECRET = "hunter2-url-password"
HEADER_SECRET = "Bearer header-secret-value"
TOKEN = "vote-token-for-tests"


class CanaryServer:
    """Counts every request it gets: a hostile string that ever executes calls it."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                owner.hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CanaryServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


PAGE_KINDS = {"", "leaderboards", "leaderboard", "model", "benchmark", "run", "runs", "compare", "trends", "safety",
              "monitor", "arena"}  # fmt: skip
"""The first path segment of every kind of page a crawl from the overview must reach."""


def hostile_names(canary: str) -> list[str]:
    return [
        f"openai/<script>fetch('{canary}/name-script');window.__pwned=1</script>",
        f'openai/"><img src=x onerror="fetch(\'{canary}/name-img\');window.__pwned=1">',
    ]


def hostile_output(canary: str) -> str:
    return (
        f"<script>fetch('{canary}/out-script');window.__pwned=1</script>"
        f'"><img src=x onerror="fetch(\'{canary}/out-img\');window.__pwned=1">'
        f"<a href=\"javascript:fetch('{canary}/out-js')\">click</a> [link](javascript:fetch('{canary}/md-js'))"
        f"</pre></textarea><svg onload=\"fetch('{canary}/out-svg')\"></svg> The answer is 42."
    )


@dataclass
class Seeded:
    results: Path
    registry: Path
    monitor: Path
    canary: str
    models: list[str]
    hostile: list[str]
    benchmarks: list[str] = field(default_factory=lambda: ["gsm8k", "arc_challenge"])


REGISTRY = """models:
  - {{name: openai/alpha, organisation: Alpha Lab,
      release_date: 2024-01-15, parameters: 7B, access: open, region: domestic}}
  - {{name: openai/beta, organisation: Beta Inc,
      release_date: 2024-09-01, parameters: 70B, access: closed, region: overseas}}
  - {{name: openai/gamma, organisation: Alpha Lab,
      release_date: 2025-05-20, parameters: 14e9, access: open, region: domestic}}
  - {{name: openai/delta, organisation: Beta Inc, release_date: 2025-11-02, access: closed, region: overseas}}
  - name: {hostile0}
    organisation: "<b>Evil</b> Org"
    release_date: 2025-02-01
    access: open
    region: "<i>nowhere</i>"
"""


def seed(root: Path, canary: str, data_dir: Path, *, safety: bool = True) -> Seeded:
    """Run the engine against the fake server for four plain and two hostile models, plus a safety run, a run
    whose stored spec holds secrets, arena ratings and monitor records."""
    results = root / "results"
    hostile = hostile_names(canary)
    plain = ["openai/alpha", "openai/beta", "openai/gamma", "openai/delta"]
    accuracy = {"alpha": 0.4, "beta": 0.6, "gamma": 0.75, "delta": 0.9}
    oracles = {name: oracle_answer_fn(acc, seed=i) for i, (name, acc) in enumerate(accuracy.items())}
    fallback = oracle_answer_fn(0.5, seed=9)

    def answer(body: dict[str, Any]) -> str:
        model = str(body.get("model", ""))
        if "<" in model or '"' in model:
            return hostile_output(canary)
        return oracles.get(model.split("/")[-1], fallback)(body)

    store = Store.open(results)
    try:
        with in_background(FakeOpenAIServer(answer_fn=answer)) as server:
            for model in plain + hostile:
                spec = make_spec(server.base_url, data_dir, ["gsm8k", "arc_challenge"], limit=12, model=model)
                assert run_engine(store, spec).status == "completed"
            if safety:
                spec = RunSpec(
                    models=[ModelSpec(id="openai/alpha", base_url=server.base_url)],
                    benchmarks=["safety"],
                    data_dir=str(data_dir),
                    safety=SafetyOptions(budget=1, langs=["en"], categories=["ethics"]),
                )
                assert run_engine(store, spec).status == "completed"
        secret_spec = {
            "benchmarks": ["gsm8k"],
            "models": [
                {
                    "id": "openai/alpha",
                    "base_url": f"https://user:{URL_SECRET}@api.example.com/v1?api_key={SECRET}",
                    "api_key": SECRET,
                    "headers": {"Authorization": HEADER_SECRET},
                    "api_key_env": "MY_KEY",
                }
            ],
        }
        store.create_run("secret-run", secret_spec, "0.0.0")
        store.update_run("secret-run", status="completed", finished_at="2026-01-01T00:00:00+00:00")
        now = "2026-01-02T00:00:00+00:00"
        arena_rows = []
        for rank, (model, rating) in enumerate([(plain[3], 1100.0), (hostile[0], 1020.0), (plain[0], 950.0)], 1):
            arena_rows.append(
                {
                    "rating_id": "fit-1",
                    "created_at": now,
                    "benchmark": "chat-arena",
                    "model": model,
                    "rank": rank,
                    "rating": rating,
                    "ci_low": rating - 30,
                    "ci_high": rating + 30,
                    "rank_best": max(1, rank - 1),
                    "rank_worst": min(3, rank + 1),
                    "battles": 40,
                    "wins": 20,
                    "losses": 15,
                    "ties": 5,
                    "runs_json": "[]",
                    "settings_json": "{}",
                }
            )
        store.write_arena_ratings(arena_rows)
    finally:
        store.close()
    registry = root / "models.yaml"
    registry.write_text(REGISTRY.format(hostile0=json.dumps(hostile[0])), encoding="utf-8")
    monitor = root / "monitor.sqlite"
    with MonitorStore(monitor) as ms:
        day0 = time.mktime((2026, 1, 10, 12, 0, 0, 0, 0, 0))
        for d in range(3):
            for provider, ok_every in (("prov-a", 1), (hostile[1], 3)):
                for i in range(6):
                    ok = i % ok_every == 0
                    ms.add(
                        ProbeRecord(
                            endpoint=provider,
                            model="m1",
                            provider=provider,
                            started_at=day0 + d * 86400 + i,
                            ok=ok,
                            failure=None if ok else "http_500",
                            ttft_s=0.2 + 0.05 * d if ok else None,
                            output_tps=50.0 + d if ok else None,
                        )
                    )
    return Seeded(results, registry, monitor, canary, plain, hostile)


@contextlib.contextmanager
def serving(args: list[str], env: dict[str, str]) -> Iterator[str]:
    """``tianping serve`` as a subprocess on 127.0.0.1; yields its base URL once it answers."""
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "tianping", "serve", "--port", "0", *args],  # it binds a free port and names it
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        found = re.search(r"http://127\.0\.0\.1:\d+", first)
        if found is None:
            raise RuntimeError(f"tianping serve did not start (exit {proc.poll()}): {first}")
        url = found.group(0)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/favicon.ico", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read() if proc.stdout else ""
                    raise RuntimeError(f"tianping serve did not start (exit {proc.poll()}): {out}") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
