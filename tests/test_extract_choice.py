"""extract_choice on real-looking MMLU / CMMLU / C-Eval generations, English and Chinese, and on questions
with up to ten lettered or numbered options."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tianping.core import Sample
from tianping.scoring import choice
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


# --------------------------------------------------------------------------------------------------
# More than four options, numbered options (tianping.scoring.choice with the sample's labels)
# --------------------------------------------------------------------------------------------------

MINERALS = ["amber", "basalt", "cobalt", "dolomite", "emerald", "feldspar", "garnet", "hematite", "ilmenite", "jasper"]
TEN = [f"mineral {w}" for w in MINERALS]
NUMBERED = [str(i) for i in range(1, 11)]


def _aqua_rat(data_dir: Path, count: int) -> list[tuple[list[str], str]]:
    """AGIEval AQuA-RAT items (five options written "(A)5(√3 + 1)" ... "(E)None of these"): (texts, label)."""
    out = []
    path = data_dir / "agieval" / "data" / "v1" / "aqua-rat.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines()[:count]:
        row = json.loads(line)
        texts = [re.sub(r"^\([A-E]\)\s*", "", o) for o in row["options"]]
        out.append((texts, row["label"]))
    return out


def test_five_option_aqua_rat_items_accept_their_labels(data_dir: Path) -> None:
    items = _aqua_rat(data_dir, 200)
    assert {len(texts) for texts, _ in items} == {5} and {label for _, label in items} == set("ABCDE")
    for texts, label in items:
        assert choice.extract_choice(f"The answer is ({label}).", texts) == label
        assert choice.extract_choice(f"Answer: {label}", texts, choice.option_labels({"choices": texts})) == label
        assert choice.extract_choice("The answer is (F).", texts) is None  # past the last option
        assert choice.extract_choice("The answer is E", texts[:4]) is None  # a four-option question
    with_e = [texts for texts, label in items if label == "E"]
    assert with_e
    for texts in with_e:
        assert choice.extract_choice(f"I believe it is {texts[4]}.\n\n**E**", texts) == "E"


# (id, response, expected) on the ten options TEN, lettered A-J
TEN_CASES: list[tuple[str, str, str | None]] = [
    ("paren", "The answer is (E)", "E"),
    ("colon", "Answer: G", "G"),
    ("bold", "**H**", "H"),
    ("zh", "答案是 F", "F"),
    ("choose-j", "I choose J.", "J"),
    ("boxed", r"So the answer is $\boxed{E}$.", "E"),
    ("text-only", "mineral garnet", "G"),
    ("lone-lower", "j", "J"),
    ("lone-lower-i", "i", "I"),
    ("pronoun-then-letter", "I think I will go with I.", "I"),
    ("marker", "F) mineral feldspar\n\nThe others are wrong.", "F"),
    ("zh-paren", "正确答案是（H）。", "H"),
    ("trailing-letter", "Having weighed every option, I'd say G", "G"),
    ("verdict", "Option J is correct.", "J"),
    ("last-wins", "The answer is B. On reflection, the answer is I.", "I"),
    ("out-of-range", "The answer is K.", None),
    ("out-of-range-zh", "答案是Z", None),
    ("negated", "The answer is not E.", None),
    ("undecided", "It could be F or G.", None),
    ("refusal", "I'm sorry, but I can't help with that.", None),
    ("letters-in-words", "Vitamin-rich JELLY is HIGH in sugar.", None),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in TEN_CASES], ids=[c[0] for c in TEN_CASES])
def test_ten_lettered_options(text: str, expected: str | None) -> None:
    assert choice.extract_choice(text, TEN) == expected
    assert choice.extract_choice(text, TEN, "ABCDEFGHIJ") == expected
    if expected is not None and expected > "E":
        assert choice.extract_choice(text, TEN[:5]) != expected  # the same letter is no answer to five options


# (id, response, expected) on the ten options TEN, numbered 1-10
NUMBERED_CASES: list[tuple[str, str, str | None]] = [
    ("answer-is", "The answer is 3.", "3"),
    ("paren", "The answer is (7)", "7"),
    ("colon", "Answer: 4", "4"),
    ("ten-not-one", "The answer is 10.", "10"),
    ("bold", "**9**", "9"),
    ("boxed", r"\boxed{6}", "6"),
    ("zh", "答案是 5", "5"),
    ("zh-choose", "故选2。", "2"),
    ("choose-option", "I choose option 8.", "8"),
    ("verdict", "Option 2 is correct.", "2"),
    ("because", "Answer: 2 because basalt is volcanic.", "2"),
    ("lone", "6", "6"),
    ("marker", "1. mineral amber\n\nAmber is fossil resin.", "1"),
    ("text-only", "mineral cobalt", "3"),
    ("answer-is-text", "The answer is mineral jasper.", "10"),
    ("last-wins", "The answer is 3. Wait, no: the answer is 4.", "4"),
    # numbers that are not option labels
    ("out-of-range", "The answer is 11.", None),
    ("quantity", "The answer is 3 apples.", None),
    ("decimal", "The answer is 3.5", None),
    ("thousands", "The answer is 3,000.", None),
    ("sum", "So 2 + 2 = 4", None),
    ("equals-verdict", "x = 3 is correct", None),
    ("boxed-expression", r"\boxed{3+4}", None),
    ("zh-count", "应该是3个。", None),
    ("list-of-steps", "1. Find the mass.\n2. Divide by the volume.", None),
    ("equation-ref", "From equation (3) the density follows", None),
    ("trailing-number", "The density works out to 5", None),
    ("refusal", "I cannot answer this.", None),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in NUMBERED_CASES], ids=[c[0] for c in NUMBERED_CASES])
def test_numbered_options(text: str, expected: str | None) -> None:
    assert choice.extract_choice(text, TEN, NUMBERED) == expected
    labels = choice.option_labels({"choices": TEN, "letters": NUMBERED})
    assert choice.extract_choice(text, TEN, labels) == expected


def test_numbered_labels_follow_the_number_of_options() -> None:
    assert choice.extract_choice("The answer is 6.", TEN[:5], NUMBERED) is None
    assert choice.extract_choice("The answer is 5.", TEN[:5], NUMBERED) == "5"
    assert choice.extract_choice("The answer is 1.", TEN[:2], NUMBERED) == "1"


def test_labels_come_from_the_sample() -> None:
    assert choice.option_labels({"choices": TEN}) == tuple("ABCDEFGHIJ")
    assert choice.option_labels({"choices": ["x", "y", "z"]}) == ("A", "B", "C")
    assert choice.option_labels({"choices": ["x", "y"], "letters": "AB"}) == ("A", "B")
    assert choice.option_labels({"choices": ["x", "y"], "letters": ["1", "2"]}) == ("1", "2")
    for bad in (["A", "1"], ["a", "b"], ["A", "A"], ["(A)", "(B)"], ["01", "02"]):
        with pytest.raises(ValueError, match="option labels"):
            choice.option_labels({"choices": ["x", "y"], "letters": bad})
    assert choice.extract_choice("The answer is Z.", [str(i) for i in range(26)]) == "Z"


def test_choice_extractor_reads_the_labels_of_the_sample() -> None:
    from tianping.benchmarks.scorers import EXTRACTORS, resolve

    extract = EXTRACTORS["choice"]
    assert extract("The answer is (E)", Sample(id="x", fields={"choices": TEN[:5]}, target="E")) == "E"
    assert extract("The answer is (F)", Sample(id="x", fields={"choices": TEN[:5]}, target="E")) is None
    numbered = Sample(id="x", fields={"choices": TEN[:4], "letters": NUMBERED[:4]}, target="3")
    assert extract("The answer is 3.", numbered) == "3" and extract("The answer is C.", numbered) is None
    assert resolve(EXTRACTORS, "arc_choice") is extract  # the old name of ARC's extractor is the same function


N_ADVERSARIAL = 200_000
ADVERSARIAL = {
    "spaces": " " * N_ADVERSARIAL + "x",
    "answer-spaces": "the answer is" + " " * N_ADVERSARIAL + "x",
    "colon-spaces": "Answer" + " " * N_ADVERSARIAL + ":" + " " * N_ADVERSARIAL,
    "zh-repeated": "答案" * (N_ADVERSARIAL // 2),
    "open-bold": "**B." + " " * N_ADVERSARIAL,
    "letter-spaces-is": "B" + " " * N_ADVERSARIAL + "is",
    "boxes": "\\boxed{" * (N_ADVERSARIAL // 7),
    "boxed-number-spaces": "\\boxed{3" + " " * N_ADVERSARIAL + "x",
    "parens": "(" * N_ADVERSARIAL,
    "letters": "B " * (N_ADVERSARIAL // 2),
    "digits": "3 " * (N_ADVERSARIAL // 2),
    "digit-run": "3" * N_ADVERSARIAL,
    "decimals": "3." * (N_ADVERSARIAL // 2),
    "paren-letters": "(B) (C) " * (N_ADVERSARIAL // 8),
    "markup": ("答案是 **(" + " " * 50 + "\\boxed{ ") * (N_ADVERSARIAL // 70),
    "nested-option-texts": "mineral amber, mineral amber rock " * (N_ADVERSARIAL // 34),
}
WIDE_CHOICES = [*TEN, "mineral amber rock", "3", "3 3", "B", "B mineral"]


@pytest.mark.parametrize("labels", ["letters", "numbers"])
@pytest.mark.parametrize("text", list(ADVERSARIAL.values()), ids=list(ADVERSARIAL))
def test_200kb_adversarial_responses_stay_fast(text: str, labels: str) -> None:
    """26 letters or numbered labels must not make any tier superlinear: 200 KB in well under a few seconds
    (the option-text tier was quadratic on options nested in each other, "London" in "London, UK")."""
    choices = [f"option {i}" for i in range(26)] if labels == "letters" else WIDE_CHOICES
    given = None if labels == "letters" else [str(i + 1) for i in range(len(WIDE_CHOICES))]
    start = time.perf_counter()
    choice.extract_choice(text, choices, given)
    choice.extract_choice(text, WIDE_CHOICES[:10] if labels == "letters" else choices)
    assert time.perf_counter() - start < 4.0


@pytest.mark.parametrize(
    ("response", "choices", "expected"),
    [
        ("不是", ["是", "否"], None),  # "是" inside "不是" is the opposite answer, not option 是
        ("他不是指小明，所以答案是否", ["是", "否"], "B"),
        ("是的，指的就是小明。", ["是", "否"], "A"),
        ("没错", ["对", "错"], None),  # 没错 means "right": not option 错
        ("这不可能", ["可能", "不可能"], "B"),
    ],
)
def test_a_negated_chinese_option_text_is_not_a_mention_of_the_option(response, choices, expected):
    assert extract_choice(response, choices, "AB") == expected
