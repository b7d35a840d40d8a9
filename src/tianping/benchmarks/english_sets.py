"""Loaders for English benchmark layouts the generic loaders cannot read: PIQA, AIME and lm-eval style shots.

``piqa_jsonl``
    PIQA's ``valid.jsonl`` (``{"goal", "sol1", "sol2"}`` per line) with its labels in the line-aligned
    ``valid-labels.lst`` beside it (``<stem>-labels.lst``: one ``0`` or ``1`` per line, 0 = ``sol1``). Sample ids
    are the row numbers from 0. Fields: ``goal``, ``sol1``, ``sol2`` as written (lm-eval prints them so, 118
    validation rows have surrounding spaces), ``choices`` (the two solutions, trimmed), ``choices_raw`` (as
    written), ``letters`` (``A``, ``B``) and ``label`` (0 or 1); the target is the letter.

``aime_tex``
    MathArena's AIME layout: a contest folder holds ``problems/<n>.tex`` and ``answers.csv`` (``id,answer``).
    The path is one contest folder, or a folder of them with option ``contests`` naming which (default: every
    sub-folder with an ``answers.csv``). Answers are integers compared by value, so ``025`` (AIME 2024's
    three-digit form) becomes the target ``25``. Sample ids ``<contest>/<n>``; fields ``problem`` and ``answer``;
    meta ``contest``.

``jsonl_lmeval_shots``
    The generic ``jsonl`` loader (same options) plus, for each row, the few-shot rows lm-evaluation-harness 0.4
    draws when a task takes its shots from the split it scores (gsm_plus_mini: 5 shots from ``testmini``):
    its default sampler, seeded once (``--fewshot_random_seed``, 1234) and drawing ``k + 1`` rows per
    question in file order, the question itself removed. Options ``lmeval_shots`` (k) and ``lmeval_seed``.
    The shots are the field ``shots``, a list of the other rows' fields, for the prompt template to lay out.
    As in lm-eval, a question's shots depend on its position: a run of the first N rows gets the shots
    lm-eval's ``--limit N`` gets.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import LETTERS, LoadedDataset, iter_jsonl, read_csv_rows, register_loader
from tianping.core import Sample

__all__ = ["lmeval_shot_indices", "load_aime", "load_jsonl_lmeval_shots", "load_piqa"]


def _no_options(path: Path, options: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        raise DatasetError(
            f"{path}: unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(known)) or 'none'})"
        )


def _sibling(path: Path, name: str) -> Path:
    """A file beside ``path``; one that is a link leading out of the folder is refused (a shared definition
    must read only the folder it names)."""
    sibling = path.parent / name
    if sibling.exists() and sibling.resolve().parent != path.resolve().parent:
        raise DatasetError(f"{sibling}: a link out of {path.parent}; copy the file there instead")
    return sibling


# --------------------------------------------------------------------------------------------------
# PIQA


def _piqa_labels(path: Path) -> list[int]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"{path}: not found (PIQA keeps its labels in <split>-labels.lst beside the rows)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from None
    while lines and not lines[-1].strip():
        lines.pop()
    labels = []
    for number, line in enumerate(lines, start=1):
        if line.strip() not in ("0", "1"):
            raise DatasetError(f"{path}:{number}: label {line.strip()!r} is not 0 or 1")
        labels.append(int(line))
    return labels


@register_loader("piqa_jsonl")
def load_piqa(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """PIQA rows and their labels from ``<stem>-labels.lst`` beside them (see the module docstring)."""
    _no_options(path, options, set())
    labels_path = _sibling(path, f"{path.stem}-labels.lst")
    labels = _piqa_labels(labels_path)
    rows = list(iter_jsonl(path))
    if len(rows) != len(labels):
        raise DatasetError(f"{labels_path}: {len(labels)} labels for the {len(rows)} rows of {path.name}")
    samples = []
    for index, ((line, row), label) in enumerate(zip(rows, labels, strict=True)):
        for key in ("goal", "sol1", "sol2"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise DatasetError(f"{path}:{line}: field '{key}' is missing or empty")
        raw = [row["sol1"], row["sol2"]]
        fields = {
            "goal": row["goal"],
            "sol1": row["sol1"],
            "sol2": row["sol2"],
            "choices": [s.strip() for s in raw],
            "choices_raw": raw,
            "letters": ["A", "B"],
            "label": label,
        }
        samples.append(Sample(str(index), fields, LETTERS[label], {"file": path.name, "line": line}))
    return LoadedDataset(tuple(samples), (path, labels_path))


# --------------------------------------------------------------------------------------------------
# AIME

_FOLDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _contest_folders(path: Path, options: dict[str, Any]) -> list[Path]:
    if not path.is_dir():
        raise DatasetError(f"{path}: expected a contest folder (problems/, answers.csv) or a folder of them")
    if (path / "answers.csv").exists():
        if "contests" in options:
            raise DatasetError(f"{path}: option 'contests' names sub-folders, but this is one contest's folder")
        return [path]
    names = options.get("contests")
    if names is None:
        found = sorted(p for p in path.iterdir() if p.is_dir() and (p / "answers.csv").exists())
        if not found:
            raise DatasetError(f"{path}: no contest folders (with an answers.csv) in it")
        return found
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DatasetError(f"{path}: option 'contests' must be a list of contest folder names")
    folders = []
    for name in names:
        # a name, not a path: '../x' would lead out of the data folder
        if not _FOLDER_NAME.match(name) or name in (".", ".."):
            raise DatasetError(f"{path}: option 'contests': {name!r} is not a folder name")
        if not (path / name / "answers.csv").exists():
            raise DatasetError(f"{path / name}: no such contest folder (with an answers.csv)")
        folders.append(path / name)
    return folders


def _aime_answers(path: Path) -> dict[int, tuple[str, int]]:
    """problem number -> (canonical integer answer, line)."""
    rows = read_csv_rows(path, skip_blank=True)
    header = [cell.strip().lower() for cell in rows[0][1]]
    if header != ["id", "answer"]:
        raise DatasetError(f"{path}:1: expected the header 'id,answer', got {','.join(rows[0][1])!r}")
    answers: dict[int, tuple[str, int]] = {}
    for line, cells in rows[1:]:
        if len(cells) != 2:
            raise DatasetError(f"{path}:{line}: {len(cells)} columns where the header has 2")
        number, answer = cells[0].strip(), cells[1].strip()
        if not number.isdigit():
            raise DatasetError(f"{path}:{line}: id {number!r} is not a problem number")
        if not re.fullmatch(r"-?\d+", answer):
            raise DatasetError(f"{path}:{line}: answer {answer!r} is not an integer")
        if int(number) in answers:
            raise DatasetError(f"{path}:{line}: problem {number} already answered on line {answers[int(number)][1]}")
        answers[int(number)] = (str(int(answer)), line)
    return answers


def _read_problem(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from None
    if not text:
        raise DatasetError(f"{path}: empty problem")
    return text


def _contest(folder: Path) -> tuple[list[Sample], list[Path]]:
    answers_path = folder / "answers.csv"
    answers = _aime_answers(answers_path)
    problems: dict[int, Path] = {}
    for tex in (folder / "problems").glob("*.tex"):
        if not tex.stem.isdigit():
            raise DatasetError(f"{tex}: a problem file is named by its number (1.tex, 2.tex, ...)")
        problems[int(tex.stem)] = tex
    if not problems:
        raise DatasetError(f"{folder / 'problems'}: no <n>.tex problem files")
    unanswered = sorted(set(problems) - set(answers))
    if unanswered:
        raise DatasetError(f"{answers_path}: no answer for problem(s) {', '.join(map(str, unanswered))}")
    missing = sorted(set(answers) - set(problems))
    if missing:
        raise DatasetError(f"{folder / 'problems'}: no file for answered problem(s) {', '.join(map(str, missing))}")
    samples = []
    for number in sorted(problems):
        answer, line = answers[number]
        tex = problems[number]
        samples.append(
            Sample(
                id=f"{folder.name}/{number}",
                fields={"problem": _read_problem(tex), "answer": answer},
                target=answer,
                meta={
                    "contest": folder.name,
                    "file": f"{folder.name}/problems/{tex.name}",
                    "line": 1,
                    "answer_line": line,
                },
            )
        )
    return samples, [answers_path, *(problems[n] for n in sorted(problems))]


@register_loader("aime_tex")
def load_aime(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """AIME problems from ``.tex`` files and integer answers from ``answers.csv`` (see the module docstring)."""
    _no_options(path, options, {"contests"})
    samples: list[Sample] = []
    files: list[Path] = []
    for folder in _contest_folders(path, options):
        found, read = _contest(folder)
        samples.extend(found)
        files.extend(read)
    return LoadedDataset(tuple(samples), tuple(files))


# --------------------------------------------------------------------------------------------------
# lm-eval's shots drawn from the scored split


def lmeval_shot_indices(rows: list[Any], k: int, seed: int) -> list[list[int]]:
    """For each row in order, the indices of the ``k`` shots lm-eval 0.4's default sampler gives it when the
    shots come from the same split: one generator seeded once, ``k + 1`` rows drawn per question and every
    row equal to the question dropped (a pool holding copies of it is drawn again without them)."""
    if k < 1 or k >= len(rows):
        raise ValueError(f"{k} shots need more than {k} rows, the file has {len(rows)}")
    rnd = random.Random(seed)
    population = range(len(rows))  # random.sample picks by position: indices draw what the rows would
    out = []
    for row in rows:
        picked = [j for j in rnd.sample(population, k + 1) if rows[j] != row][:k]
        if len(picked) < k:
            picked = rnd.sample([j for j in population if rows[j] != row], k)
        out.append(picked)
    return out


@register_loader("jsonl_lmeval_shots")
def load_jsonl_lmeval_shots(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """The generic ``jsonl`` loader plus each row's lm-eval shots in the field ``shots`` (module docstring)."""
    from tianping.benchmarks.generic_loaders import load_jsonl

    rest = {key: value for key, value in options.items() if key not in ("lmeval_shots", "lmeval_seed")}
    k, seed = options.get("lmeval_shots"), options.get("lmeval_seed", 1234)
    for name, value in (("lmeval_shots", k), ("lmeval_seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "lmeval_shots" else 0):
            raise DatasetError(f"{path}: option '{name}' must be a whole number (shots >= 1), got {value!r}")
    assert isinstance(k, int) and isinstance(seed, int)
    loaded = load_jsonl(path, rest)
    samples = loaded.samples
    if k >= len(samples):
        raise DatasetError(f"{path}: option 'lmeval_shots' asks {k} shots of a file of {len(samples)} rows")
    picks = lmeval_shot_indices([s.fields for s in samples], k, seed)
    with_shots = tuple(
        Sample(s.id, {**s.fields, "shots": [samples[j].fields for j in picked]}, s.target, s.meta)
        for s, picked in zip(samples, picks, strict=True)
    )
    return LoadedDataset(with_shots, loaded.files)
