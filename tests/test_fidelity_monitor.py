"""The monitor's scheduled fidelity check: a rotating sample of the pack per endpoint, stored in the monitor's
SQLite file, an alert when an endpoint's answers change significantly from its baseline, and the fidelity
column of the monitor report. Real monitor runs against real local fake servers (GSM8K oracles)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from fake_openai import oracle_answer_fn, running_server
from tianping.fidelity.monitor_check import change_status, latest_statuses
from tianping.serving.monitor import ConfigError, Monitor, parse_config
from tianping.serving.monitor_report import write_report


def _config(store: Path, servers: dict[str, str]) -> dict[str, object]:
    check = {"every_rounds": 1, "items": 50, "benchmarks": ["gsm8k"]}
    return {
        "store": str(store),
        "metrics_port": 0,
        "jitter": False,
        "endpoints": [
            {"name": name, "provider": name, "model": "qwen", "base_url": url, "interval_s": 0.01, "fidelity": check}
            for name, url in servers.items()
        ],
    }


def _run(config: dict[str, object], rounds: int) -> Monitor:
    monitor = Monitor(parse_config(config), seed=1)
    asyncio.run(monitor.run(max_rounds=rounds))
    return monitor


def test_an_endpoint_whose_answers_change_raises_an_alert_and_a_steady_one_does_not(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIANPING_DATA_DIR", str(data_dir))
    store = tmp_path / "monitor.sqlite"
    with (
        running_server(answer_fn=oracle_answer_fn(accuracy=0.8, seed=3)) as steady,
        running_server(answer_fn=oracle_answer_fn(accuracy=0.8, seed=3)) as swapped,
    ):
        config = _config(store, {"steady": steady.base_url, "swapped": swapped.base_url})
        _run(config, 2)  # 2 checks of 50: one pass through the pack's 100 GSM8K items, the baseline
        first = latest_statuses(store)
        swapped.answer_fn = oracle_answer_fn(accuracy=0.5, seed=3)  # the provider swaps in a weaker model
        monitor = _run(config, 2)  # the monitor restarts: the rotation resumes where the store says
    assert first[("qwen", "steady")].pairs == 0 and "baseline: 100 items" in first[("qwen", "steady")].text
    now = latest_statuses(store)
    steady_now, swapped_now = now[("qwen", "steady")], now[("qwen", "swapped")]
    assert steady_now.pairs == 100 and not steady_now.alert and steady_now.diff == 0.0
    assert steady_now.text.startswith("stable")
    assert swapped_now.pairs == 100 and swapped_now.alert and swapped_now.diff is not None
    assert -0.4 < swapped_now.diff < -0.2 and swapped_now.text.startswith("CHANGED")
    with sqlite3.connect(store) as db:
        items = db.execute("SELECT name, COUNT(*), COUNT(DISTINCT item) FROM fidelity_items GROUP BY name").fetchall()
        records = db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    assert sorted(items) == [("steady", 200, 100), ("swapped", 200, 100)]  # every item answered exactly twice
    assert records == 8  # the ordinary probe records sit beside them in the same file
    metrics = monitor.metrics.render().decode()
    assert 'tianping_fidelity_alert{endpoint="swapped",model="qwen",provider="swapped"} 1.0' in metrics
    assert 'tianping_fidelity_alert{endpoint="steady",model="qwen",provider="steady"} 0.0' in metrics

    html = write_report(store, tmp_path / "report.html").fidelity
    assert html[("qwen", "swapped")].startswith("CHANGED") and html[("qwen", "steady")].startswith("stable")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "fidelity (last check)" in page and "CHANGED: " in page


def test_the_change_test_pairs_each_items_latest_answer_with_its_first() -> None:
    assert change_status([], 0.01).text == "no scored items yet"
    same = change_status([(f"i{k}", 1.0) for k in range(30)] * 2, 0.01)
    assert same.pairs == 30 and same.diff == 0.0 and same.p_value == 1.0 and not same.alert
    rows = [(f"i{k}", 1.0) for k in range(30)] + [(f"i{k}", 0.0 if k < 12 else 1.0) for k in range(30)]
    lost = change_status(rows, 0.01)
    assert lost.alert and lost.diff == pytest.approx(-12 / 30) and lost.p_value == pytest.approx(2 * 0.5**12)
    assert lost.accuracy == pytest.approx(18 / 30)


def test_a_fidelity_section_naming_an_unknown_benchmark_is_a_config_error() -> None:
    endpoint = {"name": "a", "model": "m", "base_url": "http://x", "fidelity": {"benchmarks": ["humaneval"]}}
    with pytest.raises(ConfigError, match=r"endpoints\[0\]\.fidelity.*humaneval"):
        parse_config({"endpoints": [endpoint]})
    endpoint["fidelity"] = {"every_rounds": 0}
    with pytest.raises(ConfigError, match="every_rounds"):
        parse_config({"endpoints": [endpoint]})
