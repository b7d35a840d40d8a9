"""Reading judges strictly, keeping their judgements, and the prompts they are asked with."""

from __future__ import annotations

import pytest

from tianping.judging.families import family_of
from tianping.judging.grading import Scale, grade_messages
from tianping.judging.pairwise import compare_messages
from tianping.judging.prompts import clip, fill, template
from tianping.judging.records import BASELINE, MODEL, Game, GradedTurn, GradeRecord, PairRecord, read_record
from tianping.judging.verdicts import Unparseable, parse_grade, parse_verdict, position_of, strength_of


@pytest.mark.parametrize(
    ("text", "grade"),
    [
        ("The reply is accurate.\nGrade: [[8]]", 8),
        ("Grade: [[ 10 ]]", 10),
        ("I grade [[7]]. Final: [[7]]", 7),  # the same grade restated is one grade
        ("Use the format [[N]]... Grade: [[3]]", 3),  # a bracketed word is not a grade
    ],
)
def test_a_grade_in_double_brackets_is_read(text: str, grade: int) -> None:
    assert parse_grade(text, 1, 10) == grade


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty answer"),
        ("Grade: 8/10", "no [[grade]]"),
        ("Grade: [8]", "no [[grade]]"),
        ("Grade: [[7.5]]", "not a whole number"),
        ("Grade: [[8/10]]", "not a whole number"),
        ("First [[6]], on reflection [[7]]", "several grades: [6, 7]"),
        ("Grade: [[11]]", "outside the scale 1-10"),
        ("Grade: [[0]]", "outside the scale 1-10"),
    ],
)
def test_a_grade_outside_the_format_is_unparseable_and_says_why(text: str, why: str) -> None:
    with pytest.raises(Unparseable, match=why.replace("[", r"\[").replace("]", r"\]")):
        parse_grade(text, 1, 10)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("B forgets the edge case.\n[[A>B]]", "A>B"),
        ("[[ B >> A ]]", "B>>A"),
        ("Tie. [[A=B]]", "A=B"),
        ("[[A>>B]] ... so my verdict stands: [[A>>B]]", "A>>B"),
        ("Options were [[verdict]]; mine: [[B>A]]", "B>A"),
    ],
)
def test_a_verdict_label_is_read(text: str, label: str) -> None:
    assert parse_verdict(text) == label


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("A is better.", "no [[verdict]]"),
        ("[A>B]", "no [[verdict]]"),
        ("[[A]]", "is not a verdict"),  # FastChat's format is not ours
        ("[[A<B]]", "is not a verdict"),
        ("[[A>>>B]]", "is not a verdict"),
        ("[[A>B]] or maybe [[B>A]]", "several verdicts"),
    ],
)
def test_a_verdict_outside_the_five_labels_is_unparseable(text: str, why: str) -> None:
    with pytest.raises(Unparseable, match=why.replace("[", r"\[").replace("]", r"\]")):
        parse_verdict(text)


def test_labels_by_position_and_strength() -> None:
    assert [position_of(x) for x in ("A>>B", "A>B", "A=B", "B>A", "B>>A")] == [
        "first", "first", "tie", "second", "second"
    ]  # fmt: skip
    assert [strength_of(x) for x in ("A>>B", "A>B", "A=B", "B>A", "B>>A")] == [2, 1, 0, 1, 2]


def _pair(first: str | None, second: str | None) -> PairRecord:
    return PairRecord(
        baseline="gpt-4-0314",
        judge="openai/j",
        games=(Game(BASELINE, first, None if first else "no verdict"), Game(MODEL, second, None if second else "x")),
        model_length=300,
        baseline_length=100,
    )


@pytest.mark.parametrize(
    ("first", "second", "outcome", "consistent"),
    [
        ("B>A", "A>B", "win", True),  # the model (B, then A) wins both games
        ("B>>A", "A>>B", "win", True),
        ("A>B", "B>A", "loss", True),
        ("A=B", "A=B", "tie", True),
        ("A>B", "A>B", "tie", False),  # the first position won twice: the verdict flips with the order
        ("B>A", "A=B", "tie", False),
        ("B>A", None, "unparseable", None),
    ],
)
def test_a_pair_is_a_win_only_when_both_orders_say_so(
    first: str, second: str | None, outcome: str, consistent: bool | None
) -> None:
    record = _pair(first, second)
    assert record.outcome == outcome and record.consistent is consistent


def test_records_survive_the_store_text_and_feed_the_diagnostics() -> None:
    record = _pair("A>B", "A>B")
    back = read_record(record.to_reason())
    assert back == record
    pair = back.pair("openai/qwen2")
    # the baseline was shown first in game 1 and won it; the model was shown first in game 2 and won that
    assert (pair.first_model, pair.second_model) == ("gpt-4-0314", "openai/qwen2")
    assert (pair.verdict, pair.swapped_verdict) == ("first", "first")
    assert (pair.first_length, pair.second_length) == (100, 300) and pair.consistent() is False
    graded = GradeRecord("openai/j", 1, 10, (GradedTurn(7, length=5), GradedTurn(None, "no [[grade]]")))
    assert read_record(graded.to_reason()) == graded and not graded.parsed
    for other in (None, "", "scoring failed: KeyError", '{"reason": 1}', "{not json"):
        assert read_record(other) is None


def test_prompts_fill_every_field_literally_and_refuse_a_missing_one() -> None:
    system, user = grade_messages(Scale(1, 5), question="What is {x}?", answer="It is {answer}.", criteria="Be kind.")
    assert "Be kind." in system and "from 1 (fails the request) to 5" in system and "[[3]]" in system
    assert "What is {x}?" in user and "It is {answer}." in user  # braces in values are never fields
    assert "reference" not in system.lower()
    system, user = grade_messages(Scale(), question="2+2?", answer="5", reference="4")
    assert "reference answer is provided" in system and "### Reference answer (for checking only)\n4" in user
    _, second = grade_messages(Scale(), question="And 3+3?", answer="6", earlier=("2+2?", "4"))
    assert second.index("2+2?") < second.index("### Assistant, turn 1\n4") < second.index("And 3+3?")
    _, pair = compare_messages("Q", "first answer", "second answer")
    assert pair.index("### Reply A\nfirst answer") < pair.index("### Reply B\nsecond answer")
    with pytest.raises(ValueError, match="missing values \\['answer'\\]"):
        fill(template("grade_user"), question="q")
    assert clip("") == "(empty reply)" and clip("x" * 30, 10).endswith("20 more characters ...]")


def test_our_prompts_are_not_fastchats_or_arena_hards() -> None:
    ours = " ".join(template(n) for n in ("grade_system", "grade_user", "compare_system", "compare_user")).lower()
    for theirs in (
        "please act as an impartial judge",
        "[the start of assistant",
        "<|the start of assistant a's answer|>",
        "begin your evaluation by",
        "by strictly following this format",
    ):
        assert theirs not in ours


def test_model_families_are_recognised_only_from_plain_names() -> None:
    assert family_of("openai/gpt-4o-mini") == family_of("gpt4_1106_preview") == family_of("o3-mini-2025-01-31") == "gpt"
    assert family_of("hf//models/Qwen2.5-7B-Instruct") == "qwen" and family_of("claude-2") == "claude"
    assert family_of("openai/judge") is None and family_of("mystery-model") is None and family_of(None) is None
