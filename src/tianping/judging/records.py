"""What a judged sample keeps of its judgements: stored as JSON in the sample's ``reason``, read back by the report
tables (bias diagnostics, AlpacaEval's win rates) and by ``tianping arena ratings`` (battles).

A pairwise sample holds both games (each order: which reply was shown first, the verdict label, the judge's text)
and both answers' lengths and style counts; a graded sample holds each graded turn's grade (or why there is none)
and the judge's text. The judge's text is clipped to :data:`KEPT_JUDGEMENT_CHARS`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from tianping.judging.diagnostics import FIRST, TIE, PairJudgement
from tianping.judging.verdicts import position_of, strength_of

__all__ = [
    "BASELINE",
    "KEPT_JUDGEMENT_CHARS",
    "MARK",
    "MODEL",
    "Game",
    "GradeRecord",
    "GradedTurn",
    "PairRecord",
    "kept",
    "read_record",
]

MARK = "tianping_judged"
"""The key that tells a judged sample's record from any other ``reason`` text (its value: the record version)."""
KEPT_JUDGEMENT_CHARS = 4000
MODEL, BASELINE = "model", "baseline"


def kept(text: str) -> str:
    return text if len(text) <= KEPT_JUDGEMENT_CHARS else text[:KEPT_JUDGEMENT_CHARS] + " [...]"


@dataclass(frozen=True)
class Game:
    """One judge call on a pair: ``shown_first`` is ``model`` or ``baseline`` (the reply labelled A)."""

    shown_first: str
    label: str | None
    """``A>B`` etc.; None when the judge's answer could not be read."""
    error: str | None = None
    """Why there is no label."""
    judgement: str = ""

    def model_margin(self) -> int:
        """The verdict from the evaluated model's side: +2 clear win ... -2 clear loss."""
        if self.label is None:
            raise ValueError("an unparseable game has no margin")
        position = position_of(self.label)
        if position == TIE:
            return 0
        model_won = (position == FIRST) == (self.shown_first == MODEL)
        return strength_of(self.label) * (1 if model_won else -1)


@dataclass(frozen=True)
class PairRecord:
    """The evaluated model's answer judged against a baseline's, in both orders."""

    baseline: str
    judge: str
    games: tuple[Game, ...]
    model_length: int
    baseline_length: int
    model_style: dict[str, int | None] | None = None
    """Token count (None where unknown) and markdown counts (``headers``, ``lists``, ``bold``) of each answer."""
    baseline_style: dict[str, int | None] | None = None

    @property
    def parsed(self) -> bool:
        return all(g.label is not None for g in self.games)

    @property
    def consistent(self) -> bool | None:
        """Whether the orders agree on the winner (or both tie); None with fewer than two readable games."""
        if not self.parsed or len(self.games) < 2:
            return None
        signs = {_sign(g.model_margin()) for g in self.games}
        return len(signs) == 1

    @property
    def outcome(self) -> str:
        """``win``, ``tie`` or ``loss`` for the evaluated model (orders that disagree are a tie), or
        ``unparseable``."""
        if not self.parsed:
            return "unparseable"
        signs = {_sign(g.model_margin()) for g in self.games}
        if len(signs) > 1:
            return "tie"
        return {1: "win", 0: "tie", -1: "loss"}[signs.pop()]

    def pair(self, model: str) -> PairJudgement:
        """The two games as the bias diagnostics take them: the reply shown first in the first game is
        ``first_model``. Lengths in characters."""
        if not self.parsed or not self.games:
            raise ValueError("an unparseable pair has no judgement")
        baseline = self.baseline if self.baseline != model else f"{self.baseline} (baseline)"
        first = self.games[0]
        names = (model, baseline) if first.shown_first == MODEL else (baseline, model)
        lengths = (
            (self.model_length, self.baseline_length)
            if first.shown_first == MODEL
            else (self.baseline_length, self.model_length)
        )
        swapped = self.games[1] if len(self.games) > 1 else None
        assert first.label is not None
        return PairJudgement(
            item_id="",
            first_model=names[0],
            second_model=names[1],
            verdict=position_of(first.label),
            swapped_verdict=None if swapped is None or swapped.label is None else position_of(swapped.label),
            first_length=lengths[0],
            second_length=lengths[1],
        )

    def to_reason(self) -> str:
        return _dump("pairwise", self)


@dataclass(frozen=True)
class GradedTurn:
    grade: int | None
    error: str | None = None
    judgement: str = ""
    reference: bool = False
    """Graded against a reference answer."""
    length: int = 0
    """The graded answer's length in characters."""


@dataclass(frozen=True)
class GradeRecord:
    """Single-answer grading: one grade per graded turn on the scale ``low``..``high``."""

    judge: str
    low: int
    high: int
    turns: tuple[GradedTurn, ...] = field(default_factory=tuple)

    @property
    def parsed(self) -> bool:
        return all(t.grade is not None for t in self.turns)

    def to_reason(self) -> str:
        return _dump("grade", self)


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def _dump(kind: str, record: Any) -> str:
    return json.dumps({MARK: 1, "kind": kind, **asdict(record)}, ensure_ascii=False)


def read_record(reason: str | None) -> PairRecord | GradeRecord | None:
    """The record a judged sample stored, or None for any other reason text (an error message, another kind's)."""
    if not reason or not reason.startswith("{") or MARK not in reason:
        return None
    try:
        data = json.loads(reason)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.pop(MARK, None) != 1:
        return None
    kind = data.pop("kind", None)
    try:
        if kind == "pairwise":
            data["games"] = tuple(Game(**g) for g in data["games"])
            return PairRecord(**data)
        if kind == "grade":
            data["turns"] = tuple(GradedTurn(**t) for t in data["turns"])
            return GradeRecord(**data)
    except (TypeError, KeyError):
        return None
    return None
