"""BFCL as a task kind: ``bfcl_<category>`` through the tools API, ``bfcl_<category>_prompt`` with the functions
described in the prompt; suites ``bfcl`` and ``bfcl-prompt``.

The mode is part of the task's name, so that the two kinds of score never share a row, a cache entry or an
indicator: a model without native tool calls (a local ``hf/`` model) runs ``--suite bfcl-prompt``, and the plan
check refuses ``bfcl`` for it before the first request (the tools mode needs the ``tools`` request kind).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tianping.agents.bfcl.data import CATEGORIES, FOLDER, BfclItem, language_of, load_category
from tianping.agents.bfcl.prompts import openai_tools, prompt_messages, with_hints
from tianping.agents.bfcl.scoring import LABELS, judge, rendered
from tianping.core.errors import TaskConfigError
from tianping.core.results import MetricRow, RunInfo
from tianping.core.task import (
    GENERATE,
    LOGLIKELIHOOD,
    TOOLS,
    Episode,
    ReportSection,
    ScoringContext,
    Task,
    TaskAbout,
    TaskAggregation,
    TaskSettings,
)
from tianping.core.types import GenerationParams, Message, Request, Response, Sample, Score

PREFIX = "bfcl_"
PROMPT_SUFFIX = "_prompt"
VERSION = "1"
INCOMPLETE_REASON = "reasoning did not finish before the token limit"


def task_name(category: str, mode: str) -> str:
    return PREFIX + category + (PROMPT_SUFFIX if mode == "prompt" else "")


def parse_name(name: str) -> tuple[str, str] | None:
    """(category, mode) of a BFCL task name, or None for another name."""
    if not name.startswith(PREFIX):
        return None
    rest, mode = name[len(PREFIX) :], "tools"
    if rest.endswith(PROMPT_SUFFIX) and rest[: -len(PROMPT_SUFFIX)] in CATEGORIES:
        rest, mode = rest[: -len(PROMPT_SUFFIX)], "prompt"
    return (rest, mode) if rest in CATEGORIES else None


ITEMS = {
    "simple_python": 400, "simple_java": 100, "simple_javascript": 50, "multiple": 200, "parallel": 200,
    "parallel_multiple": 200, "irrelevance": 240, "live_simple": 258, "live_multiple": 1053, "live_parallel": 16,
    "live_parallel_multiple": 24, "live_irrelevance": 884, "live_relevance": 16,
}  # fmt: skip
"""Questions per category in the v4 files (pinned by tests/test_bfcl.py against the data)."""
TOOL_TASKS = tuple(task_name(c, "tools") for c in CATEGORIES)
PROMPT_TASKS = tuple(task_name(c, "prompt") for c in CATEGORIES)


class BfclTask:
    """One BFCL category in one mode."""

    helpers: frozenset[str] = frozenset()
    summary_breakdowns: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    generation = GenerationParams(temperature=0.0, max_tokens=4096)
    aggregation = TaskAggregation(metric="accuracy")

    def __init__(self, category: str, mode: str, items: Sequence[BfclItem], checksum: str):
        self.category, self.mode = category, mode
        self.name = task_name(category, mode)
        self.version = f"{VERSION}-{mode}"
        self.requires = frozenset({GENERATE, TOOLS}) if mode == "tools" else frozenset({GENERATE})
        self.checksum: str | None = checksum
        self._items = {item.id: item for item in items}
        self.samples = tuple(
            Sample(
                id=item.id,
                fields={},
                target=_target(item),
                meta={"category": category, "language": language_of(category), "line": item.line},
            )
            for item in items
        )

    def build_request(self, sample: Sample, model_id: str, params: GenerationParams) -> Request:
        item = self._items[sample.id]
        docs = with_hints(item.functions, item.category)
        if self.mode == "tools":
            tools = openai_tools(docs)
            messages = [Message(role, content) for role, content in item.messages]  # type: ignore[arg-type]
            return Request(
                model=model_id,
                messages=tuple(messages),
                params=params,
                tools=json.dumps(tools, ensure_ascii=False) if tools else None,
            )
        chat = prompt_messages(item.messages, docs)
        return Request(model=model_id, messages=tuple(Message(r, c) for r, c in chat), params=params)  # type: ignore[arg-type]

    def precheck(self, sample: Sample) -> Score | None:
        return None

    def episode(self, sample: Sample) -> Episode | None:
        return None

    async def ascore(self, sample: Sample, response: Response, context: ScoringContext) -> Score:
        first = response.first
        if first.incomplete and not first.tool_calls:
            return Score(value=None, status="incomplete", reason=INCOMPLETE_REASON)
        verdict = judge(self._items[sample.id], first, self.mode)
        reason = verdict.detail
        if verdict.calls is not None:
            reason = (reason + "; " if reason else "") + "calls: " + rendered(verdict.calls)[:2000]
        return Score(
            value=1.0 if verdict.valid else 0.0,
            extracted=verdict.label,
            extraction_failed=verdict.label == "malformed",
            reason=reason or None,
        )


def _target(item: BfclItem) -> str:
    if item.ground_truth is None:
        return "no call" if "irrelevance" in item.category else "any call"
    return json.dumps(list(item.ground_truth), ensure_ascii=False)


class BfclKind:
    name = "bfcl"

    def task_names(self) -> Sequence[str]:
        return TOOL_TASKS + PROMPT_TASKS

    def suites(self) -> Mapping[str, Sequence[str]]:
        return {"bfcl": TOOL_TASKS, "bfcl-prompt": PROMPT_TASKS}

    def claims(self, name: str) -> bool:
        return False

    def inputs(self, name: str) -> Mapping[str, Any]:
        return {}  # the data's checksum pins a resumed run to the same files

    def load(self, name: str, settings: TaskSettings) -> list[Task]:
        parsed = parse_name(name)
        if parsed is None:
            raise TaskConfigError(f"{name}: not a BFCL task (known: {', '.join(TOOL_TASKS + PROMPT_TASKS)})")
        if settings.mode == LOGLIKELIHOOD:
            raise TaskConfigError(f"{name} is scored on generated calls: it has no log-likelihood mode")
        category, mode = parsed
        items, checksum = load_category(Path(settings.data_dir), category)
        if settings.limit is not None:
            items = items[: settings.limit]
        return [BfclTask(category, mode, items, checksum)]

    def about(self, name: str) -> TaskAbout | None:
        parsed = parse_name(name)
        if parsed is None:
            return None
        category, mode = parsed
        how = "tools API" if mode == "tools" else "functions in the prompt"
        task_type = f"function calling ({category.replace('_', ' ')}; {how}), AST-checked"
        return TaskAbout(task_type, ("en",), ITEMS[category], "accuracy", FOLDER)

    def outcome_labels(self, name: str) -> Sequence[str]:
        return LABELS if parse_name(name) is not None else ()

    def report_sections(self, info: RunInfo, metrics: Sequence[MetricRow]) -> list[ReportSection]:
        from tianping.agents.bfcl.summary import summary_section

        section = summary_section(metrics)
        return [section] if section is not None else []


KIND = BfclKind()
