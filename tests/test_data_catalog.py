"""The data catalog: pinned to the shared copy, readable, and counting rows the way ``verify`` does; and where
``tianping data`` looks for the data folder and the hub."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from tianping.data.catalog import CatalogFile, Dataset, Terms, UnknownDataset, catalog, dataset, hub_mirror
from tianping.data.location import default_data_dir, hub_endpoint, offline_reason
from tianping.data.rows import RowCountError, count_rows, detect_format

REPO = Path(__file__).resolve().parent.parent


def test_the_pinned_hashes_equal_the_shared_copy(data_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "data_catalog.py"), "--data-dir", str(data_dir), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "catalog matches" in done.stdout


def test_every_shared_folder_has_an_entry_and_every_entry_a_license(data_dir: Path) -> None:
    folders = {p.name for p in data_dir.iterdir() if p.is_dir()}
    entries = catalog()
    assert set(entries) == folders
    for entry in entries.values():
        assert entry.license and entry.title
        # a file without an upstream path comes only from the hub: that must be the exception, not the rule
        assert any(entry.source_of(f) is not None for f in entry.files), entry.name
    assert {n for n, e in entries.items() if e.commercial is False} >= {"cmmlu", "ceval", "alpacaeval", "c3", "ocnli"}
    assert {n for n, e in entries.items() if e.commercial is None} == {"autoj-pairwise", "cluewsc", "gsm-plus"}
    gsm8k = dataset("gsm8k")
    test = next(f for f in gsm8k.files if f.path == "test.jsonl")
    assert (test.rows, test.bytes, test.upstream_path) == (1319, 749738, "grade_school_math/data/test.jsonl")
    # a safety set from its own repo, a license from another repo than the data's
    safety = dataset("safety")
    flames = next(f for f in safety.files if f.path == "flames-1k-zh/Flames_1k_Chinese.jsonl")
    assert safety.source_of(flames).slug == "AIFlames/Flames"  # type: ignore[union-attr]
    cmmlu_license = next(f for f in dataset("cmmlu").files if f.path.startswith("LICENSE"))
    assert dataset("cmmlu").source_of(cmmlu_license).slug == "hkust-nlp/ceval"  # type: ignore[union-attr]


def test_unknown_dataset_lists_the_known() -> None:
    with pytest.raises(UnknownDataset, match=r"unknown dataset 'gsm9k' \(did you mean gsm8k\?\); known: .*gsm8k"):
        dataset("gsm9k")


def test_license_parts_narrow_the_terms_to_the_files_a_task_reads() -> None:
    def file(path: str) -> dict:
        return {"path": path, "upstream_path": None, "sha256": "0" * 64, "bytes": 1, "rows": 1, "format": "jsonl"}

    parts = [
        {"files": ["open/*"], "license": "MIT", "commercial": True},
        {"files": ["nc/*.jsonl"], "license": "CC-BY-NC-4.0", "commercial": False},
        {"files": ["unclear.jsonl"], "license": "not stated", "commercial": None},
    ]
    raw = {"name": "mixed", "title": "t", "license": "mixed", "commercial": False, "upstream": None, "parts": parts,
           "files": [file("open/a.jsonl"), file("nc/b.jsonl"), file("unclear.jsonl"), file("shots.csv")]}  # fmt: skip
    entry = Dataset.model_validate(raw)
    assert entry.terms_of(["open/a.jsonl"]) == Terms(license="MIT", commercial=True)
    # a few-shot table no part names takes the terms of the task's own file
    assert entry.terms_of(["open/a.jsonl", "shots.csv"]) == Terms(license="MIT", commercial=True)
    assert entry.terms_of(["open/a.jsonl", "nc/b.jsonl"]) == Terms(license="MIT; CC-BY-NC-4.0", commercial=False)
    assert entry.terms_of(["open/a.jsonl", "unclear.jsonl"]).commercial is None
    # the whole dataset, or only files no part covers: the dataset's own terms
    assert entry.terms_of([]) == entry.terms_of(["shots.csv"]) == Terms(license="mixed", commercial=False)
    # a pattern that names no file is a catalog mistake, caught where the catalog is read
    bad = {**raw, "parts": [*parts, {"files": ["nc/*.csv"], "license": "x", "commercial": True}]}
    with pytest.raises(ValidationError, match=r"parts\[3\]: 'nc/\*\.csv' matches none of the dataset's files"):
        Dataset.model_validate(bad)


def test_a_file_entry_must_stay_inside_its_folder() -> None:
    good = {"path": "a.jsonl", "upstream_path": None, "sha256": "0" * 64, "bytes": 1, "rows": 1, "format": "jsonl"}
    CatalogFile.model_validate(good)
    for bad in ({"path": "../a.jsonl"}, {"path": "/abs"}, {"upstream_path": "x/../../y"}, {"format": "parquet"}):
        with pytest.raises(ValidationError):
            CatalogFile.model_validate({**good, **bad})


def test_hub_repo_override(monkeypatch: pytest.MonkeyPatch) -> None:
    pinned = hub_mirror()
    monkeypatch.setenv("TIANPING_DATA_REPO", "me/fork")
    assert hub_mirror().repo == "me/fork" and hub_mirror().revision == pinned.revision


def test_rows_by_format(tmp_path: Path) -> None:
    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    csv_file = write("t.csv", 'id,question\n0,"two\nlines"\n1,plain\n')
    assert (detect_format(csv_file), count_rows(csv_file, "csv")) == ("csv", 2)
    wrapper = write("bbh.json", json.dumps({"canary": "x", "examples": [{"a": 1}, {"a": 2}, {"a": 3}]}))
    assert (detect_format(wrapper), count_rows(wrapper, "json-object")) == ("json-object", 3)
    keyed = write("answers.json", json.dumps({"1": 0, "2": 3}))
    assert count_rows(keyed, "json-object") == 2
    lines_json = write("dev.json", '{"a": 1}\n{"a": 2}\n\n')  # JSON Lines under a .json name
    assert (detect_format(lines_json), count_rows(lines_json, "jsonl")) == ("jsonl", 2)
    packed = tmp_path / "x.jsonl.gz"
    packed.write_bytes(gzip.compress(b'{"a": 1}\n{"a": 2}\n'))
    assert (detect_format(packed), count_rows(packed, "jsonl.gz")) == ("jsonl.gz", 2)
    labels = write("valid-labels.lst", "0\n1\n1\n")
    assert (detect_format(labels), count_rows(labels, "lines")) == ("lines", 3)
    problem = write("1.tex", "Find $x$.")
    assert (detect_format(problem), count_rows(problem, "text")) == ("text", 1)
    assert (detect_format(tmp_path / "LICENSE"), count_rows(problem, "other")) == ("other", None)


def test_a_broken_row_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl"
    path.write_text('{"a": 1}\n{"a": 2\n', encoding="utf-8")
    with pytest.raises(RowCountError, match=r"cut.jsonl:2: not valid JSON"):
        count_rows(path, "jsonl")
    packed = tmp_path / "cut.jsonl.gz"
    packed.write_bytes(gzip.compress(b'{"a": 1}\n' * 100)[:-20])
    with pytest.raises(RowCountError, match="cut.jsonl.gz"):
        count_rows(packed, "jsonl.gz")


def test_data_dir_offline_and_endpoint_settings(tmp_path: Path) -> None:
    assert default_data_dir({"TIANPING_DATA_DIR": str(tmp_path)}) == tmp_path
    assert default_data_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "tianping" / "datasets"
    assert default_data_dir({}) == Path.home() / ".cache" / "tianping" / "datasets"
    assert offline_reason(True, {}) == "--offline"
    assert offline_reason(False, {"HF_HUB_OFFLINE": "1"}) == "HF_HUB_OFFLINE=1"
    assert offline_reason(False, {"TIANPING_OFFLINE": "true"}) == "TIANPING_OFFLINE=true"
    assert offline_reason(False, {"TIANPING_OFFLINE": "0", "HF_HUB_OFFLINE": ""}) is None
    # the hub client reads transformers' variable when its own is unset or empty, and only then
    assert offline_reason(False, {"TRANSFORMERS_OFFLINE": "1"}) == "TRANSFORMERS_OFFLINE=1"
    assert offline_reason(False, {"TRANSFORMERS_OFFLINE": "1", "HF_HUB_OFFLINE": ""}) == "TRANSFORMERS_OFFLINE=1"
    assert offline_reason(False, {"TRANSFORMERS_OFFLINE": "1", "HF_HUB_OFFLINE": "0"}) is None
    assert hub_endpoint("hf-mirror", {}) == "https://hf-mirror.com"
    assert hub_endpoint(None, {"HF_ENDPOINT": "http://127.0.0.1:9/"}) == "http://127.0.0.1:9"
    assert hub_endpoint("http://127.0.0.1:8", {"HF_ENDPOINT": "http://127.0.0.1:9"}) == "http://127.0.0.1:8"
    assert hub_endpoint(None, {}) == "https://huggingface.co"
    with pytest.raises(ValueError, match="--mirror: expected an http"):
        hub_endpoint("modelscope", {})


def test_dataset_names_on_the_command_line_may_be_a_list() -> None:
    """``tianping data pull gsm8k,mmlu`` as ``-b gsm8k,mmlu``: each name once, in order."""
    from tianping.cli.data import _datasets

    assert [d.name for d in _datasets(["gsm8k,mmlu", "gsm8k"])] == ["gsm8k", "mmlu"]
