"""A user's own agent task file, run as ``--benchmark agent:PATH.yaml``.

The file has the bundled files' format (``tianping.agents.tasks.catalog``) and is checked the same way. Its text
is kept with the run (the kind's ``inputs``): a resume, in any process and from any folder, plays the tasks of the
stored text, and refuses to go on when the file is still there but edited, since one run would then mix two
versions of its tasks. The file is data: YAML is read with the safe loader (no tags that build objects), and the
environments confine every path a seed or a call names, as they do for the bundled tasks. An ``mcp_servers`` entry
with a ``command`` would start that program: such a file is refused unless ``TIANPING_ALLOW_TASK_COMMANDS=1`` says
its author is trusted (as ``--include-path`` is the explicit step before Python files are imported); ``url``
servers need no such step.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tianping.agents.tasks.catalog import Catalog, parse_catalog
from tianping.core.errors import TaskConfigError

FILE_PREFIX = "agent:"
SUFFIXES = (".yaml", ".yml")
ALLOW_COMMANDS_ENV = "TIANPING_ALLOW_TASK_COMMANDS"


def is_task_file(name: str) -> bool:
    """Whether a ``--benchmark`` argument names a user's task file: ``agent:`` and a ``.yaml``/``.yml`` path (the
    suffix keeps the kind's other stored inputs, such as ``agent:prices``, apart)."""
    return name.startswith(FILE_PREFIX) and name.endswith(SUFFIXES) and len(name) > len(FILE_PREFIX) + 5


def path_of(name: str) -> Path:
    return Path(name.removeprefix(FILE_PREFIX)).expanduser().absolute()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read(path: Path, name: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskConfigError(f"{name}: no agent task file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskConfigError(f"{name}: cannot read the agent task file {path}: {exc}") from None


def task_file_record(name: str) -> dict[str, str]:
    """What a run keeps of the file: its absolute path, SHA-256 and text. ``source`` and ``sha256`` as a benchmark
    definition's record has them, so the run's check of its files on resume covers this one too; the text under
    ``tasks`` rather than ``text``, which would be read as a benchmark definition."""
    path = path_of(name)
    text = _read(path, name)
    _commands_allowed(parse_catalog(text, str(path)), str(path))  # a bad file is refused before a run is registered
    return {"source": str(path), "sha256": _sha256(text), "tasks": text}


def _commands_allowed(catalog: Catalog, source: str) -> Catalog:
    """``catalog``, unless it would start programs (stdio MCP servers) without the user's say-so."""
    if os.environ.get(ALLOW_COMMANDS_ENV) == "1":
        return catalog
    for i, server in enumerate(catalog.mcp_servers):
        if server.command is not None:
            raise TaskConfigError(
                f"{source}: mcp_servers[{i}]: starts the program {server.command!r}; a task file runs programs only "
                f"when you trust its author: set {ALLOW_COMMANDS_ENV}=1 (or use a url server)"
            )
    return catalog


def load_task_file(name: str, stored: Mapping[str, Any] | None) -> Catalog:
    """The file's tasks: from the run's stored record when there is one (refused if the file was edited since),
    else from the file."""
    record = (stored or {}).get(name)
    if not isinstance(record, Mapping) or not isinstance(record.get("tasks"), str):
        path = path_of(name)
        return _commands_allowed(parse_catalog(_read(path, name), str(path)), str(path))
    source, text = str(record.get("source") or path_of(name)), record["tasks"]
    try:  # a file no longer there (moved, or a relative path seen from elsewhere) is read from the stored copy
        now: str | None = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        now = None
    if now is not None and _sha256(now) != _sha256(text):
        raise TaskConfigError(
            f"{source}: the agent task file changed since this run started (sha256 {_sha256(text)[:12]} -> "
            f"{_sha256(now)[:12]}); its episodes would mix two versions of the tasks. Restore the file to finish "
            "this run, or start a new run"
        )
    return _commands_allowed(parse_catalog(text, source), source)
