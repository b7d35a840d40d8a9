"""Dataset loaders: read benchmark files in their upstream layouts into ``Sample`` records.

Each loader is registered by name so that definition files can refer to it. A malformed row raises
``DatasetError`` naming the file and line; a row is never skipped silently.
"""

from __future__ import annotations

import csv
import gzip
import importlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from string import ascii_uppercase
from typing import Any

from tianping.benchmarks.errors import DatasetError
from tianping.core import Sample

LETTERS = ascii_uppercase
"""Option letters by position (the ``choice`` extractor's default labels); a file has as many as its columns."""


@dataclass(frozen=True)
class LoadedDataset:
    samples: tuple[Sample, ...]
    files: tuple[Path, ...]
    """Every file read, for the checksum recorded with a run."""


Loader = Callable[[Path, dict[str, Any]], LoadedDataset]
LOADERS: dict[str, Loader] = {}
# loader name -> module that registers it when imported (kept out of start-up until a run needs it)
LAZY_LOADERS: dict[str, str] = {
    "humaneval_jsonl_gz": "tianping.benchmarks.code",
    "mbpp_jsonl": "tianping.benchmarks.code",
    "mbpp_sanitized_json": "tianping.benchmarks.code",
    "ifeval_jsonl": "tianping.benchmarks.ifeval",
    "bbh_json": "tianping.benchmarks.reasoning",
    "arc_jsonl": "tianping.benchmarks.reasoning",
    "math_jsonl": "tianping.benchmarks.math_scoring",
    "multi_choice_jsonl": "tianping.benchmarks.multi_choice",
    "c3_json": "tianping.benchmarks.chinese_sets",
    "cmrc2018_json": "tianping.benchmarks.chinese_sets",
    "piqa_jsonl": "tianping.benchmarks.english_sets",
    "aime_tex": "tianping.benchmarks.english_sets",
    "jsonl_lmeval_shots": "tianping.benchmarks.english_sets",
    "agieval_jsonl": "tianping.benchmarks.agieval",
    "agieval_fewshot_csv": "tianping.benchmarks.agieval",
    "jsonl": "tianping.benchmarks.generic_loaders",
    "json": "tianping.benchmarks.generic_loaders",
    "csv": "tianping.benchmarks.generic_loaders",
    "parquet": "tianping.benchmarks.generic_loaders",
    "truthfulqa_mc_json": "tianping.benchmarks.truthfulqa",
    "truthfulqa_csv": "tianping.benchmarks.truthfulqa",
    "tp_vision": "tianping.multimodal.tp_vision",
    "tp_longctx": "tianping.benchmarks.longctx",
    "vlm_tsv": "tianping.multimodal.formats",
    "mmmu_jsonl": "tianping.multimodal.formats",
    "image_jsonl": "tianping.multimodal.formats",
}


def resolve_loader(name: str) -> Loader | None:
    """The loader of a registered name or a ``module:function`` reference; None if there is none."""
    if ":" in name:
        from tianping.benchmarks.references import find

        try:
            return find(name)
        except LookupError:
            return None
    if name not in LOADERS and name in LAZY_LOADERS:
        importlib.import_module(LAZY_LOADERS[name])
    if name not in LOADERS:  # an installed plugin's loader
        from tianping.core import entry_points

        found = entry_points.find("tianping.loaders", name)
        if found is not None:
            LOADERS[name] = found.load()
    return LOADERS.get(name)


def register_loader(name: str) -> Callable[[Loader], Loader]:
    def wrap(fn: Loader) -> Loader:
        LOADERS[name] = fn
        return fn

    return wrap


def known_options(options: dict[str, Any], allowed: Sequence[str], loader: str) -> None:
    """Refuse an option ``loader`` does not take, naming the ones it does (in ``allowed``'s order)."""
    unknown = set(options) - set(allowed)
    if unknown:
        raise DatasetError(f"{loader}: unknown option(s) {', '.join(sorted(unknown))} (known: {', '.join(allowed)})")


def int_option(options: dict[str, Any], name: str, default: int, low: int, loader: str) -> int:
    """An integer option of ``loader``, at least ``low`` (a bool is not taken for one)."""
    value = options.get(name, default)
    if type(value) is not int or value < low:
        raise DatasetError(f"{loader}: option '{name}' must be an integer >= {low}, got {value!r}")
    return value


def read_csv_rows(path: Path, *, skip_blank: bool = False) -> list[tuple[int, list[str]]]:
    """``(line number, cells)`` of every row of a CSV file; the line is where the row starts, since a quoted cell
    may span several physical lines. An unreadable, malformed, non-UTF-8 or empty file is a DatasetError naming
    it (and the line)."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from None
    parsed: list[tuple[int, list[str]]] = []
    with handle:
        reader = csv.reader(handle)
        end = 0
        try:
            for cells in reader:
                if cells or not skip_blank:
                    parsed.append((end + 1, cells))
                end = reader.line_num
        except csv.Error as exc:
            raise DatasetError(f"{path}:{end + 1}: malformed CSV: {exc}") from None
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})") from None
    if not parsed:
        raise DatasetError(f"{path}: empty file")
    return parsed


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a JSON Lines file (gzip when it ends in .gz)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        handle = opener(path, "rt", encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with handle:
        try:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}:{line_no}: not valid JSON: {exc.msg}") from None
                if not isinstance(row, dict):
                    raise DatasetError(f"{path}:{line_no}: expected a JSON object, got {type(row).__name__}")
                yield line_no, row
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{path}: cannot read: {exc}") from None


_CALCULATOR = re.compile(r"<<[^>]*>>")


@register_loader("gsm8k_jsonl")
def load_gsm8k(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """GSM8K rows ``{"question", "answer"}`` whose answer ends in ``#### N``.

    Fields: ``question``, ``rationale`` (the worked solution without calculator annotations) and
    ``answer`` (the normalised final number, also the target).
    """
    samples = []
    for line_no, row in iter_jsonl(path):
        for key in ("question", "answer"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise DatasetError(f"{path}:{line_no}: field '{key}' is missing or empty")
        solution, sep, final = row["answer"].rpartition("####")
        final = final.strip()
        # nearly every gold answer is a plain integer; the full normaliser is for the rest
        if sep and not final.isdigit():
            from tianping.scoring.extract import normalize_number

            target = normalize_number(final)
        else:
            target = final if sep else None
        if target is None:
            raise DatasetError(f"{path}:{line_no}: field 'answer' does not end in '#### <number>'")
        rationale = _CALCULATOR.sub("", solution).strip()
        samples.append(
            Sample(
                id=str(len(samples)),
                fields={"question": row["question"].strip(), "rationale": rationale, "answer": target},
                target=target,
                meta={"file": path.name, "line": line_no},
            )
        )
    return LoadedDataset(tuple(samples), (path,))


@cache
def bundled_tables() -> tuple[str, ...]:
    """The subject tables shipped with tianping: the names the ``categories`` option may give."""
    folder = resources.files("tianping.benchmarks").joinpath("data")
    return tuple(sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".json")))


@cache
def bundled_json(name: str) -> dict[str, Any]:
    # a name, never a path: joined to the package folder, '../..' would read any file
    if name not in bundled_tables():
        raise DatasetError(f"no bundled table '{name}' (known: {', '.join(bundled_tables())})")
    return json.loads(resources.files("tianping.benchmarks").joinpath("data", name).read_text("utf-8"))


def _subject_table(directory: Path, options: dict[str, Any]) -> tuple[dict[str, dict[str, str]], Path | None]:
    """subject -> {"name", "category"} from a bundled file or a C-Eval style mapping in the data dir."""
    if "categories" in options:
        table = bundled_json(options["categories"])["subjects"]
        return {
            s: {"name": v["name"], "name_zh": v.get("name_zh", v["name"]), "category": v["category"]}
            for s, v in table.items()
        }, None
    if "subject_mapping" in options:
        mapping_path = directory.parent / options["subject_mapping"]
        try:
            raw = json.loads(mapping_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{mapping_path}: cannot read subject mapping: {exc}") from None
        return {s: {"name": v[0], "name_zh": v[1], "category": v[2]} for s, v in raw.items()}, mapping_path
    return {}, None


def _answer_letter(value: str, n_options: int, path: Path, line: int) -> str:
    """The answer as a letter: ``A``.. or a 0-based index ``0``.., within the row's ``n_options``."""
    value = value.strip()
    letters = LETTERS[:n_options]
    if len(value) == 1 and value.upper() in letters:
        return value.upper()
    if value.isdigit() and int(value) < n_options:
        return letters[int(value)]
    raise DatasetError(f"{path}:{line}: answer {value!r} is not one of A-{letters[-1]} or 0-{n_options - 1}")


def _option_columns(header: list[str]) -> list[int] | None:
    """Columns of the options in a header: ``a``, ``b``, ... or ``choice0``, ``choice1``, ..., as many as are
    there in order (at least four, as in every MMLU / CMMLU / C-Eval file), or None."""
    for names in ([c.lower() for c in LETTERS], [f"choice{i}" for i in range(len(LETTERS))]):
        n = 0
        while n < len(names) and names[n] in header:
            n += 1
        if n >= 4:
            return [header.index(name) for name in names[:n]]
    return None


def _read_mc_csv(path: Path, subject: str, info: dict[str, str]) -> list[Sample]:
    """One subject file in any of the MMLU / CMMLU / C-Eval layouts (header or not, int or letter)."""
    parsed = read_csv_rows(path)
    starts, rows = [line for line, _ in parsed], [cells for _, cells in parsed]
    header = [h.strip().lower() for h in rows[0]]
    if "question" in header:
        q_col = header.index("question")
        found = _option_columns(header)
        if found is None:
            raise DatasetError(f"{path}:1: header has no A-D or choice0-3 columns: {rows[0]}")
        choice_cols = found
        if "answer" not in header:
            raise DatasetError(f"{path}:1: header has no 'answer' column: {rows[0]}")
        a_col = header.index("answer")
        extra = {name: i for i, name in enumerate(header) if name == "explanation"}
        body, body_starts = rows[1:], starts[1:]
    else:  # hendrycks' data.tar layout: question, four choices, letter answer (no header to say more)
        q_col, choice_cols, a_col, extra = 0, [1, 2, 3, 4], 5, {}
        body, body_starts = rows, starts
    width = max([q_col, a_col, *choice_cols]) + 1
    samples = []
    for offset, (row, line) in enumerate(zip(body, body_starts, strict=True)):
        if len(row) < width:
            raise DatasetError(f"{path}:{line}: expected at least {width} columns, got {len(row)}")
        question = row[q_col].strip()
        if not question:
            raise DatasetError(f"{path}:{line}: empty question")
        choices = [row[c].strip() for c in choice_cols]
        fields: dict[str, Any] = {
            "question": question,
            "choices": choices,
            # as written, surrounding spaces kept: lm-eval's prompts print options unstripped
            "choices_raw": [row[c] for c in choice_cols],
            "subject": subject,
            "subject_name": info.get("name", subject.replace("_", " ")),
            "subject_name_zh": info.get("name_zh", info.get("name", subject)),
            **dict(zip(LETTERS, choices, strict=False)),
            **{name: row[i].strip() for name, i in extra.items() if i < len(row)},
        }
        target = _answer_letter(row[a_col], len(choices), path, line)
        samples.append(
            Sample(
                id=f"{subject}/{offset}",
                fields=fields,
                target=target,
                meta={"subject": subject, "category": info.get("category", "unknown"), "file": path.name, "line": line},
            )
        )
    return samples


@register_loader("mc_csv")
def load_multiple_choice(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """A directory of per-subject CSV files of multiple choice questions: four options (columns ``A``-``D``
    or ``choice0``-``choice3``), or more where the header names more (``E``, ``F``, ... / ``choice4``, ...),
    each file with its own number.

    Options: ``suffix`` stripped from file names to get the subject (``_test``); ``categories`` (a
    bundled subject table) or ``subject_mapping`` (a C-Eval style JSON beside the directory).
    """
    if not path.is_dir():
        raise DatasetError(f"{path}: expected a directory of per-subject CSV files")
    suffix = options.get("suffix", "")
    table, mapping_file = _subject_table(path, options)
    files = sorted(path.glob("*.csv"))
    if not files:
        raise DatasetError(f"{path}: no .csv files")
    samples: list[Sample] = []
    for file in files:
        subject = file.stem.removesuffix(suffix)
        if table and subject not in table:
            raise DatasetError(f"{file}: subject '{subject}' has no category in the subject table")
        samples.extend(_read_mc_csv(file, subject, table.get(subject, {})))
    read = tuple(files) + ((mapping_file,) if mapping_file else ())
    return LoadedDataset(tuple(samples), read)


PATH_OPTIONS: dict[str, tuple[str, ...]] = {"mc_csv": ("subject_mapping",), "bbh_json": ("tasks", "prompts")}
"""Loader name -> its options that name a file or folder."""


def option_paths(loader: str, path: Path, options: dict[str, Any]) -> list[tuple[str, Path]]:
    """``(option, path)`` for each file or folder besides ``path`` that a loader reads because of an option (or
    its default), so that they can be checked before anything is read. The options are text (checked before)."""
    if loader == "mc_csv" and "subject_mapping" in options:
        return [("subject_mapping", path.parent / options["subject_mapping"])]
    if loader == "bbh_json":
        from tianping.benchmarks.reasoning import _bbh_dirs  # the loader's own choice of folders, defaults included

        tasks, prompts = _bbh_dirs(path, options)
        return [("tasks", tasks), ("prompts", prompts)]
    return []


def load_dataset(loader: str, path: Path, options: dict[str, Any]) -> LoadedDataset:
    fn = resolve_loader(loader)
    if fn is None:
        raise DatasetError(f"unknown dataset loader '{loader}' (known: {', '.join(sorted({*LOADERS, *LAZY_LOADERS}))})")
    if not path.exists():
        raise DatasetError(
            f"{path}: not found (fetch the bundled datasets with `tianping data pull NAME`, or set --data-dir or "
            "TIANPING_DATA_DIR to the datasets folder)"
        )
    loaded = fn(path, options)
    if not loaded.samples:  # an empty file or folder would give a score over nothing
        raise DatasetError(f"{path}: no samples")
    return loaded
