"""A user's own agent task file, ``--benchmark agent:PATH.yaml``, end to end through the CLI against the fake server
and a scripted agent: outcomes equal the script's truth; the file's text is kept with the run, so a resume refuses
an edited file and finishes with the unchanged one; a bad file is refused naming file, line and field, and YAML
that would build objects is refused; an ``mcp_servers`` entry (a real MCP server started for the episode) offers
its tools beside the environment's, and a call's result reaches the model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent_script import OUTCOME, expected_invalid, expected_steps, play
from engine_helpers import REPO, cli
from fake_openai import running_server
from tianping.agents.env import ENVIRONMENTS
from tianping.agents.tasks.catalog import AgentItem, parse_catalog
from tianping.core.errors import TaskConfigError
from tianping.store import Store

TOY = str(Path(__file__).resolve().parent / "mcp_toy_server.py")

TASKS = """\
environment: calculator
tasks:
  - id: my_total
    language: en
    goal: Store the sum of 17, 25 and 58 in the variable total.
    checks: [{variable: total, equals: 100}]
    solution:
      - {tool: set_variable, args: {name: total, expression: "17 + 25 + 58"}}

  - id: my_area
    language: en
    goal: Store the area of a 12 by 7 rectangle in the variable area and its perimeter in the variable perimeter.
    checks: [{variable: area, equals: 84}, {variable: perimeter, equals: 38}]
    solution:
      - {tool: set_variable, args: {name: area, expression: "12 * 7"}}
      - {tool: set_variable, args: {name: perimeter, expression: "2 * (12 + 7)"}}

  - id: my_half
    language: zh
    goal: 把 250 的一半存入变量 half，再把 half 的三倍存入变量 triple。
    checks: [{variable: half, equals: 125}, {variable: triple, equals: 375}]
    solution:
      - {tool: set_variable, args: {name: half, expression: "250 / 2"}}
      - {tool: set_variable, args: {name: triple, expression: "half * 3"}}

  - id: my_noise
    language: en
    budget: {invalid_calls: 4}
    goal: Store 2 to the power of 10 in the variable p.
    checks: [{variable: p, equals: 1024}]
    solution:
      - {tool: set_variable, args: {name: p, expression: "2^10"}}
"""
MODES = {"my_total": "solve", "my_area": "stop_early", "my_half": "batched", "my_noise": "garbage"}


def _items(text: str, source: str = "mine.yaml") -> dict[str, AgentItem]:
    return {item.goal: item for item in parse_catalog(text, source).items}


def _script(text: str, modes: dict[str, str]) -> Callable[[dict[str, Any]], Any]:
    """The scripted agent over the file's own tasks, each in its mode."""
    by_goal = _items(text)

    def answer(body: dict[str, Any]) -> Any:
        goal = next(m["content"] for m in body["messages"] if m["role"] == "user")
        item = by_goal[goal]
        turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
        return play(item, modes[item.id], turn)

    return answer


def _args(server_url: str, results: Path, run_id: str, benchmark: str) -> list[str]:
    return ["run", "--model", "openai/fake", "--base-url", server_url, "--results-dir", str(results),
            "--run-id", run_id, "--benchmark", benchmark, "--concurrency", "1"]  # fmt: skip


def _check_truth(store: Store, run_id: str, text: str, name: str) -> None:
    items = {item.id: item for item in parse_catalog(text, "mine.yaml").items}
    rows = list(store.sample_rows(run_id))
    assert sorted(r["sample_id"] for r in rows) == sorted(items)
    for row in rows:
        item, mode = items[row["sample_id"]], MODES[row["sample_id"]]
        assert row["benchmark"] == name
        assert row["status"] == "scored", (item.id, row["error"], row["reason"])
        assert row["extracted"] == OUTCOME[mode], (item.id, mode, row["reason"])
        assert row["score"] == (1.0 if OUTCOME[mode] == "success" else 0.0)
        assert row["metrics"]["steps"] == expected_steps(item, mode), item.id
        assert row["metrics"]["invalid_calls"] == expected_invalid(item, mode), item.id


def test_a_task_file_of_ones_own_runs_end_to_end_and_success_equals_the_scripts_truth(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(TASKS, encoding="utf-8")
    name = f"agent:{path}"
    results = tmp_path / "r"
    with running_server(answer_fn=_script(TASKS, MODES)) as server:
        done = cli(*_args(server.base_url, results, "own", name))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    store = Store.open(results)
    _check_truth(store, "own", TASKS, name)
    # the file's text is stored with the run, under the name the run gives
    stored = store.get_run("own")["definitions"][name]
    assert stored["tasks"] == TASKS and stored["source"] == str(path)
    assert set(OUTCOME[m] for m in MODES.values()) == {"success", "failed_state", "invalid_calls"}
    # the report's Agent tasks table lists the file's tasks as it lists the bundled ones
    report = cli("report", "own", "--results-dir", str(results), "--output", str(tmp_path / "own.html"))
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "own.html").read_text(encoding="utf-8")
    assert 'id="agent-tasks"' in page and "mine.yaml" in page


def test_a_resume_refuses_the_edited_file_and_finishes_with_the_unchanged_one(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(TASKS, encoding="utf-8")
    name = f"agent:{path}"
    results = tmp_path / "r"
    script = _script(TASKS, MODES)
    reached, release = threading.Event(), threading.Event()
    seen = {"n": 0}

    def answer(body: dict[str, Any]) -> Any:
        seen["n"] += 1
        if seen["n"] == 3 and not release.is_set():  # hold the third turn until the run is killed
            reached.set()
            release.wait(60)
        return script(body)

    with running_server(answer_fn=answer) as server:
        proc = subprocess.Popen([sys.executable, "-m", "tianping", *_args(server.base_url, results, "cut", name)],
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            assert reached.wait(90), "the run never reached its third model turn"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
        finally:
            release.set()
        store = Store.open(results)
        assert len(list(store.sample_rows("cut"))) < len(MODES)  # interrupted before its end

        path.write_text(TASKS.replace("17, 25 and 58", "17, 25 and 59"), encoding="utf-8")
        refused = cli("resume", "cut", "--results-dir", str(results))
        assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr[-2000:]
        assert str(path) in refused.stderr and "changed since" in refused.stderr

        path.write_text(TASKS, encoding="utf-8")
        resumed = cli("resume", "cut", "--results-dir", str(results))
        assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    store = Store.open(results)
    assert store.get_run("cut")["status"] == "completed"
    _check_truth(store, "cut", TASKS, name)


BAD = {
    "language": ("    language: fr\n", "language: must be one of en, zh"),
    "solution": ("      - {tool: teleport, args: {to: mars}}\n", "solution[0]"),
}


@pytest.mark.parametrize("field", sorted(BAD))
def test_a_bad_file_is_refused_naming_file_line_and_field(tmp_path, field):
    wrong, said = BAD[field]
    good = {
        "language": "    language: en\n",
        "solution": '      - {tool: set_variable, args: {name: p, expression: "2^10"}}\n',
    }
    lines = TASKS.splitlines(keepends=True)
    at = max(i for i, line in enumerate(lines) if line == good[field])  # in the last task
    lines[at] = wrong
    task_line = max(i for i, line in enumerate(lines[: at + 1]) if line.startswith("  - id:")) + 1
    path = tmp_path / "bad.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    done = cli("run", "--model", "openai/fake", "--base-url", "http://127.0.0.1:9/v1", "--results-dir",
               str(tmp_path / "r"), "--benchmark", f"agent:{path}")  # fmt: skip
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"{path}:{task_line}: task my_noise: {said}" in done.stderr


def test_yaml_that_would_build_objects_or_unknown_keys_are_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f"!!python/object/apply:os.system ['touch {marker}']\n", encoding="utf-8")
    done = cli("run", "--model", "openai/fake", "--base-url", "http://127.0.0.1:9/v1", "--results-dir",
               str(tmp_path / "r"), "--benchmark", f"agent:{path}")  # fmt: skip
    assert done.returncode == 2 and f"{path}: not valid YAML" in done.stderr, done.stderr[-2000:]
    assert not marker.exists()
    extra = tmp_path / "extra.yaml"
    extra.write_text(TASKS + "hooks: {before: rm -rf /}\n", encoding="utf-8")
    done = cli("run", "--model", "openai/fake", "--base-url", "http://127.0.0.1:9/v1", "--results-dir",
               str(tmp_path / "r"), "--benchmark", f"agent:{extra}")  # fmt: skip
    hooks_line = len(TASKS.splitlines()) + 1
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{extra}:{hooks_line}: unknown top-level keys ['hooks']" in done.stderr


SERVER_MISTAKES = {
    "both transports": (
        "{command: srv, url: 'http://127.0.0.1:1/mcp'}",
        "field '(top level)': Value error, give exactly one",
    ),
    "unknown field": ("{command: srv, shell: true}", "field 'shell': unknown field (known: "),
    "misspelt field": ("{comand: srv}", "field 'comand': unknown field; did you mean command?"),
    "bad bound": ("{url: 'http://127.0.0.1:1/mcp', call_timeout_s: 0}", "field 'call_timeout_s'"),
    "bad url": ("{url: 'file:///etc/passwd'}", "field 'url'"),
}


@pytest.mark.parametrize("mistake", sorted(SERVER_MISTAKES))
def test_a_bad_mcp_servers_entry_names_file_line_and_field(mistake):
    entry, said = SERVER_MISTAKES[mistake]
    text = TASKS.replace("tasks:\n", f"mcp_servers:\n  - {{url: 'http://127.0.0.1:1/mcp'}}\n  - {entry}\ntasks:\n", 1)
    with pytest.raises(TaskConfigError) as caught:
        parse_catalog(text, "mine.yaml")
    assert f"mine.yaml:4: mcp_servers[1]: {said}" in str(caught.value)
    with pytest.raises(TaskConfigError, match=r"^mine.yaml: environment: 'spaceship' is not one of"):
        parse_catalog(TASKS.replace("environment: calculator", "environment: spaceship"), "mine.yaml")
    with pytest.raises(TaskConfigError, match=r"^mine.yaml:2: mcp_servers: must be a non-empty list"):
        parse_catalog(TASKS.replace("tasks:\n", "mcp_servers: []\ntasks:\n", 1), "mine.yaml")


# -- MCP servers named by the file ------------------------------------------------------------------------------

STDIO = """\
  - command: {python}
    args: [{toy}]
    env: {{TOY_TOKEN: "${{TP_TASK_FILE_SECRET}}"}}
    tools: [add, remember]
"""
HTTP = """\
  - url: "${TP_TOY_URL}"
    headers: {Authorization: "Bearer ${TP_TASK_FILE_SECRET}"}
    tools: [add, remember]
"""
MCP_TASKS = """\
environment: calculator
mcp_servers:
{servers}tasks:
  - id: mcp_sum
    language: en
    goal: Add 1234.5 and 4321 with the add tool, then store the sum it returns in the variable total.
    checks: [{{variable: total, equals: 5555.5}}]
    solution:
      - {{tool: set_variable, args: {{name: total, expression: "1234.5 + 4321"}}}}
"""


def _stdio_servers(tools: str = "[add, remember]") -> str:
    return STDIO.format(python=json.dumps(sys.executable), toy=json.dumps(TOY)).replace("[add, remember]", tools)


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_an_mcp_server_of_the_file_offers_its_tools_and_the_result_reaches_the_model(tmp_path, transport):
    pytest.importorskip("mcp", reason="the MCP tests need the mcp SDK: pip install 'tianping[mcp]'")
    from test_agent_mcp import HttpToy

    env = {"TP_TASK_FILE_SECRET": "tp-secret-52917-value", "TIANPING_ALLOW_TASK_COMMANDS": "1"}
    toy = None
    if transport == "http":
        toy = HttpToy(tmp_path)
        env["TP_TOY_URL"] = toy.url
    try:
        _play_with_mcp(tmp_path, _stdio_servers() if toy is None else HTTP, env)
    finally:
        if toy is not None:
            toy.stop()


def _play_with_mcp(tmp_path: Path, servers: str, env: dict[str, str]) -> None:
    text = MCP_TASKS.format(servers=servers)
    path = tmp_path / "with_mcp.yaml"
    path.write_text(text, encoding="utf-8")
    secret = env["TP_TASK_FILE_SECRET"]
    bodies: list[dict[str, Any]] = []

    def answer(body: dict[str, Any]) -> Any:
        bodies.append(body)
        messages = body["messages"]
        turn = sum(1 for m in messages if m["role"] == "assistant")
        if turn == 0:
            return {"content": "", "tool_calls": [{"name": "add", "arguments": json.dumps({"a": 1234.5, "b": 4321})}]}
        if turn == 1:  # the sum as the server returned it, whatever it is
            (result,) = [m["content"] for m in messages if m["role"] == "tool"]
            call = {"name": "set_variable", "arguments": json.dumps({"name": "total", "expression": result})}
            return {"content": "", "tool_calls": [call]}
        return {"content": "Done.", "tool_calls": None}

    results = tmp_path / "r"
    with running_server(answer_fn=answer) as server:
        done = cli(*_args(server.base_url, results, "mcp", f"agent:{path}"), env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    offered = [t["function"]["name"] for t in bodies[0]["tools"]]
    assert offered == [s.name for s in ENVIRONMENTS["calculator"].TOOLS] + ["add", "remember"]
    assert [m for m in bodies[1]["messages"] if m["role"] == "tool"][0]["content"] == "5555.5"
    (row,) = Store.open(results).sample_rows("mcp")
    assert row["extracted"] == "success" and row["score"] == 1.0, row["reason"]
    calls = [c for s in row["trajectory"]["steps"] for c in s["calls"]]
    assert [(c["name"], c["result"], c["ok"]) for c in calls][0] == ("add", "5555.5", True)
    # the secret is read at connect time: the run keeps only its ${NAME}, and prints nothing of it
    assert "${TP_TASK_FILE_SECRET}" in Store.open(results).get_run("mcp")["definitions"][f"agent:{path}"]["tasks"]
    assert all(secret.encode() not in f.read_bytes() for f in results.rglob("*") if f.is_file())
    assert secret not in done.stdout + done.stderr


def test_a_file_that_would_start_a_program_needs_the_users_say_so(tmp_path, monkeypatch):
    path = tmp_path / "starts.yaml"
    path.write_text(MCP_TASKS.format(servers=_stdio_servers()), encoding="utf-8")
    monkeypatch.delenv("TIANPING_ALLOW_TASK_COMMANDS", raising=False)
    done = cli("run", "--model", "openai/fake", "--base-url", "http://127.0.0.1:9/v1", "--results-dir",
               str(tmp_path / "r"), "--benchmark", f"agent:{path}")  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{path}: mcp_servers[0]: starts the program" in done.stderr
    assert "TIANPING_ALLOW_TASK_COMMANDS=1" in done.stderr


def test_a_server_tool_named_like_an_environment_tool_is_refused(tmp_path):
    text = MCP_TASKS.format(servers=_stdio_servers(tools="[add, calculate]"))
    path = tmp_path / "clash.yaml"
    path.write_text(text, encoding="utf-8")
    done = cli("run", "--model", "openai/fake", "--base-url", "http://127.0.0.1:9/v1", "--results-dir",
               str(tmp_path / "r"), "--benchmark", f"agent:{path}")  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{path}:3: mcp_servers[0]: field 'tools': 'calculate' is also a tool of the calculator environment" in (
        done.stderr
    )


def test_two_servers_offering_one_tool_name_fail_the_episode_naming_both(tmp_path):
    pytest.importorskip("mcp", reason="the MCP tests need the mcp SDK: pip install 'tianping[mcp]'")
    # the first lists no tools, so the clash is seen only when the episode connects both servers
    text = MCP_TASKS.format(servers=_stdio_servers().replace("    tools: [add, remember]\n", "") + _stdio_servers())
    path = tmp_path / "twice.yaml"
    path.write_text(text, encoding="utf-8")
    with running_server() as server:
        done = cli(*_args(server.base_url, tmp_path / "r", "twice", f"agent:{path}"),
                   env={"TP_TASK_FILE_SECRET": "s", "TIANPING_ALLOW_TASK_COMMANDS": "1"})  # fmt: skip
        assert server.requests_total == 0  # refused before the model is asked anything
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "MCP server mcp_servers[1] (" in done.stderr and "offers a tool 'add', which MCP server mcp_servers[0]" in (
        done.stderr
    )
    (row,) = Store.open(tmp_path / "r").sample_rows("twice")
    assert row["status"] == "error"


def test_the_task_file_in_the_docs_is_valid():
    page = (REPO / "docs" / "agents.md").read_text(encoding="utf-8")
    section = page[page.index("**Your own task files.**") :]
    start = section.index("```yaml\n") + len("```yaml\n")
    catalog = parse_catalog(section[start : section.index("\n```", start)], "docs/agents.md")
    assert catalog.environment == "calculator" and [s.transport for s in catalog.mcp_servers] == ["stdio", "http"]
    assert [i.id for i in catalog.items] == ["my_total"]
