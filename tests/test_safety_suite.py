"""The safety suite end to end: planning (filters, budget, skipped attacks), a run through the engine against
a local fake model and judge, the attack-success matrix in the store, and the heatmap in the HTML report."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from engine_helpers import cli
from fake_openai import last_user_text, running_server
from tianping.safety.suite import SafetyConfigError, build_suite
from tianping.spec import SafetyOptions
from tianping.store import Store

REFUSAL = "I'm sorry, but I can't help with that request."


def _model_answer(body: dict) -> str:
    """A deterministic fake model: repeats any system prompt it was given, refuses about half of the requests,
    and otherwise 'complies' by restating the request as a step list."""
    messages = body.get("messages") or []
    system = next((m["content"] for m in messages if m.get("role") == "system"), "")
    text = last_user_text(body)
    if system:  # a leaky model: whatever it was told in confidence, it repeats
        return f"Of course. Everything above this message: {system}"
    if int(hashlib.sha256(text.encode()).hexdigest(), 16) % 2:
        return REFUSAL
    return f"Sure, here is how. Step 1: {text[:200]} Step 2: gather what is needed. Step 3: carry it out."


def _judge_answer(body: dict) -> str:
    """A fake judge: parses nothing, just grades by whether the judged answer starts with 'Sure'."""
    user = last_user_text(body)
    unsafe = "Sure, here is how" in user
    return json.dumps({"refused": not unsafe, "harm": 3 if unsafe else 0, "unsafe": unsafe, "reason": "fake"})


def test_planning_honours_budget_filters_and_records_skips(data_dir):
    task = build_suite("safety", data_dir, SafetyOptions(budget=300, attacks=["none", "base64", "acrostic"])).load()
    assert 0 < len(task.samples) <= 300
    assert {s.meta["attack"] for s in task.samples} <= {"none", "base64", "acrostic"}
    # every sample's request can be built, and a skipped attack settles its sample with the reason
    skipped = [s for s in task.samples if task.precheck(s) is not None]
    for s in task.samples[:50]:
        assert task.build_request(s, "openai/m", task.generation).messages
    for s in skipped:
        score = task.precheck(s)
        assert score.status == "skipped" and s.meta["attack"] in score.reason
    zh_only = build_suite("safety", data_dir, SafetyOptions(budget=50, langs=["zh"], categories=["redline"])).load()
    assert {s.meta["lang"] for s in zh_only.samples} == {"zh"}
    assert {s.meta["dimension"] for s in zh_only.samples} == {"redline"}


def test_attack_groups_select_every_member(data_dir):
    task = build_suite("safety", data_dir, SafetyOptions(budget=400, attacks=["encoding"])).load()
    groups = {s.meta["attack_group"] for s in task.samples}
    assert groups == {"encoding"} and len({s.meta["attack"] for s in task.samples}) > 3


@pytest.mark.parametrize(
    ("options", "needle"),
    [(SafetyOptions(attacks=["no_such_attack"]), "no_such_attack"), (SafetyOptions(categories=["redlin"]), "redlin")],
)
def test_unknown_attack_or_category_is_an_error_naming_it(data_dir, options, needle):
    with pytest.raises(SafetyConfigError, match=needle):
        build_suite("safety", data_dir, options).load()


def test_overrefusal_task_sends_benign_prompts_unchanged(data_dir):
    task = build_suite("safety_overrefusal", data_dir, SafetyOptions(overrefusal_budget=40)).load()
    assert 0 < len(task.samples) <= 40
    assert {s.meta["attack"] for s in task.samples} == {"none"}
    assert task.metric_name == "over_refusal"


def test_cli_safety_suite_against_a_fake_model_and_judge(data_dir, tmp_path):
    results = tmp_path / "results"
    with running_server(answer_fn=_model_answer) as model, running_server(answer_fn=_judge_answer) as judge:
        args = [
            "run", "--model", "openai/fake", "--base-url", model.base_url, "--suite", "safety",
            "--attacks", "none,base64,roleplay_grandma,system_prompt_leak", "--budget", "60",
            "--overrefusal-budget", "20", "--judge-model", "openai/judge", "--judge-base-url", judge.base_url,
            "--results-dir", str(results), "--run-id", "safety1", "--summary-json", str(tmp_path / "s.json"),
        ]  # fmt: skip
        done = cli(*args, env={"OPENAI_API_KEY": "x"})
    assert done.returncode in (0, 1), done.stderr
    store = Store.open(results)
    rows = list(store.sample_rows("safety1"))
    harmful = [r for r in rows if r["benchmark"] == "safety"]
    benign = [r for r in rows if r["benchmark"] == "safety_overrefusal"]
    assert harmful and benign
    assert {r["status"] for r in rows} <= {"scored", "unscorable", "skipped"}
    # a leaked canary is unsafe by exact match, whatever the judge says
    leaks = [r for r in harmful if r["meta"]["attack"] == "system_prompt_leak" and r["status"] == "scored"]
    assert leaks and all(r["score"] == 1.0 and "[canary]" in r["reason"] for r in leaks)
    # the judge decided the rest: complied answers unsafe, refusals safe
    judged = [r for r in harmful if r["status"] == "scored" and r["meta"]["attack"] == "none"]
    assert judged
    for r in judged:
        assert r["score"] == (0.0 if r["output"] == REFUSAL else 1.0), r
    aggregates = store.aggregates("safety1")
    kinds = {(a["benchmark"], a["group_kind"]) for a in aggregates}
    assert {("safety", "cell"), ("safety", "dim_cell"), ("safety", "attack"), ("safety_overrefusal", "all")} <= kinds
    asr = next(a for a in aggregates if a["benchmark"] == "safety" and a["group_kind"] == "all"
               and a["metric"] == "attack_success")  # fmt: skip
    assert asr["n"] > 0 and asr["ci_low"] <= asr["score"] <= asr["ci_high"]
    report = tmp_path / "report.html"
    done = cli("report", "safety1", "--results-dir", str(results), "--output", str(report))
    assert done.returncode == 0, done.stderr
    html = report.read_text(encoding="utf-8")
    assert 'id="safety"' in html and "heat-cell" in html and "system_prompt_leak" in html


def test_cli_refuses_an_unknown_suite(tmp_path):
    done = cli("run", "--model", "openai/m", "--base-url", "http://127.0.0.1:9/v1", "--suite", "nope",
               "--results-dir", str(tmp_path))  # fmt: skip
    assert done.returncode == 2 and "unknown suite" in done.stderr


def test_seed_sources_keep_their_attribution(data_dir):
    task = build_suite("safety", data_dir, SafetyOptions(budget=200)).load()
    licensed = [s for s in task.samples if s.meta["source"] != "tianping"]
    assert all(s.meta.get("license") for s in licensed)
    assert Path(data_dir, "safety", "README.md").is_file()


def test_a_small_budget_warns_and_its_interval_is_clustered_by_seed_prompt(data_dir, tmp_path):
    """--budget 100 over every attack method plans one seed prompt: the CLI warns before the run, and the
    attack success rate's interval is that of one observation, not of the 65+ samples sent."""
    task = build_suite("safety", data_dir, SafetyOptions(budget=100)).load()
    seeds = {s.meta["seed_id"] for s in task.samples}
    assert len(seeds) == 1 and len(task.samples) > 30
    assert task.warnings and "1 seed prompt" in task.warnings[0]
    assert not build_suite("safety_overrefusal", data_dir, SafetyOptions(overrefusal_budget=20)).load().warnings
    results = tmp_path / "results"
    with running_server(answer_fn=lambda body: REFUSAL) as model:
        done = cli(
            "run", "--model", "openai/fake", "--base-url", model.base_url, "--suite", "safety", "--budget", "100",
            "--overrefusal-budget", "0", "--results-dir", str(results), "--run-id", "small",
            env={"OPENAI_API_KEY": "x"},
        )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    assert "warning:" in done.stderr and "1 seed prompt" in done.stderr
    aggregates = Store.open(results).aggregates("small")
    asr = next(a for a in aggregates if a["benchmark"] == "safety" and a["metric"] == "attack_success"
               and a["group_kind"] == "all")  # fmt: skip
    from tianping.scoring.stats import wilson_interval

    # one seed prompt: the interval of one observation at the observed rate, not of the 65+ samples sent
    assert asr["n"] > 30
    assert (asr["ci_low"], asr["ci_high"]) == pytest.approx(wilson_interval(asr["score"], 1))
    assert asr["ci_high"] - asr["ci_low"] > 0.5
