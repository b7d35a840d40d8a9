"""Battles from the stored judgements of pairwise judged runs, for ``tianping arena ratings``.

Each game a judge decided (one order of one pair) is one battle, as Arena-Hard counts them: the reply shown first
is side ``a``. A game without a readable verdict is no battle. With ``strong_weight`` k > 1 a clear verdict
(``A>>B``) counts as k battles, Arena-Hard's convention (k = 3 there); the default counts every game once,
since copies of one verdict resampled apart make bootstrap intervals too narrow.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tianping.arena import Battle, StyleFeatures
from tianping.judging.records import MODEL, PairRecord, read_record
from tianping.judging.verdicts import position_of, strength_of

__all__ = ["JudgedBattles", "collect_battles"]

_WINNER = {"first": "a", "second": "b", "tie": "tie"}


@dataclass
class JudgedBattles:
    """The battles of one benchmark, pooled over runs."""

    benchmark: str
    battles: list[Battle]
    runs: list[str]
    pairs: int = 0
    """Judged samples the battles came from."""
    games_without_verdict: int = 0
    styled: bool = True
    """Every battle carries token and markdown counts for both sides (style control possible)."""


def _style(counts: dict[str, Any] | None) -> StyleFeatures | None:
    if not counts or counts.get("tokens") is None:
        return None
    return StyleFeatures(int(counts["tokens"]), int(counts["headers"]), int(counts["lists"]), int(counts["bold"]))


def _battles_of(model: str, record: PairRecord, strong_weight: int) -> Iterable[Battle]:
    baseline = record.baseline if record.baseline != model else f"{record.baseline} (baseline)"
    styles = {MODEL: _style(record.model_style), "baseline": _style(record.baseline_style)}
    names = {MODEL: model, "baseline": baseline}
    for game in record.games:
        if game.label is None:
            continue
        second = "baseline" if game.shown_first == MODEL else MODEL
        battle = Battle(
            model_a=names[game.shown_first],
            model_b=names[second],
            winner=_WINNER[position_of(game.label)],
            style_a=styles[game.shown_first],
            style_b=styles[second],
        )
        for _ in range(strong_weight if strength_of(game.label) == 2 else 1):
            yield battle


def collect_battles(
    rows_by_run: Sequence[tuple[str, Iterable[dict[str, Any]]]], *, strong_weight: int = 1
) -> dict[str, JudgedBattles]:
    """Per benchmark, the battles of the runs' pairwise judged samples. ``rows_by_run``: (run id, its sample
    rows as the store yields them)."""
    if strong_weight < 1:
        raise ValueError(f"strong_weight must be at least 1, got {strong_weight}")
    found: dict[str, JudgedBattles] = {}
    seen: defaultdict[str, set[str]] = defaultdict(set)
    for run_id, rows in rows_by_run:
        for row in rows:
            record = read_record(row.get("reason"))
            if not isinstance(record, PairRecord):
                continue
            bench = row["benchmark"]
            entry = found.setdefault(bench, JudgedBattles(bench, [], []))
            if run_id not in seen[bench]:
                seen[bench].add(run_id)
                entry.runs.append(run_id)
            entry.pairs += 1
            entry.games_without_verdict += sum(1 for g in record.games if g.label is None)
            for battle in _battles_of(row["model"], record, strong_weight):
                entry.styled = entry.styled and battle.style_a is not None and battle.style_b is not None
                entry.battles.append(battle)
    return found
