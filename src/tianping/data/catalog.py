"""The data catalog: every benchmark dataset tianping knows how to fetch, pinned file by file.

One packaged YAML per dataset (``catalog/<name>.yaml``) says where the files come from (the upstream repo and
commit, and each file's path there), under which license, and what the copy they were verified on holds: the
SHA-256, size and row count of every file. ``catalog/_hub.yaml`` pins tianping's own mirror of all of them on
the Hugging Face Hub (one dataset repo, ``<name>/<path>`` inside). ``tools/data_catalog.py`` recomputes the
pinned numbers from a data folder.
"""

from __future__ import annotations

import fnmatch
import os
import re
from functools import cache
from importlib import resources
from pathlib import PurePosixPath
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tianping.core.suggest import did_you_mean, validation_problems
from tianping.data.rows import FORMATS

HUB_REPO_ENV = "TIANPING_DATA_REPO"
_GITHUB = re.compile(r"^https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_NAME = r"^[a-z0-9][a-z0-9_-]*$"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser reads the 28 files in a tenth of the time


class CatalogError(ValueError):
    """A catalog file that cannot be read; the message names the file and the field."""


class UnknownDataset(KeyError):
    """A dataset name the catalog does not hold; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Upstream(_Strict):
    repo: str
    """``https://github.com/<owner>/<name>``: where the files were taken from (the authors' repo or the mirror
    named in the dataset's SOURCE.md)."""
    commit: str = Field(pattern=r"^[0-9a-f]{40}$")

    @field_validator("repo")
    @classmethod
    def _github(cls, value: str) -> str:
        if not _GITHUB.match(value):
            raise ValueError(f"expected https://github.com/<owner>/<name>, got {value!r}")
        return value

    @property
    def slug(self) -> str:
        """``owner/name``."""
        return self.repo.removeprefix("https://github.com/")


class CatalogFile(_Strict):
    path: str
    """Relative to ``<data dir>/<dataset>/``, with ``/`` separators."""
    upstream_path: str | None
    """The file's path in the upstream repo at the pinned commit; None for a file that exists only in tianping's
    copy (a SOURCE.md, a converted file): such a file comes only from the hub mirror."""
    upstream: Upstream | None = None
    """This file's own upstream, where it differs from the dataset's (a license taken from another repo, a
    safety set from its own source)."""
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)
    rows: int | None = Field(ge=0)
    format: str

    @field_validator("path", "upstream_path")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = PurePosixPath(value).parts
        if not value or value.startswith("/") or "\\" in value or ".." in parts or "." in parts:
            raise ValueError(f"must be a relative path with '/' separators, got {value!r}")
        return value

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in FORMATS:
            raise ValueError(f"unknown format {value!r} (known: {', '.join(FORMATS)})")
        return value


class Terms(_Strict):
    """The terms some data may be used under."""

    license: str
    """SPDX-style identifiers where one exists (``MIT``, ``CC-BY-NC-SA-4.0``), else a short phrase."""
    commercial: bool | None
    """False: the license forbids commercial use; None: no license is stated."""


class LicensePart(Terms):
    """Files of a dataset gathered from sources under their own terms (AGIEval's exams, the safety sets)."""

    files: list[str] = Field(min_length=1)
    """Glob patterns (``fnmatch``) over the dataset's file paths."""

    def covers(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in self.files)


class Dataset(Terms):
    """A dataset's ``license`` and ``commercial`` are those of the whole download; ``parts`` narrow them for
    a task that reads only some of its files (:meth:`terms_of`)."""

    name: str = Field(pattern=_NAME)
    title: str
    license_note: str = ""
    upstream: Upstream | None
    """Where the files come from, unless a file names its own."""
    parts: list[LicensePart] = Field(default_factory=list)
    files: list[CatalogFile] = Field(min_length=1)

    @model_validator(mode="after")
    def _parts_name_files(self) -> Dataset:
        paths = [f.path for f in self.files]
        for i, part in enumerate(self.parts):
            for pattern in part.files:
                if not any(fnmatch.fnmatchcase(p, pattern) for p in paths):
                    raise ValueError(f"parts[{i}]: {pattern!r} matches none of the dataset's files")
        return self

    def terms_of(self, paths: list[str]) -> Terms:
        """The terms of the data a task reads: the parts its files (paths inside the dataset) fall in. A file no
        part covers (a README, a few-shot table holding examples of every part, each used with its own task)
        adds nothing; a task none of whose files a part covers, or that reads the whole dataset (no paths),
        has the dataset's terms."""
        found = [part for part in self.parts if any(part.covers(p) for p in paths)]
        if not found:
            return Terms(license=self.license, commercial=self.commercial)
        licenses = list(dict.fromkeys(part.license for part in found))
        flags = {part.commercial for part in found}
        commercial = False if False in flags else (None if None in flags else True)
        return Terms(license="; ".join(licenses), commercial=commercial)

    def source_of(self, file: CatalogFile) -> Upstream | None:
        """The upstream a file can be fetched from at its pinned commit; None when only the hub has it."""
        if file.upstream_path is None:
            return None
        return file.upstream or self.upstream

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files)


class HubMirror(_Strict):
    repo: str
    """A Hugging Face Hub dataset repo holding ``<name>/<path>`` for every catalog file."""
    revision: str
    """The branch, tag or commit the catalog's hashes were checked against."""


def _read(name: str) -> Any:
    text = resources.files("tianping.data").joinpath("catalog").joinpath(name).read_text(encoding="utf-8")
    try:
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, C or Python
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"catalog/{name}:{mark.line + 1}" if mark is not None else f"catalog/{name}"
        raise CatalogError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None


def _validated(model: type[_Strict], raw: Any, name: str) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        where, message = validation_problems(exc, model)[0]
        raise CatalogError(f"catalog/{name}: {where}: {message}") from None


@cache
def catalog() -> dict[str, Dataset]:
    """Every dataset of the packaged catalog, by name (sorted)."""
    folder = resources.files("tianping.data").joinpath("catalog")
    found: dict[str, Dataset] = {}
    for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if not item.name.endswith(".yaml") or item.name.startswith("_"):
            continue
        entry = _validated(Dataset, _read(item.name), item.name)
        if f"{entry.name}.yaml" != item.name:
            raise CatalogError(f"catalog/{item.name}: name: {entry.name!r} does not match the file name")
        found[entry.name] = entry
    return found


def catalog_names() -> list[str]:
    """The dataset names, from the file names alone (nothing parsed: what a run's start can afford)."""
    folder = resources.files("tianping.data").joinpath("catalog")
    return sorted(e.name[: -len(".yaml")] for e in folder.iterdir() if e.name.endswith(".yaml") and e.name[0] != "_")


def dataset(name: str) -> Dataset:
    """One dataset by name; an unknown name lists the known ones."""
    known = catalog()
    if name not in known:
        hint = did_you_mean(name, list(known), n=1)
        hint = f" ({hint})" if hint else ""
        raise UnknownDataset(f"unknown dataset {name!r}{hint}; known: {', '.join(known)}")
    return known[name]


@cache
def _pinned_mirror() -> HubMirror:
    return _validated(HubMirror, _read("_hub.yaml"), "_hub.yaml")  # type: ignore[no-any-return]


def hub_mirror() -> HubMirror:
    """The hub repo and revision downloads come from; ``TIANPING_DATA_REPO`` names another repo (a fork)."""
    pinned = _pinned_mirror()
    repo = os.environ.get(HUB_REPO_ENV, "").strip()
    return pinned.model_copy(update={"repo": repo}) if repo else pinned
