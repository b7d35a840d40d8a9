"""Suites: named standard evaluations. Every task a suite names exists, is counted in the indicator tree (so
the report rolls the suite up), and ``run --suite core-zh`` runs the suite's benchmarks and shows the roll-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine_helpers import cli
from fake_openai import oracle_answer_fn, running_server
from tianping.benchmarks.registry import builtin_definitions
from tianping.benchmarks.suites import SuiteError, bundled_suites, parse_suites
from tianping.engine.tasks import expand_suites, suites
from tianping.indicators import default_tree

SUITES = sorted(bundled_suites())


def _tree_benchmarks() -> set[str]:
    return {ref.benchmark for dim in default_tree().dimensions for cap in dim.capabilities for ref in cap.benchmarks}


def _counted(task: str, in_tree: set[str]) -> bool:
    """The roll-up takes a tree entry's row from the benchmark itself or a variant defined beside it."""
    if task in in_tree:
        return True
    defs = builtin_definitions()
    source = defs[task][1] if task in defs else None
    return any(name in in_tree and src == source for name, (_, src) in defs.items())


@pytest.mark.parametrize("name", SUITES)
def test_every_task_of_a_suite_exists_and_is_rolled_up_by_the_indicator_tree(name: str) -> None:
    known = set(builtin_definitions()) | {"safety", "safety_overrefusal"}
    suite = bundled_suites()[name]
    assert suite.description
    missing = [t for t in suite.tasks if t not in known]
    assert not missing, f"suite {name} names unknown tasks {missing}"
    in_tree = _tree_benchmarks()
    uncounted = [t for t in suite.tasks if not _counted(t, in_tree)]
    assert not uncounted, f"suite {name}: {uncounted} are not in indicators/default.yaml, so the report drops them"


@pytest.mark.parametrize("name", [n for n in SUITES if n != "safety"])
def test_a_suite_runs_in_one_mode_so_one_kind_of_model_can_take_all_of_it(name: str) -> None:
    defs = builtin_definitions()
    modes = {t: defs[t][0].default_mode for t in bundled_suites()[name].tasks if t in defs}
    assert len(set(modes.values())) == 1, f"suite {name} mixes modes: {modes}"


def test_the_bundled_suites_are_the_ones_a_run_can_name() -> None:
    every = suites()
    for name, suite in bundled_suites().items():
        assert every[name] == suite.tasks
    assert expand_suites(["core-zh", "knowledge"])[: len(bundled_suites()["core-zh"].tasks)] == list(
        bundled_suites()["core-zh"].tasks
    )


def test_a_bad_suite_file_is_an_error_naming_the_file_and_field() -> None:
    with pytest.raises(SuiteError, match=r"suites.yaml: core.tasks"):
        parse_suites("core: {description: x, tasks: []}", "suites.yaml")
    with pytest.raises(SuiteError, match=r"core.taks: Extra inputs"):
        parse_suites("core: {description: x, taks: [mmlu]}", "suites.yaml")
    with pytest.raises(SuiteError, match="more than once"):
        parse_suites("core: {description: x, tasks: [mmlu, mmlu]}", "suites.yaml")


def test_run_suite_core_zh_runs_its_benchmarks_and_show_rolls_them_up(tmp_path: Path, data_dir: Path) -> None:
    results = tmp_path / "results"
    tasks = bundled_suites()["core-zh"].tasks
    with running_server(answer_fn=oracle_answer_fn(accuracy=0.8, seed=3)) as server:
        done = cli(
            "run", "--suite", "core-zh", "--model", "openai/m", "--base-url", server.base_url,
            "--limit", "4", "--run-id", "zh", "--results-dir", str(results), "--data-dir", str(data_dir),
            "--max-retries", "0",
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    shown = cli("show", "zh", "--results-dir", str(results))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    for task in tasks:
        assert task in shown.stdout
    assert "中文能力" in shown.stdout or "Chinese-language ability" in shown.stdout
