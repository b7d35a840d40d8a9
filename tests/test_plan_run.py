"""``tianping run plan.yaml``: two endpoints serving one model name are two models of one run, each asked
with its own settings, and ``compare`` pairs them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine_helpers import cli
from fake_openai import oracle_answer_fn, running_server


def test_a_plan_with_two_endpoints_of_one_model_runs_both_and_compare_pairs_them(
    tmp_path: Path, data_dir: Path
) -> None:
    results = tmp_path / "results"
    with (
        running_server(answer_fn=oracle_answer_fn(accuracy=0.9, seed=1)) as full,
        running_server(answer_fn=oracle_answer_fn(accuracy=0.3, seed=1)) as degraded,
    ):
        plan = tmp_path / "plan.yaml"
        plan.write_text(
            f"""
run_id: two-providers
results_dir: {results}
models:
  - id: openai/qwen
    base_url: {full.base_url}
    concurrency: 4
    max_retries: 0
  - id: openai/qwen
    base_url: {degraded.base_url}
    concurrency: 4
    max_retries: 0
    generation: {{max_tokens: 333}}
benchmarks: [gsm8k]
settings:
  data_dir: {data_dir}
  limit: 60
  limit_mode: first
""",
            encoding="utf-8",
        )
        done = cli("run", str(plan))
        assert done.returncode == 0, done.stdout + done.stderr
        # each endpoint was asked for the model name the plan gives, with its own generation settings
        assert full.requests_total == 60 and degraded.requests_total == 60
        assert full.last_body["model"] == "qwen" and degraded.last_body["model"] == "qwen"
        assert degraded.last_body["max_tokens"] == 333 and full.last_body.get("max_tokens") != 333
    with sqlite3.connect(results / "tianping.sqlite") as conn:
        models = sorted(m for (m,) in conn.execute("select distinct model from samples where run_id='two-providers'"))
    a, b = (f"openai/qwen@{s.base_url.split('//')[1].split('/')[0]}" for s in (full, degraded))
    assert models == sorted([a, b])
    paired = cli("compare", "two-providers", "--model-a", a, "--model-b", b, "--results-dir", str(results))
    assert paired.returncode == 0, paired.stdout + paired.stderr
    row = next(line for line in paired.stdout.splitlines() if "gsm8k" in line)
    assert "60" in row.split() and "-" in row  # 60 pairs; the degraded endpoint scores lower
    # with exactly two models, the run alone is enough
    again = cli("compare", "two-providers", "--results-dir", str(results))
    assert again.returncode == 0 and "gsm8k" in again.stdout


def test_a_plan_error_names_the_file_and_line_and_exits_2(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("models:\n  - id: openai/x\n    base_url: ftp://nope\nbenchmarks: [gsm8k]\n", encoding="utf-8")
    out = cli("run", str(plan))
    assert out.returncode == 2
    assert f"{plan}:3: models[0].base_url" in out.stdout + out.stderr


def test_a_plan_and_model_flags_together_are_refused(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("models: [{id: ref/tp-ref-clean}]\nbenchmarks: [gsm8k]\n", encoding="utf-8")
    out = cli("run", str(plan), "--model", "ref/tp-ref-clean")
    assert out.returncode == 2 and "not both" in out.stdout + out.stderr
