"""A task kind written outside tianping runs end to end: run, resume in a fresh process, show, report.

The kind lives in tests/plugins/wordplay (nothing of tianping's source names it); ``--include-path`` imports it,
the run stores the plugin file with its hash, and every later command finds it again from the stored run.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from engine_helpers import cli
from fake_openai import running_server

PLUGIN = Path(__file__).parent / "plugins" / "wordplay"


def _run_id(stdout: str) -> str:
    for line in stdout.splitlines():
        if line.startswith("run ") or "run id" in line.lower():
            for word in line.replace(":", " ").split():
                if word.count("-") >= 2 and word[:8].isdigit():
                    return word
    raise AssertionError(f"no run id in: {stdout}")


def test_a_plugin_task_kind_runs_resumes_shows_and_reports(tmp_path: Path, data_dir: Path) -> None:
    plugin = tmp_path / "wordplay"
    shutil.copytree(PLUGIN, plugin)
    results = tmp_path / "results"
    # every request fails on its first attempt and retries are off: the run ends incomplete, resume finishes it
    with running_server(fail_mode="500", fail_first=1) as server:
        common = ["--results-dir", str(results)]
        first = cli(
            "run", "--model", "openai/fake", "--base-url", server.base_url, "--suite", "wordplay",
            "--include-path", str(plugin), "--max-retries", "0", "--data-dir", str(data_dir), *common,
        )  # fmt: skip
        assert first.returncode != 0, first.stdout + first.stderr
        with sqlite3.connect(results / "tianping.sqlite") as conn:
            run_id, status, spec = conn.execute("select run_id, status, spec_json from runs").fetchone()
            assert status == "incomplete"
            assert json.loads(spec)["include_paths"] == [str(plugin)]
            refs = [r for (r,) in conn.execute("select run_id from runs")]
        assert refs == [run_id]
        # the plugin edited after the run started: a resume refuses to mix two versions of the task
        source = plugin / "wordplay_kind.py"
        original = source.read_text(encoding="utf-8")
        source.write_text(original + "\n# edited\n", encoding="utf-8")
        refused = cli("resume", run_id, *common)
        assert refused.returncode == 2 and "plugin changed since this run started" in refused.stdout + refused.stderr
        source.write_text(original, encoding="utf-8")
        # a fresh process, no --include-path, no environment variable: the stored run names the plugin
        done = cli("resume", run_id, *common)
        assert done.returncode == 0, done.stdout + done.stderr
    shown = cli("show", run_id, *common)
    assert shown.returncode == 0, shown.stderr
    assert "echo_words" in shown.stdout and "echo_rate" in shown.stdout and "50.0" in shown.stdout
    assert "forward" in shown.stdout and "reversed" in shown.stdout
    report = tmp_path / "r.html"
    made = cli("report", run_id, "--output", str(report), *common)
    assert made.returncode == 0, made.stderr
    html = report.read_text(encoding="utf-8")
    assert 'id="wordplay"' in html and "Wordplay echo rates" in html
    assert '"echoed"' in html and '"missed"' in html  # the plugin's own outcome words in the sample table


def test_an_unknown_include_path_is_one_clear_error(tmp_path: Path, data_dir: Path) -> None:
    out = cli(
        "run", "--model", "openai/fake", "--base-url", "http://127.0.0.1:9/v1", "--benchmark", "gsm8k",
        "--include-path", str(tmp_path / "nowhere"), "--data-dir", str(data_dir),
        "--results-dir", str(tmp_path / "results"),
    )  # fmt: skip
    assert out.returncode == 2
    assert "nowhere: not a folder" in out.stdout + out.stderr
