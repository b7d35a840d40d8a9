"""YAML benchmarks as a task kind: bundled definitions by name, a user's file by path, include-path files by name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tianping.benchmarks.loglikelihood import ContextOptions
from tianping.benchmarks.registry import is_path, named_definitions
from tianping.benchmarks.sources import build_from_text, read_definition
from tianping.core.results import MetricRow, RunInfo
from tianping.core.task import ReportSection, Task, TaskAbout, TaskSettings


class BenchmarkKind:
    name = "benchmark"

    def task_names(self) -> Sequence[str]:
        return sorted(named_definitions())

    def suites(self) -> Mapping[str, Sequence[str]]:
        from tianping.benchmarks.suites import bundled_suites

        return {name: suite.tasks for name, suite in bundled_suites().items()}

    def claims(self, name: str) -> bool:
        # ``rubric:PATH`` names a custom judging rubric (tianping.judging), ``agent:PATH`` an agent task file
        # (tianping.agents.tasks), not a definition file
        return is_path(name) and not name.startswith(("rubric:", "agent:"))

    def inputs(self, name: str) -> Mapping[str, Any]:
        return {name: read_definition(name).to_record()}

    def load(self, name: str, settings: TaskSettings) -> list[Task]:
        stored = (settings.stored_inputs or {}).get(name)
        text = stored if stored is not None else read_definition(name)
        built = build_from_text(text, name, settings.data_dir, settings.mode, settings.allow_outside_data)  # type: ignore[arg-type]
        num_fewshot, options = prompt_settings(settings.spec)
        items = (settings.spec.get("items") or {}).get(name)  # the run's chosen sample ids (RunSpec.items)
        return [
            bench.configure(num_fewshot=num_fewshot, options=options).load(
                None if items is not None else settings.limit, settings.limit_mode, items
            )
            for bench in built
        ]

    def about(self, name: str) -> TaskAbout | None:
        found = named_definitions().get(name)
        if found is None:
            return None  # a definition file given by path: read when the run loads it
        definition = found[0]
        facts = definition.about
        if definition.default_mode == "generate" and definition.scoring is not None:
            metric = definition.scoring.metric_name
        else:
            metric = definition.loglikelihood.metrics[0] if definition.loglikelihood else ""
        dataset = facts.data or definition.dataset.path.split("/", 1)[0]
        return TaskAbout(facts.task_type, tuple(facts.languages), facts.items, metric, dataset)

    def outcome_labels(self, name: str) -> Sequence[str]:
        return ()

    def report_sections(self, info: RunInfo, metrics: Sequence[MetricRow]) -> list[ReportSection]:
        return []


def prompt_settings(spec: Mapping[str, Any]) -> tuple[int | None, ContextOptions | None]:
    """The run's ``num_fewshot`` and context options (``RunSpec`` fields, read from the spec as data)."""
    num_fewshot = spec.get("num_fewshot")
    options = ContextOptions(
        apply_chat_template=bool(spec.get("apply_chat_template")),
        fewshot_as_multiturn=bool(spec.get("fewshot_as_multiturn")),
        system_instruction=spec.get("system_instruction") or None,
    )
    return num_fewshot, options if options != ContextOptions() else None


KIND = BenchmarkKind()
