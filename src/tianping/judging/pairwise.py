"""Pairwise judging against a baseline (Arena-Hard, AlpacaEval): both orders asked, verdicts read strictly.

Game 1 shows the baseline's reply as A and the model's as B (Arena-Hard's first game); game 2 swaps them. The
two calls run concurrently. The sample's outcome for the model is a win when both games say it won, a loss when
both say it lost, and a tie otherwise: a verdict that flips with the order says nothing about the replies.
"""

from __future__ import annotations

import asyncio

from tianping.judging.asking import JudgeLine
from tianping.judging.prompts import clip, fill, template
from tianping.judging.records import BASELINE, MODEL, Game, PairRecord, kept
from tianping.judging.verdicts import Unparseable, parse_verdict

__all__ = ["compare_messages", "judge_pair"]


def compare_messages(question: str, answer_a: str, answer_b: str) -> tuple[str, str]:
    """(system, user) texts asking which of A and B is better."""
    user = fill(template("compare_user"), question=question, answer_a=clip(answer_a), answer_b=clip(answer_b))
    return template("compare_system"), user


async def _game(judge: JudgeLine, question: str, first: str, answers: dict[str, str]) -> Game:
    second = BASELINE if first == MODEL else MODEL
    text, finish = await judge.ask(*compare_messages(question, answers[first], answers[second]))
    try:
        label = parse_verdict(text)
    except Unparseable as exc:
        why = str(exc) + (" (the judge's answer was cut at its token limit)" if finish == "length" else "")
        return Game(first, None, why, kept(text))
    return Game(first, label, None, kept(text))


async def judge_pair(
    judge: JudgeLine,
    *,
    question: str,
    answer: str,
    baseline: str,
    baseline_answer: str,
    model_style: dict[str, int | None] | None = None,
    baseline_style: dict[str, int | None] | None = None,
) -> PairRecord:
    """Both games on one pair; the record holds the verdicts, the judge's texts and both answers' lengths."""
    answers = {MODEL: answer, BASELINE: baseline_answer}
    games = await asyncio.gather(
        _game(judge, question, BASELINE, answers),
        _game(judge, question, MODEL, answers),
    )
    return PairRecord(
        baseline=baseline,
        judge=judge.model_id,
        games=tuple(games),
        model_length=len(answer),
        baseline_length=len(baseline_answer),
        model_style=model_style,
        baseline_style=baseline_style,
    )
