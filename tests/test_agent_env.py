"""The agent environments: the task files, their containment (paths, symlinks, SQL, arithmetic, sizes, network) and
argument checking."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap

import pytest

from tianping.agents.env import CalculatorEnv, CalendarEnv, FileSystemEnv, SqliteEnv, make_environment
from tianping.agents.env.files import MAX_ENTRIES, MAX_FILE_BYTES
from tianping.agents.env.sqlite import MAX_ROWS
from tianping.agents.tasks.catalog import catalogs, parse_catalog
from tianping.agents.tasks.prices import parse_prices
from tianping.agents.tools import ToolProvider
from tianping.core.errors import TaskConfigError


def call(env, tool: str, /, **arguments):
    return asyncio.run(env.call(tool, arguments))


def test_there_are_at_least_30_tasks_and_half_are_in_chinese():
    items = [item for catalog in catalogs().values() for item in catalog.items]
    assert len(items) >= 30
    assert sum(item.language == "zh" for item in items) * 2 >= len(items)
    assert {item.environment for item in items} == {"files", "sqlite", "calendar", "calculator"}
    assert len({item.id for item in items}) == len(items)


def test_every_reference_solution_solves_its_task_and_the_seed_alone_does_not():
    async def replay(item):
        env = make_environment(item.environment, item.seed)
        try:
            assert isinstance(env, ToolProvider)
            before = [env.check(c).passed for c in item.checks]
            answers = [await env.call(tool, args) for tool, args in item.solution]
            after = [env.check(c) for c in item.checks]
        finally:
            await env.aclose()
        return before, answers, after

    for catalog in catalogs().values():
        for item in catalog.items:
            before, answers, after = asyncio.run(replay(item))
            assert not all(before), f"{item.id}: the seed state already passes"
            assert all(a.ok for a in answers), (item.id, [a.text for a in answers if not a.ok])
            assert all(c.passed for c in after), (item.id, [c.detail for c in after if not c.passed])
            assert len(item.solution) < item.budget.steps, f"{item.id}: the budget leaves no turn to end"


def test_file_paths_cannot_leave_the_workspace(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    env = FileSystemEnv({"files": {"docs/a.txt": "a"}})
    try:
        for path in (str(outside / "secret.txt"), "../secret.txt", "docs/../../secret.txt", "~/x", "C:/x", "a\\b"):
            for name, extra in (("read_file", {}), ("write_file", {"content": "x"}), ("list_dir", {})):
                answer = call(env, name, path=path, **extra)
                assert not answer.ok and answer.text.startswith("error:"), (name, path, answer)
        assert not call(env, "move", source="docs/a.txt", destination="../a.txt").ok
        # a link inside the workspace that leads out is never followed, whichever way it is reached
        os.symlink(outside, env.root / "link")
        os.symlink(outside / "secret.txt", env.root / "docs" / "s.txt")
        for name, args in (
            ("read_file", {"path": "link/secret.txt"}),
            ("read_file", {"path": "docs/s.txt"}),
            ("write_file", {"path": "link/new.txt", "content": "x"}),
            ("write_file", {"path": "docs/s.txt", "content": "overwritten"}),
            ("append_file", {"path": "docs/s.txt", "content": "more"}),
            ("list_dir", {"path": "link"}),
            ("delete", {"path": "link/secret.txt"}),
            ("move", {"source": "link/secret.txt", "destination": "stolen.txt"}),
        ):
            answer = call(env, name, **args)
            assert not answer.ok and "symbolic link" in answer.text, (name, answer)
        assert (outside / "secret.txt").read_text() == "secret"
        assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
        assert "symbolic link, not followed" in call(env, "list_dir", path=".").text
        # results never name the real folder
        assert str(env.root) not in call(env, "write_file", path="b/c.txt", content="x").text
        root = env.root
    finally:
        asyncio.run(env.aclose())
    assert not root.exists()


def test_file_sizes_and_counts_are_bounded():
    env = FileSystemEnv()
    try:
        huge = call(env, "write_file", path="big.txt", content="x" * (MAX_FILE_BYTES + 1))
        assert not huge.ok and "longer than" in huge.text
        # the limit is on bytes: 30 000 Chinese characters are 90 000 bytes
        wide = call(env, "write_file", path="wide.txt", content="汉" * 30_000)
        assert not wide.ok and "at most" in wide.text
        assert call(env, "write_file", path="a.txt", content="x" * MAX_FILE_BYTES).ok
        grown = call(env, "append_file", path="a.txt", content="y")
        assert not grown.ok and "at most" in grown.text
        chunk = "z" * (MAX_FILE_BYTES - 1)
        answers = [call(env, "write_file", path=f"f{i}.txt", content=chunk) for i in range(20)]
        assert not answers[-1].ok and "more than" in answers[-1].text
        total = sum(p.stat().st_size for p in env.root.rglob("*") if p.is_file())
        assert total <= 1024 * 1024
    finally:
        asyncio.run(env.aclose())
    env = FileSystemEnv()
    try:
        answers = [call(env, "make_dir", path=f"d{i}") for i in range(MAX_ENTRIES + 5)]
        assert all(a.ok for a in answers[:MAX_ENTRIES]) and not answers[-1].ok
        deep = call(env, "make_dir", path="/".join(["d"] * 20))
        assert not deep.ok and "deeper" in deep.text
    finally:
        asyncio.run(env.aclose())
    env = FileSystemEnv()
    try:
        # a name the file system refuses (300 bytes) is a refused call, not a failed episode
        long_name = call(env, "write_file", path="文" * 100, content="x")
        assert not long_name.ok and long_name.text == "error: write_file: File name too long"
    finally:
        asyncio.run(env.aclose())


def test_sqlite_runs_only_the_tools_own_statements(tmp_path):
    env = SqliteEnv({"sql": "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1), (2);"})
    target = tmp_path / "copy.db"
    try:
        refused = [
            f"ATTACH DATABASE '{target}' AS other",
            f"VACUUM INTO '{target}'",
            "PRAGMA writable_schema = ON",
            "PRAGMA table_info(t)",
            "SELECT load_extension('/tmp/evil.so')",
            "CREATE VIRTUAL TABLE v USING fts5(x)",
            "DELETE FROM sqlite_master",
            "SELECT 1; DROP TABLE t",
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
            "SELECT zeroblob(500000000)",
        ]
        for sql in refused:
            answer = call(env, "run_sql", sql=sql)
            assert not answer.ok and answer.text.startswith("error:"), (sql, answer)
        assert not target.exists()
        assert call(env, "run_sql", sql="SELECT count(*) FROM t").text == "count(*)\n2"
        # tables may be made and changed; the row count shown is bounded
        assert call(env, "run_sql", sql="CREATE TABLE n (i INTEGER)").ok
        many = (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 120) "
            "INSERT INTO n SELECT x FROM c"
        )
        assert call(env, "run_sql", sql=many).text == "ok, 120 rows changed"
        shown = call(env, "run_sql", sql="SELECT i FROM n").text.splitlines()
        assert len(shown) == 1 + MAX_ROWS + 1 and "more rows not shown" in shown[-1]
        assert call(env, "describe_table", table="n").text == "n:\n  i INTEGER"
        assert env.check({"sql": "SELECT count(*) FROM n", "rows": [[120]]}).passed
    finally:
        asyncio.run(env.aclose())


def test_the_calculator_parses_and_never_evaluates_python():
    env = CalculatorEnv({"variables": {"x": 4}})
    values = {
        "2 + 3 * 4": "14",
        "(2 + 3) * 4": "20",
        "2 ^ 3 ^ 2": "512",
        "-2 ^ 2": "-4",
        "7 // 2 + 7 % 2": "4",
        "sqrt(x) + max(1, 5, 3)": "7",
        "round(2.675, 2)": "2.68",
        "1 / 3": "0.333333333333",
    }
    for expression, shown in values.items():
        assert call(env, "calculate", expression=expression).text == shown, expression
    for hostile in (
        "__import__('os').system('id')",
        "(1).__class__",
        "x.real",
        "open('/etc/passwd')",
        "[1, 2]",
        "lambda: 1",
        "9 ** 9 ** 9",
        "(" * 80 + "1" + ")" * 80,
        "1 / 0",
        "10 ^ 400",
        "1e308 * 10 // 3",
        "floor(1e999)",
    ):
        answer = call(env, "calculate", expression=hostile)
        assert not answer.ok and answer.text.startswith("error:"), (hostile, answer)
    assert call(env, "set_variable", name="total", expression="x * 2.5").text == "total = 10"
    assert env.check({"variable": "total", "equals": 10}).passed
    assert not call(env, "set_variable", name="sqrt", expression="1").ok


def test_arguments_are_checked_against_the_tool_specs():
    env = CalendarEnv({"today": "2025-03-10", "rooms": {"A": 2}})
    cases = {
        ("book", json.dumps({"title": "x", "date": "2025-03-11", "start": "09:00", "end": "10:00"})): "missing",
        ("book", json.dumps({"title": "x", "date": "2025-03-11", "start": "09:00", "end": "10:00", "room": "A",
                             "color": "red"})): "unknown argument color",
        ("find_free_slots", json.dumps({"date": "2025-03-11", "minutes": True})): "must be an integer",
        ("find_free_slots", json.dumps({"date": "2025-03-11", "minutes": "60"})): "must be an integer",
        ("book", json.dumps({"title": "x", "date": "2025-03-11", "start": "09:00", "end": "10:00", "room": "A",
                             "attendees": ["a", "b", "c"]})): "seats 2",
        ("book", json.dumps({"title": "x", "date": "2025-03-01", "start": "09:00", "end": "10:00",
                             "room": "A"})): "past",
        ("move_booking", json.dumps({"booking_id": "B9", "start": "09:00", "end": "10:00"})): "no booking",
    }  # fmt: skip
    for (name, arguments), words in cases.items():
        answer = asyncio.run(env.call(name, json.loads(arguments)))
        assert not answer.ok and words in answer.text, (name, answer)
    assert asyncio.run(env.call("find_free_slots", {"date": "2025-03-11", "minutes": 60.0, "room": "A"})).ok
    assert not asyncio.run(env.call("list_rooms", [1, 2])).ok  # type: ignore[arg-type]


def test_no_environment_opens_a_socket(tmp_path):
    """Every tool of every environment, through every task's reference solution and hostile calls, under an audit
    hook that records any socket the process would open, bind or connect."""
    script = textwrap.dedent(
        """
        import json, sys
        events = []
        sys.addaudithook(lambda event, args: events.append(event) if event.startswith("socket.") else None)
        from tianping.agents.env import make_environment
        from tianping.agents.tasks.catalog import catalogs

        def run(coroutine):
            # driven by hand: an event loop opens a socket pair of its own
            try:
                coroutine.send(None)
            except StopIteration as done:
                return done.value
            raise RuntimeError("a tool waited on something")

        async def main():
            for catalog in catalogs().values():
                for item in catalog.items:
                    env = make_environment(item.environment, item.seed)
                    for tool, args in item.solution:
                        await env.call(tool, args)
                    for spec in await env.list_tools():
                        await env.call(spec.name, {})
                    [env.check(c) for c in item.checks]
                    await env.aclose()
            db = make_environment("sqlite", {})
            await db.call("run_sql", {"sql": "ATTACH 'http://127.0.0.1:1/x' AS y"})
            await db.aclose()

        run(main())
        print(json.dumps(events))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_a_wrong_task_file_names_the_file_line_and_field():
    assert catalogs()["calculator"].items[0].source == "calculator.yaml:5"
    base = textwrap.dedent(
        """
        environment: calculator
        tasks:
          - id: ok_task
            language: en
            goal: Store 2 in x.
            checks: [{variable: x, equals: 2}]
            solution: [{tool: set_variable, args: {name: x, expression: "2"}}]
          - id: broken
            language: @language@
            goal: Store 3 in y.
            checks: @checks@
            solution: @solution@
        """
    )

    def text(**values: str) -> str:
        out = base
        for key, value in values.items():
            out = out.replace(f"@{key}@", value)
        return out

    fine = {"language": "en", "checks": "[{variable: y, equals: 3}]", "solution": "[{tool: calculate, args: {}}]"}
    assert len(parse_catalog(text(**fine), "x.yaml").items) == 2
    cases = {
        ("language", "fr"): "x.yaml:9: task broken: language",
        ("checks", "[{variable: y, equals: three}]"): "x.yaml:9: task broken: checks",
        ("checks", "[{file: y.txt, exists: true}]"): "x.yaml:9: task broken: checks",
        ("solution", "[{tool: rm, args: {}}]"): "x.yaml:9: task broken: solution[0]",
    }
    for (key, value), words in cases.items():
        with pytest.raises(TaskConfigError) as raised:
            parse_catalog(text(**{**fine, key: value}), "x.yaml")
        assert str(raised.value).startswith(words), str(raised.value)
    with pytest.raises(TaskConfigError, match="x.yaml: environment"):
        parse_catalog("environment: shell\ntasks: []\n", "x.yaml")
    with pytest.raises(TaskConfigError, match="seed.files"):
        parse_catalog(
            "environment: files\ntasks:\n  - {id: a, language: en, goal: g, seed: {files: {../x: y}},"
            " checks: [{file: a, exists: true}], solution: [{tool: list_dir}]}\n",
            "f.yaml",
        )


def test_prices_refuse_what_is_not_a_price():
    assert parse_prices({"openai/m": {"input": 1, "output": 2.5}}, "p.yaml") == {"openai/m": (1.0, 2.5)}
    for bad in ({"openai/m": {"input": -1, "output": 1}}, {"openai/m": {"input": 1}}, ["x"]):
        with pytest.raises(TaskConfigError, match="p.yaml"):
            parse_prices(bad, "p.yaml")
