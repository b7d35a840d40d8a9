"""What a data folder holds of a dataset: cheaply, by file size (``presence``), or thoroughly, by SHA-256 and row
count against the catalog (``verify``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from tianping.data.catalog import CatalogFile, Dataset
from tianping.data.rows import RowCountError, count_rows


@dataclass(frozen=True)
class Presence:
    """A dataset's files in a folder, told apart by a stat each (no file is read)."""

    dataset: str
    total: int
    present: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    """Present, but not the pinned size: an edited or cut file."""

    @property
    def status(self) -> str:
        if self.modified:
            return "modified"
        if not self.missing:
            return "complete"
        if not self.present:
            return "missing"
        return f"partial {len(self.present)}/{self.total}"


def presence(entry: Dataset, root: Path) -> Presence:
    found = Presence(entry.name, len(entry.files))
    for f in entry.files:
        try:
            size = (root / entry.name / f.path).stat().st_size
        except OSError:
            found.missing.append(f.path)
            continue
        (found.present if size == f.bytes else found.modified).append(f.path)
    return found


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class FileCheck:
    path: Path
    problem: str | None
    """None when the file is the one pinned; else what is wrong, in words."""


def check_file(path: Path, pinned: CatalogFile, count: bool = True) -> FileCheck:
    """The file against its pin: present, its SHA-256, and (``count``) its rows. A hash mismatch is reported
    with the rows found, which tells a cut or re-encoded file from an edited one."""
    try:
        digest = sha256_of(path)
    except FileNotFoundError:
        return FileCheck(path, "missing")
    except OSError as exc:
        return FileCheck(path, f"cannot read: {exc.strerror}")
    problems = []
    if digest != pinned.sha256:
        problems.append(f"sha256 {digest[:12]}… is not the pinned {pinned.sha256[:12]}…")
    if count or problems:
        try:
            rows = count_rows(path, pinned.format)
        except RowCountError as exc:
            problems.append(str(exc).removeprefix(f"{path}").lstrip(": ") or "unreadable")
        else:
            if rows != pinned.rows:
                problems.append(f"{rows} rows, pinned {pinned.rows}")
    return FileCheck(path, "; ".join(problems) or None)


def verify(entry: Dataset, root: Path, count: bool = True) -> list[FileCheck]:
    """Every file of the dataset checked (missing ones included)."""
    return [check_file(root / entry.name / f.path, f, count) for f in entry.files]
