"""Every agent task end to end through the CLI against a scripted agent: the stored outcome of each equals the
script's truth; repeated trials give pass@k and pass^k; costs follow configured prices; the report shows each
trajectory step by step, escaped; the scores roll up into the indicator tree's Agents dimension."""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_script import OUTCOME, agent, assignment, expected_invalid, expected_steps, items
from engine_helpers import cli
from fake_openai import running_server
from tianping.agents.tasks.kind import TASKS
from tianping.agents.tasks.sections import agent_table, pass_at_k, pass_hat_k
from tianping.indicators.rollup import rollup
from tianping.indicators.tree import parse_tree
from tianping.report.collect import metric_rows
from tianping.store import Store

CHROMIUM = Path("/usr/bin/chromium")
HOSTILE = "<img src=x onerror=\"document.title='PWNED'\"></script><script>document.title='PWNED'</script>"


def _run(server_url: str, results: Path, run_id: str, *extra: str, env: dict[str, str] | None = None):
    done = cli("run", "--model", "openai/fake", "--base-url", server_url, "--results-dir", str(results),
               "--run-id", run_id, *extra, env=env)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The suite, every task, once: the scripted agent solves some, fails some, emits malformed calls."""
    modes = assignment()
    modes["files_action_items"] = "solve"  # the task whose trajectory the report test reads
    script = agent(modes)

    def answer(body: dict[str, Any]) -> Any:
        reply = script(body)
        if modes_of(body) == "files_action_items" and isinstance(reply, dict) and reply.get("tool_calls"):
            reply = {**reply, "content": HOSTILE}  # model text the report must show as text
        return reply

    by_goal = {item.goal: item.id for item in items().values()}

    def modes_of(body: dict[str, Any]) -> str:
        return by_goal.get(next(m["content"] for m in body["messages"] if m["role"] == "user"), "")

    results = tmp_path_factory.mktemp("agent-full")
    with running_server(answer_fn=answer) as server:
        _run(server.base_url, results, "full", "--suite", "agent")
    return results, modes


def test_every_task_runs_and_success_equals_the_scripts_truth(full_run):
    results, modes = full_run
    store = Store.open(results)
    rows = list(store.sample_rows("full"))
    catalog = items()
    assert len(rows) == len(catalog) >= 30
    assert sum(r["meta"]["language"] == "zh" for r in rows) * 2 >= len(rows)
    assert {r["benchmark"] for r in rows} == set(TASKS)
    assert set(modes.values()) == set(OUTCOME)
    for row in rows:
        item = catalog[row["meta"]["item"]]
        mode = modes[item.id]
        assert row["status"] == "scored", (item.id, row["error"], row["reason"])
        assert row["extracted"] == OUTCOME[mode], (item.id, mode, row["reason"])
        assert row["score"] == (1.0 if OUTCOME[mode] == "success" else 0.0), item.id
        assert row["metrics"]["steps"] == expected_steps(item, mode), (item.id, mode)
        assert row["metrics"]["invalid_calls"] == expected_invalid(item, mode), (item.id, mode)
        trajectory = row["trajectory"]
        assert [s["step"] for s in trajectory["steps"]] == list(range(1, expected_steps(item, mode) + 1))
        assert trajectory["outcome"] == row["extracted"] and len(trajectory["checks"]) == len(item.checks)
        assert all(c["passed"] for c in trajectory["checks"]) == (mode in ("solve", "batched", "recover"))
        # the stored request is the last turn: every earlier call and its answer are in its messages
        sent = row["prompt"]["messages"]
        calls = sum(len(m.get("tool_calls") or ()) for m in sent)
        assert sum(m["role"] == "tool" for m in sent) == calls
        assert all(m.get("tool_call_id") for m in sent if m["role"] == "tool")
    # the aggregate success rate of each task is the share of its tasks the script solves
    for bench in TASKS:
        mine = [r for r in rows if r["benchmark"] == bench]
        truth = sum(OUTCOME[modes[r["meta"]["item"]]] == "success" for r in mine) / len(mine)
        (success,) = [m for m in metric_rows(store, "full") if m.benchmark == bench and m.metric == "success"]
        assert success.score == pytest.approx(truth) and success.n == len(mine)


def test_agent_scores_roll_up_into_the_agents_dimension(full_run):
    results, _ = full_run
    metrics = metric_rows(Store.open(results), "full")
    text = (Path(__file__).parents[1] / "src/tianping/indicators/default.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    (agents,) = [d for d in raw["dimensions"] if d["id"] == "agents"]
    # the capability proposed for the tree (the lead adds it to default.yaml), replacing any of the same id
    agents["capabilities"] = [c for c in agents["capabilities"] if c["id"] != "multi_step_tools"] + [
        {"id": "multi_step_tools", "name": "Multi-step tool use (final-state tasks)",
         "benchmarks": [{"benchmark": name, "metric": "success"} for name in TASKS]}
    ]  # fmt: skip
    (report,) = rollup(parse_tree(raw, "test tree"), metrics)
    (dimension,) = [d for d in report.dimensions if d.id == "agents"]
    (capability,) = [c for c in dimension.capabilities if c.id == "multi_step_tools"]
    scores = [m.score for m in metrics if m.metric == "success"]
    assert capability.score == pytest.approx(sum(scores) / len(scores))
    assert dimension.score == pytest.approx(capability.score)  # no BFCL task in this run
    assert set(capability.measured_by) == {f"{name}:success" for name in TASKS}


def test_the_report_shows_each_trajectory_step_by_step_and_escaped(full_run, tmp_path):
    results, _ = full_run
    page = tmp_path / "report.html"
    done = cli("report", "full", "--results-dir", str(results), "--output", str(page))
    assert done.returncode == 0, done.stderr
    html = page.read_text(encoding="utf-8")
    assert 'id="agent-tasks"' in html and "pass^1 (%)" in html
    assert "<img src=x" not in html and html.count("<script") == 2
    if not CHROMIUM.exists():
        pytest.skip("needs Debian chromium at /usr/bin/chromium to check the page as a browser builds it")
    dom = _dump_dom(page, tmp_path, "#open=files_action_items")
    assert "PWNED" not in re.search(r"<title>(.*?)</title>", dom, re.S).group(1)
    assert not re.search(r"<img\b", dom) and dom.count("<script") == 2
    detail = re.search(r'<tr class="detail">(.*?)</tr>', dom, re.S).group(1)
    text = re.sub(r"<[^>]+>", "\n", detail)
    assert "Trajectory — success (the model ended the task)" in text
    assert "Step 1 · model" in text and "Step 3 · model" in text
    assert "&lt;img src=x onerror=" in detail  # the model's text, shown as text
    assert '→ read_file({"path": "notes/meeting.txt"})' in text.replace("&quot;", '"')
    assert "✓ file summary.txt equals" in text


def _dump_dom(path: Path, tmp_path: Path, fragment: str) -> str:
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
           "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
           path.as_uri() + fragment]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert proc.returncode == 0 and "</html>" in proc.stdout, proc.stderr[-2000:]
    return proc.stdout


def test_pass_at_k_and_pass_hat_k_match_counting_subsets():
    for n in range(1, 7):
        for c in range(n + 1):
            trials = [1] * c + [0] * (n - c)
            for k in range(1, n + 1):
                subsets = list(itertools.combinations(trials, k))
                assert pass_at_k(n, c, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))
                assert pass_hat_k(n, c, k) == pytest.approx(sum(all(s) for s in subsets) / len(subsets))
    assert pass_at_k(2, 1, 3) is None


def test_repeated_trials_give_pass_at_k_pass_hat_k_and_cost(tmp_path):
    """--completions-per-prompt 3: each task played 3 times, trial t > 1 with seed t - 1; calc_invoice fails its
    second trial. Prices from TIANPING_PRICES give a cost per episode."""
    bodies: list[dict[str, Any]] = []
    flaky = {"calc_invoice": "solve", "calc_loan": "solve"}
    script = agent(flaky, per_trial=lambda mode, seed: "stop_early" if seed == 1 else mode)
    steady = agent({"calc_invoice": "solve", "calc_loan": "solve"})

    def answer(body: dict[str, Any]) -> Any:
        bodies.append(body)
        goal = next(m["content"] for m in body["messages"] if m["role"] == "user")
        return script(body) if goal == items()["calc_invoice"].goal else steady(body)

    prices = tmp_path / "prices.yaml"
    prices.write_text("openai/fake: {input: 2.0, output: 8.0}\nopenai/other: {input: 1, output: 1}\n")
    with running_server(answer_fn=answer) as server:
        _run(server.base_url, tmp_path / "r", "trials", "--benchmark", "agent_calculator", "--limit", "2",
             "--completions-per-prompt", "3", env={"TIANPING_PRICES": str(prices)})  # fmt: skip
    assert {b.get("seed") for b in bodies} == {None, 1, 2}
    assert all("n" not in b for b in bodies)  # each turn asks one completion
    store = Store.open(tmp_path / "r")
    rows = {r["sample_id"]: r for r in store.sample_rows("trials")}
    assert sorted(rows) == [f"{i}#{t}" for i in ("calc_invoice", "calc_loan") for t in (1, 2, 3)]
    assert [rows[f"calc_invoice#{t}"]["extracted"] for t in (1, 2, 3)] == ["success", "failed_state", "success"]
    for row in rows.values():
        steps = row["trajectory"]["steps"]
        prompt = sum(s["prompt_tokens"] for s in steps)
        completion = sum(s["completion_tokens"] for s in steps)
        assert row["metrics"]["cost"] == pytest.approx((2.0 * prompt + 8.0 * completion) / 1e6)
        assert row["metrics"]["tokens"] == prompt + completion
    assert store.get_run("trials")["definitions"]["agent:prices"]["prices"]["openai/fake"] == {
        "input": 2.0,
        "output": 8.0,
    }
    shown = cli("show", "trials", "--results-dir", str(tmp_path / "r"))
    assert shown.returncode == 0 and "Agent tasks" in shown.stdout and "pass@3 (%)" in shown.stdout
    section = agent_table(store.sample_rows("trials"))
    assert section is not None and section.columns[7:9] == ("pass@3 (%)", "pass^3 (%)")
    assert section.columns[-1] == "Cost ($)"
    lines = {line[2]: line for line in section.rows}
    # success, its interval, pass@3, pass^3: invoice 2 of 3 trials, loan 3 of 3
    assert (lines["calc_invoice"][4], lines["calc_invoice"][5]) == ("3", "66.7")
    assert lines["calc_invoice"][7:9] == ("100.0", "0.0")
    assert (lines["calc_loan"][5], lines["calc_loan"][7:9]) == ("100.0", ("100.0", "100.0"))
    assert (lines["(all 2)"][5], lines["(all 2)"][7:9]) == ("83.3", ("100.0", "50.0"))
    costs = sum(r["metrics"]["cost"] for r in rows.values())
    assert lines["(all 2)"][-1] == f"{costs:.4f}"
