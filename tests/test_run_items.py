"""Running chosen items (``settings.items``, ``run --items FILE``, ``fidelity plan --pack FILE``) against local fake
servers: exactly the ids asked for are scored, in order, a resume scores the same ones, bad ids and benchmarks are
named with exit 2, and a pack derived by ``pack-stats`` runs and reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine_helpers import cli
from fake_openai import oracle_answer_fn, running_server
from tianping.core.errors import TaskConfigError
from tianping.engine.runner import load_benchmarks
from tianping.spec import ModelSpec, RunSpec
from tianping.store import Store

GSM8K_IDS = ["250", "3", "1201", "17"]
MMLU_IDS = ["anatomy/3", "abstract_algebra/0", "world_religions/11"]


def _write_plan(tmp_path: Path, body: dict[str, Any]) -> Path:
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return plan


def _body(results: Path, data_dir: Path, url: str, **settings: Any) -> dict[str, Any]:
    return {
        "run_id": "chosen",
        "results_dir": str(results),
        "models": [{"id": "openai/fake", "base_url": url, "max_retries": 0}],
        "benchmarks": ["gsm8k", "mmlu"],
        "settings": {"data_dir": str(data_dir), **settings},
    }


def _scored(results: Path, run_id: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in Store.open(results, readonly=True).sample_rows(run_id):
        out.setdefault(row["benchmark"], []).append(row["sample_id"])
    return out


def test_a_plan_with_items_runs_exactly_those_ids_in_their_order(tmp_path: Path, data_dir: Path) -> None:
    results = tmp_path / "results"
    with running_server(answer_fn=oracle_answer_fn(accuracy=1.0)) as server:
        items = {"gsm8k": GSM8K_IDS, "mmlu": MMLU_IDS}
        plan = _write_plan(tmp_path, _body(results, data_dir, server.base_url, items=items))
        done = cli("run", str(plan))
        assert done.returncode == 0, done.stdout + done.stderr
        assert server.requests_total == len(GSM8K_IDS) + len(MMLU_IDS)
    scored = _scored(results, "chosen")
    assert sorted(scored["gsm8k"]) == sorted(GSM8K_IDS) and sorted(scored["mmlu"]) == sorted(MMLU_IDS)
    stored = Store.open(results, readonly=True).get_run("chosen")["spec"]
    assert stored["items"] == items and stored["limit"] is None
    # the order of the ids is the order of the task's samples (the store keeps no order of its own)
    spec = RunSpec.model_validate(stored)
    assert [[s.id for s in t.samples] for t in load_benchmarks(spec)] == [GSM8K_IDS, MMLU_IDS]


def test_items_leave_the_few_shot_pool_alone(data_dir: Path) -> None:
    def shots(items: dict[str, list[str]]) -> list[str]:
        spec = RunSpec(
            models=[ModelSpec(id="openai/x", base_url="http://127.0.0.1:9/v1")],
            benchmarks=["mmlu"],
            data_dir=str(data_dir),
            num_fewshot=2,
            items=items,
        )
        (task,) = load_benchmarks(spec)
        return [shot.id for sample in task.samples for shot in task.shots_for(sample)]  # type: ignore[attr-defined]

    chosen = shots({"mmlu": ["anatomy/3"]})
    assert len(chosen) == 2 and "anatomy/3" not in chosen
    # the same subject's shots whichever items of it are run
    assert chosen == shots({"mmlu": ["anatomy/7", "anatomy/3"]})[:2]


def test_items_from_a_file_survive_a_resume_and_identify_the_run(tmp_path: Path, data_dir: Path) -> None:
    results = tmp_path / "results"
    items_file = tmp_path / "items.json"
    items_file.write_text(json.dumps({"gsm8k": GSM8K_IDS}), encoding="utf-8")
    common = ["--model", "openai/fake", "--data-dir", str(data_dir), "--results-dir", str(results), "--run-id", "r"]
    # nothing listens on port 9: every request fails and the run stops, to be resumed against a real server
    failed = cli(
        "run", *common, "--items", str(items_file), "--base-url", "http://127.0.0.1:9/v1", "--max-retries", "0"
    )
    assert failed.returncode == 3, failed.stderr
    stored = Store.open(results, readonly=True).get_run("r")["spec"]
    assert stored["items"] == {"gsm8k": GSM8K_IDS} and stored["benchmarks"] == ["gsm8k"]
    with running_server(answer_fn=oracle_answer_fn(accuracy=1.0)) as server:
        resumed = cli("resume", "r", "--results-dir", str(results), "--base-url", server.base_url)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert server.requests_total == len(GSM8K_IDS)
        other = tmp_path / "other.json"
        other.write_text(json.dumps({"gsm8k": GSM8K_IDS[:2]}), encoding="utf-8")
        again = cli("run", *common, "--items", str(other), "--base-url", server.base_url)
    assert again.returncode == 2 and "different settings (items)" in again.stderr, again.stderr
    assert sorted(_scored(results, "r")["gsm8k"]) == sorted(GSM8K_IDS)


def test_unknown_benchmarks_and_ids_are_named_with_exit_2(tmp_path: Path, data_dir: Path) -> None:
    results = tmp_path / "results"
    url = "http://127.0.0.1:9/v1"
    cases = [
        ({"items": {"arc_easy": ["x"]}}, "settings.items.arc_easy: arc_easy is not among this plan's benchmarks"),
        ({"items": {"gsm8k": ["3", "3"]}}, "settings.items.gsm8k: sample id '3' given more than once"),
        ({"items": {"gsm8k": []}}, "settings.items.gsm8k: must be a non-empty list of sample ids"),
        (
            {"items": {"gsm8k": ["3"]}, "limits": {"gsm8k": 5}},
            "settings.items.gsm8k: chooses gsm8k's samples by id; limits.gsm8k cannot",
        ),
    ]
    for settings, message in cases:
        plan = _write_plan(tmp_path, _body(results, data_dir, url, **settings))
        done = cli("run", str(plan))
        assert done.returncode == 2 and message in done.stderr, (settings, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr  # one problem, reported once
        if "is not among" in message:  # the line of the key in the plan file
            line = next(i for i, t in enumerate(plan.read_text().splitlines(), 1) if t.strip().startswith("arc_easy"))
            assert f"plan.yaml:{line}:" in done.stderr
    plan = _write_plan(tmp_path, _body(results, data_dir, url, items={"gsm8k": ["3", "no-such-id", "99999"]}))
    done = cli("run", str(plan))
    assert done.returncode == 2, done.stderr
    assert "items.gsm8k: gsm8k has no sample 'no-such-id', '99999'" in done.stderr
    line = next(i for i, t in enumerate(plan.read_text().splitlines(), 1) if t.strip().startswith("gsm8k:"))
    assert f"plan.yaml:{line}: settings.items.gsm8k:" in done.stderr  # where the list is in the plan
    assert not (results / "tianping.sqlite").exists()  # refused before a run was registered

    items_file = tmp_path / "items.yaml"
    items_file.write_text("mmlu: [anatomy/3, anatomy/nope]\n", encoding="utf-8")
    base = ["--model", "openai/fake", "--base-url", url, "--data-dir", str(data_dir), "--results-dir", str(results)]
    unknown = cli("run", *base, "--items", str(items_file))
    assert unknown.returncode == 2 and "mmlu has no sample 'anatomy/nope'" in unknown.stderr, unknown.stderr
    limited = cli("run", *base, "--items", str(items_file), "--limit", "5")
    assert limited.returncode == 2 and "items.mmlu chooses mmlu's samples by id; limit" in limited.stderr
    elsewhere = cli("run", *base, "--items", str(items_file), "-b", "gsm8k")
    assert elsewhere.returncode == 2 and "items.mmlu: mmlu is not among the run's benchmarks" in elsewhere.stderr
    items_file.write_text("mmlu: {id: 3}\n", encoding="utf-8")
    malformed = cli("run", *base, "--items", str(items_file))
    assert malformed.returncode == 2 and f"--items {items_file}: mmlu: must be a non-empty list" in malformed.stderr
    with_plan = cli("run", str(plan), "--items", str(items_file))
    assert with_plan.returncode == 2 and "settings: items:" in with_plan.stderr


def test_pack_stats_then_plan_from_the_pack_file_then_run_then_report(tmp_path: Path, data_dir: Path) -> None:
    results = tmp_path / "results"
    env = {"TIANPING_DATA_DIR": str(data_dir)}
    servers = [running_server(answer_fn=oracle_answer_fn(accuracy=a, seed=5)) for a in (0.2, 0.5, 0.9)]
    started = [s.__enter__() for s in servers]
    try:
        models = "".join(
            f"  - {{id: openai/qwen, label: m{i}, base_url: '{s.base_url}', max_retries: 0}}\n"
            for i, s in enumerate(started)
        )
        lab = tmp_path / "lab.yaml"
        lab.write_text(
            f"run_id: lab\nresults_dir: {results}\nmodels:\n{models}benchmarks: [gsm8k]\n"
            f"settings: {{data_dir: {data_dir}, limits: {{gsm8k: 40}}}}\n",
            encoding="utf-8",
        )
        assert (done := cli("run", str(lab))).returncode == 0, done.stdout + done.stderr
        pack = tmp_path / "pack.yaml"
        made = cli("fidelity", "pack-stats", "lab", "--results-dir", str(results), "-o", str(pack), "--pack", "v1")
        assert made.returncode == 0, made.stdout + made.stderr
        chosen = [entry["id"] for entry in yaml.safe_load(pack.read_text(encoding="utf-8"))["items"]["gsm8k"]]
        assert len(chosen) == 40 and chosen != [str(i) for i in range(40)]  # ranked, not in file order

        plan = tmp_path / "fid.yaml"
        endpoints = ["--endpoint", started[2].base_url, "--endpoint", started[0].base_url]
        written = cli("fidelity", "plan", "qwen", *endpoints, "--pack", str(pack), "--run-id", "fid", "-o", str(plan))
        assert written.returncode == 0, written.stderr
        text = plan.read_text(encoding="utf-8")
        assert "40 items, chosen by sample id" in text and "limit" not in text
        assert yaml.safe_load(text)["settings"]["items"] == {"gsm8k": chosen}
        ran = cli("run", str(plan), "--results-dir", str(results), env=env)
        assert ran.returncode == 0, ran.stdout + ran.stderr
    finally:
        for s in servers:
            s.__exit__(None, None, None)
    scored = list(Store.open(results, readonly=True).sample_rows("fid"))
    assert {r["sample_id"] for r in scored} == set(chosen) and len(scored) == 2 * len(chosen)
    host = started[2].base_url.split("//")[1].split("/")[0]
    report = cli(
        "fidelity", "report", "fid", "--reference", f"openai/qwen@{host}", "--results-dir", str(results), "--json"
    )
    assert report.returncode == 0, report.stderr
    (row,) = json.loads(report.stdout)
    # the weak endpoint (20%) against the strong reference (90%) on items chosen to separate such models
    assert row["by_benchmark"]["gsm8k"]["n"] == len(chosen) and row["diff"] < -0.2 and row["verdict"] != "consistent"

    missing = cli("fidelity", "plan", "qwen", *endpoints, "--pack", str(tmp_path / "none.yaml"), "-o", str(plan))
    assert missing.returncode == 2 and "neither a pack version (v1, v2) nor a pack file" in missing.stderr


def test_a_task_kind_that_cannot_select_by_id_is_refused_not_run_on_other_samples(data_dir: Path) -> None:
    model = ModelSpec(id="openai/x", base_url="http://127.0.0.1:9/v1")
    spec = RunSpec(
        models=[model],
        judge=model.model_copy(update={"id": "openai/judge"}),
        benchmarks=["mt_bench"],
        data_dir=str(data_dir),
        items={"mt_bench": ["81"]},
    )
    with pytest.raises(TaskConfigError, match=r"items\.mt_bench: judged tasks cannot be run by sample id"):
        load_benchmarks(spec)
