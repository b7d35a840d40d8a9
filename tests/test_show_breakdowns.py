"""``tianping show`` prints every breakdown a run stored (not only ``category``), or the ones named."""

from __future__ import annotations

from engine_helpers import cli
from fake_openai import running_server


def _run(tmp_path, data_dir):
    results = tmp_path / "results"
    with running_server(latency_s=0.0) as server:
        done = cli(
            "run", "--model", "openai/fake", "--base-url", server.base_url, "-b", "mmlu", "--limit", "12",
            "--results-dir", str(results), "--run-id", "r1", "--data-dir", str(data_dir),
            env={"OPENAI_API_KEY": "x"},
        )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-2000:]
    return results


def test_show_prints_every_stored_breakdown_and_filters_by_name(tmp_path, data_dir):
    results = _run(tmp_path, data_dir)
    shown = cli("show", "r1", "--results-dir", str(results))
    assert shown.returncode == 0, shown.stderr
    assert "by category" in shown.stdout and "by subject" in shown.stdout
    assert "abstract_algebra" in shown.stdout  # a subject row, hidden before
    only = cli("show", "r1", "--results-dir", str(results), "--breakdown", "subject")
    assert only.returncode == 0 and "by subject" in only.stdout and "by category" not in only.stdout
    bad = cli("show", "r1", "--results-dir", str(results), "--breakdown", "year")
    assert bad.returncode == 2
    assert "--breakdown year" in bad.stderr and "category, subject" in bad.stderr
