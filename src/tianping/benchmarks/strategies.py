"""How a benchmark asks and scores, by mode: a generation strategy (prompt templates, then an extractor and a
metric or a whole-sample scorer) or a log-likelihood strategy (a context and its choices, scored by their
log-likelihoods as lm-evaluation-harness does). ``Benchmark`` picks one when it is built and delegates to it."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from tianping.benchmarks import templates
from tianping.benchmarks.definition import BenchmarkDef
from tianping.benchmarks.errors import BenchmarkDefinitionError
from tianping.benchmarks.loglikelihood import ContextOptions, LogLikelihoodTask, maybe_delimit
from tianping.benchmarks.references import is_reference, resolve_reference
from tianping.benchmarks.scorers import (
    EXTRACTORS,
    LAZY,
    METRICS,
    SCORERS,
    Extractor,
    Metric,
    Scorer,
    ScoringContext,
    resolve,
)
from tianping.benchmarks.templates import compile_template as _compile
from tianping.benchmarks.templates import location
from tianping.benchmarks.templates import render as _render
from tianping.core import GenerationParams, Message, Request, Response, Sample, Score
from tianping.core.task import GENERATE, LOGLIKELIHOOD, LOGLIKELIHOOD_CHAT

INCOMPLETE_REASON = "reasoning did not finish before the token limit"

_MAX_CACHED_SHOTS = 20_000
"""Rendered few-shot examples kept per strategy; a fixed set of shots is a handful, a pool drawn from per
sample at most its size."""


def _require_known(source: str, where: str, kind: str, name: str | None, table: Mapping[str, Any]) -> Any:
    if is_reference(name):
        assert name is not None
        return resolve_reference(name, source, where)
    found = resolve(table, name) if name is not None else None
    if found is None:
        known = ", ".join(sorted({*table, *(n for n, m in LAZY.items())}))
        raise BenchmarkDefinitionError(f"{source}: field '{where}': unknown {kind} '{name}' (known: {known})")
    return found


class Strategy(Protocol):
    requires: frozenset[str]
    sandbox: bool

    def version(self, version: str) -> str: ...

    def breakdowns(self) -> list[str]: ...

    @property
    def metric_name(self) -> str: ...

    def check(self, samples: Sequence[Sample], shots: Sequence[Sample]) -> None: ...

    def build_request(
        self, sample: Sample, shots: Sequence[Sample], model_id: str, params: GenerationParams
    ) -> Request: ...

    def score(self, sample: Sample, response: Response) -> Score: ...

    async def ascore(self, sample: Sample, response: Response, context: ScoringContext) -> Score: ...


class GenerationStrategy:
    """Prompt templates rendered into a chat or a completion prompt; the answer extracted and compared, or scored
    whole by a scorer. Built for every definition with a prompt or a scoring section, so that a misspelt
    template or scorer fails when the definition is loaded, whichever mode runs."""

    requires = frozenset({GENERATE})

    def __init__(self, definition: BenchmarkDef, source: str, options: ContextOptions | None = None):
        d, src = definition, source
        self.definition = d
        # of the context options only the system instruction applies: generation prompts have their own format
        self._system_instruction = options.system_instruction if options is not None else None
        self._extract: Extractor | None = None
        self._metric: Metric | None = None
        self._scorer: Scorer | None = None
        if d.scoring is not None and d.scoring.scorer is not None:
            self._scorer = _require_known(src, "scoring.scorer", "scorer", d.scoring.scorer, SCORERS)
        elif d.scoring is not None:
            self._extract = _require_known(src, "scoring.extractor", "extractor", d.scoring.extractor, EXTRACTORS)
            self._metric = _require_known(src, "scoring.metric", "metric", d.scoring.metric, METRICS)
        # a named rule (validated with the definition) scores multi-select answers beside the metric
        self._partial = d.scoring.partial_credit if d.scoring is not None else None
        p = d.prompt
        if p is not None:
            self._question = _compile(p.question, src, "prompt.question")
            self._answer = _compile(p.answer, src, "prompt.answer")
            self._instruction = _compile(p.instruction, src, "prompt.instruction") if p.instruction else None
            self._system = p.system
        self._shots: dict[int, tuple[Sample, tuple[str, str]]] = {}
        self.sandbox = d.scoring is not None and d.scoring.sandbox

    def version(self, version: str) -> str:
        if self._system_instruction:
            return version + ContextOptions(system_instruction=self._system_instruction).version_suffix()
        return version

    def breakdowns(self) -> list[str]:
        return self.definition.scoring.breakdowns if self.definition.scoring is not None else []

    @property
    def metric_name(self) -> str:
        scoring = self.definition.scoring
        return scoring.metric_name if scoring is not None else "accuracy"

    def check(self, samples: Sequence[Sample], shots: Sequence[Sample]) -> None:
        """Every template tried against the rows, so that a misspelt variable stops the run before it starts."""
        if self.definition.prompt is not None:
            templates.check([self._question, self._instruction], samples)
            templates.check([self._question, self._answer], shots, "few-shot dataset")

    def _shot_pair(self, shot: Sample) -> tuple[str, str]:
        """A few-shot example's question and answer, rendered once per example rather than once per sample that
        shows it. Keyed by identity (the shots are the benchmark's own objects, shared by every request; sample ids
        may repeat across pools); the example is kept beside its text, so its ``id`` cannot be reused meanwhile."""
        cached = self._shots.get(id(shot))
        if cached is not None and cached[0] is shot:
            return cached[1]
        pair = (_render(self._question, shot), _render(self._answer, shot))
        if len(self._shots) >= _MAX_CACHED_SHOTS:  # shots drawn per sample from a large pool: bound the memory
            self._shots.clear()
        self._shots[id(shot)] = (shot, pair)
        return pair

    def build_request(
        self, sample: Sample, shots: Sequence[Sample], model_id: str, params: GenerationParams
    ) -> Request:
        p = self.definition.prompt
        assert p is not None  # a benchmark without a prompt runs only in loglikelihood mode (checked on creation)
        question = _render(self._question, sample)
        instruction = _render(self._instruction, sample) if self._instruction else None
        shot_pairs = [self._shot_pair(s) for s in shots]
        if p.format == "completion" or self.definition.fewshot.style == "inline":
            parts = [instruction] if instruction else []
            parts.extend(q + a for q, a in shot_pairs)
            parts.append(question)
            text = p.separator.join(parts)
            if p.format == "completion":
                if sample.media:
                    raise BenchmarkDefinitionError(f"{location(sample)}: an item with images needs a chat prompt")
                text = maybe_delimit(self._system_instruction, text, p.separator)
                return Request(model=model_id, prompt=text, params=params)
            turns = [Message("user", text)]
        else:
            turns = []
            for q, a in shot_pairs:
                turns.append(Message("user", q))
                turns.append(Message("assistant", a.strip()))
            turns.append(Message("user", question))
            if instruction:
                turns[0] = Message("user", instruction + p.separator + turns[0].content)
        if sample.media:  # a vision item: its images go with its question
            turns[-1] = dataclasses.replace(turns[-1], parts=sample.media)
        system = maybe_delimit(self._system_instruction, self._system, p.separator)
        if system:
            turns.insert(0, Message("system", system))
        return Request(model=model_id, messages=tuple(turns), params=params)

    async def ascore(self, sample: Sample, response: Response, context: ScoringContext) -> Score:
        if self._scorer is None:
            return self.score(sample, response)
        result = self._scorer(sample, response, context)
        return await result if inspect.isawaitable(result) else result

    def score(self, sample: Sample, response: Response) -> Score:
        """Score the first completion (incomplete reasoning is not a wrong answer)."""
        if self._extract is None or self._metric is None:
            raise TypeError(f"benchmark {self.definition.name} scores with a whole-sample scorer: use ascore")
        first = response.first
        if first.incomplete:
            return Score(value=None, status="incomplete", reason=INCOMPLETE_REASON)
        extracted = self._extract(first.text, sample)
        metrics = {}
        if self._partial is not None:
            from tianping.scoring.choice_set import partial_credit

            metrics["partial_credit"] = partial_credit(self._partial, extracted, sample.target)
        if extracted is None:
            return Score(
                value=0.0, extracted=None, extraction_failed=True, reason="no answer found in output", metrics=metrics
            )
        return Score(value=self._metric(extracted, sample.target), extracted=extracted, metrics=metrics)


class LogLikelihoodStrategy:
    """A context and its choices; the model's log-likelihood of each choice picks the answer (``loglikelihood``
    section of the definition). Generation settings do not apply."""

    sandbox = False

    def __init__(self, definition: BenchmarkDef, source: str, options: ContextOptions | None = None):
        assert definition.loglikelihood is not None  # checked by the definition's supports()
        self.definition = definition
        self.task = LogLikelihoodTask(definition.loglikelihood, source, options)
        # a chat context is rendered by the model's own template: only backends that can do so answer it
        chat = self.task.options.apply_chat_template
        self.requires = frozenset({LOGLIKELIHOOD, LOGLIKELIHOOD_CHAT} if chat else {LOGLIKELIHOOD})

    def version(self, version: str) -> str:
        """A log-likelihood run says so: its prompts and metrics differ from the generation run's (as do the
        prompts of a chat template or a system instruction)."""
        return f"{version}+loglikelihood{self.task.options.version_suffix()}"

    def breakdowns(self) -> list[str]:
        d = self.definition
        if d.loglikelihood is not None and d.loglikelihood.breakdowns is not None:
            return d.loglikelihood.breakdowns
        return d.scoring.breakdowns if d.scoring is not None else []

    @property
    def metric_name(self) -> str:
        return self.task.primary_metric

    def check(self, samples: Sequence[Sample], shots: Sequence[Sample]) -> None:
        self.task.check_templates(samples, shots)
        self.task.check(samples)
        self.task.check(shots)

    def build_request(
        self, sample: Sample, shots: Sequence[Sample], model_id: str, params: GenerationParams
    ) -> Request:
        return self.task.build_request(sample, shots, model_id)

    async def ascore(self, sample: Sample, response: Response, context: ScoringContext) -> Score:
        return self.task.score(sample, response)

    def score(self, sample: Sample, response: Response) -> Score:
        return self.task.score(sample, response)
