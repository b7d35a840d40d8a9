"""The examples of docs/extending.md work as written.

Each code block marked ``<!-- example: NAME -> FILE -->`` is written to FILE under a temporary folder and used
the way the page says: loaded through ``load_benchmarks`` (YAML, loaders, extractors, metrics, scorers,
references, the task kind) or asked one request directly (the backend). Offline: no model is asked and no
server is started. The registries are process-global, so each test restores the task kinds, include paths,
plugin records and backends it touched, and drops the ``docs_`` names it registered.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tianping.benchmarks import loaders, registry, scorers
from tianping.benchmarks.errors import BenchmarkDefinitionError
from tianping.core import Completion, GenerationParams, Message, MetricRow, Request, Response, RunInfo, Sample, Score
from tianping.core.backend import ModelBackend
from tianping.core.errors import TaskConfigError
from tianping.core.task import GENERATE, ScoringContext, Task
from tianping.engine import backends, tasks
from tianping.engine.runner import load_benchmarks
from tianping.models import registry as backend_registry
from tianping.spec import ModelSpec, RunSpec

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
EXAMPLE = re.compile(
    r"<!--\s*example:\s*(?P<name>[\w-]+)\s*->\s*(?P<path>[\w./-]+)\s*-->\n"
    r"```(?P<lang>\w*)\n(?P<body>.*?)^```[ \t]*$",
    re.S | re.M,
)
FENCE = re.compile(r"^```(\w+)[ \t]*$", re.M)
EXAMPLES = {
    "yaml-benchmark",
    "yaml-data",
    "plugin-functions",
    "plugin-yaml",
    "plugin-data",
    "reference-module",
    "reference-yaml",
    "reference-data",
    "backend",
    "task-kind",
}
"""Every marked block of the page, each used by a test below."""
MODEL = "openai/docs-model"


@cache
def examples() -> dict[str, tuple[str, str, str]]:
    """NAME -> (relative file, fence language, text) for every marked block of the page."""
    found: dict[str, tuple[str, str, str]] = {}
    for match in EXAMPLE.finditer(DOC.read_text(encoding="utf-8")):
        assert match["name"] not in found, f"example {match['name']} is marked twice"
        found[match["name"]] = (match["path"], match["lang"], match["body"])
    return found


@pytest.fixture
def written(tmp_path: Path) -> Path:
    """Every example written to its file under a fresh folder (``data/`` holds the data directory)."""
    for relative, _, text in examples().values():
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return tmp_path


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Kinds, include paths, imported plugin files and backends as they were; ``docs_`` functions dropped."""
    tasks.kinds()  # the installed entry points go into the real registry before it is copied
    monkeypatch.setattr(tasks, "_kinds", dict(tasks._kinds))
    monkeypatch.setattr(tasks, "_included", {})
    monkeypatch.setattr(registry, "_search_paths", [])
    monkeypatch.setattr(backend_registry, "_plugins", dict(backend_registry._plugins))
    modules = set(sys.modules)
    yield
    for table in (loaders.LOADERS, scorers.EXTRACTORS, scorers.METRICS, scorers.SCORERS):
        for name in [n for n in table if n.startswith("docs_")]:
            del table[name]
    for name in set(sys.modules) - modules:
        if name.startswith("docs_") or name.startswith("tianping_include_"):
            del sys.modules[name]


def run_spec(data: Path, benchmarks: list[str], **settings: Any) -> RunSpec:
    """A run of the named benchmarks; its endpoint is never contacted (only loading is tested)."""
    model = ModelSpec(id=MODEL, base_url="http://127.0.0.1:9/v1")
    return RunSpec(models=[model], benchmarks=benchmarks, data_dir=str(data), **settings)


def answer(text: str, *, incomplete: bool = False) -> Response:
    return Response(completions=(Completion(text=text, incomplete=incomplete),), latency_s=0.0)


def score(task: Task, sample: Sample, text: str) -> Score:
    return asyncio.run(task.ascore(sample, answer(text), ScoringContext()))


def by_id(task: Task) -> dict[str, Sample]:
    return {s.id: s for s in task.samples}


def test_every_marked_example_is_run_here_and_every_python_block_is_marked() -> None:
    found = examples()
    assert set(found) == EXAMPLES
    assert len({path for path, _, _ in found.values()}) == len(found), "two examples write the same file"
    text = DOC.read_text(encoding="utf-8")
    python_fences = [m for m in FENCE.finditer(text) if m[1] == "python"]
    marked_python = [name for name, (_, lang, _) in found.items() if lang == "python"]
    assert len(python_fences) == len(marked_python), "a Python block of the page is not marked as an example"
    for name in marked_python:
        path, _, body = found[name]
        compile(body, path, "exec")  # complete: the test imports it as it stands


def test_the_yaml_only_benchmark_maps_its_rows_and_options(written: Path) -> None:
    (task,) = load_benchmarks(run_spec(written / "data", [str(written / "defs" / "docs_quiz.yaml")]))
    assert task.name == "docs_quiz" and task.version == "1" and task.checksum
    samples = by_id(task)
    assert list(samples) == ["q1", "q2", "q3", "q4"]
    assert [len(s.fields["choices"]) for s in samples.values()] == [5, 6, 8, 10]
    assert [s.target for s in samples.values()] == ["C", "D", "C", "D"]
    q4 = samples["q4"]
    assert q4.fields["letters"] == list("ABCDEFGHIJ")
    assert q4.fields["options"].splitlines()[3] == "D. 42" and q4.fields["options"].endswith("J. 63")
    assert q4.meta["topic"] == "math" and q4.meta["line"] == 4
    assert task.aggregation.breakdowns == ("topic",) and task.requires == frozenset({GENERATE})
    request = task.build_request(q4, MODEL, task.generation)
    (message,) = request.messages or ()
    assert message.content.startswith("Answer with the letter of the correct option.\n\nWhat is 6 x 7?\nA. 36\n")
    assert message.content.endswith("J. 63\nAnswer:") and request.params.max_tokens == 16
    assert score(task, q4, "The answer is D.").value == 1.0
    assert score(task, q4, "The answer is (B).").value == 0.0


def test_the_registered_loader_extractor_metric_and_scorer_run_from_an_include_path(written: Path) -> None:
    tasks.use_include_paths([written / "plugin"])
    loaded = load_benchmarks(run_spec(written / "data", ["docs_capitals", "docs_capitals_mentions"]))
    named, mentions = loaded
    assert [t.name for t in loaded] == ["docs_capitals", "docs_capitals_mentions"]
    france = by_id(named)["France"]
    assert list(by_id(named)) == ["France", "Japan", "Kenya", "Peru"]
    assert france.target == "Paris" and france.meta["continent"] == "Europe"
    assert named.aggregation.breakdowns == ("continent",)
    (message,) = named.build_request(france, MODEL, named.generation).messages or ()
    assert message.content == "What is the capital of France? Answer with the city's name only."
    # extractor (the last word) + metric (equal up to case)
    assert score(named, france, "It is paris.").value == 1.0
    assert score(named, france, "Lyon").value == 0.0
    failed = score(named, france, "42")
    assert failed.value == 0.0 and failed.extraction_failed
    # the variant's scorer: right when the capital is named anywhere, with a further metric
    long = score(mentions, france, "Paris, which is also France's largest city.")
    assert long.value == 1.0 and long.metrics == {"brief": 0.0}
    assert score(mentions, france, "Paris").metrics == {"brief": 1.0}
    assert score(mentions, france, "Marseille").value == 0.0
    unfinished = asyncio.run(mentions.ascore(france, answer("", incomplete=True), ScoringContext()))
    assert unfinished.status == "incomplete" and unfinished.value is None
    # the loader's own option
    load = loaders.resolve_loader("docs_country_capitals")
    assert load is not None
    only_asia = load(written / "data" / "docs_capitals" / "capitals.json", {"continents": ["Asia"]})
    assert [s.id for s in only_asia.samples] == ["Japan"]


def test_a_definition_names_an_extension_function_by_reference_and_nothing_unmarked(
    written: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refs = written / "refs"
    monkeypatch.syspath_prepend(str(refs))
    (task,) = load_benchmarks(run_spec(written / "data", [str(refs / "docs_counts.yaml")]))
    spider = task.samples[0]
    assert spider.target == "8" and len(task.samples) == 3
    assert score(task, spider, "Eight legs. The answer is 8.").value == 1.0
    assert score(task, spider, "The answer is 7.").value == 0.5
    assert score(task, spider, "The answer is 5.").value == 0.0
    # the same function without @extension may not be named
    module = (refs / "docs_number_metrics.py").read_text(encoding="utf-8")
    (refs / "docs_unmarked_metrics.py").write_text(module.replace("@extension\n", ""), encoding="utf-8")
    unmarked = refs / "docs_unmarked.yaml"
    definition = (refs / "docs_counts.yaml").read_text(encoding="utf-8")
    unmarked.write_text(definition.replace("docs_number_metrics:", "docs_unmarked_metrics:"), encoding="utf-8")
    with pytest.raises(BenchmarkDefinitionError, match="not marked as a tianping extension"):
        load_benchmarks(run_spec(written / "data", [str(unmarked)]))


def test_the_backend_is_registered_and_answers_one_request(written: Path) -> None:
    with pytest.raises(ValueError, match="unknown backend 'docs_echo'"):
        ModelSpec(id="docs_echo/tiny")  # not before its plugin is imported
    tasks.use_include_paths([written / "backend"])
    spec = ModelSpec(id="docs_echo/tiny")
    assert backends.backend_supports(spec) == frozenset({GENERATE})  # from the factory, before creating one
    assert spec.endpoint == "docs_echo:tiny"  # who answers: part of the cache key
    backend = backends.create_backend(spec)
    assert isinstance(backend, ModelBackend)
    assert backend.model_id == "docs_echo/tiny" and backend.supports == frozenset({GENERATE})
    chat = Request(model=spec.id, messages=(Message("user", "Repeat the last line.\nhello there"),))
    completion = Request(model=spec.id, prompt="a\nb", params=GenerationParams(n=3))

    async def ask() -> tuple[Response, Response]:
        try:
            return await backend.generate(chat), await backend.generate(completion)
        finally:
            await backend.aclose()

    first, several = asyncio.run(ask())
    assert first.first.text == "hello there" and first.first.finish_reason == "stop"
    assert [c.text for c in several.completions] == ["b", "b", "b"]


def test_a_task_that_needs_log_likelihoods_is_refused_for_the_generate_only_backend(
    written: Path, data_dir: Path
) -> None:
    tasks.use_include_paths([written / "backend"])
    models = [ModelSpec(id="docs_echo/tiny")]
    spec = RunSpec(models=models, benchmarks=["arc_easy"], data_dir=str(data_dir), mode="loglikelihood", limit=2)
    with pytest.raises(TaskConfigError, match="arc_easy needs loglikelihood, which docs_echo/tiny cannot answer"):
        load_benchmarks(spec)


def test_the_task_kind_loads_from_an_include_path_and_its_file_is_kept_by_hash(written: Path) -> None:
    folder = written / "kind"
    tasks.use_include_paths([folder])
    assert tasks.expand_suites(["docs_arith"]) == ["docs_sums"]
    (task,) = load_benchmarks(run_spec(written / "data", ["docs_sums"], limit=6))
    assert isinstance(task, Task) and task.name == "docs_sums" and task.checksum
    assert [s.meta["digits"] for s in task.samples] == ["1", "2", "3"] * 2
    sample = task.samples[1]
    a, b = sample.fields["a"], sample.fields["b"]
    assert 10 <= a <= 99 and 10 <= b <= 99 and sample.target == str(a + b)
    (message,) = task.build_request(sample, MODEL, task.generation).messages or ()
    assert message.content == f"What is {a} + {b}? Answer with the number only."
    assert score(task, sample, f"{a} + {b} = {a + b}").value == 1.0
    assert score(task, sample, str(a + b + 1)).value == 0.0
    assert score(task, sample, "I cannot say.").extraction_failed
    # the same items in every process: a resume sees the checksum it started with
    (again,) = load_benchmarks(run_spec(written / "data", ["docs_sums"]))
    assert again.checksum == task.checksum and len(again.samples) == 30
    with pytest.raises(TaskConfigError, match="generation task"):
        load_benchmarks(run_spec(written / "data", ["docs_sums"], mode="loglikelihood"))
    # the report section of the kind
    info = RunInfo("r", "completed", "2025-01-01T00:00:00", None, "0", {})
    rows = [MetricRow(MODEL, "docs_sums", "accuracy", 0.5, 30, 0.33, 0.67)]
    (section,) = tasks.report_sections(info, rows)
    assert section.id == "docs-sums" and section.rows == ((MODEL, "50.0", "30"),)
    # what a run stores of the plugin, and the refusal of an edited file on resume
    file = (folder / "docs_arith_kind.py").resolve()
    stored = tasks.inputs_of(["docs_sums"])
    record = stored[f"plugin:{file}"]
    assert record["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
    file.write_text(file.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    with pytest.raises(tasks.PluginError, match="the plugin changed since this run started"):
        tasks.use_include_paths([folder], expected=stored)


def test_the_task_kind_loads_through_the_run_specs_include_paths(written: Path) -> None:
    spec = run_spec(written / "data", ["docs_sums"], limit=3, include_paths=[str(written / "kind")])
    (task,) = load_benchmarks(spec)
    assert task.name == "docs_sums" and len(task.samples) == 3
