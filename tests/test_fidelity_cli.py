"""``tianping fidelity report``: a plan run with three providers of one model (the reference, a faithful copy
and one that lost 5 points) against three local fake servers; the report pairs each with the reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine_helpers import cli
from fake_openai import oracle_answer_fn, running_server


def _host(url: str) -> str:
    return url.split("//")[1].split("/")[0]


def test_three_providers_of_one_model_are_paired_with_the_reference_and_judged(tmp_path: Path, data_dir: Path) -> None:
    results = tmp_path / "results"
    # Same seed: the oracle is right on the items whose hash is below its accuracy, so the 0.85 server is the
    # 0.90 one with the items hashed into [0.85, 0.90) turned wrong: a known 5-point loss, nothing else changed.
    with (
        running_server(answer_fn=oracle_answer_fn(accuracy=0.9, seed=7)) as ref,
        running_server(answer_fn=oracle_answer_fn(accuracy=0.9, seed=7)) as same,
        running_server(answer_fn=oracle_answer_fn(accuracy=0.85, seed=7)) as worse,
    ):
        entries = "".join(
            f"  - id: openai/qwen\n    base_url: {s.base_url}\n    concurrency: 16\n    max_retries: 0\n"
            for s in (ref, same, worse)
        )
        plan = tmp_path / "plan.yaml"
        plan.write_text(
            f"run_id: fid\nresults_dir: {results}\nmodels:\n{entries}benchmarks: [gsm8k]\n"
            f"settings:\n  data_dir: {data_dir}\n  limit: 400\n  generation: {{temperature: 0, seed: 1234}}\n",
            encoding="utf-8",
        )
        done = cli("run", str(plan), timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    reference, faithful, degraded = (f"openai/qwen@{_host(s.base_url)}" for s in (ref, same, worse))

    table = cli("fidelity", "report", "fid", "--reference", reference, "--results-dir", str(results))
    assert table.returncode == 0, table.stdout + table.stderr
    lines = table.stdout.splitlines()
    assert "consistent" in next(line for line in lines if faithful in line and "│" in line)
    assert "degraded" in next(line for line in lines if degraded in line and "│" in line)
    assert "McNemar" in table.stdout and "by benchmark: gsm8k" in table.stdout

    report = cli("fidelity", "report", "fid", "--reference", reference, "--results-dir", str(results), "--json")
    assert report.returncode == 0, report.stderr
    rows = {r["model"]: r for r in json.loads(report.stdout)}
    assert set(rows) == {faithful, degraded}
    good, bad = rows[faithful], rows[degraded]
    assert good["n"] == bad["n"] == 400
    assert good["verdict"] == "consistent" and good["diff"] == 0.0 and good["p_value"] == 1.0
    assert bad["verdict"] == "degraded" and bad["provider_better"] == 0
    # the oracle's loss is the hash band [0.85, 0.90): about 5% of 400 items, every one a reference win
    assert 8 <= bad["reference_better"] <= 32 and bad["diff"] == pytest.approx(-bad["reference_better"] / 400)
    assert bad["p_value"] < 0.01 and bad["diff_ci"][1] < 0
    assert 0 < bad["mdd"] < 0.05 and bad["accuracy_ci"][0] < bad["accuracy"] < bad["accuracy_ci"][1]

    wrong = cli("fidelity", "report", "fid", "--reference", "openai/qwen@nowhere:1", "--results-dir", str(results))
    assert wrong.returncode == 2 and "no scored samples of reference 'openai/qwen@nowhere:1'" in wrong.stderr
    assert faithful in wrong.stderr  # the error lists the models the run has
    missing = cli("fidelity", "report", "nope", "--reference", reference, "--results-dir", str(results))
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr


def test_the_plan_command_writes_a_plan_of_the_pack_that_the_run_command_reads(tmp_path: Path) -> None:
    from tianping.fidelity.pack import PACKS
    from tianping.plan import load_plan

    target = tmp_path / "fid.yaml"
    urls = ["http://127.0.0.1:8001/v1", "http://127.0.0.1:8002/v1", "http://10.0.0.3:8000/v1"]
    args = [arg for url in urls for arg in ("--endpoint", url)]
    made = cli("fidelity", "plan", "qwen", *args, "-o", str(target), "--run-id", "fid", "--pack", "v1")
    assert made.returncode == 0, made.stdout + made.stderr
    plan = load_plan(target)
    assert plan.run_id == "fid" and plan.spec.benchmarks == list(PACKS["v1"])
    assert sum(plan.spec.limits.values()) == 400 and plan.spec.limit_mode is None  # spread, the default
    assert [m.base_url for m in plan.spec.models] == urls and {m.served_name for m in plan.spec.models} == {"qwen"}
    assert plan.spec.models[0].id == "openai/qwen@127.0.0.1:8001"
    one = cli("fidelity", "plan", "qwen", "--endpoint", urls[0], "-o", str(tmp_path / "x.yaml"))
    assert one.returncode == 2 and "at least two endpoints" in one.stderr
