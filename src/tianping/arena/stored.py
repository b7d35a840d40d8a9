"""Battles kept in the result store (``battles`` table: the dashboard's human votes), as :class:`Battle` records
that rate alongside the battles of judged runs (``tianping.judging.battles.collect_battles``); the dashboard's
arena page and ``tianping arena ratings --votes`` read them from here.

A stored battle names its benchmark and the sample both answers replied to, so votes pool per benchmark just as
judged games do; they carry no style counts, so a pool that includes them cannot be style-controlled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tianping.arena.battles import OUTCOMES, Battle, parse_outcome

__all__ = ["battles_by_benchmark", "stored_battles"]


def battles_by_benchmark(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Battle]]:
    """Stored battle rows (``Store.battles``) grouped per benchmark, oldest first; a row whose winner is not
    a known verdict is refused, naming its id."""
    out: dict[str, list[Battle]] = {}
    for row in rows:
        where = f"stored battle {row.get('battle_id')!r}"
        winner = OUTCOMES[parse_outcome(row.get("winner"), where=where)]
        out.setdefault(str(row["benchmark"]), []).append(Battle(str(row["model_a"]), str(row["model_b"]), winner))
    return out


def stored_battles(store: Any, *, source: str | None = "web") -> dict[str, list[Battle]]:
    """The battles a store holds (of ``source``; None: every source), per benchmark."""
    return battles_by_benchmark(store.battles(source))
