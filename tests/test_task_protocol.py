"""The engine knows tasks only through the Task protocol, and backends by what they declare they support."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tianping.core.task import GENERATE, LOGLIKELIHOOD, LOGLIKELIHOOD_CHAT, TOOLS, Task
from tianping.engine.runner import load_benchmarks
from tianping.engine.tasks import expand_suites, kind_of, missing_capabilities
from tianping.models.registry import BUILTIN_SUPPORTS
from tianping.spec import ModelSpec, RunSpec

SRC = Path(__file__).resolve().parents[1] / "src" / "tianping"


def _code_words(path: Path) -> set[str]:
    """Names, attributes and string constants of a module's code, docstrings and comments left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    words: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.add(node.id)
        elif isinstance(node, ast.Attribute):
            words.add(node.attr)
        elif isinstance(node, ast.alias):
            words.add(node.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            words.add(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words.add(node.value)
    return words


@pytest.mark.parametrize(
    "path",
    [*sorted((SRC / "engine").glob("*.py")), *sorted((SRC / "store").glob("*.py")), SRC / "report" / "html.py"],
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_the_engine_store_and_report_name_no_task_kind(path: Path) -> None:
    named = sorted(w for w in _code_words(path) if "safety" in w.lower())
    assert not named, f"{path.relative_to(SRC)} names a task kind: {named}"


def test_bundled_tasks_implement_the_protocol(data_dir: Path) -> None:
    spec = RunSpec(
        models=[ModelSpec(id="ref/tp-ref-clean")],
        benchmarks=["gsm8k", "mmlu", *expand_suites(["safety"])],
        data_dir=str(data_dir),
        limit=3,
        modes={"mmlu": "loglikelihood"},
    )
    tasks = load_benchmarks(spec)
    assert [t.name for t in tasks] == ["gsm8k", "mmlu", "safety", "safety_overrefusal"]
    assert all(isinstance(t, Task) for t in tasks)
    assert [t.requires for t in tasks] == [{GENERATE}, {LOGLIKELIHOOD}, {GENERATE}, {GENERATE}]
    assert kind_of("safety").name == "safety" and kind_of("gsm8k").name == "benchmark"
    assert kind_of("my/definition.yaml").name == "benchmark"


def test_bundled_backend_classes_declare_what_the_registry_says() -> None:
    from tianping.models.hf_local import HFLocalBackend
    from tianping.models.openai_api import OpenAIChatBackend

    assert OpenAIChatBackend.supports == BUILTIN_SUPPORTS["openai"] == {GENERATE, TOOLS}
    local = {GENERATE, LOGLIKELIHOOD, LOGLIKELIHOOD_CHAT}
    assert HFLocalBackend.supports == BUILTIN_SUPPORTS["hf"] == BUILTIN_SUPPORTS["ref"] == local


def test_a_task_a_backend_cannot_answer_is_refused_before_any_request(data_dir: Path) -> None:
    spec = RunSpec(
        models=[ModelSpec(id="openai/gen-only", base_url="http://127.0.0.1:9/v1"), ModelSpec(id="ref/tp-ref-clean")],
        benchmarks=["mmlu"],
        data_dir=str(data_dir),
        limit=2,
        mode="loglikelihood",
    )
    with pytest.raises(ValueError, match=r"mmlu needs loglikelihood, which openai/gen-only cannot answer") as err:
        load_benchmarks(spec)
    assert "tp-ref-clean" not in str(err.value)  # the local model can: only the one that cannot is named
    (task,) = load_benchmarks(spec.model_copy(update={"models": [spec.models[1]]}))
    missing = missing_capabilities([task], [("openai/gen-only", frozenset({GENERATE}))])
    assert [(m.task, m.model, m.needs) for m in missing] == [("mmlu", "openai/gen-only", ("loglikelihood",))]


def test_an_unknown_suite_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown suite .nope.; known: .*safety"):
        expand_suites(["nope"])
