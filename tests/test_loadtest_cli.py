"""End to end: ``tianping loadtest`` in a subprocess against the fake streaming server with known timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fake_stream_server import running_stream_server
from tianping.serving.loadtest_cli import build_shapes, parse_sweep

TTFT, ITL, TOKENS = 0.05, 0.01, 16
E2E = TTFT + ITL * (TOKENS - 1)


def _command() -> list[str]:
    """``python -m tianping loadtest`` once cli.py registers it, else the module's standalone app."""
    from tianping.cli import app

    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    if "loadtest" in names:
        return [sys.executable, "-m", "tianping", "loadtest"]
    return [sys.executable, "-m", "tianping.serving.loadtest_cli", "loadtest"]


def _loadtest(base_url: str, json_path: Path, *args: str, live: bool = False) -> dict:
    cmd = [*_command(), "--base-url", base_url, "--model", "fake", "--max-tokens", str(TOKENS)]
    cmd += ["--prompt-words", "32", "--live" if live else "--no-live", "--json", str(json_path), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "loadtest summary" in proc.stdout
    return json.loads(json_path.read_text())


@pytest.fixture(scope="module")
def server():
    with running_stream_server(ttft_s=TTFT, itl_s=ITL, output_tokens=TOKENS) as s:
        yield s


def test_fixed_concurrency_matches_server_timing(server, tmp_path):
    doc = _loadtest(server.base_url, tmp_path / "lt.json", "-c", "8", "-n", "40", "--slo-ttft-ms", "500", live=True)
    assert doc["schema"] == "tianping.loadtest/1" and doc["model"] == "fake"
    assert len(doc["stages"]) == 1
    s = doc["stages"][0]
    assert s["config"]["shape"]["kind"] == "concurrency" and s["config"]["shape"]["concurrency"] == 8
    assert s["counts"] == {"attempted": 40, "succeeded": 40, "failed": 0}
    assert s["success_rate"]["value"] == 1.0 and 0.9 < s["success_rate"]["ci_low"] < 1.0
    assert s["errors"] == {}
    lat = s["latency"]
    assert lat["ttft_s"]["p50"] == pytest.approx(TTFT, abs=0.03)
    assert lat["ttft_s"]["p50"] >= TTFT * 0.95
    assert lat["tpot_s"]["p50"] == pytest.approx(ITL, rel=0.25)
    assert lat["itl_s"]["p50"] == pytest.approx(ITL, rel=0.25)
    assert lat["itl_s"]["n"] == 40 * (TOKENS - 1)
    assert lat["e2e_s"]["p50"] == pytest.approx(E2E, rel=0.2)
    for key in ("p50", "p90", "p95", "p99", "mean"):
        assert lat["ttft_s"][key] is not None
    assert lat["ttft_s"]["p50"] <= lat["ttft_s"]["p90"] <= lat["ttft_s"]["p99"]
    # 8 streams of ~E2E seconds each: about 8 / E2E requests per second, TOKENS tokens each
    tp = s["throughput"]
    assert tp["requests_per_s"] == pytest.approx(8 / E2E, rel=0.35)
    assert tp["output_tokens_per_s"] == pytest.approx(tp["requests_per_s"] * TOKENS, rel=0.01)
    assert s["goodput"]["fraction"] == 1.0 and s["goodput"]["slo_ttft_s"] == 0.5
    sc = s["self_check"]
    assert {"cpu_pct", "loop_lag_p50_ms", "loop_lag_p99_ms", "valid", "reason"} <= set(sc)
    assert sc["cpu_pct"] is not None and sc["ticks"] > 0
    assert len(s["records"]) == 40 and {r["phase"] for r in s["records"]} == {"measure"}
    assert server.max_in_flight <= 8


def test_rate_sweep_with_two_points_and_warmup(server, tmp_path):
    doc = _loadtest(
        server.base_url,
        tmp_path / "sweep.json",
        "--sweep",
        "rate=20,40",
        "--poisson",
        "--duration",
        "0.6",
        "--warmup",
        "0.1",
        "--slo-ttft-ms",
        "1",  # impossible: nothing is good
    )
    assert [s["label"] for s in doc["stages"]] == ["rate=20", "rate=40"]
    low, high = doc["stages"]
    for s in doc["stages"]:
        assert s["config"]["shape"]["kind"] == "poisson"
        assert s["counts"]["failed"] == 0
        phases = s["window"]["records"]
        assert phases["warmup"] >= 0 and phases["measure"] == s["counts"]["attempted"]
        assert phases["warmup"] + phases["measure"] + phases["cooldown"] == len(s["records"])
        assert s["goodput"]["fraction"] == 0.0
        assert s["latency"]["ttft_s"]["p50"] == pytest.approx(TTFT, abs=0.03)
    assert len(high["records"]) > len(low["records"])


def test_sweep_concurrency_two_points(server, tmp_path):
    doc = _loadtest(server.base_url, tmp_path / "c.json", "--sweep", "concurrency=1,4", "-n", "8", "--no-records")
    assert [s["config"]["shape"]["concurrency"] for s in doc["stages"]] == [1, 4]
    one, four = doc["stages"]
    assert "records" not in one
    assert four["throughput"]["requests_per_s"] > 2 * one["throughput"]["requests_per_s"]


def test_unbounded_or_bad_flags_are_refused(tmp_path):
    base = [*_command(), "--base-url", "http://127.0.0.1:9/v1", "--model", "x", "--no-live"]
    proc = subprocess.run(base, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "bound" in proc.stderr
    proc = subprocess.run([*base, "-n", "3", "--sweep", "speed=1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--sweep" in proc.stderr


def test_register_adds_the_command_to_an_app():
    import typer
    from typer.testing import CliRunner

    from tianping.serving.loadtest_cli import register

    app = typer.Typer()

    @app.command()
    def other() -> None:
        pass

    register(app)
    assert CliRunner().invoke(app, ["loadtest", "--help"]).exit_code == 0
    command = typer.main.get_command(app).commands["loadtest"]
    flags = {f for p in command.params for f in (*p.opts, *p.secondary_opts)}
    for flag in ("--concurrency", "--rate", "--poisson", "--gamma-burstiness", "--ramp-to", "--sweep", "--requests"):
        assert flag in flags
    for flag in ("--duration", "--warmup", "--cooldown", "--prompt-words", "--no-nonce", "--slo-ttft-ms", "--json"):
        assert flag in flags
    assert {"--base-url", "--model", "--api-key-env", "--ttft-timeout", "--idle-timeout", "--total-timeout"} <= flags


def test_parse_sweep_and_build_shapes():
    assert parse_sweep("concurrency=1,8,32") == ("concurrency", [1.0, 8.0, 32.0])
    assert parse_sweep("rate=0.5,5") == ("rate", [0.5, 5.0])
    for bad in ("rate", "rate=", "rate=a", "qps=1", "concurrency=1.5", "rate=-1"):
        with pytest.raises(ValueError):
            parse_sweep(bad)
    kw = dict(
        concurrency=None, rate=None, poisson=False, gamma_burstiness=None, ramp_to=None, ramp_s=None, sweep=None, seed=0
    )
    ((label, shape),) = build_shapes(**kw)
    assert label == "concurrency=1" and shape.kind == "concurrency"
    ((_, shape),) = build_shapes(**{**kw, "rate": 3.0, "gamma_burstiness": 0.5, "concurrency": 16})
    assert (shape.kind, shape.rate, shape.burstiness, shape.concurrency) == ("gamma", 3.0, 0.5, 16)
    ((_, shape),) = build_shapes(**{**kw, "rate": 1.0, "ramp_to": 10.0, "ramp_s": 30.0})
    assert (shape.kind, shape.ramp_to, shape.ramp_s) == ("constant", 10.0, 30.0)
    with pytest.raises(ValueError):
        build_shapes(**{**kw, "poisson": True})  # Poisson needs a rate
    with pytest.raises(ValueError):
        build_shapes(**{**kw, "rate": 1.0, "sweep": "concurrency=1,2"})
