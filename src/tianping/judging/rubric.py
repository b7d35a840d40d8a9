"""Custom rubrics: single-answer grading of a user's own questions on their own criteria.

A rubric is a small YAML file, named on the command line as ``--benchmark rubric:PATH``::

    name: support_replies          # the task's name in results (lower case, digits, _ and -)
    questions: questions.jsonl     # JSON Lines, relative to this file
    fields:                        # which field of a row holds what (defaults shown)
      question: question
      reference: null              # a field with a reference answer the judge checks against
      id: null                     # a field with a unique id (default: the line number)
      category: null               # a field to break the scores down by
    criteria: |                    # what the judge weighs, in your words
      The reply solves the customer's problem, is accurate about our product, and stays polite.
    scale: {min: 1, max: 5}        # whole-number grades (default 1-10)
    system: null                   # a system prompt for the evaluated model
    max_tokens: 1024               # the evaluated model's answer budget

The judge gets the criteria inside tianping's grading prompt (``prompts/grade_system.txt``), the question,
the reference where there is one, and the answer; its grade is read as strictly as MT-Bench's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tianping.core.errors import TaskConfigError
from tianping.core.suggest import validation_problems
from tianping.core.task import ScoringContext
from tianping.core.types import GenerationParams, Request, Response, Sample, Score
from tianping.judging.grading import Scale, grade, grade_messages
from tianping.judging.records import GradeRecord
from tianping.judging.sources import digest, read_jsonl
from tianping.judging.tasks import UNPARSEABLE, JudgedTask, rating_label

__all__ = ["PREFIX", "Rubric", "RubricTask", "load_rubric_task", "parse_rubric", "rubric_path"]

PREFIX = "rubric:"
"""How a rubric file is named on the command line: ``--benchmark rubric:path/to/rubric.yaml``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RubricFields(_Strict):
    question: str = "question"
    reference: str | None = None
    id: str | None = None
    category: str | None = None


class RubricScale(_Strict):
    min: int = 1
    max: int = 10

    @model_validator(mode="after")
    def _ordered(self) -> RubricScale:
        if not self.min < self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        if self.max - self.min > 100:
            raise ValueError("a scale of more than 100 steps is not a rubric grade")
        return self


class Rubric(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    version: str = "1"
    description: str = ""
    questions: str
    fields: RubricFields = Field(default_factory=RubricFields)
    criteria: str = Field(min_length=1)
    scale: RubricScale = Field(default_factory=RubricScale)
    system: str | None = None
    max_tokens: int = Field(1024, ge=1, le=200_000)

    @model_validator(mode="after")
    def _criteria_said(self) -> Rubric:
        if not self.criteria.strip():
            raise ValueError("criteria: say what the judge should weigh")
        return self


def rubric_path(name: str) -> Path:
    """The file a ``rubric:PATH`` reference names."""
    return Path(name[len(PREFIX) :]).expanduser()


def parse_rubric(text: str, source: str) -> Rubric:
    """A rubric from its YAML text; errors name the file, and the line or the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise TaskConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(data, dict):
        raise TaskConfigError(f"{source}: a rubric is a YAML mapping (name, questions, criteria, ...)")
    try:
        return Rubric.model_validate(data)
    except ValidationError as exc:
        where, message = validation_problems(exc, Rubric)[0]
        raise TaskConfigError(f"{source}: field '{where}': {message}") from None


def read_rubric_text(name: str) -> tuple[str, str]:
    """(text, absolute path) of the rubric file a reference names."""
    path = rubric_path(name)
    try:
        return path.read_text(encoding="utf-8"), str(path.absolute())
    except FileNotFoundError:
        raise TaskConfigError(f"{name}: no rubric file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskConfigError(f"{name}: cannot read the rubric file {path}: {exc}") from None


def _samples(rubric: Rubric, path: Path) -> list[Sample]:
    f = rubric.fields
    samples: list[Sample] = []
    seen: set[str] = set()
    for number, row in read_jsonl(path):
        where = f"{path}:{number}"
        question = row.get(f.question)
        if not isinstance(question, str) or not question.strip():
            raise TaskConfigError(f"{where}: field '{f.question}' (fields.question) is missing or empty")
        reference = None
        if f.reference is not None:
            reference = row.get(f.reference)
            if not isinstance(reference, str) or not reference.strip():
                raise TaskConfigError(f"{where}: field '{f.reference}' (fields.reference) is missing or empty")
        sample_id = str(number)
        if f.id is not None:
            raw = row.get(f.id)
            if not isinstance(raw, str | int) or isinstance(raw, bool) or str(raw) in seen:
                raise TaskConfigError(f"{where}: field '{f.id}' (fields.id) must be a unique string or integer")
            sample_id = str(raw)
        seen.add(sample_id)
        meta: dict[str, Any] = {"line": number}
        if f.category is not None:
            meta["category"] = str(row.get(f.category, "unknown"))
        samples.append(
            Sample(
                id=sample_id, fields={"question": question, "reference": reference}, target=reference or "", meta=meta
            )  # fmt: skip
        )
    if not samples:
        raise TaskConfigError(f"{path}: no questions")
    return samples


@dataclass
class RubricTask(JudgedTask):
    """One answer per question, graded on the rubric's criteria and scale."""

    rubric: Rubric | None = None
    scale: Scale = field(default_factory=Scale)

    metric_name = "normalized_rating"
    count_metrics = ("rating",)

    def build_request(self, sample: Sample, model_id: str, params: GenerationParams) -> Request:
        return Request(model=model_id, messages=self._first_messages(sample.fields["question"]), params=params)

    async def ascore(self, sample: Sample, response: Response, context: ScoringContext) -> Score:
        first = response.first
        if first.incomplete:
            return self._incomplete()
        assert self.rubric is not None
        line = self.judge(context)
        reference = sample.fields.get("reference")
        messages = grade_messages(
            self.scale, question=sample.fields["question"], answer=first.text, reference=reference,
            criteria=self.rubric.criteria,
        )  # fmt: skip
        turn = await grade(line, self.scale, messages, length=len(first.text), reference=reference is not None)
        record = GradeRecord(line.model_id, self.scale.low, self.scale.high, (turn,))
        if turn.grade is None:
            return Score(None, "unscorable", extracted=UNPARSEABLE, reason=record.to_reason())
        return Score(
            value=self.scale.normalised(turn.grade),
            extracted=rating_label(turn.grade),
            reason=record.to_reason(),
            metrics={"rating": float(turn.grade)},
        )


def load_rubric_task(name: str, text: str, source: str, data_dir: Path) -> RubricTask:
    """The task a rubric's text describes; its questions file is read relative to the rubric's own folder."""
    del data_dir  # a user's own questions live beside their rubric, not in the shared data folder
    rubric = parse_rubric(text, source)
    questions = Path(rubric.questions).expanduser()
    if not questions.is_absolute():
        questions = Path(source).parent / questions
    try:
        samples = _samples(rubric, questions)
    except TaskConfigError:
        raise
    except ValueError as exc:  # the JSON Lines reader's errors name the file and line already
        raise TaskConfigError(str(exc)) from None
    return RubricTask(
        name=rubric.name,
        samples=tuple(samples),
        checksum=digest([questions], text),
        version=rubric.version,
        max_tokens=rubric.max_tokens,
        system=rubric.system,
        breakdowns=("category",) if rubric.fields.category else (),
        rubric=rubric,
        scale=Scale(rubric.scale.min, rubric.scale.max),
    )
