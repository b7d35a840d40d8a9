"""IFEval checkers, strict/loose evaluation, the ``ifeval`` scorer and the ``ifeval_jsonl`` loader.

Expected verdicts follow the rules documented by the reference implementation
(google-research ``instruction_following_eval``, as used by lm-evaluation-harness).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from conftest import DATA_DIR  # noqa: E402  (tests/ is on sys.path)
from tianping.benchmarks.definition import load_definitions
from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.ifeval import INSTRUCTIONS, evaluate, loose_variants, score_ifeval
from tianping.benchmarks.ifeval.instructions import _count_bullets, _count_placeholders, _has_title
from tianping.benchmarks.ifeval.loader import load_ifeval
from tianping.benchmarks.ifeval.text import count_sentences, count_words, split_sentences, word_tokens
from tianping.benchmarks.loaders import resolve_loader
from tianping.benchmarks.scorers import SCORERS, ScoringContext
from tianping.core import Completion, Response, Sample

DATA = DATA_DIR / "ifeval" / "input_data.jsonl"
DEFS = Path(__file__).resolve().parents[1] / "src" / "tianping" / "benchmarks" / "defs" / "ifeval.yaml"

ALL_IDS = {
    "keywords:existence",
    "keywords:frequency",
    "keywords:forbidden_words",
    "keywords:letter_frequency",
    "language:response_language",
    "length_constraints:number_sentences",
    "length_constraints:number_paragraphs",
    "length_constraints:number_words",
    "length_constraints:nth_paragraph_first_word",
    "detectable_content:number_placeholders",
    "detectable_content:postscript",
    "detectable_format:number_bullet_lists",
    "detectable_format:constrained_response",
    "detectable_format:number_highlighted_sections",
    "detectable_format:multiple_sections",
    "detectable_format:json_format",
    "detectable_format:title",
    "combination:two_responses",
    "combination:repeat_prompt",
    "startend:end_checker",
    "startend:quotation",
    "change_case:capital_word_frequency",
    "change_case:english_capital",
    "change_case:english_lowercase",
    "punctuation:no_comma",
}

ENGLISH = "The weather today is sunny and warm, which makes it a perfect afternoon for a long walk in the park."

# (instruction id, kwargs, response, expected verdict, why)
CASES = [
    # keywords:existence: case-insensitive search anywhere, substrings included
    ("keywords:existence", {"keywords": ["cat", "dog"]}, "My Cat chased the DOG.", True, "case-insensitive"),
    ("keywords:existence", {"keywords": ["cat", "dog"]}, "My cat sleeps.", False, "one keyword missing"),
    ("keywords:existence", {"keywords": ["cat"]}, "Concatenate strings.", True, "substring, not whole word"),
    # keywords:frequency: non-overlapping case-insensitive substring count
    ("keywords:frequency", {"keyword": "ai", "frequency": 3, "relation": "at least"}, "AI ai Ai", True, ">= 3"),
    ("keywords:frequency", {"keyword": "ai", "frequency": 3, "relation": "at least"}, "AI and ai", False, "2 < 3"),
    ("keywords:frequency", {"keyword": "ai", "frequency": 2, "relation": "less than"}, "said", True, "1 < 2"),
    ("keywords:frequency", {"keyword": "ai", "frequency": 2, "relation": "less than"}, "said ai", False, "2 !< 2"),
    # keywords:forbidden_words: whole words (\b...\b), case-insensitive
    ("keywords:forbidden_words", {"forbidden_words": ["bad", "sad"]}, "A good day.", True, "none present"),
    ("keywords:forbidden_words", {"forbidden_words": ["bad", "sad"]}, "Not BAD at all.", False, "case-insensitive"),
    ("keywords:forbidden_words", {"forbidden_words": ["bad"]}, "The badge is badly made.", True, "only whole words"),
    # keywords:letter_frequency: character count, case-insensitive
    (
        "keywords:letter_frequency",
        {"letter": "a", "let_frequency": 3, "let_relation": "at least"},
        "A banana",
        True,
        "",
    ),
    ("keywords:letter_frequency", {"letter": "a", "let_frequency": 3, "let_relation": "at least"}, "A cab", False, ""),
    ("keywords:letter_frequency", {"letter": "!", "let_frequency": 2, "let_relation": "less than"}, "Hi!", True, ""),
    ("keywords:letter_frequency", {"letter": "!", "let_frequency": 2, "let_relation": "less than"}, "Hi!!", False, ""),
    # language:response_language: langdetect on the whole response
    ("language:response_language", {"language": "de"}, "Dies ist eine kurze Antwort auf Deutsch.", True, ""),
    ("language:response_language", {"language": "de"}, ENGLISH, False, "English is not German"),
    ("language:response_language", {"language": "ru"}, "Это короткий ответ на русском языке.", True, ""),
    ("language:response_language", {"language": "ru"}, "12345 !!!", True, "no features: counted as followed"),
    # length_constraints:number_sentences
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"}, "One. Two.", True, ""),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": "less than"}, "One. Two.", False, ""),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "at least"}, "Yes. Maybe? Go!", True, ""),
    (
        "length_constraints:number_sentences",
        {"num_sentences": 2, "relation": "at least"},
        "Mr. Smith left.",
        False,
        "an abbreviation's period ends no sentence",
    ),
    # length_constraints:number_paragraphs: pieces between *** dividers
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "First.\n***\nSecond.", True, ""),
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 2},
        "***\nFirst.\n***\nSecond.\n***",
        True,
        "empty first and last pieces are not paragraphs",
    ),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 3}, "First.\n***\nSecond.", False, "2 != 3"),
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 2},
        "First.\n***\n***\nSecond.",
        False,
        "an empty paragraph in the middle fails",
    ),
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 1},
        "One\n\nparagraph\n\nblocks",
        True,
        "blank lines do not separate paragraphs here, only ***",
    ),
    # length_constraints:number_words: \w+ runs
    ("length_constraints:number_words", {"num_words": 5, "relation": "less than"}, "one two three four", True, ""),
    ("length_constraints:number_words", {"num_words": 4, "relation": "less than"}, "don't stop", True, "3 words"),
    (
        "length_constraints:number_words",
        {"num_words": 3, "relation": "at least"},
        "don't stop",
        True,
        "don't = don + t",
    ),
    ("length_constraints:number_words", {"num_words": 3, "relation": "at least"}, "hello, world!", False, ""),
    # length_constraints:nth_paragraph_first_word: \n\n paragraphs, first word lower-cased, cut at punctuation
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
        "First part.\n\nThen, the second.",
        True,
        "'Then,' -> 'then'",
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
        "First part.\n\nAfter that.",
        False,
        "wrong word",
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "then"},
        "First part.\n\nThen more.",
        False,
        "2 paragraphs, not 3",
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": "summary"},
        "**Summary** here.\n\nMore.",
        False,
        "'**summary**' is not 'summary' (strict)",
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": "quote"},
        '"Quote" starts.\n\nMore.',
        True,
        "leading quotes removed",
    ),
    # detectable_content:number_placeholders: [...] on one line
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "Dear [name], at [address].", True, ""),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "Dear [name], at {address}.", False, ""),
    (
        "detectable_content:number_placeholders",
        {"num_placeholders": 1},
        "Dear [na\nme]",
        False,
        "a placeholder does not span lines",
    ),
    # detectable_content:postscript
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Body.\n\nP.S. See you.", True, ""),
    (
        "detectable_content:postscript",
        {"postscript_marker": "P.S."},
        "Body.\n\np. s. see you",
        True,
        "case-insensitive, one space allowed after a period",
    ),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Body.\n\nPS see you", False, ""),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Body.\nP.P.S more", True, ""),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Body.\nP.S. more", False, ""),
    # detectable_format:number_bullet_lists: exactly n lines starting with "* " or "-"
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "Intro\n* one\n* two", True, ""),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "Intro\n- one\n  - two", True, "dash, indented"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* one\n* two\n* three", False, "exactly, not >="),
    (
        "detectable_format:number_bullet_lists",
        {"num_bullets": 2},
        "**Title**\n* one\n* two",
        True,
        "a **bold** line is not a bullet",
    ),
    # detectable_format:constrained_response: one of three fixed sentences, case-sensitive
    ("detectable_format:constrained_response", {}, "My answer is yes.", True, ""),
    ("detectable_format:constrained_response", {}, "Well... My answer is maybe. Because.", True, "anywhere"),
    ("detectable_format:constrained_response", {}, "my answer is yes.", False, "case-sensitive"),
    ("detectable_format:constrained_response", {}, "My answer is yes", False, "period required"),
    # detectable_format:number_highlighted_sections: *x* or **x**, non-blank, within a line
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and **two**", True, ""),
    (
        "detectable_format:number_highlighted_sections",
        {"num_highlights": 2},
        "*one* and * * and **",
        False,
        "blank highlights do not count",
    ),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 1}, "*across\nlines*", False, ""),
    # detectable_format:multiple_sections: "<splitter> <number>", case-sensitive
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "SECTION", "num_sections": 2},
        "SECTION 1\nA\nSECTION 2\nB",
        True,
        "",
    ),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "SECTION", "num_sections": 2},
        "Section 1\nA\nSection 2\nB",
        False,
        "case-sensitive",
    ),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "Day", "num_sections": 3},
        "Day 1 Day2 Day 3",
        True,
        "the space is optional",
    ),
    # detectable_format:json_format: fences removed, json.loads decides
    ("detectable_format:json_format", {}, '{"a": 1}', True, ""),
    ("detectable_format:json_format", {}, '```json\n{"a": [1, 2]}\n```', True, "fenced"),
    ("detectable_format:json_format", {}, '```JSON\n{"a": 1}\n```', True, ""),
    ("detectable_format:json_format", {}, 'Here it is: {"a": 1}', False, "text outside the JSON"),
    ("detectable_format:json_format", {}, "{'a': 1}", False, "single quotes are not JSON"),
    # detectable_format:title: <<...>> on one line, non-blank
    ("detectable_format:title", {}, "<<My Poem>>\nRoses are red.", True, ""),
    ("detectable_format:title", {}, "<<>>\n<< >>", False, "blank titles"),
    (
        "detectable_format:title",
        {},
        "<<>> and << >>",
        True,
        "one greedy match from the first << to the last >> of a line: '>> and <<' is not blank",
    ),
    ("detectable_format:title", {}, "<My Poem>", False, "single brackets"),
    ("detectable_format:title", {}, "<<My\nPoem>>", False, "not across lines"),
    # combination:two_responses: two different non-blank parts around ******
    ("combination:two_responses", {}, "First answer.\n******\nSecond answer.", True, ""),
    ("combination:two_responses", {}, "Same.\n******\nSame.", False, "identical"),
    ("combination:two_responses", {}, "A\n******\nB\n******\nC", False, "three responses"),
    ("combination:two_responses", {}, "A\n******\n******\nB", False, "blank piece in the middle"),
    # combination:repeat_prompt: starts with the request, case-insensitive
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem."}, "write a POEM. Roses are red.", True, ""),
    (
        "combination:repeat_prompt",
        {"prompt_to_repeat": "Write a poem."},
        "Sure! Write a poem. Roses.",
        False,
        "words before the repetition",
    ),
    # startend:end_checker: ends with the phrase, case-insensitive, quotes/whitespace ignored
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, "Done.\nany other questions?  ", True, ""),
    (
        "startend:end_checker",
        {"end_phrase": "Any other questions?"},
        '"Done. Any other questions?"',
        True,
        "outer double quotes ignored",
    ),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, "Any other questions? Bye.", False, ""),
    # startend:quotation
    ("startend:quotation", {}, '  "Wrapped in quotes."\n', True, ""),
    ("startend:quotation", {}, '"Only at the start.', False, ""),
    ("startend:quotation", {}, '"', False, "a lone quote is too short"),
    # change_case:capital_word_frequency: all-capital tokens (Treebank tokens, str.isupper)
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 3, "capital_relation": "at least"},
        "The USA and NASA, I think.",
        True,
        "USA, NASA, I",
    ),
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 3, "capital_relation": "at least"},
        "The USA and Nasa.",
        False,
        "only USA",
    ),
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 2, "capital_relation": "less than"},
        "STATE-OF-THE-ART work.",
        True,
        "a hyphenated word is one token",
    ),
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 2, "capital_relation": "less than"},
        "DON'T do it.",
        False,
        "DON'T is DO + N'T",
    ),
    # change_case:english_capital
    ("change_case:english_capital", {}, ENGLISH.upper(), True, ""),
    ("change_case:english_capital", {}, ENGLISH, False, "lower-case letters"),
    (
        "change_case:english_capital",
        {},
        "DIES IST EINE KURZE ANTWORT AUF DEUTSCH UND NICHT AUF ENGLISCH.",
        False,
        "capitals but not English",
    ),
    # change_case:english_lowercase
    ("change_case:english_lowercase", {}, ENGLISH.lower(), True, ""),
    ("change_case:english_lowercase", {}, ENGLISH, False, "a capital T"),
    (
        "change_case:english_lowercase",
        {},
        "dies ist eine kurze antwort auf deutsch und nicht auf englisch.",
        False,
        "lower case but not English",
    ),
    # punctuation:no_comma: only the ASCII comma
    ("punctuation:no_comma", {}, "No commas here.", True, ""),
    ("punctuation:no_comma", {}, "One, here.", False, ""),
    ("punctuation:no_comma", {}, "全角逗号，不算", True, "the full-width comma is not checked"),
]


def test_all_25_instruction_types_are_registered():
    assert set(INSTRUCTIONS) == ALL_IDS


def test_every_data_instruction_is_known():
    ids = {i for line in DATA.read_text("utf-8").splitlines() for i in json.loads(line)["instruction_id_list"]}
    assert ids == ALL_IDS


def test_every_instruction_has_pass_and_fail_cases():
    for instruction_id in ALL_IDS:
        verdicts = [expected for iid, _, _, expected, _ in CASES if iid == instruction_id]
        assert True in verdicts and False in verdicts, instruction_id


@pytest.mark.parametrize(("instruction_id", "kwargs", "response", "expected", "why"), CASES)
def test_checker(instruction_id, kwargs, response, expected, why):
    assert INSTRUCTIONS[instruction_id](response, kwargs, "") is expected, why


def test_repeat_prompt_falls_back_to_the_prompt():
    check = INSTRUCTIONS["combination:repeat_prompt"]
    assert check("Tell me a joke. Why did...", {}, "Tell me a joke.")
    assert not check("Why did...", {}, "Tell me a joke.")


# --- counting rules --------------------------------------------------------------------------------------


def test_count_words_is_word_character_runs():
    # Hello / world / It / s / 2024 / e / mail_address
    assert count_words("Hello, world! It's 2024 -- e-mail_address") == 7
    assert count_words("") == 0
    assert count_words("日本語 テキスト") == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello world. This is a test.", ["Hello world.", "This is a test."]),
        ("What?! No way.", ["What?!", "No way."]),
        ('He said "hi." Then he left.', ['He said "hi."', "Then he left."]),  # closing quote stays behind
        ("Mr. Smith went home. He slept.", ["Mr. Smith went home.", "He slept."]),  # known abbreviation
        ("It costs 3.5 dollars. Cheap.", ["It costs 3.5 dollars.", "Cheap."]),
        ("No final period\nand a new line", ["No final period\nand a new line"]),  # newlines do not split
        ("end.Next", ["end.Next"]),  # a period not followed by whitespace ends nothing
        ("1. Buy milk\n2. Eat eggs.", ["1.", "Buy milk\n2.", "Eat eggs."]),  # Punkt: a list number ends a sentence
        ("Wait... what? Yes.", ["Wait... what?", "Yes."]),  # an ellipsis before a lower-case word does not split
        ("", []),
        ("   ", []),
    ],
)
def test_sentence_splitting(text, expected):
    assert split_sentences(text) == expected
    assert count_sentences(text) == len(expected)


def test_word_tokens_for_capital_words():
    assert word_tokens("DON'T STOP, I CANNOT.") == ["DO", "N'T", "STOP", "I", "CAN", "NOT."]
    assert word_tokens("STATE-OF-THE-ART (NASA)") == ["STATE-OF-THE-ART", "NASA"]
    assert word_tokens("I'M DONE. IT'S OVER.") == ["I", "'M", "DONE.", "IT", "'S", "OVER."]


# The linear-time scans must find what the reference's regular expressions find.
def _random_texts(alphabet: str, n: int = 400, length: int = 30) -> list[str]:
    rng = random.Random(1234)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, length))) for _ in range(n)]


def test_bullet_count_matches_reference_regexes():
    for text in _random_texts("* -\n\tab"):
        stars = re.findall(r"^\s*\*[^\*].*$", text, flags=re.MULTILINE)
        dashes = re.findall(r"^\s*-.*$", text, flags=re.MULTILINE)
        assert _count_bullets(text) == len(stars) + len(dashes), repr(text)


def test_placeholder_count_matches_reference_regex():
    for text in _random_texts("[]a \n"):
        assert _count_placeholders(text) == len(re.findall(r"\[.*?\]", text)), repr(text)


def test_title_matches_reference_regex():
    for text in _random_texts("<>a \n"):
        expected = any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", text))
        assert _has_title(text) == expected, repr(text)


def test_pathological_responses_are_fast():
    # the reference's regular expressions take quadratic time on such text; ours must not
    import time

    texts = ["\n" * 20_000, "[" * 20_000, "<<" * 10_000, " " * 20_000 + "x", "*\n" * 10_000, ". " * 10_000]
    ids = sorted(ALL_IDS - {"language:response_language", "change_case:english_lowercase"})
    start = time.perf_counter()
    for text in texts:
        for instruction_id in ids:
            INSTRUCTIONS[instruction_id](text, _default_kwargs(instruction_id), "p")
    assert time.perf_counter() - start < 3


# --- strict and loose ----------------------------------------------------------------------------------


def test_loose_variants():
    variants = loose_variants("Sure, here it is:\n*Body*\nHope this helps!")
    assert variants[0] == "Sure, here it is:\n*Body*\nHope this helps!"
    assert "*Body*\nHope this helps!" in variants  # first line removed
    assert "Sure, here it is:\n*Body*" in variants  # last line removed
    assert "*Body*" in variants and "Body" in variants  # both, and without asterisks
    assert len(variants) == len(set(variants)) <= 8


def test_loose_accepts_a_preamble_line_strict_does_not():
    response = 'Sure! Here is the JSON:\n{"a": 1}'
    result = evaluate(response, "p", ["detectable_format:json_format"], [{}])
    assert result.strict == [False] and result.loose == [True]
    assert not result.prompt_strict and result.prompt_loose


def test_loose_removes_asterisks():
    response = "**Summary** of it.\n\nSecond paragraph."
    args = {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": "summary"}
    result = evaluate(response, "p", ["length_constraints:nth_paragraph_first_word"], [args])
    assert result.strict == [False] and result.loose == [True]


def test_loose_cut_last_line_for_end_checker():
    response = "Body text.\nIs there anything else I can help with?\n(Generated answer)"
    result = evaluate(
        response, "p", ["startend:end_checker"], [{"end_phrase": "Is there anything else I can help with?"}]
    )
    assert result.strict == [False] and result.loose == [True]


def test_loose_is_never_below_strict():
    result = evaluate(
        "One. Two.", "p", ["length_constraints:number_sentences"], [{"num_sentences": 3, "relation": "less than"}]
    )
    assert result.strict == [True] and result.loose == [True]


def test_blank_response_follows_nothing():
    # the reference requires response.strip() before checking, even for "no comma"
    result = evaluate(
        "  \n", "p", ["punctuation:no_comma", "keywords:forbidden_words"], [{}, {"forbidden_words": ["x"]}]
    )
    assert result.strict == [False, False] and result.loose == [False, False]


def test_unknown_instruction_is_not_followed_with_reason():
    result = evaluate("Hello there.", "p", ["punctuation:no_comma", "made_up:thing"], [{}, {}])
    assert result.strict == [True, False] and result.loose == [True, False]
    assert result.unknown == ["made_up:thing"]
    assert any("made_up:thing" in note and "unknown" in note for note in result.notes)


def test_malformed_kwargs_are_not_followed_with_reason():
    result = evaluate(
        "Hello there.",
        "p",
        ["length_constraints:number_words", "keywords:frequency"],
        [{"num_words": 3, "relation": "at most"}, {"keyword": "hello"}],
    )
    assert result.strict == [False, False] and result.loose == [False, False]
    assert "relation" in result.notes[0] and "at most" in result.notes[0]
    assert "missing" in result.notes[1]


def test_null_kwargs_are_dropped_and_lengths_may_mismatch():
    # the Hugging Face copy lists every argument name with null
    result = evaluate("Hi there", "p", ["punctuation:no_comma"], [{"num_words": None, "relation": None}])
    assert result.strict == [True]
    result = evaluate("Hi there", "p", ["punctuation:no_comma", "startend:quotation"], [{}])
    assert result.strict == [True, False] and result.notes


def _default_kwargs(instruction_id: str) -> dict:
    return {
        "keywords:existence": {"keywords": ["a"]},
        "keywords:frequency": {"keyword": "a", "frequency": 1, "relation": "at least"},
        "keywords:forbidden_words": {"forbidden_words": ["a"]},
        "keywords:letter_frequency": {"letter": "a", "let_frequency": 1, "let_relation": "at least"},
        "language:response_language": {"language": "en"},
        "length_constraints:number_sentences": {"num_sentences": 1, "relation": "at least"},
        "length_constraints:number_paragraphs": {"num_paragraphs": 1},
        "length_constraints:number_words": {"num_words": 1, "relation": "at least"},
        "length_constraints:nth_paragraph_first_word": {"num_paragraphs": 1, "nth_paragraph": 1, "first_word": "a"},
        "detectable_content:number_placeholders": {"num_placeholders": 1},
        "detectable_content:postscript": {"postscript_marker": "P.S."},
        "detectable_format:number_bullet_lists": {"num_bullets": 1},
        "detectable_format:number_highlighted_sections": {"num_highlights": 1},
        "detectable_format:multiple_sections": {"section_spliter": "Section", "num_sections": 1},
        "combination:repeat_prompt": {"prompt_to_repeat": "p"},
        "startend:end_checker": {"end_phrase": "a"},
        "change_case:capital_word_frequency": {"capital_frequency": 1, "capital_relation": "at least"},
    }.get(instruction_id, {})


SYNTHETIC = [
    "",
    "A short answer, with a comma.",
    "\ufffd\ufffd invalid \ufffd bytes \x00 and a lone surrogate \ud800 here.",
    '```json\n{"answer": "*yes*"}\n```',
    "<<Title>>\n\n* one\n* two\n***\nSECTION 1 [name]\n\nP.S. done\n******\nMY ANSWER IS YES.",
    "日本語の回答です。これは二文目です。",
    "Sure, here is my answer:\n\n**Part one.** It has a few sentences. Dr. Who said so!\n\n"
    "- a bullet\n- another bullet\n\nIs there anything else I can help with?",
]


def test_every_data_row_evaluates_without_error():
    rows = [json.loads(line) for line in DATA.read_text("utf-8").splitlines()]
    assert len(rows) == 541
    for row in rows:
        for response in SYNTHETIC:
            result = evaluate(response, row["prompt"], row["instruction_id_list"], row["kwargs"])
            assert len(result.strict) == len(result.loose) == len(row["instruction_id_list"])
            assert not result.unknown and not result.notes, (row["key"], result.notes)
            assert all(s <= lo for s, lo in zip(result.strict, result.loose, strict=True))


def test_repeat_prompt_rows_follow_when_repeated():
    rows = [json.loads(line) for line in DATA.read_text("utf-8").splitlines()]
    repeat_rows = [r for r in rows if "combination:repeat_prompt" in r["instruction_id_list"]]
    assert len(repeat_rows) == 41
    for row in repeat_rows:
        i = row["instruction_id_list"].index("combination:repeat_prompt")
        to_repeat = row["kwargs"][i]["prompt_to_repeat"]
        result = evaluate(to_repeat + "\nMy answer.", row["prompt"], row["instruction_id_list"], row["kwargs"])
        assert result.strict[i]


# --- scorer --------------------------------------------------------------------------------------------


def _sample(ids, kwargs, prompt="Write something.") -> Sample:
    return Sample(id="1", fields={"prompt": prompt, "instruction_id_list": ids, "kwargs": kwargs}, target="")


def _response(text: str, incomplete: bool = False) -> Response:
    return Response(completions=(Completion(text=text, incomplete=incomplete),), latency_s=0.1)


def test_scorer_is_registered():
    assert SCORERS["ifeval"] is score_ifeval
    assert resolve_loader("ifeval_jsonl") is load_ifeval


def test_scorer_metrics_and_weights():
    sample = _sample(["punctuation:no_comma", "detectable_format:json_format", "startend:quotation"], [{}, {}, {}])
    score = score_ifeval(sample, _response('Here you go:\n{"a": 1}'), ScoringContext())
    assert score.status == "scored" and score.value == 0.0
    assert score.metrics == {
        "prompt_strict": 0.0,
        "prompt_loose": 0.0,
        "inst_strict": pytest.approx(1 / 3),
        "inst_loose": pytest.approx(2 / 3),
    }
    assert score.weights == {"inst_strict": 3.0, "inst_loose": 3.0}
    assert "detectable_format:json_format" in score.reason and "startend:quotation" in score.reason
    assert score.extracted == "strict 1/3, loose 2/3"


def test_weighted_mean_over_prompts_is_instruction_level_accuracy():
    # prompt A: 1 instruction, followed; prompt B: 3 instructions, 1 followed -> 2/4 instructions followed
    a = score_ifeval(_sample(["punctuation:no_comma"], [{}]), _response("No comma"), ScoringContext())
    b = score_ifeval(
        _sample(["punctuation:no_comma", "startend:quotation", "detectable_format:title"], [{}, {}, {}]),
        _response("No comma"),
        ScoringContext(),
    )
    scores = [a, b]
    weighted = sum(s.metrics["inst_strict"] * s.weights["inst_strict"] for s in scores) / sum(
        s.weights["inst_strict"] for s in scores
    )
    assert weighted == pytest.approx(2 / 4)
    assert [s.value for s in scores] == [1.0, 0.0]


def test_scorer_all_followed_has_no_reason():
    score = score_ifeval(_sample(["punctuation:no_comma"], [{}]), _response("Fine"), ScoringContext())
    assert score.value == 1.0 and score.reason is None and score.metrics["prompt_loose"] == 1.0


def test_scorer_incomplete():
    score = score_ifeval(_sample(["punctuation:no_comma"], [{}]), _response("", incomplete=True), ScoringContext())
    assert score.value is None and score.status == "incomplete" and score.reason


def test_scorer_odd_output_never_raises():
    sample = _sample(sorted(ALL_IDS), [_default_kwargs(i) for i in sorted(ALL_IDS)])
    for text in SYNTHETIC:
        score = score_ifeval(sample, _response(text), ScoringContext())
        assert score.status == "scored" and score.value in (0.0, 1.0)


def test_scorer_reports_unknown_ids():
    score = score_ifeval(_sample(["nope:nope"], [{}]), _response("text"), ScoringContext())
    assert score.value == 0.0 and "nope:nope" in score.reason and "unknown" in score.reason


# --- loader and definition -----------------------------------------------------------------------------


def test_loader_reads_the_data():
    loaded = load_ifeval(DATA, {})
    assert len(loaded.samples) == 541 and loaded.files == (DATA,)
    first = loaded.samples[0]
    assert first.id == "1000" and first.target == ""
    assert first.fields["instruction_id_list"][0] == "punctuation:no_comma"
    assert first.fields["kwargs"][1] == {"num_highlights": 3}
    assert first.meta == {"file": "input_data.jsonl", "line": 1}


def _write(tmp_path: Path, rows: list) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", "utf-8")
    return path


GOOD = {"key": 1, "prompt": "p", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({**GOOD, "prompt": ""}, "prompt"),
        ({**GOOD, "instruction_id_list": []}, "instruction_id_list"),
        ({**GOOD, "kwargs": [{}, {}]}, "kwargs"),
        ({**GOOD, "kwargs": "x"}, "kwargs"),
        ({k: v for k, v in GOOD.items() if k != "key"}, "key"),
        ("{not json", "JSON"),
        (GOOD, "repeats"),
    ],
)
def test_loader_rejects_malformed_rows(tmp_path, bad, message):
    path = _write(tmp_path, [GOOD, bad])
    with pytest.raises(DatasetError, match=message) as info:
        load_ifeval(path, {})
    assert f"{path}:2" in str(info.value)


def test_loader_drops_null_kwargs(tmp_path):
    path = _write(tmp_path, [{**GOOD, "kwargs": [{"num_words": None}]}])
    assert load_ifeval(path, {}).samples[0].fields["kwargs"] == [{}]


def test_benchmark_builds_and_scores(data_dir):
    import asyncio

    from tianping.benchmarks.registry import build

    (bench,) = build("ifeval", data_dir)
    bench = bench.load(limit=2)
    assert bench.metric_name == "prompt_strict"
    sample = bench.samples[0]
    request = bench.build_request(sample, "model", bench.generation)
    assert request.payload()["messages"] == [{"role": "user", "content": sample.fields["prompt"]}]
    assert request.payload()["max_tokens"] == 1280
    score = asyncio.run(bench.ascore(sample, _response("Too short, with a comma."), ScoringContext()))
    assert score.value == 0.0 and score.weights == {"inst_strict": 3.0, "inst_loose": 3.0}
    assert score.reason.startswith("not followed: punctuation:no_comma, ")


def test_definition_file():
    (definition,) = load_definitions(DEFS)
    assert definition.name == "ifeval" and definition.version == "1.0"
    assert definition.dataset.loader == "ifeval_jsonl" and definition.dataset.path == "ifeval/input_data.jsonl"
    assert definition.prompt.question == "{{ prompt }}"
    assert definition.generation.temperature == 0.0 and definition.generation.max_tokens == 1280
    assert definition.scoring.scorer == "ifeval"
