"""Loaders, extractors and scorers of the Chinese reading, inference and math sets (C³, CMRC 2018, OCNLI,
CLUEWSC, CMATH) where the generic ones do not fit.

- ``c3_json``: C³'s nested JSON arrays (document lines, questions, document id); the answer is an option's
  text and becomes the letter of its position;
- ``cmrc2018_json``: SQuAD v1.1 layout (articles, paragraphs, questions, answer spans);
- extractors ``ocnli_relation`` (蕴含 / 中立 / 矛盾) and ``zh_yes_no`` (是 / 否) read a label word from a
  Chinese answer, where the ``choice`` extractor would mistake the 是 of 不是 for the option 是;
- scorers ``cmrc2018`` (exact match and F1 of :mod:`tianping.benchmarks.cmrc2018_metric`) and ``cmath``
  (the authors' answer rule, :mod:`tianping.benchmarks.cmath_scoring`).

OCNLI, CLUEWSC and CMATH rows are plain JSON Lines, read by the generic ``jsonl`` loader.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import LETTERS, LoadedDataset, register_loader
from tianping.benchmarks.scorers import register_extractor, register_scorer
from tianping.core import Response, Sample, Score
from tianping.core.task import ScoringContext

_INCOMPLETE = "reasoning did not finish before the token limit"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None


def _unknown_options(path: Path, options: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        raise DatasetError(
            f"{path}: unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(known)) or 'none'})"
        )


def _text(value: Any, where: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}: field '{name}' is missing, empty or not text")
    return value.strip()


# --------------------------------------------------------------------------------------------------
# C³


def _c3_files(path: Path, options: dict[str, Any]) -> list[Path]:
    if path.is_file():
        return [path]
    split = options.get("split", "dev")
    # joined to the folder: a name, never a path ("../x" would read elsewhere)
    if not isinstance(split, str) or not re.fullmatch(r"[a-z0-9_]+", split):
        raise DatasetError(f"{path}: option 'split' must be a split name such as dev or test, got {split!r}")
    files = [path / f"c3-m-{split}.json", path / f"c3-d-{split}.json"]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise DatasetError(f"{path}: no {' or '.join(missing)} (option 'split': {split})")
    return files


def _c3_samples(path: Path) -> list[Sample]:
    data = _read_json(path)
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a JSON array of [document, questions, id] items")
    subset = path.stem.rsplit("-", 1)[0]  # c3-m-dev -> c3-m (written texts), c3-d-dev -> c3-d (dialogues)
    samples = []
    for index, item in enumerate(data):
        where = f"{path} item {index}"
        if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], list) and isinstance(item[1], list)):
            raise DatasetError(f"{where}: expected [document lines, questions, document id]")
        lines, questions, doc_id = item
        if not lines or not all(isinstance(line, str) for line in lines):
            raise DatasetError(f"{where}: the document is not a list of text lines")
        passage = "\n".join(line.strip() for line in lines)
        for number, q in enumerate(questions):
            at = f"{where} question {number}"
            if not isinstance(q, dict):
                raise DatasetError(f"{at}: expected an object with question, choice and answer")
            choices = q.get("choice")
            if not isinstance(choices, list) or not 2 <= len(choices) <= len(LETTERS):
                raise DatasetError(f"{at}: field 'choice' must list 2 to {len(LETTERS)} options")
            choices = [_text(c, at, "choice") for c in choices]
            answer = _text(q.get("answer"), at, "answer")
            hits = [i for i, c in enumerate(choices) if c == answer]
            if len(hits) != 1:
                how = "is none of" if not hits else "matches several of"
                raise DatasetError(f"{at}: answer {answer!r} {how} the options {choices}")
            letters = list(LETTERS[: len(choices)])
            samples.append(
                Sample(
                    id=f"{path.stem}/{doc_id}/{number}",
                    fields={
                        "passage": passage,
                        "question": _text(q.get("question"), at, "question"),
                        "choices": choices,
                        "letters": letters,
                        "options": "\n".join(f"{x}. {c}" for x, c in zip(letters, choices, strict=True)),
                        "answer": answer,
                    },
                    target=letters[hits[0]],
                    meta={"subject": subset, "file": path.name, "index": index},
                )
            )
    return samples


@register_loader("c3_json")
def load_c3(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """C³ (nlpdata/c3): JSON arrays of ``[document lines, questions, document id]``, each question
    ``{"question", "choice": [2-4 texts], "answer": text}``.

    ``path`` is one file, or the folder of ``c3-m-<split>.json`` (written texts) and ``c3-d-<split>.json``
    (dialogues), read in that order: CLUE's C3 task is the two together. Option ``split`` (default ``dev``).
    Fields: ``passage`` (the lines joined by newlines), ``question``, ``choices``, ``letters``, ``options``
    (one ``A. text`` line each) and ``answer`` (the right option's text); the target is its letter. Meta
    ``subject``: ``c3-m`` or ``c3-d``. Ids: ``<file stem>/<document id>/<question number>``.
    """
    _unknown_options(path, options, {"split"})
    files = _c3_files(path, options)
    samples = [sample for file in files for sample in _c3_samples(file)]
    return LoadedDataset(tuple(samples), tuple(files))


# --------------------------------------------------------------------------------------------------
# CMRC 2018 (SQuAD v1.1 layout)


@register_loader("cmrc2018_json")
def load_cmrc2018(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """A SQuAD v1.1 layout file: ``{"data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question",
    "answers": [{"text", "answer_start"}]}]}]}]}`` (CMRC 2018's ``squad-style-data``).

    One sample per question, id = the question's ``id``. Fields: ``context``, ``question``, ``title`` and
    ``answers`` (the reference texts as given, repeats kept); the target is the first answer. No options.
    """
    _unknown_options(path, options, set())
    data = _read_json(path)
    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list):
        raise DatasetError(f"{path}: expected an object whose 'data' lists articles (SQuAD layout)")
    samples: list[Sample] = []
    seen: set[str] = set()
    for a, article in enumerate(articles):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise DatasetError(f"{path} data[{a}]: field 'paragraphs' is missing or not a list")
        for p, paragraph in enumerate(paragraphs):
            where = f"{path} data[{a}].paragraphs[{p}]"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
                raise DatasetError(f"{where}: field 'qas' is missing or not a list")
            context = _text(paragraph.get("context"), where, "context")
            for k, qa in enumerate(paragraph["qas"]):
                at = f"{where}.qas[{k}]"
                if not isinstance(qa, dict):
                    raise DatasetError(f"{at}: expected an object")
                qid = _text(qa.get("id"), at, "id")
                if qid in seen:
                    raise DatasetError(f"{at}: question id {qid!r} repeats")
                seen.add(qid)
                raw = qa.get("answers")
                if not isinstance(raw, list) or not raw:
                    raise DatasetError(f"{at}: field 'answers' is missing or empty")
                answers = [_text(x.get("text") if isinstance(x, dict) else None, at, "answers.text") for x in raw]
                samples.append(
                    Sample(
                        id=qid,
                        fields={
                            "context": context,
                            "question": _text(qa.get("question"), at, "question"),
                            "title": str(article.get("title") or ""),
                            "answers": answers,
                        },
                        target=answers[0],
                        meta={"file": path.name, "index": len(samples)},
                    )
                )
    return LoadedDataset(tuple(samples), (path,))


# A statement of the answer: "答案：X", "答案是X", "最终答案为：X", or a line opening with "答：".
_ANSWER_MARK = re.compile(
    r"(?:最终|正确)?答案\s*(?:应该|应当|应|就)?\s*(?:是|为|為|[:：])\s*[:：]?|^[ \t]*答\s*[:：]", re.MULTILINE
)
_LEADING_MARKUP = re.compile(r"^(?:[#>*_`\s]|[-•]\s)+")
_TRAILING_MARKUP = re.compile(r"[*_`\s]+$")
_QUOTE_PAIRS = {"“": "”", '"': '"', "「": "」", "『": "』", "‘": "’", "'": "'"}


def _clean_span(line: str) -> str:
    text = _TRAILING_MARKUP.sub("", _LEADING_MARKUP.sub("", line))
    text = text.rstrip("。！!；;，,")
    # an ASCII period ends the sentence unless it closes an abbreviation ("Inc.")
    if text.endswith(".") and not (len(text) > 1 and text[-2].isascii() and text[-2].isalpha()):
        text = text[:-1]
    text = _TRAILING_MARKUP.sub("", text)
    # quotes around the whole span, not the two ends of "「战史演武」&「争霸演武」"
    if len(text) >= 2 and _QUOTE_PAIRS.get(text[0]) == text[-1] and text[-1] not in text[1:-1]:
        text = text[1:-1]
    return text.strip()


def _first_span(text: str) -> str | None:
    for line in text.splitlines():
        span = _clean_span(line)
        if span:
            return span
    return None


def cmrc_answer(text: str) -> str | None:
    """The answer span of a CMRC response: what follows the last answer statement (``答案：``, ``答案是``,
    ``答：``), else the first line, without markdown, wrapping quotes or the full stop; None when empty."""
    if not isinstance(text, str) or not text.strip():
        return None
    for mark in reversed(list(_ANSWER_MARK.finditer(text))):
        span = _first_span(text[mark.end() :])
        if span:
            return span
    return _first_span(text)


@register_scorer("cmrc2018")
def score_cmrc2018(sample: Sample, response: Response, context: ScoringContext) -> Score:
    """Exact match (the value) and F1 (metric ``f1``) of the extracted span against the sample's ``answers``,
    as CMRC 2018's official script computes them (best over the references)."""
    from tianping.benchmarks.cmrc2018_metric import exact_match, f1

    first = response.first
    if first.incomplete:
        return Score(value=None, status="incomplete", reason=_INCOMPLETE)
    span = cmrc_answer(first.text)
    if span is None:
        return Score(value=0.0, extraction_failed=True, reason="no answer found in output", metrics={"f1": 0.0})
    answers = sample.fields["answers"]
    return Score(value=exact_match(span, answers), extracted=span, metrics={"f1": f1(span, answers)})


# --------------------------------------------------------------------------------------------------
# Label words: OCNLI relations, CLUEWSC yes / no

RELATIONS = ("蕴含", "中立", "矛盾")
"""OCNLI's labels entailment, neutral, contradiction, as the definition's targets name them."""
# other words models use for the three (蕴涵 is a common variant spelling)
_RELATION_SYNONYMS = (
    (re.compile(r"蕴涵|(?i:entailment)"), "蕴含"),
    (re.compile(r"中性|无关|(?i:neutral)"), "中立"),
    (re.compile(r"(?i:contradiction|contradictory)"), "矛盾"),
)
# a relation named only to deny it ("并不矛盾", "不是蕴含关系") is no answer of that relation
_DENIED_RELATION = re.compile(r"(?:不是|并不是|并非|不|并不|没有|无)(?:蕴含|中立|矛盾)")


@register_extractor("ocnli_relation")
def extract_relation(text: str, sample: Sample) -> str | None:
    """The relation an OCNLI answer names (蕴含, 中立 or 矛盾): an answer statement (``关系是矛盾``,
    ``答案：中立``), else the one relation the answer mentions; synonyms (蕴涵, 中性, 无关, English labels)
    count, denied mentions (``并不矛盾``) do not. None when no relation or several are named."""
    from tianping.scoring.choice import extract_choice

    if not isinstance(text, str) or not text.strip():
        return None
    for pattern, word in _RELATION_SYNONYMS:
        text = pattern.sub(word, text)
    text = _DENIED_RELATION.sub("", text)
    # the option texts alone, no letters in the prompt: a lone "A" would still read as the first relation
    letter = extract_choice(text, list(RELATIONS))
    return RELATIONS["ABC".index(letter)] if letter is not None else None


YES, NO = "是", "否"
# "答案：否", "答案是：是", "回答：不是"; the last statement wins
_YES_NO_STATEMENT = re.compile(r"(?:答案|回答|结论)\s*(?:是|为|[:：])+\s*[“\"「『*]*\s*(不是|不对|是|否|对|错)")
_OPEN = r"^[\s*_“\"「『（(]*"
_AFTER = r"(?=[\s，,。.!！;；:：*”\"」』）)]|$|指)"
_OPENS_NO = re.compile(rf"{_OPEN}(?:不是|不对|不指代|并不|并非|否|不|错){_AFTER}")
_OPENS_YES = re.compile(rf"{_OPEN}(?:是的|是(?!否)|对|正确|指代){_AFTER}")
_SAYS_NO = re.compile(r"不指代|并不指代|没有指代|并非指代|不是指代|不是在?指|并不是在?指|并非指")
_SAYS_YES = re.compile(r"(?<![不非])指代")


@register_extractor("zh_yes_no")
def extract_yes_no(text: str, sample: Sample) -> str | None:
    """是 or 否 from a Chinese yes/no answer: an answer statement (``答案：否``), else the opening word of the
    answer or of what follows its last question mark (``不是，……``, ``是的，……``, ``否。``), else a denied or
    affirmed 指代 (``“他”并不指代“毛豆”``); None when the answer takes no side (``无法确定``) or names only an
    entity (``“他”指的是小明``)."""
    if not isinstance(text, str) or not text.strip():
        return None
    statements = _YES_NO_STATEMENT.findall(text)
    if statements:
        return YES if statements[-1] in ("是", "对") else NO
    # the opening word, or the one after a repeated question ("“他”是否指代“毛豆”？不是。")
    for opening in dict.fromkeys([text, re.split(r"[？?]", text)[-1]]):
        if _OPENS_NO.match(opening):
            return NO
        if _OPENS_YES.match(opening):
            return YES
    if _SAYS_NO.search(text):
        return NO
    if _SAYS_YES.search(text.replace("是否指代", "")):
        return YES
    return None


# --------------------------------------------------------------------------------------------------
# CMATH


@register_scorer("cmath")
def score_cmath(sample: Sample, response: Response, context: ScoringContext) -> Score:
    """CMATH's own rule (the value): right when one of the last two candidate numbers of the response equals
    the golden answer (:mod:`tianping.benchmarks.cmath_scoring`). Metric ``final_answer``, stricter: the one
    final answer that tianping's GSM8K extractor reads equals it by value."""
    from tianping.benchmarks.cmath_scoring import candidates, matches
    from tianping.scoring.extract import extract_final_number, numbers_equal

    first = response.first
    if first.incomplete:
        return Score(value=None, status="incomplete", reason=_INCOMPLETE)
    found = candidates(first.text)
    final = extract_final_number(first.text)
    strict = float(final is not None and numbers_equal(final, sample.target))
    if not found:
        return Score(value=0.0, extraction_failed=True, reason="no candidate number", metrics={"final_answer": strict})
    return Score(
        value=float(matches(sample.target, found)),
        extracted=" | ".join(found),
        reason=f"last candidates {found}; final answer {final}",
        metrics={"final_answer": strict},
    )
