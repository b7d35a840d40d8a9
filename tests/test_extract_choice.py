"""extract_choice on real-looking MMLU / CMMLU / C-Eval generations, English and Chinese."""

from __future__ import annotations

import time

import pytest

from tianping.scoring.extract import extract_choice

CAPITALS = ["Paris", "London", "Berlin", "Madrid"]
CITIES_ZH = ["北京", "上海", "广州", "深圳"]
NUMBERS = ["3", "4", "5", "6"]

# (id, response, choices, expected letter)
CHOICE_CASES: list[tuple[str, str, list[str], str]] = [
    # Chinese explicit statements.
    ("zh-answer-is", "根据题意，英国的首都是伦敦。答案是 B", CAPITALS, "B"),
    ("zh-answer-colon", "答案：B", CAPITALS, "B"),
    ("zh-answer-wei", "经过分析，答案为B。", CAPITALS, "B"),
    ("zh-letter-then-full-stop", "D。税务机关必须依法征税，因此D项表述不正确。", CAPITALS, "D"),
    ("zh-bold-letter-full-stop", "**C。** 其余选项都不符合题意。", CAPITALS, "C"),
    ("zh-correct-answer-paren", "A项错误，C项与题意不符，D项无关。正确答案是（B）。", CAPITALS, "B"),
    ("zh-xuan", "本题考查首都知识，故选B。", CAPITALS, "B"),
    ("zh-xuanze-xiang", "综合以上分析，应选择 B 项。", CAPITALS, "B"),
    ("zh-correct-answer-wei-colon", "正确答案为：D", CAPITALS, "D"),
    ("zh-option-is-correct", "A项说法错误；B项正确。", CAPITALS, "B"),
    ("zh-suoyi-shi", "前三个都不符合条件，所以是D。", CAPITALS, "D"),
    ("zh-last-statement-wins", "答案是A。不对，再想一想，答案应该是C。", CAPITALS, "C"),
    ("zh-negated-options-then-choice", "A和B都不对，C也不对，选D", CAPITALS, "D"),
    ("zh-fullwidth-letter", "答案：Ｂ", CAPITALS, "B"),
    ("zh-answer-is-option-text", "中国最大的经济城市是上海，所以答案是上海。", CITIES_ZH, "B"),
    ("zh-marker-colon", "B：伦敦是英国的首都。", CAPITALS, "B"),
    ("zh-fullwidth-paren-alone", "（B）", CAPITALS, "B"),
    ("zh-option-text-only", "中国的首都是北京。", CITIES_ZH, "A"),
    ("zh-bracket-answer", "【答案】B【解析】伦敦是英国的首都。", CAPITALS, "B"),
    ("zh-option-b-is-correct", "选项B是正确的。", CAPITALS, "B"),
    ("zh-only-c-fits", "只有C符合题意。", CAPITALS, "C"),
    ("zh-answer-xuan", "故本题答案选C。", CAPITALS, "C"),
    ("zh-answer-colon-newline", "答案：\n\nC", CAPITALS, "C"),
    ("zh-all-wrong-but-d", "A、B、C都错误，D正确", CAPITALS, "D"),
    # English explicit statements.
    (
        "en-answer-is-paren",
        "Let's think step by step. London is the capital of the UK. The answer is (B)",
        CAPITALS,
        "B",
    ),
    ("en-answer-colon", "Answer: B", CAPITALS, "B"),
    (
        "en-answer-colon-next-line",
        "The capital of the United Kingdom is London.\n\nAnswer:\nB",
        CAPITALS,
        "B",
    ),
    ("en-article-then-answer", "A good answer would be C", CAPITALS, "C"),
    ("en-lowercase-article", "I think it is a tricky one. The answer is D", CAPITALS, "D"),
    ("en-last-statement-wins", "The answer is A. Wait, let me reconsider. The answer is C.", CAPITALS, "C"),
    ("en-correct-option-is", "Therefore, the correct option is (D).", CAPITALS, "D"),
    ("en-best-answer-bold-text", "After careful analysis, the best answer is **C. Berlin**", CAPITALS, "C"),
    ("en-answer-colon-article-ignored", "Answer: A careful look shows the answer is D.", CAPITALS, "D"),
    ("en-final-answer-bold", "Paris is in France, Berlin in Germany.\n\n**Final Answer: B**", CAPITALS, "B"),
    ("en-i-choose", "I would choose option C.", CAPITALS, "C"),
    ("en-x-is-correct", "Option A is wrong because Paris is in France. Option B is correct.", CAPITALS, "B"),
    ("en-list-then-correct", "Both A and B are wrong; C is correct.", CAPITALS, "C"),
    ("en-so-letter", "Paris is French and Berlin is German, so B.", CAPITALS, "B"),
    ("en-its-letter-comma", "It's B, because London is the capital.", CAPITALS, "B"),
    ("en-so-b-is-wrong-then-answer", "So B is wrong, and the answer is C.", CAPITALS, "C"),
    ("en-answer-is-option-text", "The answer is London.", CAPITALS, "B"),
    ("en-answer-is-number-text", "3 + 2 = 5, so the answer is 5.", NUMBERS, "C"),
    ("en-boxed", r"The capital is Berlin, so the answer is $\boxed{C}$.", CAPITALS, "C"),
    ("en-boxed-text", r"Final answer: \boxed{\text{D}}", CAPITALS, "D"),
    ("en-answer-colon-paren-text", "Answer: (A) Paris", CAPITALS, "A"),
    ("en-answer-colon-a-period", "Answer: A. Paris", CAPITALS, "A"),
    ("en-answer-is-a-because", "The answer is A because Paris is the capital of France.", CAPITALS, "A"),
    ("en-letter-is-the-answer", "B is the answer.", CAPITALS, "B"),
    ("en-paren-is-correct", "Among the choices, (B) is correct.", CAPITALS, "B"),
    (
        "en-analyses-each-option-then-answers",
        "Let's analyze each option:\n\nA. Paris - capital of France, not the UK.\n"
        "B. London - capital of the UK.\nC. Berlin - capital of Germany.\n"
        "D. Madrid - capital of Spain.\n\nTherefore, the correct answer is B.",
        CAPITALS,
        "B",
    ),
    ("en-markdown-heading", "## Answer\nC", CAPITALS, "C"),
    (
        "en-reasoning-model",
        "Okay, so the question asks for the UK capital. That's London.\n\nThe answer is B.",
        CAPITALS,
        "B",
    ),
    # Format-only answers.
    ("bold-letter", "**B**", CAPITALS, "B"),
    ("bold-letter-in-text", "London is the capital of the UK, so I pick **B** here.", CAPITALS, "B"),
    ("paren", "(B)", CAPITALS, "B"),
    ("letter-dot", "B.", CAPITALS, "B"),
    ("letter-paren", "B)", CAPITALS, "B"),
    (
        "marker-with-text",
        "C) Berlin\n\nBerlin has been the capital of Germany since reunification.",
        CAPITALS,
        "C",
    ),
    ("lone-letter", "B", CAPITALS, "B"),
    ("lone-lowercase", "b", CAPITALS, "B"),
    ("lone-lowercase-paren", "(d)", CAPITALS, "D"),
    ("lone-letter-first-line", "D\n\nExplanation: Madrid is the capital of Spain.", CAPITALS, "D"),
    ("lone-letter-last-line", "Let me think. The UK capital is London.\n\nB", CAPITALS, "B"),
    ("ends-with-letter", "Considering all four cities, I'd say C", CAPITALS, "C"),
    ("option-text", "The capital is London.", CAPITALS, "B"),
    (
        "unique-paren-letter",
        "Hmm, London (B) is the only city in the United Kingdom here, isn't it?",
        CAPITALS,
        "B",
    ),
    ("option-text-longest-wins", "It is London, UK.", ["London", "London, UK", "Paris", "Rome"], "B"),
    # More letters than ABCD, and the pronoun "I" as a letter.
    ("five-letters", "The answer is E.", ["1", "2", "3", "4", "5"], "E"),
    ("ten-letters-pronoun", "I think the answer is J.", [str(i) for i in range(10)], "J"),
    ("ten-letters-letter-i", "The answer is (I).", [str(i) for i in range(10)], "I"),
]

NONE_CASES: list[tuple[str, str, list[str]]] = [
    ("empty", "", CAPITALS),
    ("refusal", "I'm sorry, but I can't help with that.", CAPITALS),
    ("refusal-ai", "As an AI, I cannot answer this question.", CAPITALS),
    ("dont-know", "I don't know.", CAPITALS),
    ("zh-refusal", "抱歉，我无法回答这个问题。", CAPITALS),
    ("two-option-texts", "Paris or London, it is hard to say.", CAPITALS),
    ("recites-options", "A. Paris\nB. London\nC. Berlin\nD. Madrid", CAPITALS),
    ("letter-out-of-range", "The answer is E", CAPITALS),
    ("negated", "The answer is not A.", CAPITALS),
    ("undecided", "It could be A or B.", CAPITALS),
    ("lowercase-not-lone", "Answer: b", CAPITALS),
    ("article-only", "A tricky question indeed.", CAPITALS),
    ("none-of-the-above", "None of the above options is correct.", CAPITALS),
    ("bold-letters-disagree", "**A**: wrong\n**B**: wrong\n**C**: plausible\n**D**: wrong", CAPITALS),
    ("mentions-two-letters", "The question asks about A and B.", CAPITALS),
    ("zh-no-choice", "只有一个选项符合题意，但我不确定是哪一个。", CAPITALS),
    ("numbers-in-reasoning", "There are 3 apples and 5 oranges, so the answer is 8.", NUMBERS),
]


@pytest.mark.parametrize(
    ("text", "choices", "expected"), [c[1:] for c in CHOICE_CASES], ids=[c[0] for c in CHOICE_CASES]
)
def test_extract_choice(text: str, choices: list[str], expected: str) -> None:
    letters = "ABCDEFGHIJ"[: len(choices)]
    assert extract_choice(text, choices, letters) == expected
    if len(choices) <= 4:
        assert extract_choice(text, choices) == expected  # the default letters "ABCD"


@pytest.mark.parametrize(("text", "choices"), [c[1:] for c in NONE_CASES], ids=[c[0] for c in NONE_CASES])
def test_extract_choice_none(text: str, choices: list[str]) -> None:
    assert extract_choice(text, choices) is None


def test_valid_letters_follow_the_number_of_choices() -> None:
    assert extract_choice("The answer is C.", ["yes", "no"], "AB") is None
    assert extract_choice("The answer is C.", ["yes", "no", "maybe"]) == "C"
    assert extract_choice("The answer is C.", []) == "C"  # no choices given: all of ``letters``


def test_non_str_input() -> None:
    assert extract_choice(None, CAPITALS) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        " " * 50_000 + "x",
        "*" * 50_000,
        "the answer is" + " " * 50_000 + "x",
        "答案" + " " * 50_000 + "x",
        "**B." + " " * 50_000,
        "B" + " " * 50_000 + "is",
        "\\boxed{" * 10_000,
        "(" * 50_000,
    ],
    ids=["spaces", "stars", "answer-spaces", "zh-spaces", "open-bold", "trail-spaces", "boxes", "parens"],
)
def test_pathological_input_stays_fast(text: str) -> None:
    """Responses are untrusted: no regex may backtrack its way into quadratic (or worse) time."""
    start = time.perf_counter()
    extract_choice(text, CAPITALS)
    assert time.perf_counter() - start < 1.0
