"""A file system in a private temporary folder: the model lists, reads, writes, moves and deletes files there.

Containment: every path is relative to the episode's folder. Absolute paths, ``~``, drive letters, backslashes and
``..`` are refused before anything is touched; a path that passes through a symbolic link is refused (the tools
never make one, so a link can only be something placed to lead out); files are opened with ``O_NOFOLLOW``; sizes,
entry counts and depth are bounded. Results never show the folder's real location, so they are the same in every
process (the conversation's requests are cached by content) and say nothing of the machine.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tianping.agents.env.base import CheckResult, Environment, SpecError, ToolError, short, tool

MAX_FILE_BYTES = 64 * 1024
MAX_TOTAL_BYTES = 1024 * 1024
MAX_ENTRIES = 256
MAX_DEPTH = 8
MAX_PATH_CHARS = 255
_DRIVE = re.compile(r"^[A-Za-z]:")

_PATH = {"type": "string", "maxLength": MAX_PATH_CHARS, "description": "A path relative to the workspace root"}
_TEXT = {"type": "string", "maxLength": MAX_FILE_BYTES, "description": "The text to write (UTF-8)"}

TOOLS = (
    tool("list_dir", "List a folder of the workspace: sub-folders end with '/', files show their size.",
         {"path": {**_PATH, "description": "The folder, relative to the workspace root ('.' for the root)"}}),
    tool("read_file", "Read a text file of the workspace.", {"path": _PATH}, ["path"]),
    tool("write_file", "Create or overwrite a text file (missing parent folders are created).",
         {"path": _PATH, "content": _TEXT}, ["path", "content"]),
    tool("append_file", "Append text to the end of a file (created when missing).",
         {"path": _PATH, "content": _TEXT}, ["path", "content"]),
    tool("make_dir", "Create a folder (and missing parents).", {"path": _PATH}, ["path"]),
    tool("move", "Move or rename a file or folder; the destination must not exist yet.",
         {"source": _PATH, "destination": _PATH}, ["source", "destination"]),
    tool("delete", "Delete a file or an empty folder.", {"path": _PATH}, ["path"]),
    tool("find_files", "Find files whose path relative to the root matches a glob pattern (such as '*.txt' or "
         "'docs/**/*.md'); '*' also matches across folders.",
         {"pattern": {"type": "string", "maxLength": 200}}, ["pattern"]),
)  # fmt: skip


class FileSystemEnv(Environment):
    """Seed: ``{"files": {path: text}, "dirs": [path]}``. Checks: ``{file: path, exists | equals | contains |
    not_contains | json_equals}`` and ``{dir: path, exists | entries}``."""

    name = "files"
    TOOLS = TOOLS
    CHECK_KEYS = frozenset({"file", "dir"})

    def __init__(self, seed: Mapping[str, Any] | None = None) -> None:
        super().__init__(seed)
        seed = seed or {}
        self.validate_seed(seed)
        self.root = Path(tempfile.mkdtemp(prefix="tianping-agent-")).resolve()
        try:
            for folder in seed.get("dirs") or ():
                self.tool_make_dir(folder)
            for path, text in (seed.get("files") or {}).items():
                self.tool_write_file(path, text)
        except ToolError as exc:
            self._remove()
            raise SpecError("seed.files", str(exc)) from None

    @classmethod
    def validate_seed(cls, seed: Mapping[str, Any]) -> None:
        unknown = set(seed) - {"files", "dirs"}
        if unknown:
            raise SpecError("seed", f"unknown keys {sorted(unknown)} (a files seed has files, dirs)")
        files = seed.get("files") or {}
        if not isinstance(files, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items()
        ):
            raise SpecError("seed.files", "must map paths to texts")
        dirs = seed.get("dirs") or []
        if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
            raise SpecError("seed.dirs", "must be a list of paths")
        for where, paths in (("seed.files", files), ("seed.dirs", dirs)):
            for path in paths:
                try:
                    _parts(path)
                except ToolError as exc:
                    raise SpecError(where, str(exc)) from None

    @classmethod
    def validate_check(cls, check: Mapping[str, Any]) -> None:
        super().validate_check(check)
        tests = (
            {"exists", "equals", "contains", "not_contains", "json_equals"}
            if "file" in check
            else {"exists", "entries"}
        )
        given = set(check) - {"file", "dir"}
        if not given or not given <= tests:
            raise SpecError(
                "checks", f"a {'file' if 'file' in check else 'dir'} check takes {sorted(tests)}, got {sorted(given)}"
            )
        try:
            _parts(check.get("file") or check.get("dir") or "")
        except ToolError as exc:
            raise SpecError("checks", str(exc)) from None

    async def aclose(self) -> None:
        self._remove()

    def _remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    # paths ---------------------------------------------------------------------------------------------------

    def _resolve(self, path: str) -> Path:
        """The real path of ``path`` inside the root; refused when it could lead anywhere else."""
        current = self.root
        for part in _parts(path):
            current = current / part
            if current.is_symlink():
                raise ToolError(f"{path}: passes through a symbolic link, which is not allowed")
        real = Path(os.path.realpath(current))
        if real != self.root and not real.is_relative_to(self.root):
            raise ToolError(f"{path}: outside the workspace")
        return current

    def _shown(self, path: Path) -> str:
        rel = path.relative_to(self.root).as_posix()
        return rel if rel != "." else "."

    def _usage(self) -> tuple[int, int]:
        """(bytes in files, entries) under the root; links are not followed."""
        total = entries = 0
        for folder, dirs, files in os.walk(self.root):
            entries += len(dirs) + len(files)
            for name in files:
                total += os.lstat(os.path.join(folder, name)).st_size
        return total, entries

    def _room_for(self, added_bytes: int, added_entries: int) -> None:
        total, entries = self._usage()
        if total + added_bytes > MAX_TOTAL_BYTES:
            raise ToolError(f"the workspace would hold more than {MAX_TOTAL_BYTES} bytes")
        if entries + added_entries > MAX_ENTRIES:
            raise ToolError(f"the workspace would hold more than {MAX_ENTRIES} files and folders")

    def _read(self, target: Path, shown: str) -> str:
        if not target.exists():
            raise ToolError(f"{shown}: no such file")
        if target.is_dir():
            raise ToolError(f"{shown}: is a folder (use list_dir)")
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ToolError(f"{shown}: not a UTF-8 text file") from None

    def _write(self, path: str, content: str, *, append: bool) -> str:
        target = self._resolve(path)
        data = content.encode("utf-8")
        if target.is_dir():
            raise ToolError(f"{path}: is a folder")
        before = target.stat().st_size if target.exists() else 0
        size = before + len(data) if append else len(data)
        if size > MAX_FILE_BYTES:
            raise ToolError(f"{path}: a file may hold at most {MAX_FILE_BYTES} bytes ({size} asked)")
        missing = [p for p in [target, *target.parents] if p.is_relative_to(self.root) and not p.exists()]
        self._room_for(size - before, len(missing))
        self._make_parents(target, path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_TRUNC)
        with os.fdopen(os.open(target, flags, 0o600), "wb") as handle:
            handle.write(data)
        return self._shown(target)

    def _make_parents(self, target: Path, shown: str) -> None:
        for parent in reversed(target.parents):
            if not parent.is_relative_to(self.root) or parent == self.root:
                continue
            if parent.exists() and not parent.is_dir():
                raise ToolError(f"{shown}: {self._shown(parent)} is a file, not a folder")
            parent.mkdir(exist_ok=True)

    # tools ---------------------------------------------------------------------------------------------------

    def tool_list_dir(self, path: str = ".") -> str:
        target = self._resolve(path)
        if not target.exists():
            raise ToolError(f"{path}: no such folder")
        if not target.is_dir():
            raise ToolError(f"{path}: is a file (use read_file)")
        lines = []
        for entry in sorted(target.iterdir(), key=lambda p: p.name):
            if entry.is_symlink():
                lines.append(f"{entry.name} (symbolic link, not followed)")
            elif entry.is_dir():
                lines.append(entry.name + "/")
            else:
                lines.append(f"{entry.name} ({entry.stat().st_size} bytes)")
        return "\n".join(lines) if lines else f"{self._shown(target)} is empty"

    def tool_read_file(self, path: str) -> str:
        return self._read(self._resolve(path), path)

    def tool_write_file(self, path: str, content: str) -> str:
        shown = self._write(path, content, append=False)
        return f"wrote {len(content.encode('utf-8'))} bytes to {shown}"

    def tool_append_file(self, path: str, content: str) -> str:
        shown = self._write(path, content, append=True)
        return f"appended {len(content.encode('utf-8'))} bytes to {shown}"

    def tool_make_dir(self, path: str) -> str:
        target = self._resolve(path)
        if target.exists():
            if target.is_dir():
                return f"{self._shown(target)} already exists"
            raise ToolError(f"{path}: is a file")
        missing = [p for p in [target, *target.parents] if p.is_relative_to(self.root) and not p.exists()]
        self._room_for(0, len(missing))
        self._make_parents(target / "_", path)
        return f"created {self._shown(target)}/"

    def tool_move(self, source: str, destination: str) -> str:
        src, dst = self._resolve(source), self._resolve(destination)
        if not src.exists():
            raise ToolError(f"{source}: no such file or folder")
        if src == self.root:
            raise ToolError("the workspace root cannot be moved")
        if dst.exists():
            raise ToolError(f"{destination}: already exists")
        if dst.is_relative_to(src):
            raise ToolError(f"{destination}: inside {source}")
        missing = [p for p in dst.parents if p.is_relative_to(self.root) and not p.exists()]
        self._room_for(0, len(missing))
        self._make_parents(dst, destination)
        src.rename(dst)
        return f"moved {self._shown(src)} to {self._shown(dst)}"

    def tool_delete(self, path: str) -> str:
        target = self._resolve(path)
        if target == self.root:
            raise ToolError("the workspace root cannot be deleted")
        if not target.exists():
            raise ToolError(f"{path}: no such file or folder")
        if target.is_dir():
            if any(target.iterdir()):
                raise ToolError(f"{path}: folder is not empty")
            target.rmdir()
        else:
            target.unlink()
        return f"deleted {self._shown(target)}"

    def tool_find_files(self, pattern: str) -> str:
        found = []
        for folder, dirs, files in os.walk(self.root):
            dirs.sort()
            for name in sorted(files):
                rel = Path(folder, name).relative_to(self.root).as_posix()
                if fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(name, pattern):
                    found.append(rel)
        return "\n".join(sorted(found)) if found else f"no file matches {pattern}"

    # checks --------------------------------------------------------------------------------------------------

    def check(self, check: Mapping[str, Any]) -> CheckResult:
        if "dir" in check:
            return self._check_dir(check)
        path = check["file"]
        target = self._resolve(path)
        present = target.is_file() and not target.is_symlink()
        if "exists" in check:
            wanted = bool(check["exists"])
            return CheckResult(f"file {path} {'exists' if wanted else 'is absent'}", present == wanted,
                               "" if present == wanted else ("it exists" if present else "no such file"))  # fmt: skip
        if not present:
            return CheckResult(_file_words(check), False, "no such file")
        try:
            text = self._read(target, path)
        except ToolError as exc:
            return CheckResult(_file_words(check), False, str(exc))
        if "equals" in check:
            ok = _normal(text) == _normal(check["equals"])
            return CheckResult(_file_words(check), ok, "" if ok else f"holds {short(text, 200)}")
        if "json_equals" in check:
            try:
                ok = json.loads(text) == check["json_equals"]
            except ValueError:
                return CheckResult(_file_words(check), False, "not valid JSON")
            return CheckResult(_file_words(check), ok, "" if ok else f"holds {short(text, 200)}")
        needed, unwanted = _listed(check.get("contains")), _listed(check.get("not_contains"))
        missing = [w for w in needed if w not in text]
        present_bad = [w for w in unwanted if w in text]
        detail = "; ".join(
            [f"lacks {short(w)}" for w in missing] + [f"holds {short(w)}" for w in present_bad]
        )  # fmt: skip
        return CheckResult(_file_words(check), not detail, detail)

    def _check_dir(self, check: Mapping[str, Any]) -> CheckResult:
        path = check["dir"]
        target = self._resolve(path)
        present = target.is_dir() and not target.is_symlink()
        if "exists" in check:
            wanted = bool(check["exists"])
            return CheckResult(f"folder {path} {'exists' if wanted else 'is absent'}", present == wanted,
                               "" if present == wanted else ("it exists" if present else "no such folder"))  # fmt: skip
        expected = sorted(_listed(check["entries"]))
        words = f"folder {path} holds exactly {expected}"
        if not present:
            return CheckResult(words, False, "no such folder")
        found = sorted(p.name for p in target.iterdir())
        return CheckResult(words, found == expected, "" if found == expected else f"holds {found}")


def _parts(path: str) -> list[str]:
    """The components of a workspace path; refused before anything is touched when it could lead out."""
    if not isinstance(path, str) or not path.strip():
        raise ToolError("a path must be a non-empty text")
    if len(path) > MAX_PATH_CHARS:
        raise ToolError(f"path longer than {MAX_PATH_CHARS} characters")
    if "\x00" in path or "\\" in path:
        raise ToolError(f"{path}: NUL and backslash are not allowed in paths (use '/')")
    if path.startswith(("/", "~")) or _DRIVE.match(path):
        raise ToolError(f"{path}: absolute paths are not allowed (paths are relative to the workspace root)")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ToolError(f"{path}: '..' is not allowed in paths")
    if len(parts) > MAX_DEPTH:
        raise ToolError(f"{path}: deeper than {MAX_DEPTH} folders")
    return parts


def _normal(text: str) -> str:
    """Text as compared by ``equals``: line ends unified, trailing spaces of each line and trailing blank lines
    dropped (an editor's final newline is not the model's mistake)."""
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).rstrip("\n")


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _file_words(check: Mapping[str, Any]) -> str:
    path = check["file"]
    if "equals" in check:
        return f"file {path} equals {short(check['equals'])}"
    if "json_equals" in check:
        return f"file {path} holds the JSON {short(json.dumps(check['json_equals'], ensure_ascii=False))}"
    parts = [f"contains {short(w)}" for w in _listed(check.get("contains"))]
    parts += [f"does not contain {short(w)}" for w in _listed(check.get("not_contains"))]
    return f"file {path} " + ", ".join(parts)
