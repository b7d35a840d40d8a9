"""Reasoning benchmarks: BIG-Bench Hard (3-shot chain of thought) and ARC (multiple-choice science).

Registers the loaders ``bbh_json`` and ``arc_jsonl``, the extractors ``bbh_answer`` and
``arc_choice`` (an alias of ``choice``) and the metric ``bbh_match``.  ``bbh_match`` is exact match: the
extractor and the loader put the answer and the target into the same canonical form, so nothing is left to forgive
at comparison time.  ARC scores with the generic ``exact_match`` on letters.

BBH (Suzgun et al. 2022)
------------------------
The prompt is the standard one of the BBH authors and of lm-evaluation-harness' ``bbh_cot_fewshot``:
the task's ``cot-prompts/<task>.txt`` (one instruction line and three worked ``Q: ... A: Let's think
step by step. ... So the answer is X.`` exemplars), then ``Q: <input>`` and ``A: Let's think step by
step.``.  The files open with the BIG-bench canary line and a ``-----`` separator; like lm-eval
(whose ``description`` is the instruction line) we drop everything up to and including that
separator and keep the instruction line.

lm-eval scores the text matched by ``(?<=the answer is )(.*)(?=.)`` (the first occurrence, stopping
generation at ``Q`` or a blank line) against the target by plain exact match.  Our extractor reads the
same statement but is more forgiving about form; the answer must still be the same answer:

* the answer statement: the *last* ``So the answer is`` (case-insensitive), else the last ``the
  (final/correct) answer is``, else the last ``Answer:``, else the response's last line.  A response
  that goes on to invent the next exemplar (``\\nQ: ...``) is cut there first, so its made-up answer
  is not read.  Markdown (``**``, backticks) and ``\\boxed{}`` are removed; if the statement's line
  is empty (``So the answer is:`` then a list) the following lines up to a blank line are read.
* then one normaliser per answer family, applied to the gold target too when the data is loaded
  (the family is also the sample's ``category``):

  - ``multiple_choice`` (18 tasks, targets ``(A)``..``(R)``): the first ``(X)`` whose letter is one of
    the question's options, else a bare letter opening the statement (``B``, ``B.``, ``[B]``, not
    the article in "A kite"), else the statement being exactly one option's text
    ("Frankenstein" -> ``(B)``), else ``extract_choice`` on the statement ("B is correct", "a kite"
    naming one option); written ``(X)``.  Nothing found -> None.
  - ``binary`` (boolean_expressions True/False; causal_judgement, navigate, web_of_lies Yes/No;
    sports_understanding yes/no; formal_fallacies valid/invalid): the first of the task's two words
    as a whole word, in any case, written as the task's targets spell it.
  - ``numeric`` (multistep_arithmetic_two, object_counting): the number after the last ``=`` of the
    statement if there is one, else the statement's first number, in canonical form
    (``normalize_number``: ``12.`` -> ``12``, ``1,024`` -> ``1024``, ``−50`` -> ``-50``); number words
    zero to ninety-nine (``eight``, ``twenty-one``) when there is no digit.
  - ``word_sorting``: the words of the statement up to its first sentence end, list numbering,
    bullets, commas and quotes removed, lower-cased, joined by single spaces (apostrophes and ``&``
    inside words, as in ``o'connor`` and ``it&t``, are kept); words that are not in the question's
    list are dropped ("apple banana, which is sorted" -> ``apple banana``; lm-eval's zero-shot
    filter also keeps only the list's words), so order, omissions and repeats still count.
  - ``dyck_languages``: the first run of bracket characters ``()[]{}<>``, written one per token
    separated by single spaces (``]}]`` -> ``] } ]``); an opening bracket glued to a word starts a
    remark and ends the run (``] ) ) (closing all)`` -> ``] ) )``).  A response that repeats the
    whole input sequence is not accepted: the task asks for the closing part only.
  - ``free_text``: three upstream targets of multiple-choice tasks are option texts that the
    options split at a comma (movie_recommendation 163 "Monsters, Inc"; ruin_names 99 "dearth,
    wind, & fire" and 144 "rita, sue and bob poo"); they are kept as in the data (as lm-eval does)
    and compared as text: lower-cased, whitespace collapsed, quotes and a final period removed.

(snarks 88 is also kept as published although its input is cut off after "(A) The NB".)

The normalisers are idempotent on every one of the 6,511 gold targets except the three free-text
ones, which are lower-cased; ``fields["target_raw"]`` keeps the original.

ARC (Clark et al. 2018)
-----------------------
Rows ``{"id", "question": {"stem", "choices": [{"text", "label"}]}, "answerKey"}``.  Labels are
``A``-``E`` or ``1``-``5``; options are shown as ``A.``, ``B.``, ... by position and the target is the
letter of the answer's position (``"3"`` of ``1``-``4`` -> ``C``), as lm-eval does with
``choices.label.index(answerKey)``.  With the dataset option ``labels: as_written`` the options keep
the labels of the data instead (``1.``, ``2.``, ... where the row numbers them) and the target is the
``answerKey``.  ARC is scored by the generic ``choice`` extractor, which reads the labels from the
``letters`` field; ``arc_choice`` is kept as another name for it (stored runs and user definitions
name it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from string import ascii_uppercase
from typing import Any

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import LoadedDataset, iter_jsonl, register_loader
from tianping.benchmarks.scorers import EXTRACTORS, register_extractor, register_metric
from tianping.core import Sample

__all__ = [
    "BBH_FAMILIES",
    "answer_statement",
    "bbh_answer",
    "bbh_fields",
    "bbh_match",
    "load_arc",
    "load_bbh",
    "normalize_bbh",
    "strip_cot_header",
]

# --------------------------------------------------------------------------------------------------
# BBH task families
# --------------------------------------------------------------------------------------------------

_BINARY_WORDS: dict[str, tuple[str, str]] = {
    "boolean_expressions": ("True", "False"),
    "causal_judgement": ("Yes", "No"),
    "formal_fallacies": ("valid", "invalid"),
    "navigate": ("Yes", "No"),
    "sports_understanding": ("yes", "no"),
    "web_of_lies": ("Yes", "No"),
}
_MULTIPLE_CHOICE = (
    "date_understanding",
    "disambiguation_qa",
    "geometric_shapes",
    "hyperbaton",
    "logical_deduction_five_objects",
    "logical_deduction_seven_objects",
    "logical_deduction_three_objects",
    "movie_recommendation",
    "penguins_in_a_table",
    "reasoning_about_colored_objects",
    "ruin_names",
    "salient_translation_error_detection",
    "snarks",
    "temporal_sequences",
    "tracking_shuffled_objects_five_objects",
    "tracking_shuffled_objects_seven_objects",
    "tracking_shuffled_objects_three_objects",
)
BBH_FAMILIES: dict[str, str] = {
    **dict.fromkeys(_MULTIPLE_CHOICE, "multiple_choice"),
    **dict.fromkeys(_BINARY_WORDS, "binary"),
    "multistep_arithmetic_two": "numeric",
    "object_counting": "numeric",
    "word_sorting": "word_sorting",
    "dyck_languages": "dyck_languages",
}
"""Task -> answer family (the ``category`` breakdown); a task not listed here is ``free_text``."""

# --------------------------------------------------------------------------------------------------
# Normalisers, one per family: ``(text, fields) -> canonical answer | None``
# --------------------------------------------------------------------------------------------------

_OPTION_LINE = re.compile(r"^\(([A-Z])\)\s*(.*?)\s*$", re.M)
_PAREN_LETTER = re.compile(r"[(（]\s*([A-Z])\s*[)）]")
_LEAD_LETTER = re.compile(r"^[\[(]?([A-Z])[\])]?(?![A-Za-z0-9'’&])(?!\s+[a-z])")


def _plain(text: str) -> str:
    """Lower case, one space between words, surrounding quotes and end punctuation removed."""
    text = " ".join(text.casefold().split())
    return text.strip(" \"'“”‘’`").rstrip(".!;:").strip(" \"'“”‘’`")


def _norm_choice(text: str, fields: dict[str, Any]) -> str | None:
    letters: str = fields.get("letters", "")
    for m in _PAREN_LETTER.finditer(text):
        if m.group(1) in letters:
            return f"({m.group(1)})"
    stripped = text.strip(" \"'“”`")
    m = _LEAD_LETTER.match(stripped)
    if m and m.group(1) in letters:
        return f"({m.group(1)})"
    plain = _plain(text)
    options: list[str] = fields.get("options", [])
    hits = [i for i, option in enumerate(options) if _plain(option) == plain]
    if plain and len(hits) == 1:
        return f"({letters[hits[0]]})"
    from tianping.scoring.extract import extract_choice

    letter = extract_choice(text, options, letters=letters) if options else None
    return f"({letter})" if letter else None


def _norm_binary(text: str, fields: dict[str, Any]) -> str | None:
    words = tuple(fields.get("words", ()))
    if not words:
        return None
    pattern = r"(?<![A-Za-z])(" + "|".join(re.escape(w) for w in words) + r")(?![A-Za-z])"
    m = re.search(pattern, text, re.I)
    if not m:
        return None
    found = m.group(1).casefold()
    return next(w for w in words if w.casefold() == found)


_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
)
_NUMBER_WORDS = {w: i for i, w in enumerate(_UNITS.split())}
_TENS_WORDS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_TENS = dict(zip(_TENS_WORDS, range(20, 100, 10), strict=True))
_NUMBER_WORD = re.compile(
    r"\b(?:(?P<tens>" + "|".join(_TENS) + r")(?:[-\s](?P<unit>" + "|".join(list(_NUMBER_WORDS)[1:10]) + r"))?"
    r"|(?P<small>" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r"))\b",
    re.I,
)
_NUMBER = re.compile(r"(?<![\w.])-?\s?\d[\d,]*(?:\.\d+)?")


def _norm_number(text: str, fields: dict[str, Any]) -> str | None:
    from tianping.scoring.extract import normalize_number

    text = text.replace("\u2212", "-").replace("\u2013", "-")
    if "=" in text:
        text = text.rsplit("=", 1)[1]
    whole = normalize_number(text)
    if whole is not None:
        return whole
    m = _NUMBER.search(text)
    if m:
        return normalize_number(m.group().replace(" ", ""))
    w = _NUMBER_WORD.search(text)
    if w:
        if w.group("small"):
            return str(_NUMBER_WORDS[w.group("small").lower()])
        unit = w.group("unit")
        return str(_TENS[w.group("tens").lower()] + (_NUMBER_WORDS[unit.lower()] if unit else 0))
    return None


_LIST_MARK = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+", re.M)
_SENTENCE_END = re.compile(r"\.(?:\s|$)")
_EDGE = " \t\"'“”‘’`.,;:!?()[]{}*"


def _norm_words(text: str, fields: dict[str, Any]) -> str | None:
    text = _LIST_MARK.sub("", text)
    text = " ".join(text.split())
    m = _SENTENCE_END.search(text)
    if m:
        text = text[: m.start()]
    words = [w.strip(_EDGE).casefold() for w in re.split(r"[\s,;]+", text)]
    allowed = set(fields.get("words", ()))
    words = [w for w in words if w and (not allowed or w in allowed)]
    return " ".join(words) or None


# an opening bracket glued to a word starts a remark ("] ) ) (closing all)"), not the answer
_BRACKET = r"(?:[)\]}>]|[(\[{<](?![A-Za-z0-9]))"
_BRACKET_RUN = re.compile(_BRACKET + r"(?:\s*" + _BRACKET + ")*")


def _norm_dyck(text: str, fields: dict[str, Any]) -> str | None:
    m = _BRACKET_RUN.search(text)
    if not m:
        return None
    return " ".join(ch for ch in m.group() if not ch.isspace())


def _norm_free(text: str, fields: dict[str, Any]) -> str | None:
    return _plain(text) or None


_NORMALISERS = {
    "multiple_choice": _norm_choice,
    "binary": _norm_binary,
    "numeric": _norm_number,
    "word_sorting": _norm_words,
    "dyck_languages": _norm_dyck,
    "free_text": _norm_free,
}


def normalize_bbh(answer: str, fields: dict[str, Any]) -> str | None:
    """The canonical form of an answer (a statement's text or a gold target) for ``fields["answer_format"]``."""
    return _NORMALISERS[fields.get("answer_format", "free_text")](answer, fields)


# --------------------------------------------------------------------------------------------------
# Finding the answer statement
# --------------------------------------------------------------------------------------------------

_MARKERS = (
    re.compile(r"\bso,?\s+the\s+(?:final\s+)?answer\s+is\b", re.I),
    re.compile(r"\bthe\s+(?:final\s+|correct\s+)?answer\s+is\b", re.I),
    re.compile(r"\b(?:final\s+)?answer\s*:", re.I),
)
_NEXT_QUESTION = re.compile(r"\n[ \t]*Q:")
_BOXED = re.compile(r"\\(?:boxed|fbox|text|textbf|mathrm)\s*\{([^{}]*)\}")
_DECOR = re.compile(r"\*\*|__|`")
_LEAD = " \t:：*\"'“”"


def _last_line(text: str) -> str | None:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else None


def answer_statement(text: str) -> str | None:
    """The text of the final answer statement of a chain-of-thought response (before normalising)."""
    if not isinstance(text, str) or not text.strip():
        return None
    text = _DECOR.sub("", _BOXED.sub(r"\1", text))
    segments = _NEXT_QUESTION.split(text)
    segment = next((s for s in segments if any(p.search(s) for p in _MARKERS)), segments[0])
    for pattern in _MARKERS:
        matches = list(pattern.finditer(segment))
        if not matches:
            continue
        rest = segment[matches[-1].end() :]
        line, _, after = rest.partition("\n")
        line = line.strip(_LEAD)
        if line.strip():
            return line.strip()
        block = after.lstrip("\n").split("\n\n", 1)[0].strip()
        return block or None
    return _last_line(segment)


@register_extractor("bbh_answer")
def bbh_answer(text: str, sample: Sample) -> str | None:
    """The final answer of a BBH chain-of-thought response, in the canonical form of the sample's family."""
    statement = answer_statement(text)
    return None if statement is None else normalize_bbh(statement, sample.fields)


@register_metric("bbh_match")
def bbh_match(extracted: str, target: str) -> float:
    """Exact match of the normalised answer and the normalised target (both already canonical)."""
    return float(extracted.strip() == target.strip())


# --------------------------------------------------------------------------------------------------
# BBH loader
# --------------------------------------------------------------------------------------------------

_HEADER_RULE = re.compile(r"^-{3,}\s*$", re.M)


def strip_cot_header(text: str) -> str:
    """The prompt text of a ``cot-prompts`` file: the canary line and ``-----`` rule above the first ``Q:`` go."""
    first_q = re.search(r"^Q:", text, re.M)
    limit = first_q.start() if first_q else len(text)
    rules = [m for m in _HEADER_RULE.finditer(text, 0, limit)]
    if rules:
        text = text[rules[-1].end() :]
    return text.strip()


def _bbh_dirs(path: Path, options: dict[str, Any]) -> tuple[Path, Path]:
    """(task files, prompt files) for the BBH folder or its ``bbh/`` subfolder."""
    prompts_name = options.get("prompts", "cot-prompts")
    tasks_name = options.get("tasks", "bbh")
    if (path / tasks_name).is_dir():
        return path / tasks_name, path / prompts_name
    return path, path.parent / prompts_name


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None


def bbh_fields(task: str, row: Any, source: str = "", where: str = "") -> dict[str, Any]:
    """A BBH example's fields (without ``target_raw``); ``where`` names it in errors."""
    family = BBH_FAMILIES.get(task, "free_text")
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: expected an object with 'input' and 'target', got {type(row).__name__}")
    for key in ("input", "target"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise DatasetError(f"{where}: field '{key}' is missing or empty")
    fields: dict[str, Any] = {"input": row["input"], "cot_prompt": source, "task": task}
    if family == "multiple_choice":
        opts = _OPTION_LINE.findall(row["input"])
        letters = "".join(letter for letter, _ in opts)
        if not opts or letters != ascii_uppercase[: len(opts)]:
            raise DatasetError(f"{where}: options are not listed as (A), (B), ... lines")
        fields["letters"], fields["options"] = letters, [text for _, text in opts]
        # three upstream targets are an option text split at a comma, not a letter: compare as text
        fields["answer_format"] = "multiple_choice" if re.fullmatch(r"\([A-Z]\)", row["target"]) else "free_text"
    else:
        fields["answer_format"] = family
    if family == "binary":
        fields["words"] = list(_BINARY_WORDS[task])
    elif family == "word_sorting":
        _, sep, listed = row["input"].partition("List:")
        if not sep or not listed.split():
            raise DatasetError(f"{where}: input has no 'List:' of words")
        fields["words"] = sorted({w.casefold() for w in listed.split()})
    return fields


@register_loader("bbh_json")
def load_bbh(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """All BIG-Bench Hard tasks: ``bbh/<task>.json`` (``{"examples": [{"input", "target"}]}``) and
    ``cot-prompts/<task>.txt``.  ``path`` is the folder holding both (or its ``bbh/`` folder).

    Sample ids are ``<task>/<index>``; fields ``input``, ``cot_prompt`` (the 3-shot prompt without
    the canary header), ``task``, ``answer_format`` and what its normaliser needs (``letters`` and
    ``options`` of a multiple-choice question, ``words`` of a binary task or the list to sort); ``target_raw`` is the
    target as written, ``target`` its normalised form; ``meta``: ``subject`` (the task), ``category``
    (the answer family, see ``BBH_FAMILIES``), ``file`` and ``index``.
    """
    tasks_dir, prompts_dir = _bbh_dirs(path, options)
    if not tasks_dir.is_dir():
        raise DatasetError(f"{path}: expected the BBH folder with bbh/<task>.json and cot-prompts/<task>.txt")
    files = sorted(tasks_dir.glob("*.json"))
    if not files:
        raise DatasetError(f"{tasks_dir}: no <task>.json files")
    samples: list[Sample] = []
    read: list[Path] = []
    for file in files:
        task = file.stem
        prompt_file = prompts_dir / f"{task}.txt"
        try:
            source = strip_cot_header(prompt_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise DatasetError(
                f"{prompt_file}: cannot read the chain-of-thought prompt of '{task}': {exc.strerror}"
            ) from None
        if not re.search(r"^Q:", source, re.M):
            raise DatasetError(f"{prompt_file}: no 'Q:' exemplar in the chain-of-thought prompt")
        data = _read_json(file)
        examples = data.get("examples") if isinstance(data, dict) else None
        if not isinstance(examples, list) or not examples:
            raise DatasetError(f"{file}:1: expected an object with a non-empty 'examples' list")
        family = BBH_FAMILIES.get(task, "free_text")
        for index, row in enumerate(examples):
            where = f"{file}: examples[{index}]"
            fields = bbh_fields(task, row, source, where)
            target = normalize_bbh(row["target"], fields)
            if target is None:
                raise DatasetError(f"{where}: target {row['target']!r} is not a {fields['answer_format']} answer")
            fields["target_raw"] = row["target"]
            samples.append(
                Sample(
                    id=f"{task}/{index}",
                    fields=fields,
                    target=target,
                    meta={"subject": task, "category": family, "file": file.name, "index": index},
                )
            )
        read.extend((file, prompt_file))
    return LoadedDataset(tuple(samples), tuple(read))


# --------------------------------------------------------------------------------------------------
# ARC
# --------------------------------------------------------------------------------------------------

ARC_LETTERS = ascii_uppercase
"""Letters for options by position: ARC itself has 3 to 5 options, a file in its format may have up to 26."""
_ARC_LABEL_MODES = ("position", "as_written")


@register_loader("arc_jsonl")
def load_arc(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """One ARC ``.jsonl`` file.  Fields: ``question`` (the stem), ``choices`` (texts), ``labels`` (as
    written, ``A``.. or ``1``..), ``letters`` (the labels the options are shown with: ``A``, ``B``, ... by
    position, or with the option ``labels: as_written`` the ``labels``) and ``options`` (a ``A. text``
    line per choice); target: the shown label of the answer; meta: file and line.
    """
    mode = options.get("labels", "position")
    if mode not in _ARC_LABEL_MODES:
        raise DatasetError(f"{path}: option 'labels' must be one of {', '.join(_ARC_LABEL_MODES)}, got {mode!r}")
    samples: list[Sample] = []
    seen: dict[str, int] = {}
    for line_no, row in iter_jsonl(path):
        where = f"{path}:{line_no}"
        rid, question, key = row.get("id"), row.get("question"), row.get("answerKey")
        if not isinstance(rid, str) or not rid.strip():
            raise DatasetError(f"{where}: field 'id' is missing or empty")
        if rid in seen:
            raise DatasetError(f"{where}: id '{rid}' already used on line {seen[rid]}")
        seen[rid] = line_no
        if not isinstance(question, dict):
            raise DatasetError(f"{where}: field 'question' must be an object with 'stem' and 'choices'")
        stem, choices = question.get("stem"), question.get("choices")
        if not isinstance(stem, str) or not stem.strip():
            raise DatasetError(f"{where}: field 'question.stem' is missing or empty")
        if not isinstance(choices, list) or not 2 <= len(choices) <= len(ARC_LETTERS):
            raise DatasetError(f"{where}: field 'question.choices' must list 2 to {len(ARC_LETTERS)} choices")
        texts, labels = [], []
        for i, choice in enumerate(choices):
            if not isinstance(choice, dict) or not isinstance(choice.get("text"), str):
                raise DatasetError(f"{where}: choice {i + 1} has no 'text'")
            if not isinstance(choice.get("label"), str) or not choice["label"].strip():
                raise DatasetError(f"{where}: choice {i + 1} has no 'label'")
            texts.append(choice["text"].strip())
            labels.append(choice["label"].strip())
        if len(set(labels)) != len(labels):
            raise DatasetError(f"{where}: duplicate choice labels {labels}")
        if not isinstance(key, str) or key.strip() not in labels:
            raise DatasetError(f"{where}: answerKey {key!r} is not one of the labels {labels}")
        if mode == "as_written":
            from tianping.scoring.choice import check_labels

            try:
                letters = list(check_labels(labels))
            except ValueError as exc:
                raise DatasetError(f"{where}: {exc} (needed by 'labels: as_written')") from None
        else:
            letters = list(ARC_LETTERS[: len(texts)])
        samples.append(
            Sample(
                id=rid,
                fields={
                    "question": stem.strip(),
                    "choices": texts,
                    "labels": labels,
                    "letters": letters,
                    "options": "\n".join(f"{letter}. {text}" for letter, text in zip(letters, texts, strict=True)),
                },
                target=letters[labels.index(key.strip())],
                meta={"file": path.name, "line": line_no},
            )
        )
    if not samples:
        raise DatasetError(f"{path}: no rows")
    return LoadedDataset(tuple(samples), (path,))


# ARC once had its own extractor because ``choice`` knew only A-D; the name stays for stored runs and
# user definitions that name it.
register_extractor("arc_choice")(EXTRACTORS["choice"])
