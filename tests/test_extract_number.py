"""extract_final_number / normalize_number / numbers_equal on real-looking GSM8K responses.

The cases are written the way chat, base (few-shot) and reasoning models actually answer; each one
pins one rule of the extractor so a change of behaviour shows up as a named failure.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tianping.scoring.extract import extract_final_number, normalize_number, numbers_equal

# (id, response, expected normalised answer)
NUMBER_CASES: list[tuple[str, str, str]] = [
    # 1. The GSM8K marker.
    (
        "gsm8k-gold-format",
        "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
        "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer’s market.\n#### 18",
        "18",
    ),
    ("marker-thousands", "He pays 1,000 + 234 = <<1000+234=1234>>1234 dollars.\n#### 1,234", "1234"),
    ("marker-negative", "The temperature drops 5 degrees below zero.\n#### -5", "-5"),
    ("marker-no-space", "So the total is 42 apples.\n####42", "42"),
    ("marker-dollar", "She earns 9 * 2 = 18 dollars.\n#### $18", "18"),
    (
        "marker-first-wins-over-hallucinated-next-question",
        "9 * 2 = 18\n#### 18\n\nQuestion: A robe takes 2 bolts of blue fiber...\nAnswer: 2 + 1 = 3\n#### 3",
        "18",
    ),
    (
        "markdown-h4-headings-are-not-the-marker",
        "#### Step 1: eggs left\n16 - 3 - 4 = 9\n\n#### 2. Money\n9 * 2 = 18\n\n#### Final answer: 18",
        "18",
    ),
    ("marker-with-words", "Let me compute: 9 * 2 = 18\n#### The answer is 18", "18"),
    # 2. Explicit answer statements.
    ("the-answer-is", "She has 16 - 3 - 4 = 9 eggs left, and 9 * 2 = 18.\nThe answer is 18.", "18"),
    ("final-answer-is-colon-dollar-commas", "Adding everything up, the final answer is: $1,234", "1234"),
    ("answer-colon", "First, 5 + 7 = 12. Then 12 * 3 = 36. Finally 36 + 6 = 42.\nAnswer: 42", "42"),
    ("chinese-answer-is", "小明先有 20 个苹果，吃掉 5 个，又买了 27 个。\n20 - 5 + 27 = 42\n答案是 42", "42"),
    ("chinese-answer-colon", "每天卖出 9 个鸡蛋，每个 2 美元。\n答案：18", "18"),
    ("chinese-answer-is-wei-yuan", "所以一共需要 1,234 元。\n答案为 1,234 元。", "1234"),
    (
        "chinese-short-answer-colon",
        "解：16 - 3 - 4 = 9（个），9 × 2 = 18（美元）\n答：她每天能赚 18 美元。",
        "18",
    ),
    ("boxed", r"Janet sells 9 eggs at \$2 each, so she makes $9 \times 2 = \boxed{18}$ dollars.", "18"),
    ("boxed-nested-frac", r"The probability is therefore \(\boxed{\frac{1}{2}}\).", "0.5"),
    ("boxed-thousands", r"Total cost: $1000 + 234 = 1234$.\n\nFinal answer: $\boxed{1,234}$", "1234"),
    (
        "boxed-last-wins",
        r"First guess \boxed{20}. Wait, she eats 3, so it is 16 - 3 - 4 = 9 and \boxed{18}.",
        "18",
    ),
    ("boxed-with-unit-text", r"So she makes \boxed{18 \text{ dollars}} per day.", "18"),
    ("boxed-equation", r"Solving gives \boxed{x = 5}.", "5"),
    ("boxed-dollar-escaped", r"She makes \boxed{\$18} every day.", "18"),
    ("boxed-non-terminating-fraction", r"Each friend gets \(\boxed{\dfrac{2}{6}}\) of the pizza.", "1/3"),
    ("answer-is-then-boxed", r"The answer is: $\boxed{42}$", "42"),
    (
        "bold-number-in-final-line",
        "Eggs left: 16 - 3 - 4 = 9.\nMoney: 9 * 2 = 18.\n\nSo she makes **$18** every day.",
        "18",
    ),
    (
        "markdown-final-answer-heading",
        "### Step 1: Eggs left\n16 - 3 - 4 = 9\n\n### Step 2: Revenue\n9 × $2 = $18\n\n### Final Answer\n**18**",
        "18",
    ),
    (
        "reasoning-model-final-answer",
        "Okay, let's see. 16 eggs, she eats 3, bakes 4, so 9 left. 9 times 2 is 18. Yes.\n\n"
        "**Final Answer**\nJanet makes \\boxed{18} dollars every day.",
        "18",
    ),
    (
        "answer-wins-over-later-verification",
        "The answer is 18.\n\nVerification: 16 - 3 - 4 = 9 eggs and 9 * 2 = 18, 18 / 2 = 9. ✓",
        "18",
    ),
    ("answer-is-equation", "The answer is 9 * 2 = 18.", "18"),
    ("answer-is-not-x-it-is-y", "The answer is not 20, it is 18.", "18"),
    ("answer-colon-bold", "**Answer:** 1,234", "1234"),
    ("answer-colon-latex-frac", r"Answer: $\frac{3}{4}$", "0.75"),
    (
        "answer-colon-opening-explanation-is-not-an-answer",
        "Answer: Janet's ducks lay 16 eggs. She uses 7, sells 9 for $2 each, earning $18.",
        "18",
    ),
    (
        "answer-first-then-explanation",
        "Answer: 18\n\nExplanation: she sells 16 - 3 - 4 = 9 eggs at $2 each.",
        "18",
    ),
    (
        "answer-colon-opening-with-working",
        "Answer: 16 - 3 - 4 = 9 eggs are sold. 9 * 2 = 18, so she makes $18 a day.",
        "18",
    ),
    ("answer-colon-final-equation", "Eggs left: 9.\nAnswer: 9 * 2 = 18", "18"),
    ("fullwidth-digits", "答案是４２。", "42"),
    ("yen", "所以总价是 3 × 14 = 42 元。\n答案是¥42", "42"),
    # 3. Fallback: the last sentence that has numbers.
    ("result-after-equals", "So she makes 9 * 2 = 18 dollars.", "18"),
    ("last-number", "She has 3 apples and 5 oranges, so 8 fruits in total.", "8"),
    ("result-before-qualifiers", "So she makes 9 * 2 = 18 dollars per day for 7 days.", "18"),
    ("conclusion-after-two-equations", "9 * 2 = 18 dollars and 3 * 2 = 6 dollars, so 24 in total.", "24"),
    ("equation-written-backwards", "Her earnings are 18 = 9 * 2", "18"),
    ("dollar-and-trailing-period", "Therefore, the total cost is $42.", "42"),
    ("dollars-word", "She will have saved 42 dollars by the end of the month", "42"),
    ("decimal", "Each notebook costs 7 / 2 = $3.50.", "3.5"),
    ("decimal-zeros", "He pays $18.00 in total.", "18"),
    ("leading-dot-decimal", "So the fraction of the day is .5", "0.5"),
    ("negative", "The final temperature is 10 - 15 = -5 degrees.", "-5"),
    ("percent", "The discount is 50%.", "50"),
    ("percent-word", "So the price went up by 12.5 percent.", "12.5"),
    ("millions", "In total the company earned $1,234,567 last year.", "1234567"),
    ("fraction-text", "She needs 3/4 of a cup of sugar.", "0.75"),
    ("mixed-number", "So he bought 2 1/2 pounds of apples.", "2.5"),
    ("unicode-vulgar-fraction", "The recipe now needs 3½ cups of flour.", "3.5"),
    ("superscript-is-not-a-digit", "The area of the garden is 5 × 5 = 25 m².", "25"),
    ("step-reference-noise", "Adding the two parts gives 18 (see step 3).", "18"),
    ("ordinal-noise", "He scored 42 points in the 3rd round.", "42"),
    ("ordinal-as-result", "She finished the race 7-1=<<7-1=6>>6th place", "6"),
    ("footnote-noise", "She makes $18 a day [1].", "18"),
    (
        "calculator-annotation",
        "It takes 2/2=<<2/2=1>>1 bolt of white fiber\nSo the total is 2+1=<<2+1=3>>3",
        "3",
    ),
    (
        "numbered-list-line",
        "Let's solve it step by step:\n1. Eggs left: 16 - 3 - 4 = 9\n2. Revenue: 9 * $2 = $18\n3. Done",
        "18",
    ),
    ("chinese-total", "小明一共有 3 + 5 = 8 个苹果。", "8"),
    ("latex-display-math", "\\[ 9 \\times 2 = 18 \\]\nSo she makes $18 each day.", "18"),
    ("minus-sign-unicode", "The change in balance is \u221230 dollars.", "-30"),
    ("trailing-non-number-sentence", "So Janet makes $18 every day.\n\nI hope this helps!", "18"),
    # 4. LaTeX mixed numbers: a whole number right before \frac is one number (3\frac{1}{2} = 3.5, not 31/2).
    ("latex-mixed-number", r"She needs $\boxed{3\frac{1}{2}}$ cups of flour.", "3.5"),
    ("latex-mixed-number-one-and-a-half", r"So it takes \boxed{1\frac{1}{2}} hours.", "1.5"),
    ("latex-mixed-number-negative", r"The change is $\boxed{-2\frac{1}{4}}$ degrees.", "-2.25"),
    ("latex-mixed-number-dfrac-space", r"\boxed{3 \dfrac{1}{2}}", "3.5"),
    ("latex-mixed-number-tfrac-compact", r"The answer is $3\tfrac12$.", "3.5"),
    ("latex-mixed-number-thin-space", r"\boxed{3\,\frac{1}{2}}", "3.5"),
    ("latex-mixed-number-non-terminating", r"Answer: $1\frac{1}{3}$", "4/3"),
    ("latex-mixed-number-in-a-sentence", r"She has $2\frac{3}{4}$ cups left.", "2.75"),
    ("latex-fraction-alone-is-not-mixed", r"\boxed{\frac{1}{2}}", "0.5"),
    ("latex-product-is-not-mixed", r"She pays $2 \cdot \frac{1}{2} = 1$ dollar.", "1"),
]

NONE_CASES: list[tuple[str, str]] = [
    ("empty", ""),
    ("whitespace", "  \n\t "),
    ("refusal", "I'm sorry, but I can't help with that request."),
    ("no-digits", "Let me think about this problem carefully. It is about ducks and eggs."),
    ("chinese-no-answer", "答案无法确定。"),
    ("answer-without-number", "The answer is unknown because the problem is missing information."),
    ("ordinal-only-as-label", "Step 1: Read the problem.\nStep 2: Think about it."),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in NUMBER_CASES], ids=[c[0] for c in NUMBER_CASES])
def test_extract_final_number(text: str, expected: str) -> None:
    assert extract_final_number(text) == expected


@pytest.mark.parametrize("text", [c[1] for c in NONE_CASES], ids=[c[0] for c in NONE_CASES])
def test_extract_final_number_none(text: str) -> None:
    assert extract_final_number(text) is None


def test_extract_final_number_rejects_non_str() -> None:
    assert extract_final_number(None) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,234", "1234"),
        ("1,234,567", "1234567"),
        ("18.00", "18"),
        ("-0.50", "-0.5"),
        ("$42", "42"),
        ("-$5", "-5"),
        ("42.", "42"),
        (".5", "0.5"),
        ("0.1250", "0.125"),
        ("-0", "0"),
        ("+7", "7"),
        ("50%", "50"),
        ("3/4", "0.75"),
        ("2/6", "1/3"),
        ("-4/6", "-2/3"),
        ("10/4", "2.5"),
        ("1 1/2", "1.5"),
        (r"\frac{3}{4}", "0.75"),
        (r"\dfrac{1}{3}", "1/3"),
        (r"3\frac{1}{2}", "3.5"),
        (r"1\frac{1}{2}", "1.5"),
        (r"-2\frac{1}{4}", "-2.25"),
        (r"\boxed{2\dfrac{3}{4}}", "2.75"),
        (r"\boxed{1,234}", "1234"),
        ("$42$", "42"),
        ("**42**", "42"),
        ("42 dollars", "42"),
        ("18元", "18"),
        ("¥42", "42"),
        ("４２", "42"),
        ("1e3", "1000"),
        ("1.5E-2", "0.015"),
        ("007", "7"),
        ("1234567890123456789", "1234567890123456789"),
        ("0.1", "0.1"),
    ],
)
def test_normalize_number(raw: str, expected: str) -> None:
    assert normalize_number(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "abc", "3 and 5", "1,23", "x = 5", "about 42", "1/0", "3.5.1", "$", "-", "1,2345", r"2\cdot\frac{1}{2}"],
)
def test_normalize_number_none(raw: str) -> None:
    assert normalize_number(raw) is None


def test_canonical_form_is_a_fixed_point() -> None:
    """normalize(normalize(x)) == normalize(x): stored answers can be normalised again safely."""
    for raw in ["1,234", "18.00", "2/6", "-0.50", "1e3", r"\frac{1}{8}", "3 1/3"]:
        once = normalize_number(raw)
        assert once is not None and normalize_number(once) == once


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("18", "18.00", True),
        ("1,234", "1234.0", True),
        ("0.75", "3/4", True),
        ("1/3", "2/6", True),
        ("1/3", "0.333", False),
        ("0.1", "1/10", True),
        ("-0.5", "-.5", True),
        ("$42", "42", True),
        ("42", "43", False),
        ("1e3", "1000", True),
        ("18", "abc", False),
        ("", "", False),
        # Exact arithmetic: no float fuzz in either direction.
        ("0.30000000000000004", "0.3", False),
        ("100000000000000000001", "100000000000000000000", False),
    ],
)
def test_numbers_equal(a: str, b: str, equal: bool) -> None:
    assert numbers_equal(a, b) is equal
    assert numbers_equal(b, a) is equal


def test_numbers_equal_rejects_none() -> None:
    assert numbers_equal(None, "1") is False  # type: ignore[arg-type]


# ---- GSM8K gold answers ------------------------------------------------------------------------


def _gsm8k_rows(data_dir: Path, name: str) -> list[dict[str, str]]:
    with (data_dir / "gsm8k" / name).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.mark.parametrize("split", ["test.jsonl", "train.jsonl", "test_socratic.jsonl"])
def test_every_gsm8k_gold_answer_extracts_to_its_marker(data_dir: Path, split: str) -> None:
    rows = _gsm8k_rows(data_dir, split)
    assert len(rows) in {1319, 7473}
    bad = []
    for i, row in enumerate(rows):
        after_marker = row["answer"].split("####")[-1].strip()
        expected = normalize_number(after_marker)
        got = extract_final_number(row["answer"])
        if expected is None or got != expected:
            bad.append((i, after_marker, got))
    assert not bad, bad[:10]


def test_real_gsm8k_rows(data_dir: Path) -> None:
    rows = _gsm8k_rows(data_dir, "test.jsonl")
    assert extract_final_number(rows[0]["answer"]) == "18"  # Janet's ducks
    assert extract_final_number(rows[1]["answer"]) == "3"  # the robe: 2/2=<<2/2=1>>1 ... #### 3
    # Fallback quality: with the "#### N" line removed, the reasoning alone still yields the gold answer
    # for nearly every row (the misses are genuinely ambiguous, e.g. gold in cents, answer stated early).
    hits = sum(
        extract_final_number(r["answer"].split("####")[0]) == normalize_number(r["answer"].split("####")[1])
        for r in rows
    )
    assert hits / len(rows) > 0.98


# ---- Agreement with lm-evaluation-harness strict-match ---------------------------------------------

# lm-eval's gsm8k "strict-match" filter: this regex, first match ("take_first"), then the metric
# ignores "," and "$" and a trailing "." (regexes_to_ignore).  Re-implemented here as the reference.
LM_EVAL_STRICT = re.compile(r"#### (\-?[0-9\.\,]+)")


def lm_eval_strict(text: str) -> str | None:
    found = LM_EVAL_STRICT.findall(text)
    if not found:
        return None  # lm-eval's "[invalid]"
    answer = found[0].strip()
    for ignore in (",", r"\$", r"\.$"):
        answer = re.sub(ignore, "", answer)
    return answer


@pytest.mark.parametrize(
    "text",
    [
        "9 * 2 = 18\n#### 18",
        "He earns 1,000 + 234 dollars.\n#### 1,234",
        "The balance is negative.\n#### -5",
        "Each costs 3.50.\n#### 3.50",
        "So the answer is 42.\n#### 42.",
        "Half of it.\n#### 0.5",
        "Half of it.\n#### .5",
        "#### 18.00",
        "#### 1,000,000",
        "9 * 2 = 18\n#### 18\n\nQuestion: next one?\nAnswer: 2 + 1 = 3\n#### 3",
        "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n#### 9 eggs",
        "#### 007",
    ],
)
def test_strict_marker_agrees_with_lm_eval(text: str) -> None:
    reference = lm_eval_strict(text)
    assert reference is not None
    assert extract_final_number(text) == normalize_number(reference)


@pytest.mark.parametrize(
    ("text", "ours"),
    [
        ("#### $18", "18"),  # lm-eval: [invalid] ('$' is not in its character class)
        ("####18", "18"),  # lm-eval: [invalid] (needs exactly one space)
        ("#### **18**", "18"),  # lm-eval: [invalid]
        ("#### 3/4", "0.75"),  # lm-eval: "3"
        ("#### 1. Eggs\n16 - 3 - 4 = 9\n#### 2. Money\n9 * 2 = 18", "18"),  # lm-eval: "1."
    ],
)
def test_deliberate_differences_from_lm_eval_strict(text: str, ours: str) -> None:
    assert extract_final_number(text) == ours
    assert lm_eval_strict(text) != ours


@pytest.mark.parametrize(
    "text",
    [
        " " * 50_000 + "x",
        "*" * 50_000,
        "#### " * 20_000,
        "\\boxed{" * 10_000,
        "1," * 25_000,
        "answer" + " " * 50_000 + ":",
        "$" + " " * 50_000 + "x",
    ],
    ids=["spaces", "stars", "markers", "boxes", "commas", "answer-spaces", "dollar-spaces"],
)
def test_pathological_input_stays_fast(text: str) -> None:
    """Responses are untrusted: no regex may backtrack its way into quadratic (or worse) time."""
    start = time.perf_counter()
    extract_final_number(text)
    normalize_number(text)
    assert time.perf_counter() - start < 1.0
