"""The short start-up path of ``tianping run`` (issue 23): one command group built, only the named benchmark
parsed, no other task kind imported; and the request body built from the request's own JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tianping.benchmarks.registry import _BundledDefinitions
from tianping.cli import _GROUP_COMMANDS, _GROUPS, _app_for, _command_names, app
from tianping.core.types import GenerationParams, Message, Request
from tianping.engine.tasks import kinds
from tianping.models.openai_api import body_with_model

runner = CliRunner()


def test_every_command_gets_an_app_of_its_own_group() -> None:
    names = [name for group in _GROUPS for name in _command_names(group)]
    assert len(names) == len(set(names)), "two groups register one command name"
    assert {"run", "resume", "runs", "data", "serve", "loadtest"} <= set(names)
    for name in names:
        single = _app_for([name, "--help"])
        assert single is not app
        assert name in _command_names_of(single)


def test_the_table_of_command_names_is_what_each_group_registers() -> None:
    assert [g.__name__.rsplit(".", 1)[1] for g in _GROUPS] == list(_GROUP_COMMANDS)
    for group in _GROUPS:
        assert set(_GROUP_COMMANDS[group.__name__.rsplit(".", 1)[1]]) == _command_names(group), group.__name__


def test_a_command_imports_no_other_command_group() -> None:
    probe = (
        "import sys; from tianping.cli import _app_for, _GROUP_COMMANDS; _app_for(['run', '--help']); "
        "print(sorted(g for g in _GROUP_COMMANDS if 'tianping.cli.' + g in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['data', 'run']"  # run pulls missing data through data's ensure_for_run


def _command_names_of(typer_app: object) -> set[str]:
    import typer.main

    group = typer.main.get_group(typer_app)  # type: ignore[arg-type]
    return set(group.commands)


@pytest.mark.parametrize("argv", [["--help"], ["--version"], [], ["no-such-command"]])
def test_help_version_and_unknown_names_get_the_full_app(argv: list[str]) -> None:
    assert _app_for(argv) is app


@pytest.mark.parametrize("argv", [["run", "--help"], ["data", "--help"], ["resume", "--help"], ["run", "--nope"]])
def test_a_single_group_app_answers_as_the_full_one(argv: list[str]) -> None:
    full = runner.invoke(app, argv)
    single = runner.invoke(_app_for(argv), argv)
    assert (single.exit_code, single.output) == (full.exit_code, full.output)


def test_lazy_bundled_definitions_equal_a_full_parse() -> None:
    full = dict(_BundledDefinitions().items())
    assert len(full) > 50
    for name, (definition, source) in full.items():
        lazy = _BundledDefinitions()  # fresh: each lookup starts from nothing parsed
        found = lazy[name]
        assert found[1] == source and found[0] == definition, name
    lazy = _BundledDefinitions()
    assert "no_such_benchmark" not in lazy
    with pytest.raises(KeyError):
        lazy["no_such_benchmark"]


def test_own_task_kinds_name_disjoint_tasks() -> None:
    """The benchmark kind answers for a bundled name before the other kinds are loaded: sound only while no
    other kind of tianping's lists the same name."""
    seen: dict[str, str] = {}
    for kind in kinds():
        for name in kind.task_names():
            assert name not in seen, f"{name} is listed by both {seen[name]} and {kind.name}"
            seen[name] = kind.name


def test_a_named_benchmark_loads_no_other_task_kind(tmp_path: object) -> None:
    probe = """
import sys
from tianping.engine.tasks import inputs_of, kind_of
from tianping.benchmarks.registry import builtin_definitions
kind = kind_of("gsm8k")
inputs = inputs_of(["gsm8k"])
others = sorted(m for m in sys.modules if m.startswith(("tianping.agents", "tianping.safety", "tianping.judging",
                                                      "tianping.web", "tianping.multimodal.encode")))
print(kind.name, len(builtin_definitions()._parsed), list(inputs), others)
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split(" ", 3)
    assert out[0] == "benchmark"
    assert int(out[1]) < 5, "most bundled definition files were parsed to find one benchmark"
    assert out[2:] == ["['gsm8k']", "[]\n"]


@pytest.mark.parametrize(
    "request_",
    [
        Request(model="m", messages=(Message("user", 'Question: 天平 "x"\\n'),), params=GenerationParams()),
        Request(model="m", prompt="p", params=GenerationParams(temperature=0.0, max_tokens=5, stop=("\n",))),
        Request(model="m", messages=(Message("user", "q"),), tools='[{"type": "function"}]', tool_choice="auto"),
    ],
)
@pytest.mark.parametrize("model", ["fake", 'org/模型 "q"'])
def test_the_body_is_the_payload_json_with_the_model(request_: Request, model: str) -> None:
    expected = json.dumps({**request_.payload(), "model": model}, ensure_ascii=False).encode("utf-8")
    assert body_with_model(request_.payload_json, model) == expected


def test_an_empty_payload_and_a_non_object_are_handled() -> None:
    assert body_with_model("{}", "m") == json.dumps({"model": "m"}).encode()
    with pytest.raises(ValueError):
        body_with_model("[]", "m")


def test_a_whole_run_of_a_bundled_benchmark_imports_no_other_task_kind(tmp_path, data_dir) -> None:
    """From the command line to the summary table (whose further tables each kind may add): a GSM8K run neither
    imports the safety, agent or judging packages nor parses the other definition files."""
    from fake_openai import oracle_answer_fn, running_server

    probe = """
import sys
from tianping.cli import _app_for
try:
    _app_for(sys.argv[1:])(sys.argv[1:])
except SystemExit as exit:
    assert not exit.code, exit.code
print(sorted(m for m in sys.modules if m.startswith(("tianping.agents.", "tianping.safety.", "tianping.judging.",
                                                    "tianping.web", "tianping.cli.arena", "tianping.cli.loadtest"))))
"""  # the packages' own __init__ modules only name their tasks
    with running_server(answer_fn=oracle_answer_fn()) as server:
        argv = ["run", "--model", "openai/m", "--base-url", server.base_url, "--benchmark", "gsm8k", "--limit", "3",
                "--data-dir", str(data_dir), "--results-dir", str(tmp_path)]  # fmt: skip
        done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True,
                              env={**os.environ, "OPENAI_API_KEY": "x"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
