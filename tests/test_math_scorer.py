"""The ``math`` scorer: free-form answers (MATH style) read whole and compared by mathematical equivalence.

Each SCORE_CASES entry is (response, gold, expected value, expected extracted answer).  The first group is
the kinds of right answer that GSM8K's number-first scorer loses (a tuple read as its first number, ``6\\sqrt2``
as 6, ``52_8`` as 52, ...); the rest pin extraction, gold normalisation, decimals and mixed numbers.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import load_dataset
from tianping.benchmarks.math_scoring import extract_final_answer
from tianping.benchmarks.registry import build
from tianping.benchmarks.scorers import SCORERS, ScoringContext, resolve
from tianping.core import Completion, Response, Sample, Score

COL = r"\begin{pmatrix} 1 \\ -2 \\ 3 \end{pmatrix}"
MAT = r"\begin{pmatrix} 2 & -1 \\ 0 & 5 \end{pmatrix}"
MAT_BRACKETS = r"\begin{bmatrix} 2 & -1 \\ 0 & 5 \end{bmatrix}"
MAT_SWAPPED = r"\begin{pmatrix} 2 & -1 \\ 5 & 0 \end{pmatrix}"


def score(output: str, gold: str, *, incomplete: bool = False) -> Score:
    scorer = resolve(SCORERS, "math")
    response = Response((Completion(output, incomplete=incomplete),), 0.0)
    return asyncio.run(scorer(Sample("0", {}, gold), response, ScoringContext()))


SCORE_CASES: list[tuple[str, str, float, str | None]] = [
    # What number_then_math loses: the whole answer counts, every part of it.
    ("The intersection is $(-1,6)$.", "(-1,6)", 1.0, "(-1,6)"),
    (r"The answer is $\left( -1, 6 \right)$.", "(-1,6)", 1.0, r"\left( -1, 6 \right)"),
    (r"So the point is $\boxed{(6,-1)}$.", "(-1,6)", 0.0, "(6,-1)"),
    (r"The distance is $6\sqrt{2}$.", r"6\sqrt{2}", 1.0, r"6\sqrt{2}"),
    (r"The distance is $\boxed{\sqrt{72}}$.", r"6\sqrt{2}", 1.0, r"\sqrt{72}"),
    (r"The distance is $\boxed{6}$.", r"6\sqrt{2}", 0.0, "6"),
    (r"In base 8 this is $\boxed{52_8}$.", "52_8", 1.0, "52_8"),
    (r"In base 8 this is $\boxed{52_{8}}$.", "52_8", 1.0, "52_{8}"),
    (r"In base 8 this is $\boxed{52}$.", "52_8", 0.0, "52"),
    (r"It is $\boxed{42}$ in decimal.", "52_8", 0.0, "42"),  # documented: a bare number never equals b != 10
    (r"\boxed{152A_{11}}", "152A_{11}", 1.0, "152A_{11}"),
    (r"\boxed{1204_9}", "1204_9", 1.0, "1204_9"),
    (r"\boxed{1205_9}", "1204_9", 0.0, "1205_9"),
    (r"The product is $\boxed{6+9i}$.", "6+9i", 1.0, "6+9i"),
    (r"The product is $\boxed{9i+6}$.", "6+9i", 1.0, "9i+6"),
    (r"The product is $\boxed{6}$.", "6+9i", 0.0, "6"),
    (r"The product is $\boxed{6-9i}$.", "6+9i", 0.0, "6-9i"),
    (rf"$\boxed{{{COL}}}$", COL, 1.0, COL),
    (r"$\boxed{\begin{pmatrix} 1 \\ -2 \\ 4 \end{pmatrix}}$", COL, 0.0, r"\begin{pmatrix} 1 \\ -2 \\ 4 \end{pmatrix}"),
    (rf"\boxed{{{MAT_BRACKETS}}}", MAT, 1.0, MAT_BRACKETS),
    (rf"\boxed{{{MAT_SWAPPED}}}", MAT, 0.0, MAT_SWAPPED),
    (r"\boxed{(5,\infty)}", r"(5,\infty)", 1.0, r"(5,\infty)"),
    (r"\boxed{[5,\infty)}", r"(5,\infty)", 0.0, r"[5,\infty)"),
    (r"The solution set is $x > 5$.", r"(5,\infty)", 1.0, "x > 5"),
    (r"\boxed{(3,4]}", "(3,4]", 1.0, "(3,4]"),
    (r"\boxed{3 < \lambda \le 4}", "(3,4]", 1.0, r"3 < \lambda \le 4"),
    (r"\boxed{[3,4]}", "(3,4]", 0.0, "[3,4]"),
    (r"\boxed{3, -2}", "-2, 3", 1.0, "3, -2"),
    (r"\boxed{\{-2, 3\}}", "-2, 3", 1.0, r"\{-2, 3\}"),
    (r"\boxed{3}", "-2, 3", 0.0, "3"),
    # Units, degrees, \text{}, percentages, money: on either side.
    (r"\boxed{17 \text{ m}}", r"17\text{ meters}", 1.0, r"17 \text{ m}"),
    (r"\boxed{156^{\circ}}", r"156^\circ", 1.0, r"156^{\circ}"),
    ("The angle is 156°.", r"156^\circ", 1.0, "156°"),
    (r"\boxed{\frac{\pi}{6}}", r"30^\circ", 0.0, r"\frac{\pi}{6}"),  # degrees are not converted
    ("Answer: C", r"\text{(C)}", 1.0, "C"),
    ("Answer: D", r"\text{(C)}", 0.0, "D"),
    (r"\boxed{\text{Tuesday}}", r"\text{Tuesday}", 1.0, r"\text{Tuesday}"),
    ("Answer: 25%", r"25\%", 1.0, "25%"),
    (r"\boxed{0.25}", r"25\%", 1.0, "0.25"),
    (r"\boxed{0.25\%}", r"25\%", 0.0, r"0.25\%"),
    ("The answer is \\$18.90.", r"\$18.90", 1.0, r"\$18.90"),
    (r"\boxed{18.9}", r"\$18.90", 1.0, "18.9"),
    # Gold normalised as the response is.
    (r"\boxed{11111111100}", r"11,\! 111,\! 111,\! 100", 1.0, "11111111100"),
    (r"\boxed{11,111,111,100}", r"11,\! 111,\! 111,\! 100", 1.0, "11,111,111,100"),
    (r"\boxed{11111111000}", r"11,\! 111,\! 111,\! 100", 0.0, "11111111000"),
    (r"\boxed{\frac{12}{5525}}", r"\frac{12}{5,\!525}", 1.0, r"\frac{12}{5525}"),
    (r"\boxed{6}", r"\$6", 1.0, "6"),
    (r"\boxed{8\sqrt{3}}", r"8\sqrt{3} \text { square inches}", 1.0, r"8\sqrt{3}"),
    # Decimals: relative to their size, at the precision they are written.
    (r"\boxed{.00006721}", ".0000672", 0.0, ".00006721"),
    (r"\boxed{0.0000672}", ".0000672", 1.0, "0.0000672"),
    (r"\boxed{6.72 \times 10^{-5}}", ".0000672", 1.0, r"6.72 \times 10^{-5}"),
    (r"\boxed{0.0000001}", "0", 0.0, "0.0000001"),
    (r"\boxed{3.14}", r"\pi", 0.0, "3.14"),
    (r"\boxed{3.1416}", r"\pi", 1.0, "3.1416"),
    (r"\boxed{0.33}", r"\frac13", 0.0, "0.33"),
    (r"\boxed{\dfrac{5}{2}}", "2.5", 1.0, r"\dfrac{5}{2}"),
    # Mixed numbers: a whole number right before a fraction.
    (r"\boxed{3\frac{1}{2}}", "3.5", 1.0, r"3\frac{1}{2}"),
    (r"\boxed{3\frac{1}{2}}", "15.5", 0.0, r"3\frac{1}{2}"),
    (r"\boxed{1\frac{1}{2}}", "5.5", 0.0, r"1\frac{1}{2}"),
    (r"\boxed{-2\frac{1}{4}}", "-2.25", 1.0, r"-2\frac{1}{4}"),
    (r"\boxed{3 \dfrac{1}{8}}", r"3\frac18", 1.0, r"3 \dfrac{1}{8}"),
    (r"\boxed{\frac{25}{13}}", r"1\frac{12}{13}", 1.0, r"\frac{25}{13}"),
    (r"\boxed{2\cdot\frac{1}{2}}", "2.5", 0.0, r"2\cdot\frac{1}{2}"),
    (r"\boxed{2\times\frac12}", "1", 1.0, r"2\times\frac12"),
]


@pytest.mark.parametrize(("output", "gold", "value", "extracted"), SCORE_CASES)
def test_math_scorer(output: str, gold: str, value: float, extracted: str | None) -> None:
    result = score(output, gold)
    assert (result.value, result.extracted, result.status) == (value, extracted, "scored")
    assert result.extraction_failed is False


def test_no_answer_is_an_extraction_failure() -> None:
    result = score("I am not sure how to approach this problem.", "5")
    assert (result.value, result.extracted, result.extraction_failed) == (0.0, None, True)


def test_unfinished_thinking_is_incomplete() -> None:
    result = score("", "5", incomplete=True)
    assert (result.value, result.status, result.extraction_failed) == (None, "incomplete", False)


def test_scores_concurrently_inside_one_event_loop() -> None:
    """The comparison runs in a thread: many samples scored at once in one loop all come out right."""
    scorer = resolve(SCORERS, "math")
    cases = SCORE_CASES[:24]

    async def main() -> list[float | None]:
        tasks = [
            scorer(Sample(str(i), {}, gold), Response((Completion(out),), 0.0), ScoringContext())
            for i, (out, gold, _v, _e) in enumerate(cases)
        ]
        return [s.value for s in await asyncio.gather(*tasks)]

    assert asyncio.run(main()) == [c[2] for c in cases]


EXTRACT_CASES: list[tuple[str, str | None]] = [
    (r"First \boxed{2}, then finally $\boxed{(3, 4]}$.", "(3, 4]"),
    ("The final answer is $(3, 4]$. I hope it is correct.", "(3, 4]"),
    ("**Final Answer:** $\\frac{\\sqrt{3}}{2}$", r"\frac{\sqrt{3}}{2}"),
    ("Answer: $(3, 4]$", "(3, 4]"),
    ("所以答案是 $6\\sqrt{2}$。", r"6\sqrt{2}"),
    ("We get\n\n$(-\\infty,2)\\cup(3,\\infty)$", r"(-\infty,2)\cup(3,\infty)"),
    ("Working...\nSo the area is $6\\sqrt{2}$.", r"6\sqrt{2}"),
    ("Working...\nTherefore x = 5.", "5"),
    ("Working...\nx = 2 or x = 3", "x = 2 or x = 3"),
    ("Working...\n**(3, 4]**", "(3, 4]"),
    ("Working...\n2. The result: (3, 4]", "(3, 4]"),
    ("因此面积为 $6\\sqrt2$", r"6\sqrt2"),
    ("So the area is 6 square units.", "6 square units"),
    ("Hence $\\lambda \\in (3, 4]$.", r"\lambda \in (3, 4]"),
    ("The largest angle measures 156°.", "156°"),
    ("We solve for $x$ in step 3.\nThat is all.", "x"),
    ("We find $x = 3$.\nThis completes the proof.", "x = 3"),
    ("$$\nx \\ge 5\n$$", r"x \ge 5"),
    ("I am not sure.", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), EXTRACT_CASES)
def test_extract_final_answer(text: str, expected: str | None) -> None:
    assert extract_final_answer(text) == expected


def test_extraction_is_fast_on_adversarial_text() -> None:
    import time

    for text in ["1" + " " * 50_000 + "x", "12 " + "a" * 299, "a = " * 20_000, "\\boxed{" * 20_000, "$" * 50_000]:
        start = time.monotonic()
        extract_final_answer(text)
        assert time.monotonic() - start < 1.0


# --------------------------------------------------------------------------------------------------
# The math_jsonl loader and a definition file naming the scorer
# --------------------------------------------------------------------------------------------------

AGIEVAL_DEF = """
name: agieval_math
version: "1"
dataset: {loader: math_jsonl, path: agieval/data/v1/math.jsonl}
prompt:
  question: "{{ question }}\\nPut the final answer in \\\\boxed{}."
scoring: {scorer: math}
"""


def test_agieval_math_loads_with_its_gold_answers(data_dir: Path) -> None:
    loaded = load_dataset("math_jsonl", data_dir / "agieval/data/v1/math.jsonl", {})
    assert len(loaded.samples) == 1000
    first = loaded.samples[0]
    assert first.target == "(3,4]" and first.fields["answer"] == "(3,4]"
    assert first.fields["question"].startswith("Let $\\lambda$ be a constant")
    assert first.fields["solution"] and first.meta["subject"] != "unknown" and first.meta["level"] == "5"


def test_a_yaml_definition_scores_with_the_math_scorer(tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "agieval_math.yaml"
    path.write_text(AGIEVAL_DEF, encoding="utf-8")
    (bench,) = build(str(path), data_dir)
    bench.load(limit=3)
    sample = bench.samples[0]
    assert sample.target == "(3,4]"
    request = bench.build_request(sample, "m", bench.generation)
    assert "\\boxed{}" in request.messages[-1].content

    def run(text: str) -> Score:
        return asyncio.run(bench.ascore(sample, Response((Completion(text),), 0.0), ScoringContext()))

    assert run(r"So $\boxed{(3, 4]}$.").value == 1.0
    assert run(r"The answer is $3 < \lambda \le 4$.").value == 1.0
    assert run(r"So $\boxed{[3, 4]}$.").value == 0.0


def test_every_agieval_reference_solution_scores_right(data_dir: Path) -> None:
    """The dataset's own worked solutions, as responses, are all right: extraction and gold normalisation agree
    on 1,000 real MATH answers (intervals, matrices, \\text{}, \\!, degrees, bases, mixed numbers ...)."""
    rows = [json.loads(line) for line in (data_dir / "agieval/data/v1/math.jsonl").open(encoding="utf-8")]
    scorer = resolve(SCORERS, "math")

    async def main() -> list[tuple[str, Score]]:
        async def one(i: int, row: dict) -> tuple[str, Score]:
            response = Response((Completion(row["other"]["solution"]),), 0.0)
            return row["answer"], await scorer(Sample(str(i), {}, row["answer"]), response, ScoringContext())

        return await asyncio.gather(*(one(i, r) for i, r in enumerate(rows)))

    wrong = [(gold, s.extracted) for gold, s in asyncio.run(main()) if s.value != 1.0]
    assert not wrong, wrong[:10]


def write_rows(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_math_layout_takes_the_answer_from_the_solution_when_it_has_none(tmp_path: Path) -> None:
    path = write_rows(
        tmp_path,
        [
            {"problem": "Add.", "solution": r"It is $\boxed{\frac{1}{2}}$.", "subject": "Algebra", "level": 2},
            {"problem": "Mul.", "solution": "x", "answer": "6", "unique_id": "test/x/1.json"},
        ],
    )
    first, second = load_dataset("math_jsonl", path, {}).samples
    assert (first.id, first.target, first.meta["subject"], first.meta["level"]) == ("0", r"\frac{1}{2}", "Algebra", "2")
    assert (second.id, second.target, second.fields["question"]) == ("test/x/1.json", "6", "Mul.")


@pytest.mark.parametrize(
    ("rows", "options", "message"),
    [
        ([{"problem": "Q", "solution": "no box"}], {}, r"rows\.jsonl:1: field 'answer' is missing"),
        ([{"answer": "1"}], {}, r"rows\.jsonl:1: field 'problem/question' is missing"),
        ([{"problem": "Q", "answer": "1", "unique_id": "a"}] * 2, {}, r"rows\.jsonl:2: id 'a' already used on line 1"),
        ([{"problem": "Q", "answer": "1"}], {"answer_field": "x"}, r"unknown option\(s\) answer_field"),
        ([{"q": "Q", "gold": "1"}], {"question_key": "q", "answer_key": "nope"}, r"field 'nope' is missing"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, rows: list[dict], options: dict, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        load_dataset("math_jsonl", write_rows(tmp_path, rows), options)
