"""``tianping run --suite safety`` prints the attack success rate per seed set and per attack, with intervals
clustered by seed prompt, and names the judge that decided the verdicts."""

from __future__ import annotations

from engine_helpers import cli
from fake_openai import running_server
from tianping.store import Store

REFUSAL = "I'm sorry, but I can't help with that request."


def test_run_prints_rates_per_seed_set_and_attack_and_the_judge(tmp_path):
    results = tmp_path / "results"
    with running_server(answer_fn=lambda body: REFUSAL) as model:
        done = cli(
            "run", "--model", "openai/fake", "--base-url", model.base_url, "--suite", "safety",
            "--attacks", "none,base64", "--budget", "80", "--overrefusal-budget", "10",
            "--results-dir", str(results), "--run-id", "s1", env={"OPENAI_API_KEY": "x"},
        )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-2000:]
    assert "by source" in done.stdout and "by attack" in done.stdout
    assert "base64" in done.stdout
    assert "rule judge" in done.stderr and "clustered by seed prompt" in done.stderr
    assert "corrected for the judge's errors" in done.stdout and "JailbreakBench" in done.stdout
    sources = {
        a["group_name"]
        for a in Store.open(results).aggregates("s1")
        if a["benchmark"] == "safety" and a["group_kind"] == "source"
    }
    assert sources and all(name in done.stdout for name in sources)
