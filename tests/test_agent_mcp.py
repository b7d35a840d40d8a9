"""MCP servers as tool providers: real servers (tianping's own, serving a small provider from
``tests/mcp_toy_server.py``) started by the tests, over stdio and over streamable HTTP on 127.0.0.1, spoken to
through ``McpToolProvider``: listing, calls, refused calls, caps, per-session state, and servers that fail to
start, crash mid-session or hang, each a clear error within its bounds."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tianping.agents.mcp import McpServerDef, McpServerError, McpToolProvider, McpUnavailable
from tianping.agents.mcp.errors import require_sdk
from tianping.agents.mcp.serve import environment_factory
from tianping.agents.tools import ToolProvider, ToolResult
from tianping.core.errors import TaskConfigError

pytest.importorskip("mcp", reason="the MCP tests need the mcp SDK: pip install 'tianping[mcp]'")

TOY = str(Path(__file__).resolve().parent / "mcp_toy_server.py")
TOOLS = ["add", "remember", "recall", "big", "live_sessions", "pid", "crash", "hang"]


def stdio(**options: Any) -> McpServerDef:
    return McpServerDef(command=sys.executable, args=[TOY], **options)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# -- stdio ------------------------------------------------------------------------------------------------------


def test_stdio_server_lists_and_answers_calls_and_refusals_are_invalid_calls() -> None:
    async def episode() -> None:
        provider = McpToolProvider(stdio(max_result_chars=1000))
        assert isinstance(provider, ToolProvider)
        # Listed, called and closed from three different tasks: the connection lives in a task of its own.
        specs = await asyncio.create_task(provider.list_tools())
        assert [s.name for s in specs] == TOOLS
        add = specs[0]
        assert add.description == "Add two numbers."
        assert add.parameters["required"] == ["a", "b"] and add.parameters["properties"]["a"] == {"type": "number"}
        assert add.openai()["function"]["name"] == "add"

        async def calls() -> list[ToolResult]:
            return [
                await provider.call("add", {"a": 1, "b": 2.5}),
                await provider.call("add", {"a": "one"}),  # the tool refuses it: an error result
                await provider.call("multiply", {"a": 2}),  # not offered: answered here, never sent
                await provider.call("remember", {"text": "蓝色的门"}),
                await provider.call("recall", {}),
                await provider.call("big", {"n": 5000}),
            ]

        added, refused, unknown, noted, recalled, big = await asyncio.create_task(calls())
        assert added == ToolResult("3.5", ok=True)
        assert refused == ToolResult("error: 'a' and 'b' must be numbers", ok=False)
        assert not unknown.ok and "no tool named 'multiply'" in unknown.text and "add, remember" in unknown.text
        assert noted == ToolResult("noted (1)") and recalled == ToolResult("蓝色的门")
        assert big.ok and big.text == "x" * 1000 + "\n[... 4000 more characters cut]"
        pid = int((await provider.call("pid", {})).text)
        assert not gone(pid)
        await provider.aclose()
        assert gone(pid), "the stdio server outlived its episode"

    run(episode())


def test_stdio_server_crashing_mid_session_ends_the_episode_with_its_stderr() -> None:
    async def episode() -> None:
        async with McpToolProvider(stdio()) as provider:
            assert (await provider.call("add", {"a": 2, "b": 2})).text == "4"
            started = time.monotonic()
            with pytest.raises(McpServerError) as crash:
                await provider.call("crash", {})
            assert time.monotonic() - started < 5
            text = str(crash.value)
            assert "closed the connection during the call of tool 'crash'" in text
            assert "toy server: crashing on purpose" in text  # the tail of the server's stderr
            with pytest.raises(McpServerError) as later:  # the episode stays failed, with the first cause
                await provider.call("add", {"a": 1, "b": 1})
            assert str(later.value) == text

    run(episode())


def test_a_hanging_tool_times_out_and_the_server_is_stopped() -> None:
    async def episode() -> tuple[int, float, float]:
        provider = McpToolProvider(stdio(call_timeout_s=1))
        pid = int((await provider.call("pid", {})).text)
        started = time.monotonic()
        with pytest.raises(McpServerError, match=r"did not answer the call of tool 'hang' within 1 s"):
            await provider.call("hang", {})
        waited = time.monotonic() - started
        started = time.monotonic()
        await provider.aclose()
        return pid, waited, time.monotonic() - started

    pid, waited, closing = run(episode())
    assert 1 <= waited < 3
    assert closing < 8 and gone(pid)


def test_a_server_that_fails_to_start_is_named_with_its_stderr_and_no_secret(monkeypatch: Any) -> None:
    monkeypatch.setenv("TOY_SECRET", "hunter2-very-secret")
    script = "import os, sys; sys.stderr.write('bad token ' + os.environ['TOKEN'] + '\\n'); sys.exit(1)"
    spec = McpServerDef(command=sys.executable, args=["-c", script], env={"TOKEN": "${TOY_SECRET}"})

    async def episode() -> str:
        with pytest.raises(McpServerError) as failed:
            await McpToolProvider(spec).list_tools()
        return str(failed.value)

    text = run(episode())
    assert "closed the connection" in text and "bad token ***" in text
    assert "hunter2" not in text


def test_a_server_that_never_answers_or_cannot_start_fails_within_the_connect_bound() -> None:
    silent = McpServerDef(command=sys.executable, args=["-c", "import time; time.sleep(60)"], connect_timeout_s=1)
    missing = McpServerDef(command="/nonexistent/mcp-server", connect_timeout_s=5)

    async def episode(spec: McpServerDef) -> tuple[str, float]:
        started = time.monotonic()
        with pytest.raises(McpServerError) as failed:
            await McpToolProvider(spec).list_tools()
        return str(failed.value), time.monotonic() - started

    text, took = run(episode(silent))
    assert "did not complete the handshake and the tool listing within 1 s" in text and took < 8
    text, _ = run(episode(missing))
    assert text.startswith("MCP server /nonexistent/mcp-server: cannot start it")


def test_tool_selection_and_the_tool_count_cap() -> None:
    async def names(spec: McpServerDef) -> list[str]:
        async with McpToolProvider(spec) as provider:
            names = [s.name for s in await provider.list_tools()]
            if "add" not in names:  # a tool left out cannot be called
                assert not (await provider.call("add", {"a": 1, "b": 2})).ok
            return names

    async def refused(spec: McpServerDef) -> str:
        with pytest.raises(McpServerError) as failed:
            await McpToolProvider(spec).list_tools()
        return str(failed.value)

    assert run(names(stdio(tools=["recall", "remember"]))) == ["recall", "remember"]
    assert "has no tool 'nope'" in run(refused(stdio(tools=["add", "nope"])))
    assert "offers 8 tools, more than max_tools=3" in run(refused(stdio(max_tools=3)))


# -- streamable HTTP --------------------------------------------------------------------------------------------


class HttpToy:
    def __init__(self, tmp: Path) -> None:
        self.log = tmp / "server.err"
        with self.log.open("w") as err:
            self.process = subprocess.Popen([sys.executable, TOY, "http"], stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.log.read_text().partition("\n")[0]
            if line.startswith("MCP server: "):
                self.url = line.removeprefix("MCP server: ")
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"the toy HTTP server did not start: {self.log.read_text()}")

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return None


@pytest.fixture(scope="module")
def http_toy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpToy]:
    server = HttpToy(tmp_path_factory.mktemp("mcp-http"))
    yield server
    assert server.stop() == 130, server.log.read_text()  # SIGTERM: a clean stop, sessions closed


def test_http_server_gives_each_session_its_own_provider_until_it_ends(http_toy: HttpToy) -> None:
    assert http_toy.url.startswith("http://127.0.0.1:") and http_toy.url.endswith("/mcp")
    spec = McpServerDef(url=http_toy.url)

    async def episodes() -> None:
        first, second = McpToolProvider(spec), McpToolProvider(spec)
        assert [s.name for s in await first.list_tools()] == TOOLS
        assert (await first.call("add", {"a": 40, "b": 2})).text == "42"
        assert not (await first.call("add", {"a": None, "b": 2})).ok
        await first.call("remember", {"text": "only in the first"})
        assert (await second.call("recall", {})).text == "(no notes)"
        assert (await first.call("recall", {})).text == "only in the first"
        assert (await second.call("live_sessions", {})).text == "2"
        await first.aclose()  # the client ends its session; the server closes that session's provider
        for _ in range(50):
            if (await second.call("live_sessions", {})).text == "1":
                break
            await asyncio.sleep(0.05)
        assert (await second.call("live_sessions", {})).text == "1"
        await second.aclose()

    run(episodes())


def test_http_hanging_tool_times_out_and_credentials_are_never_shown(http_toy: HttpToy, monkeypatch: Any) -> None:
    monkeypatch.setenv("TOY_TOKEN", "tok-abcdef-123456")
    url = http_toy.url.replace("http://", "http://alice:pw-98765@") + "?key=qk-55555"
    spec = McpServerDef(url=url, headers={"Authorization": "Bearer ${TOY_TOKEN}"}, call_timeout_s=1)

    async def episode() -> tuple[str, str, float]:
        async with McpToolProvider(spec) as provider:
            assert (await provider.call("add", {"a": 1, "b": 1})).text == "2"
            started = time.monotonic()
            with pytest.raises(McpServerError) as hung:
                await provider.call("hang", {})
            return provider.shown, str(hung.value), time.monotonic() - started

    shown, text, waited = run(episode())
    assert shown == f"http://***@{http_toy.url.removeprefix('http://')}?key=***"
    assert text == f"MCP server {shown}: did not answer the call of tool 'hang' within 1 s"
    assert 1 <= waited < 3
    for secret in ("alice", "pw-98765", "qk-55555", "tok-abcdef"):
        assert secret not in text


def test_http_server_crashing_mid_session_is_a_clear_error(tmp_path: Path) -> None:
    server = HttpToy(tmp_path)
    try:

        async def episode() -> tuple[str, float]:
            async with McpToolProvider(McpServerDef(url=server.url)) as provider:
                assert (await provider.call("add", {"a": 1, "b": 2})).text == "3"
                started = time.monotonic()
                with pytest.raises(McpServerError) as crash:
                    await provider.call("crash", {})
                with pytest.raises(McpServerError):
                    await provider.call("add", {"a": 1, "b": 2})
                return str(crash.value), time.monotonic() - started

        text, took = run(episode())
    finally:
        code = server.stop()
    assert code == 3  # the toy's own exit, not our stop
    assert text.startswith(f"MCP server {server.url}: ") and "during the call of tool 'crash'" in text
    assert took < 5


# -- definitions, the SDK, the serve entry ----------------------------------------------------------------------


def test_server_definitions_are_checked_naming_the_field_and_never_a_value() -> None:
    where = "tasks/travel.yaml: mcp"
    cases = {
        "give exactly one of 'command' (stdio) or 'url'": {"command": "srv", "url": "http://127.0.0.1:1/mcp"},
        "field '(top level)': Value error, give exactly one": {},
        "field 'url': Value error, must be an http:// or https:// URL": {"url": "ftp://secret-host/x"},
        "field 'tools': Value error, names a tool twice": {"command": "srv", "tools": ["a", "a"]},
        "'headers' belong to a 'url' server": {"command": "srv", "headers": {"X-Key": "v"}},
        "field 'call_timeout_s': Input should be greater than 0": {"command": "srv", "call_timeout_s": 0},
        "field 'comand': unknown field; did you mean command?": {"comand": "srv"},
    }
    for expected, raw in cases.items():
        with pytest.raises(TaskConfigError) as bad:
            McpServerDef.parse(raw, where)
        assert str(bad.value).startswith(f"{where}: ") and expected in str(bad.value), str(bad.value)
        assert "secret-host" not in str(bad.value)
    with pytest.raises(TaskConfigError, match="expected a mapping, got list"):
        McpServerDef.parse(["srv"], where)
    spec = McpServerDef.parse({"command": "srv", "args": ["--key", "${TOY_UNSET_VAR}"]}, where)
    with pytest.raises(McpServerError, match=r"field 'args.1' reads \$\{TOY_UNSET_VAR\}, which is not set"):
        spec.resolve({})
    assert spec.resolve({"TOY_UNSET_VAR": "k-12345"}).shown == "srv --key ***"


def test_without_the_sdk_the_error_says_how_to_install_it(monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)  # what `import mcp` meets when the package is not installed
    with pytest.raises(McpUnavailable, match=r"pip install 'tianping\[mcp\]'"):
        require_sdk("mcp")
    with pytest.raises(McpUnavailable, match=r"pip install 'tianping\[mcp\]'"):
        run(McpToolProvider(stdio()).list_tools())


def test_serve_entry_refuses_an_unknown_environment_naming_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tianping.agents.mcp.serve", "no_such_env", "--transport", "stdio"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    if importlib.util.find_spec("tianping.agents.env") is None:
        expected = "error: tianping's agent environments (tianping.agents.env) are not in this installation\n"
        assert done.stderr == expected
    else:
        assert done.stderr.startswith("error: no environment named 'no_such_env' (the environments: ")
    with pytest.raises(LookupError):
        environment_factory("no_such_env")


# -- tianping's environments over MCP ---------------------------------------------------------------------------


def agent_env() -> Any:
    return pytest.importorskip("tianping.agents.env", reason="the agent environments are not in this tree yet")


def solution_ask(item: Any) -> Any:
    """A scripted model: the task's reference solution as the first turn's tool calls, then a closing text."""
    from tianping.core.types import Completion, Response, ToolCall

    async def ask(request: Any) -> Any:
        if any(m.role == "tool" for m in request.messages):
            return Response((Completion("Done."),), latency_s=0.01, prompt_tokens=10, completion_tokens=2)
        calls = tuple(ToolCall(tool, json.dumps(args, ensure_ascii=False)) for tool, args in item.solution)
        return Response((Completion("", tool_calls=calls),), latency_s=0.01, prompt_tokens=10, completion_tokens=5)

    return ask


def test_every_agent_task_solved_through_an_mcp_server_passes_its_checks() -> None:
    """Each task's reference solution played by the conversation loop through a real MCP server and client
    (``through_mcp``): the tools the model is offered, every tool result, and the final-state checks are those of
    the environment played in process."""
    env = agent_env()
    from tianping.agents.loop import Budget, converse, tools_json
    from tianping.agents.mcp.bridge import through_mcp
    from tianping.agents.tasks.catalog import catalogs
    from tianping.core.types import GenerationParams, Message, Request

    async def play(item: Any, via_mcp: bool) -> tuple[list[Any], list[bool], str]:
        first = Request(model="m", messages=(Message("user", item.goal),), params=GenerationParams())
        environment = env.make_environment(item.environment, item.seed)
        budget = Budget(steps=3, invalid_calls=100)
        try:
            if via_mcp:
                async with through_mcp(environment) as tools:
                    offered = tools_json(tuple(await tools.list_tools()))
                    played = await converse(solution_ask(item), tools, first, budget)
            else:
                offered = tools_json(tuple(await environment.list_tools()))
                played = await converse(solution_ask(item), environment, first, budget)
            checks = [environment.check(check).passed for check in item.checks]
        finally:
            await environment.aclose()
        results = [(c["name"], c["result"], c["ok"]) for step in played.steps for c in step["calls"]]
        return results, checks, offered

    async def every() -> int:
        count = 0
        for catalog in catalogs().values():
            for item in catalog.items:
                local = await play(item, via_mcp=False)
                remote = await play(item, via_mcp=True)
                assert remote == local, item.id
                assert all(remote[1]) and len(remote[0]) == len(item.solution), item.id
                count += 1
        return count

    assert run(every()) == sum(len(c.items) for c in catalogs().values()) >= 4


def test_an_environment_served_over_stdio_from_a_seed(tmp_path: Path) -> None:
    calculator = agent_env().ENVIRONMENTS["calculator"]
    from tianping.agents.loop import tools_json

    seed = tmp_path / "seed.yaml"
    seed.write_text("variables: {rate: 0.25, base: 1200}\n", encoding="utf-8")
    spec = McpServerDef(
        command=sys.executable, args=["-m", "tianping.agents.mcp.serve", "calculator", "--seed", str(seed)]
    )

    async def episode() -> None:
        async with McpToolProvider(spec) as tools:
            assert tools_json(tuple(await tools.list_tools())) == tools_json(calculator.TOOLS)
            assert (await tools.call("set_variable", {"name": "fee", "expression": "base * rate"})).text == "fee = 300"
            assert (await tools.call("list_variables", {})).text == "base = 1200\nfee = 300\nrate = 0.25"
            refused = await tools.call("set_variable", {"name": "x"})
            assert refused == ToolResult("error: set_variable: missing required argument expression", ok=False)

    run(episode())
    bad = tmp_path / "bad.yaml"
    bad.write_text("variables: {rate: high}\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "tianping.agents.mcp.serve", "calculator", "--seed", str(bad)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: --seed {bad}: seed.variables: must map names")


def test_the_server_definitions_in_the_docs_are_valid() -> None:
    import yaml

    page = (Path(__file__).resolve().parents[1] / "docs" / "agents.md").read_text(encoding="utf-8")
    section = page[page.index("\n## MCP\n") :]
    block = section[section.index("```yaml\n") + 8 : section.index("\n```", section.index("```yaml\n"))]
    specs = [McpServerDef.parse(raw, "docs/agents.md") for raw in yaml.safe_load(block)]
    assert [s.transport for s in specs] == ["stdio", "http"]
    assert specs[1].resolve({"TOKEN": "t0k3n-value"}).headers == {"Authorization": "Bearer t0k3n-value"}


def test_agent_tasks_run_through_an_mcp_server_with_the_scores_of_the_local_tools(tmp_path: Path) -> None:
    """`run --agent-tools mcp`: each episode's environment is served by an MCP server started for it, and the
    model's calls reach the environment through an MCP client; outcomes and steps equal the in-process run's."""
    from agent_script import OUTCOME, agent, assignment, items
    from engine_helpers import cli
    from fake_openai import running_server
    from tianping.store import Store

    modes = assignment()
    outcomes = {}
    for tools in ("local", "mcp"):
        results = tmp_path / tools
        with running_server(answer_fn=agent(modes)) as server:
            done = cli(
                "run", "--model", "openai/fake", "--base-url", server.base_url, "--results-dir", str(results),
                "--run-id", tools, "--benchmark", "agent_calculator", "--benchmark", "agent_sqlite",
                "--agent-tools", tools, "--no-cache",
            )  # fmt: skip
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        rows = list(Store.open(results).sample_rows(tools))
        assert {r["trajectory"]["tools_via"] for r in rows} == {tools}
        outcomes[tools] = {r["sample_id"]: (r["extracted"], r["metrics"]["steps"], r["score"]) for r in rows}
    catalog = items()
    assert outcomes["mcp"] == outcomes["local"] and len(outcomes["mcp"]) == 16
    for sample_id, (outcome, _, _) in outcomes["mcp"].items():
        assert outcome == OUTCOME[modes[catalog[sample_id].id]], sample_id
