"""The Task protocol: what the engine, the store, the report and the CLI know of any kind of evaluation task.

A *task* is a set of samples, a way to turn one sample into a request, and a way to score the answer. A
*task kind* (YAML benchmarks, the safety suite, a plugin's kind) names the tasks it provides and loads them
from a run's settings. The engine drives every task through this protocol alone, so a new kind of task is
added by registering a ``TaskKind`` (``tianping.extend.register_kind`` or the ``tianping.tasks`` entry
point), without a line changed in the engine, the store, the report or the CLI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from tianping.core.backend import ModelBackend
from tianping.core.results import MetricRow, RunInfo
from tianping.core.types import GenerationParams, Request, Response, Sample, Score

GENERATE = "generate"
LOGLIKELIHOOD = "loglikelihood"
TOOLS = "tools"
MULTI_TURN = "multi_turn"
"""Request kinds a task may need and a backend may support (``ModelBackend.supports``)."""
LOGLIKELIHOOD_CHAT = "loglikelihood_chat"
"""A log-likelihood request whose context is a chat (``Request.messages``), rendered by the model's own chat
template: local models answer it; an endpoint's ``/completions`` cannot (it has no template to render with)."""

PRIMARY_METRIC = "accuracy"


@runtime_checkable
class CodeSandbox(Protocol):
    """Runs model-written programs in isolation (``tianping.scoring.sandbox.Sandbox``)."""

    @property
    def mechanism(self) -> str: ...

    async def run_python(self, code: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class ScoringContext:
    """What a scorer may need beyond the sample and the answer; the engine fills in what the run's tasks
    declared in ``Task.helpers``."""

    sandbox: CodeSandbox | None = None
    options: dict[str, Any] | None = None
    judge: ModelBackend | None = None
    """A backend for scorers that ask a model for a verdict; None: rules only."""
    judge_preset: str = "tianping"
    """How the judge is asked and read (a judge preset name)."""
    attacker: ModelBackend | None = None
    """A backend that writes attacks (adaptive attacks); None: no attacker configured."""


Ask = Callable[[Request], Awaitable[Response]]
"""Ask the evaluated model one request (cached, counted, retried as any request of the run)."""
Episode = Callable[[Ask, ScoringContext], Awaitable[tuple[Request, Response, Score]]]
"""A sample played as several model calls: returns the request and answer to store, and the score."""


@dataclass(frozen=True)
class TaskAggregation:
    """How one task's samples become aggregates (stored with the run, so a partial run aggregates alike)."""

    metric: str = PRIMARY_METRIC
    """The name of the per-sample value."""
    breakdowns: Sequence[str] = ()
    """``meta`` keys to report one score per value of."""
    incomplete: Literal["wrong", "apart"] = "wrong"
    """An incomplete answer counts as not correct, or is kept out of the denominator."""
    cluster: str | None = None
    """A ``meta`` key whose equal values make items dependent (a seed prompt under several attacks): the
    interval is then widened by the design effect (``clustered_proportion``)."""
    breakdown_metrics: Sequence[str] = ()
    """Further per-sample metrics broken down like the primary one (an engagement rate per attack)."""
    count_metrics: Sequence[str] = ()
    """Further per-sample metrics that are counts, not rates (requests an adaptive attack spent): their mean
    over the answers that have them, with a bootstrap interval, shown as a number."""

    @classmethod
    def of(cls, stored: TaskAggregation | Mapping[str, Any] | None) -> TaskAggregation:
        """From the ``tasks`` entry a run stored (older runs stored only ``breakdowns`` and ``metric``)."""
        if isinstance(stored, TaskAggregation):
            return stored
        stored = stored or {}
        return cls(
            metric=stored.get("metric") or PRIMARY_METRIC,
            breakdowns=tuple(stored.get("breakdowns") or ()),
            incomplete="apart" if stored.get("incomplete") == "apart" else "wrong",
            cluster=stored.get("cluster"),
            breakdown_metrics=tuple(stored.get("breakdown_metrics") or ()),
            count_metrics=tuple(stored.get("count_metrics") or ()),
        )

    def stored(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "breakdowns": list(self.breakdowns),
            "incomplete": self.incomplete,
            "cluster": self.cluster,
            "breakdown_metrics": list(self.breakdown_metrics),
            "count_metrics": list(self.count_metrics),
        }


class AggregatedByAttributes:
    """For a task that says how it aggregates in attributes (``metric_name``, ``breakdowns``, ``incomplete``,
    ``cluster``, ``breakdown_metrics``, ``count_metrics``): its ``aggregation`` from them."""

    metric_name: str
    breakdowns: Sequence[str]
    incomplete: Literal["wrong", "apart"]
    cluster: str | None
    breakdown_metrics: Sequence[str]
    count_metrics: Sequence[str]

    @property
    def aggregation(self) -> TaskAggregation:
        return TaskAggregation(
            metric=self.metric_name,
            breakdowns=tuple(self.breakdowns),
            incomplete=self.incomplete,
            cluster=self.cluster,
            breakdown_metrics=tuple(self.breakdown_metrics),
            count_metrics=tuple(self.count_metrics),
        )


@runtime_checkable
class Task(Protocol):
    """One loaded task of a run. ``samples`` and ``checksum`` are set once the task is loaded."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def samples(self) -> tuple[Sample, ...]: ...

    @property
    def checksum(self) -> str | None:
        """A digest of the data the samples came from: a resumed run refuses data that changed."""
        ...

    @property
    def generation(self) -> GenerationParams:
        """The task's own generation settings, under the run's and the model's overrides."""
        ...

    @property
    def requires(self) -> frozenset[str]:
        """Request kinds the backend must support (``GENERATE``, ``LOGLIKELIHOOD``, ...)."""
        ...

    @property
    def helpers(self) -> frozenset[str]:
        """What scoring needs beside the model: ``sandbox`` (run code), ``attacker`` (required), ``judge``
        (used when configured)."""
        ...

    @property
    def aggregation(self) -> TaskAggregation: ...

    @property
    def summary_breakdowns(self) -> Sequence[str]:
        """Breakdowns ``run`` prints beside the score table (``show`` prints them all)."""
        ...

    @property
    def warnings(self) -> Sequence[str]:
        """What the user should know about the plan before it runs."""
        ...

    def build_request(self, sample: Sample, model_id: str, params: GenerationParams) -> Request: ...

    def precheck(self, sample: Sample) -> Score | None:
        """A score that settles the sample without asking the model (an attack that cannot apply), or None."""
        ...

    def episode(self, sample: Sample) -> Episode | None:
        """How to play the sample as several model calls, or None for one request and ``ascore``. Called right
        after ``build_request`` for the same sample and model."""
        ...

    async def ascore(self, sample: Sample, response: Response, context: ScoringContext) -> Score: ...


@dataclass(frozen=True)
class TaskSettings:
    """What a task kind gets to load its tasks: the run's common settings, the run's whole spec as data (a kind
    reads its own options from it) and the texts the run stored when it started (for a resume)."""

    data_dir: Path
    limit: int | None = None
    limit_mode: str | None = None
    mode: str | None = None
    allow_outside_data: bool = False
    spec: Mapping[str, Any] = field(default_factory=dict)
    stored_inputs: Mapping[str, Any] | None = None
    """The inputs the run recorded when it started (``TaskKind.inputs``), keyed by reference; None: read the
    current files."""


@dataclass(frozen=True)
class TaskAbout:
    """What ``tianping benchmarks`` says of a task, and which catalog dataset (``tianping data``) it reads whole.

    A kind may define ``about(name) -> TaskAbout | None``; it is optional, and a kind without it is listed by name."""

    task_type: str = ""
    languages: tuple[str, ...] = ()
    items: int | None = None
    """Samples a full run scores; None when it depends on the run's options (a budget)."""
    metric: str = ""
    """The primary metric."""
    dataset: str | None = None
    """The catalog dataset whose data files the task reads; ``run`` pulls it when the data folder lacks them."""
    reads: tuple[str, ...] = ()
    """The files of ``dataset`` (paths or globs inside it) its samples come from, where that is not all of them:
    the license shown is theirs (``Dataset.terms_of``)."""


@dataclass(frozen=True)
class ReportSection:
    """A table a task kind adds to ``run``'s summary, ``show`` and the HTML report (the safety suite's rates
    corrected for the judge's errors)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""
    id: str = ""
    """The HTML element id of the table (stable, for links and tests)."""


class TaskKind(Protocol):
    """A family of tasks: names them, groups them into suites, loads them."""

    name: str

    def task_names(self) -> Sequence[str]:
        """The tasks it provides by name (listed by ``tianping benchmarks``); a kind may also claim names it
        cannot list (paths to files) through ``claims``."""
        ...

    def suites(self) -> Mapping[str, Sequence[str]]:
        """``--suite NAME``: the tasks each suite stands for."""
        ...

    def claims(self, name: str) -> bool:
        """Whether ``name`` is one of this kind's tasks."""
        ...

    def inputs(self, name: str) -> Mapping[str, Any]:
        """Texts to keep with the run so that a resume loads the same tasks (definition files), keyed by
        reference; each value a JSON-able record."""
        ...

    def load(self, name: str, settings: TaskSettings) -> list[Task]:
        """The loaded task(s) ``name`` stands for (a definition file may hold several)."""
        ...

    def outcome_labels(self, name: str) -> Sequence[str]:
        """Extracted values that are a sample's outcome in their own words (``unsafe``, ``refused``): reports show
        them instead of calling a value of 1 "correct"; () for none."""
        ...

    def report_sections(self, info: RunInfo, metrics: Sequence[MetricRow]) -> list[ReportSection]:
        """Further tables for a finished run's report; [] when none apply."""
        ...
