"""End to end: ``tianping loadtest`` in a subprocess against the fake streaming server with known timing."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fake_stream_server import running_stream_server
from tianping.cli.loadtest import build_shapes, parse_sweep

TTFT, ITL, TOKENS = 0.05, 0.01, 16
E2E = TTFT + ITL * (TOKENS - 1)


def _command() -> list[str]:
    return [sys.executable, "-m", "tianping", "loadtest"]


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

    from tianping.cli.loadtest import register

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


# -- exit codes: one table (tianping.cli.errors), one line per user error ----------------------------------


def _app():  # noqa: ANN202
    from tianping.cli import app

    return app


def _invoke(*args: str):  # noqa: ANN202
    from typer.testing import CliRunner

    return CliRunner().invoke(_app(), ["loadtest", "--model", "m", "--no-live", *args])


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--max-reply-mb", "0"], "--max-reply-mb"),
        (["--max-reply-mb", "nan"], "--max-reply-mb"),
        (["--max-reply-mb", "inf"], "--max-reply-mb"),
        (["--max-reply-mb", "-3"], "--max-reply-mb"),
        (["--rate", "nan"], "--rate"),
        (["--rate", "inf"], "--rate"),
        (["--rate", "-1"], "--rate"),
        (["--duration", "inf"], "--duration"),
        (["--duration", "nan"], "--duration"),
        (["--warmup", "nan"], "--warmup"),
        (["--ttft-timeout", "0"], "--ttft-timeout"),
        (["--total-timeout", "inf"], "--total-timeout"),
        (["--slo-ttft-ms", "nan"], "--slo-ttft-ms"),
        (["--sweep", "rate=1,inf"], "--sweep"),
        (["--api-key-env", "two words"], "--api-key-env"),
        (["--json", "{tmp}"], "is a directory"),
        (["--json", "{file}/sub/out.json"], "cannot create the folder"),
    ],
)
def test_bad_flag_or_output_path_is_exit_2_with_one_line(tmp_path, args, names):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    args = [a.format(tmp=tmp_path, file=blocker) for a in args]
    result = _invoke("--base-url", "http://127.0.0.1:9/v1", "-n", "1", *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and names in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_bad_base_url_is_exit_2_without_its_credentials():
    result = _invoke("--base-url", "ftp://user:hunter2hunter2@host/v1?api_key=sk-0123456789abcdef", "-n", "1")
    assert result.exit_code == 2 and "--base-url" in result.stderr
    assert "hunter2" not in result.output and "sk-0123" not in result.output


def test_unreachable_endpoint_gives_up_early_with_exit_3(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "lt.json"
    result = _invoke("--base-url", f"http://127.0.0.1:{port}/v1", "-c", "2", "-n", "500", "--json", str(out))
    assert result.exit_code == 3, result.output
    assert "gave up" in result.stderr and "could not connect" in result.stderr
    doc = json.loads(out.read_text())
    assert doc["stopped"]["by"] == "give_up"
    counts = doc["stages"][0]["counts"]
    assert counts["succeeded"] == 0 and 8 <= counts["attempted"] < 50  # not 500 connection attempts
    assert doc["stages"][0]["errors"] == {"connect_error": counts["attempted"]}


def test_every_call_refused_names_the_first_error_and_an_unset_key_variable(tmp_path, monkeypatch):
    """'no request succeeded (errors: {'auth': 3})' said nothing of why; a misspelt --api-key-env sent no key."""
    monkeypatch.delenv("MY_TYPO_KEY", raising=False)
    out = tmp_path / "lt.json"
    with running_stream_server(mode="401") as refusing:
        args = ("--base-url", refusing.base_url, "-n", "3", "--api-key-env", "MY_TYPO_KEY", "--json", str(out))
        result = _invoke(*args)
    assert result.exit_code == 3, result.output
    hint = "($MY_TYPO_KEY is not set: no API key was sent; --api-key-env names the variable)"
    assert f"no request succeeded (errors: {{'auth': 3}}); the first auth: HTTP 401 {hint}" in result.stderr
    stage = json.loads(out.read_text())["stages"][0]
    assert stage["error_examples"]["auth"].startswith(f"HTTP 401 {hint}")


def test_max_reply_mb_bounds_each_reply(server, tmp_path):
    out = tmp_path / "lt.json"
    # 1 KiB: a 16-token stream (about 3 KB of events) is past it
    result = _invoke("--base-url", server.base_url, "-n", "3", "--max-reply-mb", "0.001", "--json", str(out))
    assert result.exit_code == 3, result.output
    stage = json.loads(out.read_text())["stages"][0]
    assert stage["errors"] == {"reply_too_large": 3}
    assert "raise with --max-reply-mb" in stage["records"][0]["error"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_ends_the_run_with_130_and_keeps_what_was_measured(server, tmp_path, sig):
    out = tmp_path / "lt.json"
    cmd = [*_command(), "--base-url", server.base_url, "--model", "fake", "-c", "4", "--duration", "60"]
    before = server.requests_total  # the server is shared by the module's tests
    proc = subprocess.Popen(
        [*cmd, "--no-live", "--json", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # start-up (seconds on a loaded machine), then a few requests answered: the signal must find some measured
    deadline = time.monotonic() + 60
    while server.requests_total < before + 8 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    t0 = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert time.monotonic() - t0 < 10
    assert "Traceback" not in err
    doc = json.loads(out.read_text())
    assert doc["stopped"] == {"by": "signal", "reason": f"interrupted by {sig.name}"}
    (stage,) = doc["stages"]
    assert stage["counts"]["succeeded"] > 0 and stage["counts"]["failed"] == 0
    assert "stopped before its bounds" in stage["window"]["stopped_early"]


# -- --model in run's form, --json under its old name ------------------------------------------------------


def _invoke_model(model: str, *args: str):  # noqa: ANN202
    from typer.testing import CliRunner

    return CliRunner().invoke(_app(), ["loadtest", "--model", model, "--no-live", *args])


@pytest.mark.parametrize(
    ("given", "sent"),
    [("openai/fake-7b", "fake-7b"), ("fake-7b", "fake-7b"), ("openai/org/fake-7b", "org/fake-7b"), ("org/m", "org/m")],
)
def test_model_takes_runs_form_and_sends_the_name_without_the_backend(server, tmp_path, given, sent):
    out = tmp_path / "lt.json"
    result = _invoke_model(given, "--base-url", server.base_url, "-n", "2", "--max-tokens", "4", "--json", str(out))
    assert result.exit_code == 0, result.output
    assert server.last_body["model"] == sent
    assert json.loads(out.read_text())["model"] == sent


@pytest.mark.parametrize("given", ["hf/some/checkpoint", "ref/tp-ref-clean", "openai/"])
def test_a_model_with_no_endpoint_name_is_exit_2(given):
    result = _invoke_model(given, "--base-url", "http://127.0.0.1:9/v1", "-n", "1")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --model"), result.stderr


def test_summary_json_is_a_hidden_alias_of_json(server, tmp_path):
    out = tmp_path / "old.json"
    result = _invoke("--base-url", server.base_url, "-n", "2", "--max-tokens", "4", "--summary-json", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["schema"] == "tianping.loadtest/1"
    both = _invoke("--base-url", server.base_url, "-n", "1", "--json", str(out), "--summary-json", str(out))
    assert both.exit_code == 2 and "--summary-json" in both.stderr and "--json" in both.stderr
    # a directory given under the old name is refused naming the flag as typed
    bad = _invoke("--base-url", server.base_url, "-n", "1", "--summary-json", str(tmp_path))
    assert bad.exit_code == 2 and "--summary-json" in bad.stderr and "is a directory" in bad.stderr


def test_help_names_the_canonical_flags_only():
    from typer.testing import CliRunner

    shown = CliRunner().invoke(_app(), ["loadtest", "--help"], env={"COLUMNS": "80"})
    assert shown.exit_code == 0, shown.output
    assert "--json" in shown.output and "--summary-json" not in shown.output
    assert "openai/<name>" in shown.output


def test_live_table_in_a_log_ends_its_line(server, tmp_path):
    """With stderr and stdout in one file (2>&1), the live table's last frame is followed by a newline: what
    comes next ("wrote FILE", the summary) begins its own line instead of trailing the frame's blank row."""
    cmd = [*_command(), "--base-url", server.base_url, "--model", "fake", "--max-tokens", str(TOKENS)]
    cmd += ["--prompt-words", "32", "--live", "-c", "4", "-n", "8", "--json", str(tmp_path / "lt.json")]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.splitlines()
    assert any(line.startswith("loadtest summary") for line in lines), proc.stdout
    assert any(line.startswith("wrote ") for line in lines), proc.stdout
    assert not [line for line in lines if re.search(r" {40,}\S", line)], proc.stdout


def test_in_80_columns_the_summary_turns_a_column_per_stage_and_cuts_no_number(server):
    """Eleven columns in 80 read "100…" and "con…"; turned, every number and stage name is whole."""
    from engine_helpers import cli

    done = cli("loadtest", "--base-url", server.base_url, "-m", "m", "-n", "4", "--no-live",
               "--sweep", "concurrency=1,2", env={"COLUMNS": "80"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in done.stdout
    assert re.search(r"^\s+concurrency=1\s+concurrency=2\s*$", done.stdout, re.MULTILINE), done.stdout
    assert re.search(r"^\s+ok %\s+100\.0\s+100\.0\s*$", done.stdout, re.MULTILINE), done.stdout
