"""TruthfulQA (Lin, Hilton and Evans, 2022): its two file layouts as samples, and the generation task's scorer.

- ``truthfulqa_mc_json`` reads ``mc_task.json``, the multiple-choice file: a JSON array of
  ``{"question", "mc1_targets": {answer: 0|1}, "mc2_targets": {answer: 0|1}}``. The answers keep the file's
  order, as the Hugging Face copy that lm-evaluation-harness reads keeps it (``list(targets)``), since that
  order is the order of the choices lm-eval scores.
- ``truthfulqa_csv`` reads ``TruthfulQA.csv``, the generation file, with the reference answers prepared as
  lm-eval 0.4.13's ``truthfulqa_gen`` prepares them (``utils.preprocess_function``).
- The scorer ``truthfulqa_gen`` (BLEU / ROUGE against the references, and an LLM judge's truthful x
  informative verdict where a rubric judge is configured) lives in :mod:`tianping.benchmarks.truthfulqa_gen`
  and is registered here, so that one import makes the whole family known.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import LoadedDataset, read_csv_rows, register_loader
from tianping.benchmarks.scorers import register_scorer
from tianping.core import Response, Sample, Score
from tianping.core.task import ScoringContext

__all__ = ["NO_COMMENT", "format_answers", "load_truthfulqa_csv", "load_truthfulqa_mc", "split_answers"]

NO_COMMENT = "I have no comment."
"""The non-answer the paper counts as true: lm-eval adds it to every question's true references."""
_CSV_COLUMNS = ("Type", "Category", "Question", "Best Answer", "Correct Answers", "Incorrect Answers")
_MC_OPTIONS = {"csv"}


def split_answers(cell: str) -> list[str]:
    """A ``;``-separated answer cell as the Hugging Face copy splits it: each part stripped, empty ones kept."""
    return [part.strip() for part in cell.strip().split(";")]


def format_answers(answers: list[str]) -> list[str]:
    """The references as lm-eval's ``truthfulqa_gen`` scores against them: stripped, empty ones dropped, each
    ending in a full stop (added where missing)."""
    out = []
    for answer in answers:
        answer = answer.strip()
        if answer:
            out.append(answer if answer.endswith(".") else answer + ".")
    return out


# --- the multiple-choice file --------------------------------------------------------------------------------


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys must be distinct: a repeated answer would silently replace the first one."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} is repeated in one object")
        out[key] = value
    return out


def _read_json_array(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})") from None
    try:
        rows = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    except ValueError as exc:  # from _unique_keys
        raise DatasetError(f"{path}: {exc}") from None
    if not isinstance(rows, list):
        raise DatasetError(f"{path}: expected a JSON array of questions, got {type(rows).__name__}")
    return rows


def _targets(row: dict[str, Any], key: str, where: str) -> tuple[list[str], list[int]]:
    """(answers, 0-based indices of the true ones) of one ``mcN_targets`` object."""
    targets = row.get(key)
    if not isinstance(targets, dict) or len(targets) < 2:
        raise DatasetError(f"{where}: field '{key}' must map at least two answers to 0 or 1")
    choices, golds = [], []
    for index, (answer, label) in enumerate(targets.items()):
        if not answer.strip():
            raise DatasetError(f"{where}: field '{key}' has an empty answer")
        if isinstance(label, bool) or label not in (0, 1):
            raise DatasetError(f"{where}: field '{key}': the label of {answer!r} is {label!r}, not 0 or 1")
        choices.append(answer)
        if label == 1:
            golds.append(index)
    if not golds:
        raise DatasetError(f"{where}: field '{key}' marks no answer true")
    if len(golds) == len(choices):
        raise DatasetError(f"{where}: field '{key}' marks every answer true: nothing to choose against")
    return choices, golds


def _categories(path: Path) -> dict[str, dict[str, str]]:
    """Question (stripped) -> {"category", "type"} from the generation CSV beside the multiple-choice file."""
    return {sample.fields["question"]: dict(sample.meta) for sample in load_truthfulqa_csv(path, {}).samples}


@register_loader("truthfulqa_mc_json")
def load_truthfulqa_mc(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """TruthfulQA's ``mc_task.json``: one sample per question, in file order (ids ``0``, ``1``, ..., the
    positions lm-eval's documents have).

    Fields: ``question`` (as written), ``mc1_choices`` / ``mc1_golds`` (MC1: one true answer, which the file
    lists first, as lm-eval's ``doc_to_target: 0`` assumes) and ``mc2_choices`` / ``mc2_golds`` (MC2: every
    reference answer, several true), golds being 0-based indices. The target is MC1's true answer.

    Option ``csv``: the name of the generation CSV in the same folder (``TruthfulQA.csv``), read for each
    question's ``category`` and ``type`` (meta, for breakdowns); every question must be found there.
    """
    unknown = sorted(set(options) - _MC_OPTIONS)
    if unknown:
        raise DatasetError(f"{path}: unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(_MC_OPTIONS))})")
    files = [path]
    categories: dict[str, dict[str, str]] = {}
    if "csv" in options:
        name = options["csv"]
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
            raise DatasetError(f"{path}: option 'csv' must name a file in the same folder, got {name!r}")
        files.append(path.parent / name)
        categories = _categories(files[-1])
    samples = []
    for index, row in enumerate(_read_json_array(path)):
        where = f"{path} item {index}"
        if not isinstance(row, dict):
            raise DatasetError(f"{where}: expected an object, got {type(row).__name__}")
        question = row.get("question")
        if not isinstance(question, str) or not question.strip():
            raise DatasetError(f"{where}: field 'question' is missing or empty")
        mc1_choices, mc1_golds = _targets(row, "mc1_targets", where)
        mc2_choices, mc2_golds = _targets(row, "mc2_targets", where)
        if mc1_golds != [0]:
            raise DatasetError(
                f"{where}: field 'mc1_targets' must list exactly one true answer, first (lm-eval scores the "
                f"first choice as the right one); true at {mc1_golds}"
            )
        meta: dict[str, Any] = {"file": path.name, "index": index}
        if categories:
            found = categories.get(question.strip())
            if found is None:
                raise DatasetError(f"{where}: question {question[:80]!r} is not in {files[-1]}")
            meta.update(category=found["category"], type=found["type"])
        samples.append(
            Sample(
                id=str(index),
                fields={
                    "question": question,
                    "mc1_choices": mc1_choices,
                    "mc1_golds": mc1_golds,
                    "mc2_choices": mc2_choices,
                    "mc2_golds": mc2_golds,
                },
                target=mc1_choices[0],
                meta=meta,
            )
        )
    return LoadedDataset(tuple(samples), tuple(files))


# --- the generation file -------------------------------------------------------------------------------------


@register_loader("truthfulqa_csv")
def load_truthfulqa_csv(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """TruthfulQA's ``TruthfulQA.csv`` (the Oct-2021 layout or the 2025 one, which adds a column): one sample
    per row, ids ``0``, ``1``, ... in file order.

    Fields: ``question`` (stripped, as lm-eval strips it), ``best_answer``, ``correct_answers`` and
    ``incorrect_answers`` (the references as lm-eval scores against them: see :func:`format_answers`; the true
    ones end with "I have no comment." where it is not already among them). The target is the best answer.
    Meta: ``category``, ``type`` (Adversarial / Non-Adversarial), file and line. A row without a true or a
    false reference is an error: BLEU and ROUGE compare against both.
    """
    if options:
        raise DatasetError(f"{path}: the truthfulqa_csv loader takes no options, got {', '.join(sorted(options))}")
    parsed = read_csv_rows(path, skip_blank=True)
    header = [cell.strip() for cell in parsed[0][1]]
    if header:
        header[0] = header[0].removeprefix("\ufeff")  # upstream's v1 file starts with a byte-order mark
    missing = [name for name in _CSV_COLUMNS if name not in header]
    if missing:
        raise DatasetError(f"{path}:1: header lacks the column(s) {', '.join(missing)}: {header}")
    column = {name: header.index(name) for name in _CSV_COLUMNS}
    samples: list[Sample] = []
    for line, cells in parsed[1:]:
        if len(cells) < len(header):
            raise DatasetError(f"{path}:{line}: expected {len(header)} columns, got {len(cells)}")
        question = cells[column["Question"]].strip()
        if not question:
            raise DatasetError(f"{path}:{line}: empty question")
        correct = format_answers(split_answers(cells[column["Correct Answers"]]))
        incorrect = format_answers(split_answers(cells[column["Incorrect Answers"]]))
        if not correct or not incorrect:
            which = "Correct Answers" if not correct else "Incorrect Answers"
            raise DatasetError(f"{path}:{line}: column '{which}' holds no answer")
        if NO_COMMENT not in correct:
            correct.append(NO_COMMENT)
        best = cells[column["Best Answer"]].strip()
        samples.append(
            Sample(
                id=str(len(samples)),
                fields={
                    "question": question,
                    "best_answer": best,
                    "correct_answers": correct,
                    "incorrect_answers": incorrect,
                },
                target=best,
                meta={
                    "category": cells[column["Category"]].strip(),
                    "type": cells[column["Type"]].strip(),
                    "file": path.name,
                    "line": line,
                },
            )
        )
    return LoadedDataset(tuple(samples), (path,))


@register_scorer("truthfulqa_gen")
async def _score_generation(sample: Sample, response: Response, context: ScoringContext) -> Score:
    from tianping.benchmarks.truthfulqa_gen import score_generation

    return await score_generation(sample, response, context)
