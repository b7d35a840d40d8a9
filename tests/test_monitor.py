"""tianping monitor: config validation, a bounded run against the fake stream server, metrics, the report."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import socket
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from fake_stream_server import running_stream_server
from tianping.cli.monitor import register
from tianping.scoring.stats import wilson_interval
from tianping.serving.monitor import BUILTIN_PROMPTS, ConfigError, Monitor, load_config, parse_config
from tianping.serving.monitor_report import bootstrap_percentile, render_html, report_from_store, write_report
from tianping.serving.monitor_store import MonitorStore
from tianping.serving.records import FAILURE_CLASSES, ProbeRecord


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(text)
    return path


# -- config -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("endpoints:\n  - {name: a, model: m, base_url: 'http://x', interval_s: 0}\n", r"endpoints\[0\]\.interval_s"),
        ("endpoints:\n  - {name: a, model: m, base_url: 'ftp://x'}\n", r"endpoints\[0\]\.base_url .*http"),
        ("endpoints:\n  - {name: a, base_url: 'http://x'}\n", r"endpoints\[0\]\.model .*required"),
        (
            "endpoints:\n  - {name: a, model: m, base_url: 'http://x', timeouts: {ttft_s: -1}}\n",
            r"endpoints\[0\]\.timeouts\.ttft_s \(endpoint 'a'\)",
        ),
        ("endpoints:\n  - {name: a, model: m, base_url: 'http://x', intreval_s: 3}\n", r"intreval_s.*unknown field"),
        ("endpoints:\n  - {name: a, model: m, base_url: 'http://x'}\nmetrics_port: 70000\n", r"metrics_port"),
        ("endpoints: []\n", r"endpoints"),
        (
            "endpoints:\n  - {name: a, model: m, base_url: 'http://x'}\n  - {name: a, model: m, base_url: 'http://y'}\n",
            r"'a' is used twice",
        ),
        ("endpoints: [\n", r"not valid YAML"),
        ("- 1\n", r"expected a mapping"),
        ("endpoints:\n  - {name: a, model: m, base_url: 'http://x', interval_s: .inf}\n", r"interval_s.*finite"),
        ("endpoints:\n  - {name: a, model: m, base_url: 'http://x', temperature: .nan}\n", r"temperature.*finite"),
        ("endpoints:\n  - {name: a, model: m, base_url: 'http://x'}\nmax_reply_mb: 0\n", r"max_reply_mb"),
        ("endpoints:\n  - {name: a, model: m, base_url: 'http://x'}\nmax_reply_mb: .inf\n", r"max_reply_mb"),
        ("endpoints:\n  - {name: a, model: m, base_url: 'http://:80/v1'}\n", r"base_url .*host"),
        ("endpoints:\n  - {name: a, model: m, base_url: 'http://x', api_key_env: 'my key'}\n", r"api_key_env"),
    ],
)
def test_invalid_config_names_file_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert re.search(expected, str(err.value)), str(err.value)


def test_config_defaults_and_relative_store(tmp_path: Path) -> None:
    path = _write(tmp_path, "endpoints:\n  - {name: a, model: m, base_url: 'http://x/v1/'}\nstore: data/mon.sqlite\n")
    cfg = load_config(path)
    assert cfg.store == tmp_path / "data" / "mon.sqlite"
    assert cfg.metrics_port == 9464 and cfg.metrics_host == "127.0.0.1"
    ep = cfg.endpoints[0]
    assert ep.base_url == "http://x/v1" and ep.prompt_set() == BUILTIN_PROMPTS and ep.prompts_per_probe == 1
    with pytest.raises(ConfigError, match="missing.yaml: cannot read"):
        load_config(tmp_path / "missing.yaml")


# -- a bounded run against the fake stream server ---------------------------------------------------

_MODES = {
    "good-a": (None, "ok"),
    "html": ("html_200", "bad_response"),
    "reset": ("reset_mid_stream", "connect_error"),
    "silent": ("ttft_timeout", "ttft_timeout"),
    "malformed": ("malformed_sse", "bad_response"),
    "nonjson": ("non_json_chunk", "bad_response"),
    "http500": ("500", "server_error"),
}


def test_bounded_run_records_every_call_and_serves_metrics(tmp_path: Path) -> None:
    rounds = 3
    with running_stream_server(ttft_s=0.02, itl_s=0.005, output_tokens=8) as server:
        endpoints = []
        for name, (mode, _) in _MODES.items():
            endpoints.append(
                {
                    "name": name,
                    "provider": "prov<A>" if name == "good-a" else "prov-x",
                    "model": "fake-model",
                    "base_url": server.base_url,
                    "interval_s": 0.2,
                    "prompts": ["hello", "world"],
                    "prompts_per_probe": 2 if name == "good-a" else 1,
                    "max_tokens": 8,
                    "timeouts": {"ttft_s": 0.3, "idle_s": 0.3, "total_s": 3},
                    "extra_body": {"fake_mode": mode} if mode else None,
                }
            )
        endpoints.append(  # nothing listens there: refused at once
            {
                "name": "dead",
                "model": "fake-model",
                "base_url": f"http://127.0.0.1:{_free_port()}/v1",
                "interval_s": 0.2,
            }
        )
        port = _free_port()
        cfg = parse_config({"endpoints": endpoints, "store": str(tmp_path / "m.sqlite"), "metrics_port": port})
        monitor = Monitor(cfg, seed=1)

        async def scrape() -> str:
            import aiohttp

            async with aiohttp.ClientSession() as session:
                for _ in range(100):
                    await asyncio.sleep(0.05)
                    try:
                        async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                            text = await resp.text()
                    except aiohttp.ClientError:
                        continue
                    if 'outcome="ok"' in text and re.search(r'tianping_probe_calls_total\{[^}]*good-a[^}]*"ok"', text):
                        ok_line = re.search(r'tianping_probe_calls_total\{[^}]*endpoint="good-a"[^}]*\} (\S+)', text)
                        if ok_line and float(ok_line.group(1)) >= 1:
                            return text
            raise AssertionError("metrics never showed a successful call")

        async def main() -> tuple[object, str]:
            task = asyncio.create_task(monitor.run(max_rounds=rounds))
            text = await scrape()
            return await asyncio.wait_for(task, 20), text

        summary, metrics_text = asyncio.run(main())

    assert monitor.metrics_url == f"http://127.0.0.1:{port}/metrics"
    assert summary.stopped_by == "rounds"
    assert summary.rounds == rounds * len(endpoints)
    with MonitorStore(tmp_path / "m.sqlite") as store:
        rows = list(store.records())
    by_name: dict[str, list[ProbeRecord]] = {}
    for row in rows:
        by_name.setdefault(row.name, []).append(row.record)
    assert by_name.keys() == {*_MODES, "dead"}
    for name, (_, expected) in _MODES.items():
        recs = by_name[name]
        assert len(recs) == rounds * (2 if name == "good-a" else 1), name
        for rec in recs:
            if expected == "ok":
                assert rec.ok and rec.failure is None and rec.ttft_s and rec.ttft_s > 0.01 and rec.itl_s
            else:
                assert not rec.ok and rec.failure == expected, (name, rec.failure, rec.error)
                assert rec.failure in FAILURE_CLASSES
    assert [r.failure for r in by_name["dead"]] == ["connect_error"] * rounds
    assert {r.record.provider for r in rows if r.name == "good-a"} == {"prov<A>"}
    assert summary.calls == len(rows) == summary.ok + sum(summary.failures.values())

    # metrics: counters by endpoint/provider/model/outcome/failure, histograms of the timings
    assert 'tianping_probe_calls_total{endpoint="html",failure="bad_response",model="fake-model",outcome="failed"' in (
        metrics_text
    )
    assert 'provider="prov<A>"' in metrics_text
    for hist in ("ttft_seconds", "ttfat_seconds", "tpot_seconds", "e2e_seconds", "output_tps"):
        assert f"tianping_probe_{hist}_bucket{{" in metrics_text
    final = monitor.metrics.render().decode()
    assert re.search(r'tianping_probe_calls_total\{endpoint="good-a",failure="",model="fake-model",outcome="ok"', final)
    ok_total = re.search(r'tianping_probe_calls_total\{endpoint="good-a"[^}]*outcome="ok"[^}]*\} (\S+)', final)
    assert ok_total and float(ok_total.group(1)) == 2 * rounds
    reset = re.search(r'tianping_probe_calls_total\{endpoint="reset",failure="connect_error"[^}]*\} (\S+)', final)
    assert reset and float(reset.group(1)) == rounds


class _RaisingProbe:
    """A probe that breaks its promise every other call: the monitor must record it and go on."""

    def __init__(self) -> None:
        self.calls = 0
        self.closed = False

    async def probe(self, messages, **kw) -> ProbeRecord:  # noqa: ANN001, ANN003
        self.calls += 1
        if self.calls % 2:
            raise RuntimeError("boom")
        return ProbeRecord(endpoint="x", model="m", started_at=time.time(), ok=True, ttft_s=0.1, output_tps=50.0)

    async def aclose(self) -> None:
        self.closed = True


def test_probe_that_raises_does_not_crash_and_duration_bounds_the_run(tmp_path: Path) -> None:
    cfg = parse_config(
        {
            "endpoints": [{"name": "e", "model": "m", "base_url": "http://x", "interval_s": 0.05}],
            "store": str(tmp_path / "s.sqlite"),
            "metrics_port": 0,
            "jitter": False,
        }
    )
    probe = _RaisingProbe()
    monitor = Monitor(cfg, probe_factory=lambda ep: probe)
    summary = asyncio.run(monitor.run(duration_s=0.5))
    assert summary.stopped_by == "duration" and 0.45 < summary.wall_s < 2
    assert probe.closed and probe.calls >= 4
    assert summary.failures["bad_response"] == (probe.calls + 1) // 2
    internal = re.search(r"^tianping_monitor_internal_errors_total (\S+)$", monitor.metrics.render().decode(), re.M)
    assert internal and float(internal.group(1)) == (probe.calls + 1) // 2
    with MonitorStore(tmp_path / "s.sqlite") as store:
        recs = [r.record for r in store.records()]
    assert len(recs) == probe.calls
    assert any("probe raised RuntimeError: boom" in (r.error or "") for r in recs)


def test_stop_ends_a_run_promptly(tmp_path: Path) -> None:
    cfg = parse_config(
        {
            "endpoints": [{"name": "e", "model": "m", "base_url": "http://x", "interval_s": 30}],
            "store": str(tmp_path / "s.sqlite"),
            "metrics_port": 0,
        }
    )
    monitor = Monitor(cfg, probe_factory=lambda ep: _RaisingProbe())

    async def main():  # noqa: ANN202
        task = asyncio.create_task(monitor.run())
        await asyncio.sleep(0.2)
        monitor.stop()
        return await asyncio.wait_for(task, 5)

    summary = asyncio.run(main())
    assert summary.stopped_by == "signal" and summary.wall_s < 2


# -- the CLI --------------------------------------------------------------------------------------


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    register(app)
    return app


def test_a_change_of_state_is_told_as_it_happens_and_each_endpoint_is_counted(tmp_path: Path) -> None:
    """A monitor runs for days: it says when an endpoint starts failing (class and error) and when it recovers
    (after how many failed calls), never a line per call, and counts each endpoint apart when it stops."""
    heard: list[str] = []
    with running_stream_server(ttft_s=0.005, itl_s=0.001, output_tokens=4, mode="500") as server:

        def told(line: str) -> None:
            heard.append(line)
            if line.startswith("flaky: failing") and len(heard) == 1:
                server.mode = None  # the server comes back: the next calls succeed

        endpoint = {"model": "m", "base_url": server.base_url, "interval_s": 0.05, "prompts": ["hi"]}
        cfg = parse_config(
            {
                "endpoints": [{**endpoint, "name": "flaky"}],
                "store": str(tmp_path / "m.sqlite"),
                "metrics_port": 0,
                "jitter": False,
            }
        )
        summary = asyncio.run(Monitor(cfg, seed=1, on_change=told).run(max_rounds=6))
    tally = summary.endpoints["flaky"]
    assert tally.calls == 6 and tally.failures == {"server_error": 1} and tally.ok == 5
    assert len(heard) == 2, heard
    assert heard[0].startswith("flaky: failing: server_error (") and "500" in heard[0]
    assert heard[1] == "flaky: ok again after 1 failed call"
    assert (summary.calls, summary.ok, summary.failures) == (6, 5, {"server_error": 1})


def test_cli_monitor_config_shortcut_and_report(tmp_path: Path) -> None:
    store = tmp_path / "cli.sqlite"
    with running_stream_server(ttft_s=0.01, itl_s=0.002, output_tokens=4) as server:
        path = _write(
            tmp_path,
            f"endpoints:\n  - {{name: a, provider: p, model: m, base_url: '{server.base_url}', interval_s: 0.1}}\n"
            f"store: {store}\nmetrics_port: 0\n",
        )
        runner = CliRunner()
        result = runner.invoke(_cli(), ["monitor", str(path), "--max-rounds", "2"])
        assert result.exit_code == 0, result.output
        # each endpoint's own line when the run stops: name, provider, calls, ok %
        assert re.search(r"^a\s+p\s+2\s+100\.0\s*$", result.output, re.MULTILINE), result.output
        result = runner.invoke(_cli(), ["monitor", "run", str(path), "--duration", "0.3"])
        assert result.exit_code == 0, result.output
    with MonitorStore(store) as st:
        assert st.count() >= 2
    out = tmp_path / "r.html"
    result = CliRunner().invoke(_cli(), ["monitor", "report", "--store", str(store), "-o", str(out), "--charts", "svg"])
    assert result.exit_code == 0, result.output
    assert "<svg" in out.read_text()
    bad = _write(tmp_path, "endpoints:\n  - {name: a, model: m, base_url: 'http://x', interval_s: -2}\n")
    result = CliRunner().invoke(_cli(), ["monitor", "run", str(bad)])
    assert result.exit_code == 2 and "interval_s" in result.output
    result = CliRunner().invoke(_cli(), ["monitor", "report", "--store", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 2 and "no monitor store" in result.output


# -- the report -----------------------------------------------------------------------------------

_DAY = 86400.0
_NOW = 1_750_000_000.0 - (1_750_000_000.0 % _DAY) + 12 * 3600  # noon UTC


def _synthetic_store(path: Path) -> MonitorStore:
    """Three days, two providers of one model (one with a hostile name), plus a second model."""
    store = MonitorStore(path)
    for day in range(3):
        base = _NOW - (2 - day) * _DAY
        for i in range(10):  # provider A: 9/10 ok, ttft 0.1..0.9 (+ day), tps 100+i
            ok = i != 0
            store.add(
                ProbeRecord(
                    endpoint="http://a",
                    model="llama-70b",
                    provider="<b>A&Co</b>",
                    started_at=base + i,
                    ok=ok,
                    failure=None if ok else "rate_limited",
                    ttft_s=(i / 10 + day) if ok else None,
                    output_tps=100.0 + i if ok else None,
                ),  # fmt: skip
                "a<script>",
            )
        for i in range(4):  # provider B: half fail
            ok = i % 2 == 0
            store.add(
                ProbeRecord(
                    endpoint="http://b",
                    model="llama-70b",
                    provider="B",
                    started_at=base + i,
                    ok=ok,
                    failure=None if ok else "ttft_timeout",
                    ttft_s=0.5 if ok else None,
                    output_tps=40.0 if ok else None,
                ),  # fmt: skip
                "b",
            )
    store.add(ProbeRecord(endpoint="c", model="other", provider=None, started_at=_NOW, ok=True, ttft_s=0.2), "c-ep")
    store.add(ProbeRecord(endpoint="old", model="llama-70b", provider="B", started_at=_NOW - 30 * _DAY, ok=True), "b")
    return store


def test_report_numbers_and_escaping(tmp_path: Path) -> None:
    with _synthetic_store(tmp_path / "r.sqlite") as store:
        data = report_from_store(store, days=3, now=_NOW, resamples=500)
    assert [d.day for d in data.days if d.provider == "<b>A&Co</b>"] == ["2025-06-13", "2025-06-14", "2025-06-15"]
    a0 = next(d for d in data.days if d.provider == "<b>A&Co</b>")
    assert (a0.n, a0.successes) == (10, 9)
    assert a0.success_rate == pytest.approx(0.9)
    assert (a0.sr_low, a0.sr_high) == pytest.approx(wilson_interval(9, 10))
    assert a0.ttft_p50 == pytest.approx(0.5) and a0.ttft_p90 == pytest.approx(0.82)
    assert a0.tps_p50 == pytest.approx(105.0)
    assert set(data.comparison) == {"llama-70b", "other"}
    a, b = data.comparison["llama-70b"]
    assert (a.provider, b.provider) == ("<b>A&Co</b>", "B")
    assert (a.n, a.successes, b.n, b.successes) == (30, 27, 12, 6)  # the 30-day-old record is outside the window
    assert (b.sr_low, b.sr_high) == pytest.approx(wilson_interval(6, 12))
    assert a.ttft_p50 == pytest.approx(1.5) and a.ttft_low <= 1.5 <= a.ttft_high and a.ttft_low < a.ttft_high
    assert (b.ttft_p50, b.ttft_low, b.ttft_high) == (0.5, 0.5, 0.5)
    assert b.tps_p50 == 40.0 and a.failures == {"rate_limited": 3} and b.failures == {"ttft_timeout": 6}
    assert data.comparison["other"][0].provider == "c-ep"  # no provider: the endpoint name stands in

    page = render_html(data)
    assert "<b>A&Co</b>" not in page and "a<script>" not in page
    assert "&lt;b&gt;A&amp;Co&lt;/b&gt;" in page
    if importlib.util.find_spec("plotly") is not None:
        assert "Plotly.newPlot" in page and page.count("<script") >= 4  # plotly.js inline + three charts
    else:
        assert "<svg" in page
    assert 'src="http' not in page  # works offline
    for chart in ("chart-success", "chart-ttft", "chart-tps"):
        assert chart in page
    assert "90.0%" in page and "50.0%" in page and "1500 ms" in page and "40.0" in page
    lo, hi = wilson_interval(27, 30)
    assert f"[{100 * lo:.1f}%, {100 * hi:.1f}%]" in page

    svg = render_html(data, charts="svg")
    assert "<svg" in svg and "Plotly" not in svg and "<b>A&Co</b>" not in svg

    out = tmp_path / "report.html"
    write_report(tmp_path / "r.sqlite", out, days=3, now=_NOW)
    assert "llama-70b" in out.read_text()
    empty = render_html(report_from_store(MonitorStore(":memory:"), now=_NOW))
    assert "No records" in empty


def test_bootstrap_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    p, lo, hi = bootstrap_percentile(values, 50, resamples=1000, seed=3)
    assert p == 50.5 and lo < p < hi and lo > 35 and hi < 66
    assert bootstrap_percentile(values, 50, resamples=1000, seed=3) == (p, lo, hi)
    assert bootstrap_percentile([], 50) == (None, None, None)
    assert bootstrap_percentile([2.0, 2.0], 90) == (2.0, 2.0, 2.0)


def test_store_roundtrip(tmp_path: Path) -> None:
    rec = ProbeRecord(
        endpoint="e", model="m", provider="p", started_at=_NOW, ok=False, failure="bad_response",
        http_status=200, error="x" * 5000, itl_s=[0.01, 0.02], output_tokens=3, finish_reason=None,
    )  # fmt: skip
    with MonitorStore(tmp_path / "s.sqlite") as store:
        store.add(rec, "name")
        (row,) = store.records()
    assert row.name == "name" and row.day == "2025-06-15"
    assert row.record.itl_s == [0.01, 0.02] and row.record.ok is False and row.record.http_status == 200
    assert len(row.record.error or "") < 2100


# -- exit codes and hostile files -------------------------------------------------------------------------


def _one_error_line(result) -> str:  # noqa: ANN001
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_key_given_as_api_key_env_is_refused_and_never_repeated(tmp_path: Path) -> None:
    key = "sk-live-0123456789abcdefABCDEF"
    path = _write(tmp_path, f"endpoints:\n  - {{name: a, model: m, base_url: 'http://x', api_key_env: '{key}'}}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "endpoints[0].api_key_env" in str(err.value) and str(path) in str(err.value)
    assert key not in str(err.value)
    # a YAML error quotes no line of the file (it may hold a key)
    path = _write(tmp_path, f"endpoints: [{{name: a, base_url: 'http://u:{key}@x'\n")
    with pytest.raises(ConfigError, match="not valid YAML at line") as err:
        load_config(path)
    assert key not in str(err.value)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--max-reply-mb", "0"], "--max-reply-mb"),
        (["--max-reply-mb", "nan"], "--max-reply-mb"),
        (["--max-reply-mb", "inf"], "--max-reply-mb"),
        (["--duration", "nan"], "--duration"),
        (["--duration", "inf"], "--duration"),
        (["--duration", "0"], "--duration"),
        (["--store", "{garbage}"], "not a usable monitor store"),
        (["--store", "{tmp}"], "is a directory"),
        (["--store", "{file}/sub/m.sqlite"], "cannot create its folder"),
    ],
)
def test_run_bad_flag_or_store_is_exit_2_with_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not SQLite at all" * 500)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    args = [a.format(garbage=garbage, tmp=tmp_path, file=blocker) for a in args]
    path = _write(tmp_path, "endpoints:\n  - {name: a, model: m, base_url: 'http://127.0.0.1:9/v1'}\nmetrics_port: 0\n")
    result = CliRunner().invoke(_cli(), ["monitor", "run", str(path), "--max-rounds", "1", *args])
    assert result.exit_code == 2, result.output
    assert expected in _one_error_line(result)
    assert garbage.read_bytes().startswith(b"this is not SQLite")  # left as it was


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("endpoints: [\n", "not valid YAML"),
        ("endpoints:\n  - {name: a, model: m, base_url: 'http://x'}\nbogus: 1\n", "bogus"),
    ],
)
def test_run_bad_config_is_exit_2_with_one_line(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    result = CliRunner().invoke(_cli(), ["monitor", "run", str(path)])
    assert result.exit_code == 2 and expected in _one_error_line(result) and str(path) in result.stderr


def test_report_bad_store_or_output_is_exit_2_with_one_line(tmp_path: Path) -> None:
    good = tmp_path / "good.sqlite"
    MonitorStore(good).close()
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"\x00garbage" * 1000)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cases = [
        (["--store", str(garbage), "-o", str(tmp_path / "r.html")], "not a usable monitor store"),
        (["--store", str(good), "-o", str(tmp_path)], "is a directory"),
        (["--store", str(good), "-o", str(blocker / "r.html")], "cannot create the folder"),
    ]
    for args, expected in cases:
        result = CliRunner().invoke(_cli(), ["monitor", "report", *args, "--charts", "svg"])
        assert result.exit_code == 2, (args, result.output)
        assert expected in _one_error_line(result)


def test_max_reply_mb_bounds_each_reply_and_is_counted(tmp_path: Path) -> None:
    store = tmp_path / "m.sqlite"
    with running_stream_server(ttft_s=0.01, itl_s=0.001, output_tokens=64) as server:
        path = _write(
            tmp_path,
            f"endpoints:\n  - {{name: a, model: m, base_url: '{server.base_url}', interval_s: 0.05}}\n"
            f"store: {store}\nmetrics_port: 0\njitter: false\nmax_reply_mb: 64\n",
        )
        result = CliRunner().invoke(_cli(), ["monitor", str(path), "--max-rounds", "2", "--max-reply-mb", "0.002"])
        assert result.exit_code == 0, result.output
    with MonitorStore(store) as st:
        recs = [r.record for r in st.records()]
    assert [r.failure for r in recs] == ["reply_too_large"] * 2
    assert "raise with --max-reply-mb" in (recs[0].error or "")
    cfg = load_config(path)
    assert cfg.max_reply_mb == 64
    metrics = Monitor(cfg).metrics
    metrics.init_endpoint(cfg.endpoints[0])
    assert 'failure="reply_too_large"' in metrics.render().decode()
