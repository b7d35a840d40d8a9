"""Checkers for the 25 verifiable instruction types of IFEval (Zhou et al. 2023).

Each checker takes the response, the instruction's keyword arguments from the data row and the
prompt, and says whether the response follows the instruction. The rules are those documented by the
reference implementation (google-research ``instruction_following_eval``, also used by
lm-evaluation-harness); where a rule is subtle the docstring states it.

Deviations, all outside what the published data exercises:

- keywords and other data-supplied strings are matched literally (the reference splices them into
  regular expressions unescaped; no keyword in the data contains a metacharacter);
- a missing or malformed argument raises ``KwargsError`` (the reference draws a random value);
- the language detector is seeded, so that a score is reproducible (the reference's is not);
- sentences and capitalised words are counted without NLTK (see ``text.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import cache, lru_cache
from typing import Any

from tianping.benchmarks.ifeval.text import count_sentences, count_words, word_tokens

Checker = Callable[[str, Mapping[str, Any], str], bool]

INSTRUCTIONS: dict[str, Checker] = {}
"""instruction id -> checker(response, kwargs, prompt)."""

RELATIONS = ("less than", "at least")


class KwargsError(ValueError):
    """The row's arguments for an instruction are missing or malformed."""


class MissingDependencyError(RuntimeError):
    """A package a checker needs is not installed: an installation problem, never scored as a failure."""


def _instruction(instruction_id: str) -> Callable[[Checker], Checker]:
    def wrap(fn: Checker) -> Checker:
        INSTRUCTIONS[instruction_id] = fn
        return fn

    return wrap


# --- argument access ----------------------------------------------------------------------------------


def _get(kwargs: Mapping[str, Any], key: str) -> Any:
    value = kwargs.get(key)
    if value is None or value == "" or value == []:
        raise KwargsError(f"argument '{key}' is missing")
    return value


def _int(kwargs: Mapping[str, Any], key: str) -> int:
    value = _get(kwargs, key)
    if isinstance(value, bool):
        raise KwargsError(f"argument '{key}' must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise KwargsError(f"argument '{key}' must be an integer, got {value!r}")


def _str(kwargs: Mapping[str, Any], key: str) -> str:
    value = _get(kwargs, key)
    if not isinstance(value, str):
        raise KwargsError(f"argument '{key}' must be a string, got {value!r}")
    return value


def _str_list(kwargs: Mapping[str, Any], key: str) -> list[str]:
    value = _get(kwargs, key)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise KwargsError(f"argument '{key}' must be a list of strings, got {value!r}")
    return list(value)


def _relation(kwargs: Mapping[str, Any], key: str) -> str:
    value = _get(kwargs, key)
    if value not in RELATIONS:
        raise KwargsError(f"argument '{key}' must be one of {RELATIONS}, got {value!r}")
    return value


def _compare(actual: int, relation: str, threshold: int) -> bool:
    """'less than': actual < threshold; 'at least': actual >= threshold."""
    return actual < threshold if relation == "less than" else actual >= threshold


# --- language detection -------------------------------------------------------------------------------


@cache
def _language_factory() -> Any:
    try:
        from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
    except ImportError as exc:  # a broken installation, not a property of the response
        raise MissingDependencyError(
            "the IFEval language instructions need the 'langdetect' package: pip install langdetect"
        ) from exc
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(0)
    return factory


@lru_cache(maxsize=256)  # several instructions and loose variants often ask about the same text
def detect_language(text: str) -> str | None:
    """langdetect's language code for ``text`` (e.g. ``en``, ``zh-cn``), None when it finds no features.

    A fresh detector with a fixed seed per call: the result depends on the text alone.
    """
    detector = _language_factory().create()
    from langdetect.lang_detect_exception import LangDetectException

    try:
        detector.append(text)
        return detector.detect()
    except LangDetectException:
        return None


# --- keywords -----------------------------------------------------------------------------------------


@_instruction("keywords:existence")
def keywords_existence(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """Every keyword occurs, case-insensitively, anywhere (as a substring: 'cat' is in 'concatenate')."""
    keywords = _str_list(kwargs, "keywords")
    return all(re.search(re.escape(k), response, flags=re.IGNORECASE) for k in keywords)


@_instruction("keywords:frequency")
def keywords_frequency(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """Non-overlapping case-insensitive substring occurrences of ``keyword`` compared with ``frequency``."""
    keyword = _str(kwargs, "keyword").strip()
    relation = _relation(kwargs, "relation")
    frequency = _int(kwargs, "frequency")
    if not keyword:
        raise KwargsError("argument 'keyword' is blank")
    count = len(re.findall(re.escape(keyword), response, flags=re.IGNORECASE))
    return _compare(count, relation, frequency)


@_instruction("keywords:forbidden_words")
def keywords_forbidden_words(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """No forbidden word occurs as a whole word (``\\b`` boundaries), case-insensitively."""
    for word in _str_list(kwargs, "forbidden_words"):
        if re.search(r"\b" + re.escape(word) + r"\b", response, flags=re.IGNORECASE):
            return False
    return True


@_instruction("keywords:letter_frequency")
def keywords_letter_frequency(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """Occurrences of the character ``letter`` (case-insensitive) compared with ``let_frequency``."""
    letter = _str(kwargs, "letter").strip().lower()
    if len(letter) != 1:
        raise KwargsError(f"argument 'letter' must be one character, got {kwargs.get('letter')!r}")
    relation = _relation(kwargs, "let_relation")
    return _compare(response.lower().count(letter), relation, _int(kwargs, "let_frequency"))


# --- language -----------------------------------------------------------------------------------------


@_instruction("language:response_language")
def language_response_language(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """langdetect names ``language`` for the whole response; text it cannot classify counts as followed."""
    language = _str(kwargs, "language")
    detected = detect_language(response)
    return detected is None or detected == language


# --- length constraints -------------------------------------------------------------------------------


@_instruction("length_constraints:number_sentences")
def length_number_sentences(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """Punkt-style sentence count compared with ``num_sentences`` ('less than' / 'at least')."""
    relation = _relation(kwargs, "relation")
    return _compare(count_sentences(response), relation, _int(kwargs, "num_sentences"))


@_instruction("length_constraints:number_paragraphs")
def length_number_paragraphs(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """Exactly ``num_paragraphs`` paragraphs separated by the markdown divider ``***``.

    The text is split on ``***`` with at most one whitespace character taken on each side; an empty
    piece is allowed only first or last (a leading or trailing divider), an empty piece in between
    (two dividers in a row, e.g. ``******``) fails the instruction.
    """
    expected = _int(kwargs, "num_paragraphs")
    pieces = re.split(r"\s?\*\*\*\s?", response)
    count = len(pieces)
    for i, piece in enumerate(pieces):
        if not piece.strip():
            if i in (0, len(pieces) - 1):
                count -= 1
            else:
                return False
    return count == expected


@_instruction("length_constraints:number_words")
def length_number_words(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """Number of ``\\w+`` runs compared with ``num_words`` (so "don't" is two words, "e-mail" two)."""
    relation = _relation(kwargs, "relation")
    return _compare(count_words(response), relation, _int(kwargs, "num_words"))


_FIRST_WORD_STOP = frozenset(".,?!'\"")


@_instruction("length_constraints:nth_paragraph_first_word")
def length_nth_paragraph_first_word(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """``num_paragraphs`` paragraphs split on ``\\n\\n``, and paragraph ``nth_paragraph`` starts with ``first_word``.

    Blank pieces are not counted as paragraphs, but the nth piece is taken from the split as it is (as in
    the reference, a blank piece before it shifts the index). The first word is the first
    whitespace-separated token with leading quotes removed, cut at the first ``. , ? ! ' "``, compared in
    lower case: ``**Summary**`` is not ``summary`` (the loose variant without ``*`` is).
    """
    expected = _int(kwargs, "num_paragraphs")
    nth = _int(kwargs, "nth_paragraph")
    first_word = _str(kwargs, "first_word").lower()
    pieces = response.split("\n\n")
    count = sum(1 for p in pieces if p.strip())
    if nth < 1 or nth > count:
        return False
    paragraph = pieces[nth - 1].strip()
    if not paragraph:
        return False
    word = paragraph.split()[0].lstrip("'").lstrip('"')
    found = []
    for ch in word:
        if ch in _FIRST_WORD_STOP:
            break
        found.append(ch.lower())
    return count == expected and "".join(found) == first_word


# --- detectable content -------------------------------------------------------------------------------


def _count_placeholders(text: str) -> int:
    """Number of non-overlapping ``[...]`` on one line, shortest first (what ``\\[.*?\\]`` finds)."""
    count = pos = 0
    while True:
        start = text.find("[", pos)
        if start == -1:
            return count
        newline = text.find("\n", start)
        line_end = len(text) if newline == -1 else newline
        close = text.find("]", start + 1, line_end)
        if close == -1:
            pos = line_end + 1  # no later '[' on this line closes either
        else:
            count += 1
            pos = close + 1


@_instruction("detectable_content:number_placeholders")
def content_number_placeholders(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """At least ``num_placeholders`` square-bracket placeholders such as ``[address]`` (``[]`` counts too)."""
    return _count_placeholders(response) >= _int(kwargs, "num_placeholders")


@_instruction("detectable_content:postscript")
def content_postscript(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """The marker occurs anywhere, case-insensitively: ``P.S.`` as ``p.s.`` or ``p. s.``, ``P.P.S`` as
    ``p.p.s`` with optional single spaces after each period; any other marker literally."""
    marker = _str(kwargs, "postscript_marker").strip()
    text = response.lower()
    if marker == "P.P.S":
        pattern = r"p\.\s?p\.\s?s"
    elif marker == "P.S.":
        pattern = r"p\.\s?s\."
    else:
        pattern = re.escape(marker.lower())
    return re.search(pattern, text) is not None


# --- detectable format --------------------------------------------------------------------------------


def _count_bullets(text: str) -> int:
    """Lines starting (after whitespace) with ``*`` then a character other than ``*``, or with ``-``.

    As with the reference's ``^\\s*\\*[^\\*].*$``, a line holding a lone ``*`` counts and takes the next
    line with it (the newline is the "other character"); ``---`` rules count as dash bullets.
    """
    lines = text.split("\n")
    stars = dashes = 0
    skip = False
    for i, line in enumerate(lines):
        body = line.lstrip()
        if body.startswith("-"):
            dashes += 1
        if skip:
            skip = False
            continue
        if body.startswith("*"):
            if len(body) > 1 and body[1] != "*":
                stars += 1
            elif body == "*" and i + 1 < len(lines):
                stars += 1
                skip = True
    return stars + dashes


@_instruction("detectable_format:number_bullet_lists")
def format_number_bullet_lists(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """Exactly ``num_bullets`` markdown bullets (``* item`` or ``- item``; ``**bold**`` lines are not)."""
    return _count_bullets(response) == _int(kwargs, "num_bullets")


CONSTRAINED_RESPONSES = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


@_instruction("detectable_format:constrained_response")
def format_constrained_response(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """One of the three options occurs verbatim (case-sensitive, anywhere in the response)."""
    text = response.strip()
    return any(option in text for option in CONSTRAINED_RESPONSES)


_SINGLE_HIGHLIGHT = re.compile(r"\*[^\n*]*\*")
_DOUBLE_HIGHLIGHT = re.compile(r"\*\*[^\n*]*\*\*")


@_instruction("detectable_format:number_highlighted_sections")
def format_number_highlighted_sections(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """At least ``num_highlights`` non-blank ``*italic*`` or ``**bold**`` spans within one line.

    The two forms are counted by separate scans, as in the reference: ``*a*`` counts once,
    ``**a**`` once (the single-star scan sees only the empty ``**`` pairs in it), ``* *`` not at all.
    """
    count = sum(1 for m in _SINGLE_HIGHLIGHT.finditer(response) if m.group().strip("*").strip())
    count += sum(1 for m in _DOUBLE_HIGHLIGHT.finditer(response) if m.group()[2:-2].strip())
    return count >= _int(kwargs, "num_highlights")


@_instruction("detectable_format:multiple_sections")
def format_multiple_sections(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """At least ``num_sections`` markers ``<section_spliter> <number>`` (case-sensitive; the space optional)."""
    splitter = _str(kwargs, "section_spliter").strip()
    expected = _int(kwargs, "num_sections")
    sections = re.split(r"\s?" + re.escape(splitter) + r"\s?\d+\s?", response)
    return len(sections) - 1 >= expected


@_instruction("detectable_format:json_format")
def format_json(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """The whole response parses as JSON once a markdown fence around it is removed.

    As in the reference, the prefixes ```` ```json ````, ```` ```Json ````, ```` ```JSON ```` and ```` ``` ````
    are removed in turn (each if present), then one closing ```` ``` ````; ``json.loads`` decides.
    """
    text = response.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):
        text = text.removeprefix(fence)
    text = text.removesuffix("```").strip()
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _has_title(text: str) -> bool:
    """A ``<<title>>`` with some non-blank text inside, within one line.

    Matches what ``<<[^\\n]+>>`` finds: from the first ``<<`` of a line to its last ``>>``.
    """
    for line in text.split("\n"):
        start = line.find("<<")
        if start == -1:
            continue
        end = line.rfind(">>")
        if end >= start + 3 and line[start : end + 2].lstrip("<").rstrip(">").strip():
            return True
    return False


@_instruction("detectable_format:title")
def format_title(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """A title in double angular brackets, e.g. ``<<poem of joy>>``; ``<<>>`` and ``<<  >>`` are not."""
    return _has_title(response)


# --- combination --------------------------------------------------------------------------------------


@_instruction("combination:two_responses")
def combination_two_responses(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """Two different non-blank responses separated by ``******``.

    A blank piece is allowed only before the first or after the last separator.
    """
    valid = []
    pieces = response.split("******")
    for i, piece in enumerate(pieces):
        if piece.strip():
            valid.append(piece)
        elif i not in (0, len(pieces) - 1):
            return False
    return len(valid) == 2 and valid[0].strip() != valid[1].strip()


@_instruction("combination:repeat_prompt")
def combination_repeat_prompt(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """The response starts with ``prompt_to_repeat`` (case-insensitive, outer whitespace ignored).

    Without ``prompt_to_repeat`` in the arguments, the whole prompt is the text to repeat.
    """
    to_repeat = kwargs.get("prompt_to_repeat") or prompt
    if not isinstance(to_repeat, str) or not to_repeat.strip():
        raise KwargsError("argument 'prompt_to_repeat' is missing and there is no prompt")
    return response.strip().lower().startswith(to_repeat.strip().lower())


# --- start / end --------------------------------------------------------------------------------------


@_instruction("startend:end_checker")
def startend_end_checker(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """The response ends with ``end_phrase`` (case-insensitive; outer whitespace and ``"`` ignored)."""
    phrase = _str(kwargs, "end_phrase").strip().lower()
    return response.strip().strip('"').lower().endswith(phrase)


@_instruction("startend:quotation")
def startend_quotation(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """The response, outer whitespace removed, starts and ends with ``"`` (and is longer than one character)."""
    text = response.strip()
    return len(text) > 1 and text[0] == '"' and text[-1] == '"'


# --- change case --------------------------------------------------------------------------------------


@_instruction("change_case:capital_word_frequency")
def change_case_capital_word_frequency(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """Number of all-capital word tokens (``str.isupper``: ``I``, ``USA``, ``COVID-19``, ``DON'T`` as 2)
    compared with ``capital_frequency``."""
    relation = _relation(kwargs, "capital_relation")
    count = sum(1 for token in word_tokens(response) if token.isupper())
    return _compare(count, relation, _int(kwargs, "capital_frequency"))


@_instruction("change_case:english_capital")
def change_case_english_capital(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """No lower-case letter, at least one upper-case one, and langdetect says English (or cannot tell)."""
    if not response.isupper():
        return False
    detected = detect_language(response)
    return detected is None or detected == "en"


@_instruction("change_case:english_lowercase")
def change_case_english_lowercase(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """No upper-case letter, at least one lower-case one, and langdetect says English (or cannot tell)."""
    if not response.islower():
        return False
    detected = detect_language(response)
    return detected is None or detected == "en"


# --- punctuation --------------------------------------------------------------------------------------


@_instruction("punctuation:no_comma")
def punctuation_no_comma(response: str, kwargs: Mapping[str, Any], prompt: str = "") -> bool:
    """No ASCII comma ``,`` (other commas such as ``，`` are not checked, as in the reference)."""
    return "," not in response
