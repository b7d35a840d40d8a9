"""Typed result rows read from the store: what reports, indicator roll-ups and corrections work on.

They live in core so that lower layers (indicators, safety) can take them without importing ``tianping.report``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

LOWER_IS_BETTER = frozenset({"attack_success", "unsafe", "harmful", "over_refusal", "refusal"})
"""Metrics where a lower score is the better one (the safety suite's attack success and over-refusal rates):
boards rank them upwards, comparisons count "better" the other way."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    status: str
    started_at: str
    finished_at: str | None
    tianping_version: str
    spec: dict[str, Any]
    benchmark_versions: dict[str, str] = field(default_factory=dict)
    dataset_checksums: dict[str, str] = field(default_factory=dict)
    database: str | None = None
    """The result database the run was read from, so that a kind's report tables can read the run's samples
    (judge verdicts behind the bias diagnostics); None when the run was not read from a store."""


class AggregateRow(TypedDict):
    """One aggregate as aggregation produces it and the store keeps it (the ``aggregates`` table's columns):
    ``group_kind`` ``all`` for a task's overall score, else the breakdown key and its value. Readers turn these
    into ``MetricRow`` and ``BreakdownRow``."""

    model: str
    benchmark: str
    group_kind: str
    group_name: str
    metric: str
    score: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    extraction_failures: int
    incomplete: int
    unscorable: int
    skipped: int
    errors: int


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One aggregate: a score with its N and 95% interval. Scores are fractions in [0, 1]."""

    model: str
    benchmark: str
    metric: str
    score: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    extraction_failures: int = 0
    incomplete: int = 0
    errors: int = 0
    unscorable: int = 0
    """Answers a judge could not decide (safety), counted beside the score."""
    skipped: int = 0
    """Samples settled without a request (a safety attack that cannot apply to its prompt)."""
    unit: str = "rate"
    """``rate`` (a fraction, shown as a percentage) or ``count`` (a mean count, shown as a number)."""


@dataclass(frozen=True, slots=True)
class BreakdownRow:
    """A score for one group of a benchmark: a subject or a category."""

    model: str
    benchmark: str
    group_kind: str
    group: str
    score: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    metric: str = ""
    """The metric of the score: the benchmark's primary one unless asked for the others too."""


@dataclass(frozen=True, slots=True)
class SampleRow:
    model: str
    benchmark: str
    sample_id: str
    prompt: str
    """The request as text: chat messages rendered one per block with their roles."""
    output: str | None
    reasoning: str | None
    extracted: str | None
    target: str
    score: float | None
    status: str
    """``scored``, ``incomplete`` or ``error``."""
    error: str | None = None
    latency_s: float | None = None
    trajectory: dict[str, Any] | None = None
    """An episode's steps (an agent task's turns, tool calls and results), shown step by step; None for others."""
    images: tuple[str, ...] = ()
    """The prompt's images as data URIs, in order; "" for one that is not shown (not stored, too large)."""
