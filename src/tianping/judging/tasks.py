"""The judged tasks as the engine sees them: MT-Bench (two turns, single-answer grades) and the pairwise
benchmarks against a baseline (Arena-Hard, AlpacaEval).

Every judged sample stores its judgements as a record in ``reason`` (``tianping.judging.records``). A sample
whose judgement cannot be read is ``unscorable`` with ``extracted = "unparseable"``: counted beside the score,
never given a default grade or verdict. A judge that fails after its retries makes the sample an error (a
resume asks again); a judge that cannot be reached at all stops the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from tianping.core.errors import FatalRunError
from tianping.core.task import GENERATE, AggregatedByAttributes, Episode, ScoringContext
from tianping.core.types import GenerationParams, Message, Request, Response, Sample, Score
from tianping.judging.asking import JudgeLine
from tianping.judging.grading import Scale, grade, grade_messages
from tianping.judging.pairwise import judge_pair
from tianping.judging.records import GradeRecord

__all__ = ["MTBenchTask", "JudgedTask", "PairwiseTask", "rating_label", "rating_labels"]

VERSION = "1.0"
UNPARSEABLE = "unparseable"
PAIR_OUTCOMES = ("win", "tie", "loss")
PAIR_VALUES = {"win": 1.0, "tie": 0.5, "loss": 0.0}


def rating_label(mean: float) -> str:
    """A graded sample's outcome word: its (mean) grade, ``rating 7.5``."""
    return f"rating {mean:g}"


def rating_labels(scale: Scale, turns: int = 1) -> tuple[str, ...]:
    """Every outcome word a graded task can give: its possible mean grades."""
    steps = (scale.high - scale.low) * turns
    return tuple(rating_label(scale.low + k / turns) for k in range(steps + 1))


@dataclass
class JudgedTask(AggregatedByAttributes):
    """What every judged task shares: one judge line per run, generation settings, no precheck."""

    name: str
    samples: tuple[Sample, ...] = ()
    checksum: str | None = None
    version: str = VERSION
    max_tokens: int = 2048
    system: str | None = None
    """A system prompt for the evaluated model (custom rubrics); None: none."""
    breakdowns: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)
    summary_breakdowns: tuple[str, ...] = ()
    incomplete: Literal["wrong", "apart"] = "wrong"
    cluster: str | None = None
    breakdown_metrics: tuple[str, ...] = ()
    _line: JudgeLine | None = field(default=None, repr=False)

    # each task sets ``metric_name`` and ``count_metrics`` (``AggregatedByAttributes``)

    @property
    def requires(self) -> frozenset[str]:
        return frozenset({GENERATE})

    @property
    def helpers(self) -> frozenset[str]:
        return frozenset({"judge"})

    @property
    def generation(self) -> GenerationParams:
        # greedy, for answers a rerun reproduces (FastChat samples writing and roleplay at 0.7: docs/subjective.md)
        return GenerationParams(temperature=0.0, max_tokens=self.max_tokens)

    def precheck(self, sample: Sample) -> Score | None:
        return None

    def episode(self, sample: Sample) -> Episode | None:
        return None

    def judge(self, context: ScoringContext) -> JudgeLine:
        if context.judge is None:  # the kind refuses such a run before it starts; a stale spec cannot slip by
            raise FatalRunError(f"{self.name} needs a judge model: pass --judge-model openai/<name>")
        if self._line is None or self._line.backend is not context.judge:
            self._line = JudgeLine(context.judge)
        return self._line

    def _first_messages(self, question: str) -> tuple[Message, ...]:
        user = (Message("user", question),)
        return ((Message("system", self.system),) + user) if self.system else user

    @staticmethod
    def _incomplete() -> Score:
        return Score(value=None, status="incomplete", reason="the model's reasoning did not end within its token limit")


@dataclass
class PairwiseTask(JudgedTask):
    """Each answer judged against the baseline's answer to the same prompt, in both orders."""

    metric_name = "win_rate"
    count_metrics = ("answer_chars",)

    def build_request(self, sample: Sample, model_id: str, params: GenerationParams) -> Request:
        return Request(model=model_id, messages=self._first_messages(sample.fields["question"]), params=params)

    async def ascore(self, sample: Sample, response: Response, context: ScoringContext) -> Score:
        first = response.first
        if first.incomplete:
            return self._incomplete()
        from tianping.arena.battles import markdown_counts

        style = markdown_counts(first.text, response.completion_tokens or 0)
        model_style = {"tokens": response.completion_tokens, "headers": style.headers, "lists": style.lists,
                       "bold": style.bold}  # fmt: skip
        baseline_style = sample.fields.get("baseline_style")
        if baseline_style is None:  # v0.1 and AlpacaEval answers carry no counts: markdown counted here, no tokens
            counted = markdown_counts(sample.fields["baseline"], 0)
            baseline_style = {"tokens": None, "headers": counted.headers, "lists": counted.lists,
                              "bold": counted.bold}  # fmt: skip
        record = await judge_pair(
            self.judge(context),
            question=sample.fields["question"],
            answer=first.text,
            baseline=str(sample.meta["baseline"]),
            baseline_answer=sample.fields["baseline"],
            model_style=model_style,
            baseline_style=baseline_style,
        )
        outcome = record.outcome
        if outcome == UNPARSEABLE:
            return Score(value=None, status="unscorable", extracted=UNPARSEABLE, reason=record.to_reason())
        return Score(
            value=PAIR_VALUES[outcome],
            extracted=outcome,
            reason=record.to_reason(),
            metrics={"answer_chars": float(len(first.text))},
        )


Ask = Callable[[Request], Awaitable[Response]]


@dataclass
class MTBenchTask(JudgedTask):
    """Two turns per question, the second asked on the model's own first answer; each turn graded 1-10 (against
    the reference answer in math, reasoning and coding)."""

    scale: Scale = field(default_factory=Scale)
    _built: dict[str, Request] = field(default_factory=dict, repr=False)

    metric_name = "normalized_rating"
    count_metrics = ("rating", "turn1_rating", "turn2_rating")

    def build_request(self, sample: Sample, model_id: str, params: GenerationParams) -> Request:
        request = Request(model=model_id, messages=self._first_messages(sample.fields["turns"][0]), params=params)
        self._built[sample.id] = request  # the episode asks with this model's id and settings
        return request

    def episode(self, sample: Sample) -> Episode | None:
        first = self._built.get(sample.id)
        if first is None:
            raise RuntimeError(f"episode({sample.id!r}) before build_request: the model to ask is unknown")

        async def play(ask: Ask, context: ScoringContext) -> tuple[Request, Response, Score]:
            return await self._play(sample, first, ask, context)

        return play

    async def _play(self, sample: Sample, first: Request, ask: Ask, context: ScoringContext) -> tuple[Any, ...]:
        questions: list[str] = sample.fields["turns"]
        references: list[str] | None = sample.fields.get("references")
        reply_1 = await ask(first)
        if reply_1.first.incomplete:
            return first, reply_1, self._incomplete()
        answer_1 = reply_1.first.text
        assert first.messages is not None
        second = Request(
            model=first.model,
            messages=(*first.messages, Message("assistant", answer_1), Message("user", questions[1])),
            params=first.params,
        )
        reply_2 = await ask(second)
        if reply_2.first.incomplete:
            return second, reply_2, self._incomplete()
        answer_2 = reply_2.first.text
        line = self.judge(context)
        ref_1, ref_2 = (references[0], references[1]) if references else (None, None)
        turns = await asyncio.gather(
            grade(
                line,
                self.scale,
                grade_messages(self.scale, question=questions[0], answer=answer_1, reference=ref_1),
                length=len(answer_1),
                reference=ref_1 is not None,
            ),
            grade(
                line,
                self.scale,
                grade_messages(
                    self.scale,
                    question=questions[1],
                    answer=answer_2,
                    reference=ref_2,
                    earlier=(questions[0], answer_1),
                    earlier_reference=ref_1,
                ),
                length=len(answer_2),
                reference=ref_2 is not None,
            ),
        )
        record = GradeRecord(line.model_id, self.scale.low, self.scale.high, tuple(turns))
        if not record.parsed:
            return second, reply_2, Score(None, "unscorable", extracted=UNPARSEABLE, reason=record.to_reason())
        grades = [t.grade for t in turns if t.grade is not None]
        mean = sum(grades) / len(grades)
        score = Score(
            value=self.scale.normalised(mean),
            extracted=rating_label(mean),
            reason=record.to_reason(),
            metrics={"rating": mean, "turn1_rating": float(grades[0]), "turn2_rating": float(grades[1])},
        )
        return second, reply_2, score

    async def ascore(self, sample: Sample, response: Response, context: ScoringContext) -> Score:
        raise RuntimeError("MT-Bench samples are played as episodes (two turns); ascore is never called")
