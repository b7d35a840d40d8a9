"""Pin the data catalog's numbers to a data folder, or check that they still hold.

    python tools/data_catalog.py --data-dir ../shared/datasets           # rewrite sha256 / bytes / rows / format
    python tools/data_catalog.py --data-dir ../shared/datasets --check   # report drift, exit 1 if any

The catalog (``src/tianping/data/catalog/<name>.yaml``) has two kinds of fields. Written by hand: the title,
license, upstream repo and commit, and each file's ``upstream_path`` (or its own ``upstream``). Computed here from
the folder the files were verified in: each file's ``sha256``, ``bytes``, ``rows`` and ``format``. A rewrite keeps
the hand-written fields, adds files that appeared (``upstream_path: null`` until someone looks up their source),
drops files that are gone, and writes a skeleton for a dataset folder the catalog does not know yet.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
CATALOG = REPO / "src" / "tianping" / "data" / "catalog"
sys.path.insert(0, str(REPO / "src"))

from tianping.data.rows import count_rows, detect_format  # noqa: E402

HEADER_KEYS = ("name", "title", "license", "commercial", "license_note", "upstream")
OPTIONAL_KEYS = ("parts",)  # hand-written too, and written only where a dataset has them
COMPUTED = ("sha256", "bytes", "rows", "format")
IGNORED_NAMES = {".DS_Store"}
IGNORED_DIRS = {".cache", ".tianping"}  # the hub client's and tianping's own bookkeeping in a pulled folder


def dataset_files(folder: Path) -> list[str]:
    """Every file under a dataset folder, as sorted relative posix paths (bookkeeping folders left out)."""
    found = []
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if path.is_file() and path.name not in IGNORED_NAMES and not IGNORED_DIRS & set(rel.parts):
            found.append(rel.as_posix())
    return sorted(found)


def measure(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    fmt = detect_format(path)
    return {"sha256": digest.hexdigest(), "bytes": path.stat().st_size, "rows": count_rows(path, fmt), "format": fmt}


def skeleton(name: str, folder: Path) -> dict[str, Any]:
    source = folder / "SOURCE.md"
    title = name
    if source.is_file():
        first = source.read_text(encoding="utf-8").splitlines()[:1]
        title = first[0].lstrip("# ").strip() if first else name
    return {"name": name, "title": title, "license": "not stated", "commercial": None, "license_note": "",
            "upstream": None, "files": []}  # fmt: skip


def refreshed(entry: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The entry with every file of ``folder`` measured; hand-written per-file fields kept."""
    by_path = {f["path"]: f for f in entry.get("files") or []}
    files = []
    for rel in dataset_files(folder):
        old = by_path.get(rel, {})
        item: dict[str, Any] = {"path": rel, "upstream_path": old.get("upstream_path")}
        if old.get("upstream"):
            item["upstream"] = old["upstream"]
        item.update(measure(folder / rel))
        files.append(item)
    optional = {k: entry[k] for k in OPTIONAL_KEYS if entry.get(k)}
    return {**{k: entry.get(k) for k in HEADER_KEYS}, **optional, "files": files}


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar


def _flow(mapping: dict[str, Any]) -> str:
    parts = [f"{k}: {_flow(v) if isinstance(v, dict) else _scalar(v)}" for k, v in mapping.items()]
    return "{" + ", ".join(parts) + "}"


def render(entry: dict[str, Any]) -> str:
    """The YAML text of an entry: the header in block style, one line per file (so a diff names the file)."""
    header = {k: entry[k] for k in HEADER_KEYS}
    text = "# Generated fields (sha256, bytes, rows, format) come from tools/data_catalog.py; the rest is by hand.\n"
    text += yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=120)
    for key in OPTIONAL_KEYS:
        if entry.get(key):
            text += f"{key}:\n" + "".join(f"- {_flow(item)}\n" for item in entry[key])
    text += "files:\n" + "".join(f"  - {_flow(f)}\n" for f in entry["files"])
    return text


def load_entries() -> dict[str, dict[str, Any]]:
    return {
        p.stem: yaml.safe_load(p.read_text(encoding="utf-8"))
        for p in sorted(CATALOG.glob("*.yaml"))
        if not p.name.startswith("_")
    }


def drift(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between the pinned and the measured files of one dataset, one line per file."""
    name = new["name"]
    pinned = {f["path"]: f for f in old.get("files") or []}
    found = {f["path"]: f for f in new["files"]}
    lines = [f"{name}/{p}: in the catalog, not in the folder" for p in sorted(pinned.keys() - found.keys())]
    lines += [f"{name}/{p}: in the folder, not in the catalog" for p in sorted(found.keys() - pinned.keys())]
    for path in sorted(pinned.keys() & found.keys()):
        changed = [f"{k} {pinned[path].get(k)!r} -> {found[path][k]!r}" for k in COMPUTED
                   if pinned[path].get(k) != found[path][k]]  # fmt: skip
        if changed:
            lines.append(f"{name}/{path}: " + "; ".join(changed))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the folder holding <name>/ for each dataset")
    parser.add_argument("--check", action="store_true", help="report drift instead of rewriting; exit 1 if any")
    args = parser.parse_args(argv)
    root: Path = args.data_dir
    if not root.is_dir():
        parser.error(f"--data-dir {root}: not a folder")
    entries = load_entries()
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    problems: list[str] = [f"{name}: in the catalog, no folder {root / name}" for name in entries
                           if name not in folders]  # fmt: skip
    for name in folders:
        old = entries.get(name)
        if old is None:
            problems.append(f"{name}: a dataset folder the catalog does not know")
            old = skeleton(name, root / name)
        new = refreshed(old, root / name)
        if args.check:
            problems.extend(drift(entries.get(name) or {"files": []}, new) if name in entries else [])
        else:
            (CATALOG / f"{name}.yaml").write_text(render(new), encoding="utf-8")
    if args.check:
        for line in problems:
            print(line)
        print(f"{len(problems)} difference(s) between the catalog and {root}" if problems else "catalog matches")
        return 1 if problems else 0
    print(f"wrote {len(folders)} catalog entries to {CATALOG}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
