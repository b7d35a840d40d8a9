"""Loaders for the layouts vision benchmarks ship in, registered by name for YAML definitions.

- ``vlm_tsv``: a VLMEvalKit-style TSV (MMBench, MMStar, SEED-Bench): ``index``, ``question``, options ``A``,
  ``B``, ... (as many as the header has), ``answer`` (a letter), optional ``hint`` and ``category``, and
  ``image`` as base64 (or, as MMBench stores repeats, the ``index`` of the row that holds the image);
- ``mmmu_jsonl``: MMMU-style records: ``id``, ``question`` with ``<image N>`` where picture N stands,
  ``options`` (a list, or its Python/JSON text), ``answer``, ``question_type`` (``multiple-choice`` or
  ``open``) and ``image_1`` .. ``image_7`` (base64 text, ``{"bytes": base64}``, or ``{"path": file}``);
- ``image_jsonl``: a JSON Lines file beside an image folder: ``image`` (a path, or a list of paths, relative to
  the file's folder or the ``images`` option), ``question``, ``answer``, optional ``choices`` and ``category``.

Every multiple-choice sample has the fields ``question``, ``choices``, ``A``, ``B``, ... and ``prompt``: the
question laid out as VLMEvalKit's multiple-choice datasets lay it out (``Hint:``, ``Question:``, ``Options:``,
then the instruction to pick an option). With the option ``circular: true`` each such question becomes one
sample per rotation of its options (MMBench's CircularEval; see ``tianping.multimodal.circular``).
"""

from __future__ import annotations

import ast
import base64
import binascii
import csv
import json
import sys
from pathlib import Path
from string import ascii_uppercase
from typing import Any

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import LoadedDataset, iter_jsonl, known_options, register_loader
from tianping.core import Sample
from tianping.core.media import ImagePart
from tianping.multimodal.circular import rotations

_MAX_CELL = 64 * 1024 * 1024
"""Largest TSV cell (a base64 picture) read; csv's default of 128 KiB is smaller than most images."""


def mcq_prompt(question: str, choices: list[str], hint: str | None = None) -> str:
    """The question as VLMEvalKit's ``ImageMCQDataset.build_prompt`` lays it out."""
    text = f"Hint: {hint}\n" if hint else ""
    text += f"Question: {question}\n"
    if choices:
        text += "Options:\n" + "".join(
            f"{letter}. {choice}\n" for letter, choice in zip(ascii_uppercase, choices, strict=False)
        )
        text += "Please select the correct answer from the options above. \n"
    return text


def _image(data: Any, where: str) -> ImagePart:
    """A picture from base64 text (a data URI's too) or raw bytes; a DatasetError naming ``where`` otherwise."""
    if isinstance(data, str):
        text = data.split(",", 1)[1] if data.startswith("data:") else data
        try:
            data = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise DatasetError(f"{where}: not base64 image data") from None
    try:
        return ImagePart(data=data)
    except ValueError as exc:
        raise DatasetError(f"{where}: {exc}") from None


def _mc_sample(
    sample_id: str,
    question: str,
    choices: list[str],
    answer: str,
    media: tuple[Any, ...],
    meta: dict[str, Any],
    where: str,
    hint: str | None = None,
) -> Sample:
    letters = ascii_uppercase[: len(choices)]
    target = answer.strip().upper()
    if len(target) != 1 or target not in letters:
        raise DatasetError(f"{where}: answer {answer!r} is not one of the option letters {letters}")
    fields = {
        "question": question,
        "choices": choices,
        "hint": hint or "",
        "prompt": mcq_prompt(question, choices, hint),
        **dict(zip(letters, choices, strict=True)),
    }
    return Sample(id=sample_id, fields=fields, target=target, meta=meta, media=media)


def _expand(samples: list[Sample], options: dict[str, Any]) -> list[Sample]:
    circular = options.get("circular", False)
    if type(circular) is not bool:
        raise DatasetError(f"option 'circular' must be true or false, got {circular!r}")
    if not circular:
        return samples
    out: list[Sample] = []
    for sample in samples:
        if "choices" not in sample.fields:
            out.append(sample)  # an open question has no options to rotate
            continue
        for shift, (choices, target) in enumerate(rotations(sample.fields["choices"], sample.target)):
            meta = {**sample.meta, "circular_group": sample.id, "rotation": shift, "rotations": len(choices)}
            rotated = _mc_sample(
                f"{sample.id}@{shift}",
                sample.fields["question"],
                choices,
                target,
                sample.media,
                meta,
                sample.id,
                sample.fields["hint"] or None,
            )
            out.append(rotated)
    return out


@register_loader("vlm_tsv")
def load_vlm_tsv(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """A VLMEvalKit-style TSV (see the module docstring). Options: ``circular``."""
    known_options(options, ("circular",), "vlm_tsv")
    csv.field_size_limit(min(sys.maxsize, _MAX_CELL))
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: cannot read as TSV: {exc}") from None
    if not rows:
        raise DatasetError(f"{path}: empty file")
    header = [h.strip() for h in rows[0]]
    for required in ("index", "question", "answer", "image"):
        if required not in header:
            raise DatasetError(f"{path}:1: header has no '{required}' column: {header}")
    letters = [c for c in ascii_uppercase if c in header]
    col = {name: i for i, name in enumerate(header)}
    records = []
    for line, cells in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise DatasetError(f"{path}:{line}: expected {len(header)} tab-separated cells, got {len(cells)}")
        records.append((line, {name: cells[i] for name, i in col.items()}))
    pictures = {r["index"]: r["image"] for _, r in records if len(r["image"]) > 64}
    samples = []
    for line, r in records:
        where = f"{path}:{line}"
        image = r["image"]
        if len(image) <= 64:  # MMBench stores a repeated picture once: the cell names the row that has it
            if image not in pictures:
                raise DatasetError(f"{where}: field 'image' names row index {image!r}, which has no image")
            image = pictures[image]
        # options end at the first empty one (MMBench rows have two to four of A-D)
        choices = []
        for letter in letters:
            value = r[letter].strip()
            if not value or value.lower() == "nan":
                break
            choices.append(value)
        hint = r.get("hint", "").strip()
        meta = {"category": r.get("category", "").strip() or "unknown", "file": path.name, "line": line}
        if "l2-category" in r or "l2_category" in r:
            meta["l2_category"] = (r.get("l2-category") or r.get("l2_category") or "").strip()
        media = (_image(image, f"{where}: field 'image'"),)
        sample_id = r["index"].strip()
        if not choices:
            raise DatasetError(f"{where}: no options (columns A, B, ...)")
        hint_text = hint if hint and hint.lower() != "nan" else None
        samples.append(
            _mc_sample(sample_id, r["question"].strip(), choices, r["answer"], media, meta, where, hint_text)
        )
    return LoadedDataset(tuple(_expand(samples, options)), (path,))


def _options(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(value)  # MMMU stores "['a', 'b']", a Python literal
            except (ValueError, SyntaxError):
                raise DatasetError(f"{where}: field 'options' is not a list") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DatasetError(f"{where}: field 'options' is not a list of strings")
    return value


def _mmmu_image(value: Any, folder: Path, where: str) -> tuple[ImagePart, Path | None]:
    if isinstance(value, dict) and "path" in value:
        file = (folder / str(value["path"])).resolve()
        if not file.is_relative_to(folder.resolve()):
            raise DatasetError(f"{where}: path {value['path']!r} leads outside {folder}")
        try:
            return _image(file.read_bytes(), where), file
        except OSError as exc:
            raise DatasetError(f"{where}: cannot read {file}: {exc.strerror or exc}") from None
    if isinstance(value, dict) and "bytes" in value:
        return _image(value["bytes"], where), None
    if isinstance(value, str):
        return _image(value, where), None
    raise DatasetError(f"{where}: expected base64 text, {{'bytes': ...}} or {{'path': ...}}")


@register_loader("mmmu_jsonl")
def load_mmmu(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """MMMU-style records with interleaved images (see the module docstring). Options: ``circular``."""
    known_options(options, ("circular",), "mmmu_jsonl")
    samples: list[Sample] = []
    files = [path]
    for line, row in iter_jsonl(path):
        where = f"{path}:{line}"
        for key in ("id", "question", "answer"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise DatasetError(f"{where}: field '{key}' is missing or empty")
        media = []
        for n in range(1, 8):
            value = row.get(f"image_{n}")
            if value is None:
                continue
            image, file = _mmmu_image(value, path.parent, f"{where}: field 'image_{n}'")
            media.append(ImagePart(data=image.data, label=f"<image {n}>"))
            if file is not None:
                files.append(file)
        if not media:
            raise DatasetError(f"{where}: no image_1 .. image_7")
        meta = {
            "category": str(row.get("subfield") or row.get("category") or "unknown"),
            "file": path.name,
            "line": line,
        }
        kind = row.get("question_type", "multiple-choice")
        question = row["question"].strip()
        if kind == "open":
            meta["question_type"] = "open"
            fields = {"question": question, "prompt": question}
            samples.append(
                Sample(id=row["id"], fields=fields, target=row["answer"].strip(), meta=meta, media=tuple(media))
            )
            continue
        choices = _options(row.get("options"), where)
        meta["question_type"] = "multiple-choice"
        samples.append(_mc_sample(row["id"], question, choices, row["answer"], tuple(media), meta, where))
    return LoadedDataset(tuple(_expand(samples, options)), tuple(files))


@register_loader("image_jsonl")
def load_image_jsonl(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """Questions in JSON Lines about pictures in a folder (see the module docstring). Options: ``images`` (the
    folder, relative to the file's; default: the file's own folder), ``circular``."""
    known_options(options, ("circular", "images"), "image_jsonl")
    folder = (path.parent / str(options.get("images", "."))).resolve()
    samples: list[Sample] = []
    files = [path]
    for line, row in iter_jsonl(path):
        where = f"{path}:{line}"
        for key in ("question", "answer"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise DatasetError(f"{where}: field '{key}' is missing or empty")
        names = row.get("image")
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise DatasetError(f"{where}: field 'image' must be a file name or a list of them")
        media = []
        for name in names:
            file = (folder / name).resolve()
            if not file.is_relative_to(folder):
                raise DatasetError(f"{where}: field 'image': {name!r} leads outside {folder}")
            try:
                data = file.read_bytes()
            except OSError as exc:
                raise DatasetError(f"{where}: field 'image': cannot read {file}: {exc.strerror or exc}") from None
            media.append(_image(data, f"{where}: field 'image' ({name})"))
            files.append(file)
        sample_id = str(row.get("id", len(samples)))
        meta = {"category": str(row.get("category") or "unknown"), "file": path.name, "line": line}
        choices = row.get("choices")
        if choices is None:
            question = row["question"].strip()
            fields = {"question": question, "prompt": question}
            samples.append(
                Sample(id=sample_id, fields=fields, target=row["answer"].strip(), meta=meta, media=tuple(media))
            )
            continue
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise DatasetError(f"{where}: field 'choices' must be a list of strings")
        samples.append(
            _mc_sample(sample_id, row["question"].strip(), choices, row["answer"], tuple(media), meta, where)
        )
    return LoadedDataset(tuple(_expand(samples, options)), tuple(files))
