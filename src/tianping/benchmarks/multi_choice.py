"""A generic JSON Lines loader for multiple-choice questions with one or several right options.

Written for the AGIEval layout (``{"passage", "question", "options": ["(A)...", ...], "label": "B" | ["A", "C"]}``,
as in JEC-QA and Gaokao physics) but keyed by options, so other files of one question per line fit too.

Several right options are carried in ``Sample.target`` as the canonical letter set of
:mod:`tianping.scoring.choice_set`: the distinct letters, sorted, comma-joined (``"A,C"``; one answer is
just ``"B"``). The same set is also in the fields ``golds`` (letters) and ``gold_indices`` (0-based, for a
log-likelihood ``gold: "{{ gold_indices }}"`` template).
"""

from __future__ import annotations

import re
from pathlib import Path
from string import ascii_uppercase
from typing import Any

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import LoadedDataset, iter_jsonl, register_loader
from tianping.core import Sample

LETTERS = ascii_uppercase
_KEYS = {"question_key": "question", "passage_key": "passage", "options_key": "options", "label_key": "label"}
_OPTIONS = {*_KEYS, "skip_unlabelled"}
# an option written with its own label in front: "(A)text", "A. text", "（B）text", "C、text"
_LABELLED = re.compile(r"\s*(?:[(（]\s*(?P<a>[A-Z])\s*[)）]|(?P<b>[A-Z])\s*[.．:：、)])\s*")


def _strip_label(option: str, letter: str) -> str:
    m = _LABELLED.match(option)
    if m and (m.group("a") or m.group("b")) == letter:
        return option[m.end() :].strip()
    return option.strip()


def _gold_letters(label: Any, count: int, where: str) -> list[str]:
    """The right letters of a ``label``: a letter (``"B"``), letters (``"AC"``), a list of letters, or 0-based
    integer indices; each must name one of the ``count`` options."""
    items = label if isinstance(label, list) else [label]
    letters: list[str] = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool) and 0 <= item < count:
            letters.append(LETTERS[item])
        elif isinstance(item, str) and re.fullmatch(r"[A-Za-z]+", item.strip()):
            letters.extend(item.strip().upper())
        else:
            raise DatasetError(f"{where}: label item {item!r} is neither an option letter nor an index")
    wrong = [x for x in letters if x not in LETTERS[:count]]
    if wrong:
        raise DatasetError(f"{where}: label {label!r} names {', '.join(wrong)}, but there are {count} options")
    return sorted(set(letters))


@register_loader("multi_choice_jsonl")
def load_multi_choice(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """One JSON Lines file of multiple-choice questions, one or several right options each.

    Options: ``question_key`` / ``passage_key`` / ``options_key`` / ``label_key`` (the row's keys; defaults
    ``question``, ``passage``, ``options``, ``label``) and ``skip_unlabelled`` (default false: a row without
    a label is an error naming its line; true drops such rows, as AGIEval's own scorer cannot score them).

    Sample ids are ``<file stem>/<row index>`` (rows counted from 0, skipped ones included, so ids do not move).
    Fields: ``question``, ``passage`` ("" when absent or null), ``choices`` (option texts without their
    ``(A)`` labels), ``choices_raw`` (as written), ``letters``, ``options`` (one ``A. text`` line per option),
    ``golds`` (right letters), ``gold_indices`` and ``answer`` (the target). Meta: ``subject`` (the file
    stem), ``answers`` (``single`` or ``multiple``, a breakdown key), file and line.
    """
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise DatasetError(f"{path}: unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(_OPTIONS))})")
    keys = {name: str(options.get(name, default)) for name, default in _KEYS.items()}
    skip = bool(options.get("skip_unlabelled", False))
    samples: list[Sample] = []
    for index, (line_no, row) in enumerate(iter_jsonl(path)):
        where = f"{path}:{line_no}"
        question, raw = row.get(keys["question_key"]), row.get(keys["options_key"])
        if not isinstance(question, str) or not question.strip():
            raise DatasetError(f"{where}: field '{keys['question_key']}' is missing or empty")
        if not isinstance(raw, list) or not 2 <= len(raw) <= len(LETTERS) or not all(isinstance(o, str) for o in raw):
            raise DatasetError(f"{where}: field '{keys['options_key']}' must list 2 to {len(LETTERS)} option texts")
        label = row.get(keys["label_key"])
        if label is None or label == [] or label == "":
            if skip:
                continue
            raise DatasetError(
                f"{where}: field '{keys['label_key']}' is empty: no right option"
                " (the option skip_unlabelled drops such rows)"
            )
        letters = list(LETTERS[: len(raw)])
        golds = _gold_letters(label, len(raw), where)
        choices = [_strip_label(o, letter) for o, letter in zip(raw, letters, strict=True)]
        passage = row.get(keys["passage_key"])
        target = ",".join(golds)
        samples.append(
            Sample(
                id=f"{path.stem}/{index}",
                fields={
                    "question": question.strip(),
                    "passage": passage.strip() if isinstance(passage, str) else "",
                    "choices": choices,
                    "choices_raw": list(raw),
                    "letters": letters,
                    "options": "\n".join(f"{x}. {c}" for x, c in zip(letters, choices, strict=True)),
                    "golds": golds,
                    "gold_indices": [LETTERS.index(x) for x in golds],
                    "answer": target,
                },
                target=target,
                meta={
                    "subject": path.stem,
                    "answers": "multiple" if len(golds) > 1 else "single",
                    "file": path.name,
                    "line": line_no,
                },
            )
        )
    if not samples:
        raise DatasetError(f"{path}: no labelled rows")
    return LoadedDataset(tuple(samples), (path,))
