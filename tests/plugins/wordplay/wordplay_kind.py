"""A task kind defined outside tianping (tests/test_task_plugin.py): loaded with ``--include-path``.

Task ``echo_words``: the model is asked to repeat a word; half of the items expect the word reversed, so an
echoing model scores 0.5. Its outcomes are shown in its own words (``echoed`` / ``missed``), and it adds a
table to the report.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tianping.extend import (
    GENERATE,
    Episode,
    GenerationParams,
    Message,
    MetricRow,
    ReportSection,
    Request,
    Response,
    RunInfo,
    Sample,
    Score,
    ScoringContext,
    Task,
    TaskAggregation,
    TaskConfigError,
    TaskSettings,
    register_kind,
)

WORDS = Path(__file__).with_name("words.json")


class EchoWords:
    version = "1"
    requires = frozenset({GENERATE})
    helpers: frozenset[str] = frozenset()
    summary_breakdowns = ("direction",)
    warnings: tuple[str, ...] = ()
    generation = GenerationParams(temperature=0.0, max_tokens=32)
    aggregation = TaskAggregation(metric="echo_rate", breakdowns=("direction",))

    def __init__(self, name: str, limit: int | None):
        words = json.loads(WORDS.read_text(encoding="utf-8"))
        if limit is not None:
            words = words[:limit]
        self.name = name
        self.samples = tuple(
            Sample(
                id=f"w{i}",
                fields={"word": w},
                target=w if i % 2 == 0 else w[::-1],
                meta={"direction": "forward" if i % 2 == 0 else "reversed"},
            )
            for i, w in enumerate(words)
        )
        self.checksum = hashlib.sha256(WORDS.read_bytes()).hexdigest()

    def build_request(self, sample: Sample, model_id: str, params: GenerationParams) -> Request:
        prompt = f"Repeat this word: {sample.fields['word']}"
        return Request(model=model_id, messages=(Message("user", prompt),), params=params)

    def precheck(self, sample: Sample) -> Score | None:
        return None

    def episode(self, sample: Sample) -> Episode | None:
        return None

    async def ascore(self, sample: Sample, response: Response, context: ScoringContext) -> Score:
        hit = sample.target in response.first.text.split()
        return Score(value=1.0 if hit else 0.0, extracted="echoed" if hit else "missed")


class WordplayKind:
    name = "wordplay"

    def task_names(self) -> Sequence[str]:
        return ("echo_words",)

    def suites(self) -> Mapping[str, Sequence[str]]:
        return {"wordplay": ("echo_words",)}

    def claims(self, name: str) -> bool:
        return False

    def inputs(self, name: str) -> Mapping[str, Any]:
        return {}

    def load(self, name: str, settings: TaskSettings) -> list[Task]:
        if settings.mode == "loglikelihood":
            raise TaskConfigError("echo_words is a generation task")
        return [EchoWords(name, settings.limit)]

    def outcome_labels(self, name: str) -> Sequence[str]:
        return ("echoed", "missed")

    def report_sections(self, info: RunInfo, metrics: Sequence[MetricRow]) -> list[ReportSection]:
        rows = tuple(
            (m.model, f"{m.score:.2f}") for m in metrics if m.benchmark == "echo_words" and m.score is not None
        )
        if not rows:
            return []
        return [
            ReportSection("Wordplay echo rates", ("Model", "Echo rate"), rows, note="from the plugin", id="wordplay")
        ]


register_kind(WordplayKind())
