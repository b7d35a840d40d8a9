"""Single-answer grading (MT-Bench style): the judge reads a request and a reply, optionally a reference answer
and an earlier turn, and gives a whole-number grade on a scale.

The criteria are MT-Bench's general ones in our own words (``prompts/grade_criteria_general.txt``) or a custom
rubric's text. Grading against a reference tells the judge to check results against it (MT-Bench does so for
math, reasoning and coding).
"""

from __future__ import annotations

from dataclasses import dataclass

from tianping.judging.asking import JudgeLine
from tianping.judging.prompts import clip, fill, template
from tianping.judging.records import GradedTurn, kept
from tianping.judging.verdicts import Unparseable, parse_grade

__all__ = ["Scale", "grade", "grade_messages"]


@dataclass(frozen=True)
class Scale:
    low: int = 1
    high: int = 10

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"scale: min ({self.low}) must be below max ({self.high})")

    def normalised(self, grade: float) -> float:
        """A grade (or mean grade) on [0, 1]: the scale's minimum is 0, its maximum 1."""
        return (grade - self.low) / (self.high - self.low)


def grade_messages(
    scale: Scale,
    *,
    question: str,
    answer: str,
    reference: str | None = None,
    earlier: tuple[str, str] | None = None,
    earlier_reference: str | None = None,
    criteria: str | None = None,
) -> tuple[str, str]:
    """(system, user) texts. ``earlier``: the first turn's (question, answer) when grading a second reply;
    ``earlier_reference``: the first turn's reference answer then."""
    system = fill(
        template("grade_system"),
        criteria=(criteria or template("grade_criteria_general")).strip(),
        reference_note=template("grade_reference_note") if reference is not None else "",
        low=str(scale.low),
        high=str(scale.high),
        example=str((scale.low + scale.high) // 2),
    )
    if earlier is None:
        if reference is None:
            user = fill(template("grade_user"), question=question, answer=clip(answer))
        else:
            user = fill(
                template("grade_user_reference"), question=question, reference=clip(reference), answer=clip(answer)
            )
        return system, user
    values = {
        "question_1": earlier[0],
        "answer_1": clip(earlier[1]),
        "question_2": question,
        "answer_2": clip(answer),
    }
    if reference is None:
        return system, fill(template("grade_user_second_turn"), **values)
    first_reference = clip(earlier_reference) if earlier_reference is not None else "(none)"
    user = fill(
        template("grade_user_second_turn_reference"),
        reference_1=first_reference,
        reference_2=clip(reference),
        **values,
    )
    return system, user


async def grade(
    judge: JudgeLine, scale: Scale, messages: tuple[str, str], *, length: int, reference: bool
) -> GradedTurn:
    """Ask the judge with (system, user) ``messages`` and read its grade; an unreadable answer is a turn without a
    grade (never a default). ``length``: the graded answer's length in characters (the verbosity diagnostic);
    ``reference``: the prompt held a reference answer."""
    text, finish = await judge.ask(*messages)
    try:
        value = parse_grade(text, scale.low, scale.high)
    except Unparseable as exc:
        why = str(exc) + (" (the judge's answer was cut at its token limit)" if finish == "length" else "")
        return GradedTurn(None, why, kept(text), reference, length)
    return GradedTurn(value, None, kept(text), reference, length)
