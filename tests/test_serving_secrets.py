"""No credential reaches disk, the console or /metrics: a canary key in the environment, in the URL's user info
and in its query goes through a load test and a monitor cycle (with a server that echoes it back in errors),
then every file written and every byte printed or served is searched for it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fake_stream_server import running_stream_server
from tianping.core.secrets import strip_credentials

CANARY = "sk-canary-5f3a9c1e7d2b4a6f8e0c"
ENV_NAME = "TIANPING_CANARY_KEY"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_canary(base_url: str) -> str:
    """``http://user:CANARY@127.0.0.1:port/v1?api_key=CANARY&api-version=1``."""
    return base_url.replace("http://", f"http://user:{CANARY}@") + f"?api_key={CANARY}&api-version=1"


def _env() -> dict[str, str]:
    return {**os.environ, ENV_NAME: CANARY, "PYTHONUNBUFFERED": "1"}


def _tianping(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tianping", *args], capture_output=True, text=True, timeout=timeout, env=_env()
    )


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_canary_is_nowhere(tmp_path: Path) -> None:
    printed: list[str] = []
    needle = CANARY.encode()
    with (
        running_stream_server(ttft_s=0.01, itl_s=0.002, output_tokens=4) as good,
        running_stream_server(mode="echo_401") as echo,
    ):
        # load test: one healthy run, one against a gateway that repeats the key in its 401 body
        proc = _tianping(
            "loadtest", "--base-url", _with_canary(good.base_url), "--model", "fake", "-c", "2", "-n", "6",
            "--no-live", "--api-key-env", ENV_NAME, "--json", str(tmp_path / "lt" / "good.json"),
        )  # fmt: skip
        printed += [proc.stdout, proc.stderr]
        assert proc.returncode == 0, proc.stderr
        assert good.last_headers.get("Authorization") == f"Bearer {CANARY}"  # the key was used, not shown
        proc = _tianping(
            "loadtest", "--base-url", _with_canary(echo.base_url), "--model", "fake", "-c", "2", "-n", "12",
            "--no-live", "--api-key-env", ENV_NAME, "--json", str(tmp_path / "lt" / "echo.json"),
        )  # fmt: skip
        printed += [proc.stdout, proc.stderr]
        assert proc.returncode == 3, proc.stderr  # every request refused: the run gives up
        assert "gave up" in proc.stderr

        # monitor: both endpoints, /metrics scraped while it runs, then the report
        port = _free_port()
        config = tmp_path / "mon" / "monitor.yaml"
        config.parent.mkdir()
        config.write_text(
            "store: store/monitor.sqlite\n"
            f"metrics_port: {port}\n"
            "jitter: false\n"
            "endpoints:\n"
            f"  - {{name: good, provider: p, model: fake, base_url: '{_with_canary(good.base_url)}',"
            f" api_key_env: {ENV_NAME}, interval_s: 0.2}}\n"
            f"  - {{name: echo, provider: q, model: fake, base_url: '{_with_canary(echo.base_url)}',"
            f" api_key_env: {ENV_NAME}, interval_s: 0.2}}\n"
        )
        mon = subprocess.Popen(
            [sys.executable, "-m", "tianping", "monitor", "run", str(config), "--duration", "30"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
        )  # fmt: skip
        metrics = ""
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                time.sleep(0.2)
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                        metrics = resp.read().decode()
                except OSError:
                    continue
                ok = re.search(r'tianping_probe_calls_total\{endpoint="good"[^}]*outcome="ok"[^}]*\} (\S+)', metrics)
                auth = re.search(r'tianping_probe_calls_total\{endpoint="echo",failure="auth"[^}]*\} (\S+)', metrics)
                if ok and auth and float(ok.group(1)) >= 2 and float(auth.group(1)) >= 2:
                    break
            else:
                raise AssertionError(f"the monitor never probed both endpoints:\n{metrics}")
        finally:
            mon.send_signal(signal.SIGINT)
            out, err = mon.communicate(timeout=30)
        printed += [out, err, metrics]
        assert mon.returncode == 130, err

    store = tmp_path / "mon" / "store" / "monitor.sqlite"
    proc = _tianping("monitor", "report", "--store", str(store), "-o", str(tmp_path / "report" / "r.html"))
    printed += [proc.stdout, proc.stderr]
    assert proc.returncode == 0, proc.stderr

    # the files were written and hold what they should, without the canary
    doc = (tmp_path / "lt" / "good.json").read_text()
    assert '"ok": true' in doc and strip_credentials(_with_canary(good.base_url)) in doc
    echo_doc = (tmp_path / "lt" / "echo.json").read_text()
    assert "invalid key: Bearer ***" in echo_doc  # the gateway's echo, masked
    assert (tmp_path / "report" / "r.html").stat().st_size > 0
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"good.json", "echo.json", "monitor.sqlite", "r.html", "monitor.yaml"}
    # the config is the user's own file, holding the URL they wrote; everything the tool wrote must be clean
    assert _files_holding(tmp_path, needle) == [config]
    for text in printed:
        assert CANARY not in text
    assert 'endpoint="good"' in metrics


def test_key_pasted_as_env_name_is_refused_without_echo(tmp_path: Path) -> None:
    proc = _tianping(
        "loadtest", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "-n", "1", "--no-live",
        "--api-key-env", CANARY,
    )  # fmt: skip
    assert proc.returncode == 2 and "--api-key-env" in proc.stderr
    assert CANARY not in proc.stderr + proc.stdout
    config = tmp_path / "m.yaml"
    config.write_text(
        f"endpoints:\n  - {{name: a, model: m, base_url: 'http://127.0.0.1:9/v1', api_key_env: {CANARY}}}\n"
    )
    proc = _tianping("monitor", "run", str(config), "--max-rounds", "1")
    assert proc.returncode == 2 and "api_key_env" in proc.stderr and str(config) in proc.stderr
    assert CANARY not in proc.stderr + proc.stdout
    assert not (tmp_path / "monitor.sqlite").exists()  # refused before anything was stored


def test_probe_record_and_errors_hold_no_url_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from tianping.serving.probe import StreamingProbe

    monkeypatch.setenv(ENV_NAME, "not-the-canary-but-secret")

    async def go():  # noqa: ANN202
        with running_stream_server(mode="echo_401") as server:
            probe = StreamingProbe(_with_canary(server.base_url), "m", api_key_env=ENV_NAME)
            try:
                return await probe.probe([{"role": "user", "content": "hi"}]), server.last_headers
            finally:
                await probe.aclose()

    record, headers = asyncio.run(go())
    assert record.failure == "auth" and headers["Authorization"] == "Bearer not-the-canary-but-secret"
    assert "invalid key: Bearer *** for /v1/chat/completions?api_key=***&api-version=1" in (record.error or "")
    text = repr(record.to_dict())
    assert CANARY not in text and "not-the-canary-but-secret" not in text
    assert record.endpoint.endswith("/v1/chat/completions?api-version=1")
