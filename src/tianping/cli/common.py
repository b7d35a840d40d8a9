"""What the commands share beyond the error line and the consoles: the options several commands take (under
one name each; an old name stays as a hidden alias), output paths checked before work starts, and the result
store opened for reading or writing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from tianping.cli.errors import FAILED, fail
from tianping.cli.output import note

T = TypeVar("T")

IndicatorsFile = Annotated[
    Path | None,
    typer.Option("--indicators", help="Indicator tree YAML: dimension -> capability -> benchmarks [default: bundled]."),
]
ResultsDir = Annotated[
    Path | None,
    typer.Option(
        "--results-dir",
        help="Folder of the evaluation result database, tianping.sqlite (every run's results; HTML reports "
        "go there by default) [env TIANPING_RESULTS_DIR, default ./results].",
    ),
]
StoreUrl = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="The result database instead of the one under --results-dir: postgresql://USER:PASSWORD@HOST/NAME "
        "(a team's shared store; the password is never printed) or sqlite:///PATH [env TIANPING_STORE].",
        show_default=False,
    ),
]
JsonSummary = Annotated[
    Path | None, typer.Option("--json", help="Write a machine-readable JSON summary of the run to this file.")
]
SummaryJsonAlias = Annotated[Path | None, typer.Option("--summary-json", hidden=True, help="Old name of --json.")]

OPEN_STORES: list[Any] = []
"""Stores opened by a command; closed by ``main`` before the process exits."""
_STORE_URL: list[str] = []  # the --store a command was given, for every store it opens


def listed_names(values: list[str] | None) -> list[str]:
    """Names given by a repeatable flag, each value also read as a comma-separated list (``-b gsm8k,mmlu``, as
    lm-eval's ``--tasks`` takes them); a value that names an existing file is kept whole, commas and all."""
    names: list[str] = []
    for value in values or []:
        parts = [value] if "," not in value or Path(value).is_file() else value.split(",")
        names.extend(part.strip() for part in parts if part.strip())
    return names


def use_store(url: str | None) -> None:
    """Open every store of this command at ``url`` (its --store option) instead of under the results folder;
    None: the results folder's (or TIANPING_STORE). Called by every command at its start (the root callback with
    None), so that a command run after another in one process does not open the other's store."""
    _STORE_URL[:] = [url] if url else []


def aliased(flag: str, value: T | None, alias: str, alias_value: T | None) -> tuple[T | None, str]:
    """The value of an option that also answers to a hidden old name, and the flag the user typed (so that an
    error line names the flag as written). Both given is an error."""
    if alias_value is None:
        return value, flag
    if value is not None:
        raise fail(f"{alias} is another name for {flag}: give only one of them")
    return alias_value, alias


def check_output(path: Path | None, flag: str) -> None:
    """Refuse, before any work is done, an output path that cannot be written: a directory, or a file in a
    folder that cannot be created or written."""
    if path is None:
        return
    if path.is_dir():
        raise fail(f"{flag} {path}: is a directory; give a file name")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise fail(f"{flag} {path}: cannot create the folder {parent}: part of that path is a file") from None
    except OSError as exc:
        raise fail(f"{flag} {path}: cannot create the folder {parent}: {exc.strerror or exc}") from None
    if not os.access(parent, os.W_OK):
        raise fail(f"{flag} {path}: the folder {parent} is not writable")


def write_output(path: Path, text: str, flag: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"{flag} {path}: cannot write: {exc.strerror or exc}", FAILED) from None


def open_store(results_dir: Path | None, *, readonly: bool = False, missing_ok: bool = False) -> Any:
    """The result store (a ``Store``) under ``results_dir`` (default: $TIANPING_RESULTS_DIR or ./results).
    Commands that only read open it read-only, so that they work on a read-only mount and never create a
    store; ``missing_ok`` returns None where there is none yet."""
    from tianping.spec import default_results_dir
    from tianping.store import Store
    from tianping.store.store import DB_FILENAME, StoreError

    folder = results_dir or default_results_dir()
    url = (_STORE_URL or [os.environ.get("TIANPING_STORE", "")])[0] or None
    if missing_ok and url is None and not (folder / DB_FILENAME).exists():
        return None
    try:
        store = Store.open(folder, readonly=readonly, store=url)
    except StoreError as exc:
        raise fail(str(exc)) from None
    store.notice = note
    OPEN_STORES.append(store)
    return store
