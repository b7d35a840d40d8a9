"""AGIEval (Zhong et al. 2023): the authors' task files and few-shot exemplars as samples.

Two loaders, registered lazily (see ``LAZY_LOADERS`` in :mod:`tianping.benchmarks.loaders`):

- ``agieval_jsonl``: one multiple-choice task file, ``data/v1/<task>.jsonl`` (``{"passage", "question",
  "options": ["(A)...", ...], "label": "B" | ["A", "C"]}``). The cloze tasks (``math``,
  ``gaokao-mathcloze``) have no options: their definitions read them with ``math_jsonl``.
- ``agieval_fewshot_csv``: the authors' exemplars, ``data/few_shot_prompts.csv``: a header row of task
  names, then rows ``sample 1``, ``explanation 1``, ... ``sample 5``, ``explanation 5``; each sample cell is
  a Python dict literal of one row in the task file's layout. Some tasks have only 3 or 4 exemplars (the
  other cells are empty). Option ``task`` names the column; ``drop_passage`` leaves out the passages, as the
  authors' own code does for ``sat-en-without-passage``, which borrows the ``sat-en`` exemplars.

Fields of a multiple-choice sample, test row and exemplar alike, so that one template renders both:

- ``question`` / ``passage``: stripped (``passage`` "" when there is none), for generation prompts;
- ``question_raw`` / ``passage_raw``: as written ("" for no passage), for the prompts lm-evaluation-harness
  builds from them byte for byte;
- ``choices``: the option texts without their own labels (``(A)``, ``A．``, ``A `` ...); ``choices_raw``: the
  options as written; ``letters``: ``A``, ``B``, ... one per option; ``options``: one ``(A) text`` line each;
- ``golds`` (right letters), ``gold_indices`` (0-based) and ``answer``, the canonical letter set ``"A,C"``
  of :mod:`tianping.scoring.choice_set`, which is also the target;
- ``explanation``: an exemplar's worked explanation ("" for a test row).

An exemplar of a cloze task has ``question``, ``passage``, ``answer`` (the target, as written) and
``explanation``, the fields the ``math_jsonl`` loader gives its rows.

Sample ids: ``<task>/<row index>`` for a test row (rows counted from 0, skipped ones included), ``<task>/shot<N>``
for exemplar N. Meta: ``subject`` (the task), ``answers`` (``single`` / ``multiple``), file and line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import LETTERS, LoadedDataset, iter_jsonl, read_csv_rows, register_loader
from tianping.benchmarks.multi_choice import _gold_letters
from tianping.core import Sample

__all__ = ["load_agieval", "load_agieval_fewshot", "mc_sample", "option_text"]

# A label in brackets names its option whatever the letter: a few Gaokao rows repeat "(C)" where "(D)" is meant.
_BRACKETED = re.compile(r"\s*[(（]\s*[A-Z]\s*[)）]\s*")
# "A．text", "B. text", "C、text": a label only when the letter is the option's own (else "A.D. 1066" would lose it).
_DOTTED = re.compile(r"\s*(?P<letter>[A-Z])\s*[.．:：、]\s*")
# "A No dangshen" (LogiQA): letter and space, a label only when every option of the row is written so.
_SPACED = re.compile(r"\s*(?P<letter>[A-Z])\s+(?=\S)")
# an exemplar whose options are one cell "A. 阳台\tB. 客厅\tC. 卧室\tD. 厨房" (Gaokao geography)
_INLINE_LABEL = re.compile(r"(?:^|(?<=\s))(?P<letter>[A-Z])\s*[.．、]")


def option_text(raw: str, letter: str, *, spaced: bool = False) -> str:
    """An option's text without the label it is written with (``(A)``, ``A．``, and ``A `` when ``spaced``)."""
    m = _BRACKETED.match(raw)
    if m:
        return raw[m.end() :].strip()
    m = _DOTTED.match(raw) or (_SPACED.match(raw) if spaced else None)
    if m and m.group("letter") == letter:
        return raw[m.end() :].strip()
    return raw.strip()


def _spaced_labels(raw: list[str]) -> bool:
    return all(
        (m := _SPACED.match(option)) is not None and m.group("letter") == letter
        for option, letter in zip(raw, LETTERS, strict=False)
    )


def _clean_label(label: Any) -> Any:
    """A label as written, less two slips of the files: spaces between letters (Gaokao math writes "A B D") and a
    stray punctuation item in a list (one JEC-QA row reads ``["A", "C", "D", "。"]``)."""
    if isinstance(label, str):
        return re.sub(r"\s+", "", label)
    if isinstance(label, list):
        return [x for x in label if not (isinstance(x, str) and not re.sub(r"[\W_]+", "", x))]
    return label


def mc_sample(row: dict[str, Any], sample_id: str, where: str, meta: dict[str, Any], explanation: str = "") -> Sample:
    """A sample of one multiple-choice row (see the module docstring for its fields); ``where`` names the row in
    errors."""
    question, raw = row.get("question"), row.get("options")
    if not isinstance(question, str) or not question.strip():
        raise DatasetError(f"{where}: field 'question' is missing or empty")
    if not isinstance(raw, list) or not 2 <= len(raw) <= len(LETTERS) or not all(isinstance(o, str) for o in raw):
        raise DatasetError(f"{where}: field 'options' must list 2 to {len(LETTERS)} option texts")
    passage = row.get("passage")
    if passage is not None and not isinstance(passage, str):
        raise DatasetError(f"{where}: field 'passage' is {type(passage).__name__}, not text or null")
    letters = list(LETTERS[: len(raw)])
    golds = _gold_letters(_clean_label(row.get("label")), len(raw), where)
    if not golds:
        raise DatasetError(f"{where}: field 'label' {row.get('label')!r} names no option")
    spaced = _spaced_labels(raw)
    choices = [option_text(o, x, spaced=spaced) for o, x in zip(raw, letters, strict=True)]
    target = ",".join(golds)
    fields = {
        "question": question.strip(),
        "question_raw": question,
        "passage": (passage or "").strip(),
        "passage_raw": passage or "",
        "choices": choices,
        "choices_raw": list(raw),
        "letters": letters,
        "options": "\n".join(f"({x}) {c}" for x, c in zip(letters, choices, strict=True)),
        "golds": golds,
        "gold_indices": [LETTERS.index(x) for x in golds],
        "answer": target,
        "explanation": explanation,
    }
    answers = "multiple" if len(golds) > 1 else "single"
    return Sample(id=sample_id, fields=fields, target=target, meta={**meta, "answers": answers})


def _has_label(label: Any) -> bool:
    return label not in (None, "", [])


@register_loader("agieval_jsonl")
def load_agieval(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """One AGIEval multiple-choice task file. Option ``skip_unlabelled`` (default false) drops rows without a
    right option (one row of ``jec-qa-kd``), which no answer can be scored against; without it such a row is an
    error naming its line."""
    unknown = sorted(set(options) - {"skip_unlabelled"})
    if unknown:
        raise DatasetError(f"{path}: unknown option(s) {', '.join(unknown)} (known: skip_unlabelled)")
    skip = bool(options.get("skip_unlabelled", False))
    samples = []
    for index, (line_no, row) in enumerate(iter_jsonl(path)):
        where = f"{path}:{line_no}"
        if row.get("options") is None and row.get("answer") is not None:
            raise DatasetError(f"{where}: a cloze row (no options, an 'answer'): read this file with math_jsonl")
        if not _has_label(row.get("label")):
            if skip:
                continue
            raise DatasetError(f"{where}: field 'label' is empty: no right option (skip_unlabelled drops such rows)")
        meta = {"subject": path.stem, "file": path.name, "line": line_no}
        samples.append(mc_sample(row, f"{path.stem}/{index}", where, meta))
    return LoadedDataset(tuple(samples), (path,))


def _split_inline_options(options: list[str]) -> list[str]:
    """``["A. x\\tB. y\\tC. z"]`` -> ``["A. x", "B. y", "C. z"]``: cut where the labels A, B, C, ... start in turn."""
    if len(options) != 1:
        return options
    text, cuts = options[0], list[int]()
    for m in _INLINE_LABEL.finditer(text):
        if m.group("letter") == LETTERS[len(cuts)]:
            cuts.append(m.start())
    if len(cuts) < 2:
        return options
    return [text[a:b].strip() for a, b in zip(cuts, [*cuts[1:], len(text)], strict=True)]


def _exemplar(cell: str, where: str) -> dict[str, Any]:
    try:
        row = ast.literal_eval(cell)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise DatasetError(f"{where}: not a Python dict literal ({type(exc).__name__}: {exc})") from None
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: expected a dict literal, got {type(row).__name__}")
    return row


def _cloze_sample(row: dict[str, Any], sample_id: str, where: str, meta: dict[str, Any], explanation: str) -> Sample:
    question, answer = row.get("question"), row.get("answer")
    if not isinstance(question, str) or not question.strip():
        raise DatasetError(f"{where}: field 'question' is missing or empty")
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise DatasetError(f"{where}: a row without options needs an 'answer'")
    fields = {
        "question": question.strip(),
        "passage": (row.get("passage") or "").strip(),
        "answer": answer.strip(),
        "explanation": explanation,
    }
    return Sample(id=sample_id, fields=fields, target=answer.strip(), meta=meta)


@register_loader("agieval_fewshot_csv")
def load_agieval_fewshot(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """The authors' exemplars of one task (option ``task``, a column of the file), in order; ``drop_passage``
    (default false) blanks their passages."""
    unknown = sorted(set(options) - {"task", "drop_passage"})
    if unknown:
        raise DatasetError(f"{path}: unknown option(s) {', '.join(unknown)} (known: drop_passage, task)")
    task = options.get("task")
    if not isinstance(task, str) or not task:
        raise DatasetError(f"{path}: option 'task' must name a column (a task such as lsat-ar)")
    drop_passage = bool(options.get("drop_passage", False))
    parsed = read_csv_rows(path, skip_blank=True)
    header = [cell.strip() for cell in parsed[0][1]]
    if task not in header[1:]:
        raise DatasetError(f"{path}:1: no column '{task}' (columns: {', '.join(h for h in header[1:] if h)})")
    column = header.index(task)
    cells: dict[str, tuple[int, str]] = {}
    for line, cells_of_row in parsed[1:]:
        if cells_of_row and column < len(cells_of_row):
            cells[cells_of_row[0].strip()] = (line, cells_of_row[column])
    samples: list[Sample] = []
    number = 1
    while f"sample {number}" in cells:
        line, cell = cells[f"sample {number}"]
        where = f"{path}:{line}: column '{task}', sample {number}"
        if cell.strip():
            row = _exemplar(cell, where)
            if drop_passage:
                row["passage"] = None
            explanation = cells.get(f"explanation {number}", (0, ""))[1]
            meta = {"subject": task, "shot": number, "file": path.name, "line": line}
            sample_id = f"{task}/shot{number}"
            if row.get("options") is None:
                samples.append(_cloze_sample(row, sample_id, where, meta, explanation))
            else:
                if isinstance(row["options"], list):
                    row["options"] = _split_inline_options(row["options"])
                samples.append(mc_sample(row, sample_id, where, meta, explanation))
        number += 1
    if not samples:
        raise DatasetError(f"{path}: column '{task}' has no exemplars (rows 'sample 1', 'sample 2', ...)")
    return LoadedDataset(tuple(samples), (path,))
