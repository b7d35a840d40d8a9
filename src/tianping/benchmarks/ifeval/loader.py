"""The ``ifeval_jsonl`` loader: upstream IFEval ``input_data.jsonl``.

Rows ``{"key", "prompt", "instruction_id_list", "kwargs"}``; one sample per row, its id the row's key.
Fields: ``prompt``, ``instruction_id_list`` and ``kwargs`` (one mapping per instruction, nulls dropped);
the target is empty, since the checkers are the reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import LoadedDataset, iter_jsonl, register_loader
from tianping.core import Sample


def _row_to_sample(row: dict[str, Any], path: Path, line: int) -> Sample:
    where = f"{path}:{line}"
    key = row.get("key")
    if isinstance(key, bool) or not isinstance(key, int | str) or (isinstance(key, str) and not key.strip()):
        raise DatasetError(f"{where}: field 'key' is missing or not an integer/string")
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise DatasetError(f"{where}: field 'prompt' is missing or empty")
    ids = row.get("instruction_id_list")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise DatasetError(f"{where}: field 'instruction_id_list' must be a non-empty list of strings")
    kwargs = row.get("kwargs")
    if not isinstance(kwargs, list) or not all(isinstance(k, dict) for k in kwargs):
        raise DatasetError(f"{where}: field 'kwargs' must be a list of objects")
    if len(kwargs) != len(ids):
        raise DatasetError(
            f"{where}: 'kwargs' has {len(kwargs)} entries for {len(ids)} instructions in 'instruction_id_list'"
        )
    clean = [{k: v for k, v in kw.items() if v is not None} for kw in kwargs]
    return Sample(
        id=str(key).strip(),
        fields={"prompt": prompt, "instruction_id_list": list(ids), "kwargs": clean},
        target="",
        meta={"file": path.name, "line": line},
    )


@register_loader("ifeval_jsonl")
def load_ifeval(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """IFEval prompts; a malformed row or a repeated key raises ``DatasetError`` naming file and line."""
    samples: list[Sample] = []
    seen: dict[str, int] = {}
    for line, row in iter_jsonl(path):
        sample = _row_to_sample(row, path, line)
        if sample.id in seen:
            raise DatasetError(f"{path}:{line}: key {sample.id} repeats the key of line {seen[sample.id]}")
        seen[sample.id] = line
        samples.append(sample)
    if not samples:
        raise DatasetError(f"{path}: no rows")
    return LoadedDataset(tuple(samples), (path,))
