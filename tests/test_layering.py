"""The import direction of the design: cli -> engine/report/web -> domain packages -> scoring/models/store -> core.

Every import is checked, at module level and inside functions alike: a deferred import still ties the layers
together, it only hides the tie from a reader of the module's header.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "tianping"

# Packages below report/engine/cli: none of them may import those.
LOWER = (
    "indicators",
    "scoring",
    "models",
    "store",
    "benchmarks",
    "safety",
    "serving",
    "data",
    "judging",
    "arena",
    "agents",
    "quality",
    "contamination",
)
CLI = "tianping.cli"
"""The command line, one package (``src/tianping/cli/``): the top layer, imported by nothing of tianping but
itself and ``python -m tianping`` (``__main__.py``)."""
UPPER = ("tianping.report", "tianping.engine", CLI)

# Violations that predate the layering test, left on purpose, keyed by file (relative to src/tianping) to the
# modules it may still import; any import not listed here fails the test, so no new violation can creep in.
# Empty since issue 13 moved the command modules out of the domain packages into tianping.cli.
ALLOWED: dict[str, frozenset[str]] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[str]:
    """Every module name the file imports, relative imports resolved to absolute ones."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = _module_name(path)
    # A package's __init__ is its own anchor for relative imports; a plain module's is its parent.
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                base = node.module or ""
            yield base
            # `from tianping import report` imports a package by its name, not an attribute of tianping.
            for alias in node.names:
                yield f"{base}.{alias.name}"


def _is_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _is_upper(name: str) -> bool:
    return any(_is_under(name, p) for p in UPPER)


def _files(subpackage: str) -> list[Path]:
    return sorted((PACKAGE / subpackage).rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def test_core_imports_nothing_else_of_tianping() -> None:
    bad = [
        f"{_rel(path)}: {name}"
        for path in _files("core")
        for name in _imports(path)
        if _is_under(name, "tianping") and not _is_under(name, "tianping.core")
    ]
    assert not bad, "core must import nothing of tianping but itself:\n" + "\n".join(bad)


def test_lower_layers_do_not_import_report_engine_or_cli() -> None:
    bad = []
    seen: dict[str, set[str]] = {}
    for subpackage in LOWER:
        for path in _files(subpackage):
            rel = _rel(path)
            for name in _imports(path):
                if not _is_upper(name):
                    continue
                allowed = [a for a in ALLOWED.get(rel, frozenset()) if _is_under(name, a)]
                if allowed:
                    seen.setdefault(rel, set()).update(allowed)
                else:
                    bad.append(f"{rel}: {name}")
    assert not bad, "lower layers import up into report/engine/cli:\n" + "\n".join(sorted(set(bad)))
    # An allow-list entry that no longer matches has been fixed: drop it so it cannot hide a new import.
    stale = [f"{rel}: {name}" for rel, names in ALLOWED.items() for name in names - seen.get(rel, set())]
    assert not stale, "stale allow-list entries (remove them):\n" + "\n".join(stale)


def test_cli_is_one_package_at_the_top() -> None:
    assert (PACKAGE / "cli" / "__init__.py").is_file() and not (PACKAGE / "cli.py").exists()
    # no command module is left beside the domain code (cli_run.py, serving/loadtest_cli.py, ...)
    strays = [
        _rel(p)
        for p in PACKAGE.rglob("*.py")
        if p.parent != PACKAGE / "cli" and (p.stem == "cli" or p.stem.startswith("cli_") or p.stem.endswith("_cli"))
    ]
    assert not strays, "command modules outside tianping/cli:\n" + "\n".join(sorted(strays))
    bad = [
        f"{_rel(path)}: {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        # the entry points that hand a command to the command line (warm.py: possibly in a warm process)
        if path.parent != PACKAGE / "cli" and _rel(path) not in ("__main__.py", "warm.py")
        for name in _imports(path)
        if _is_under(name, CLI)
    ]
    assert not bad, "only the command line itself imports tianping.cli:\n" + "\n".join(bad)


def test_relative_imports_resolve() -> None:
    # Guards the checker itself: a relative import that resolved wrong would let violations through.
    names = set(_imports(PACKAGE / "safety" / "converters" / "registry.py"))
    assert "tianping.safety.converters.base" in names
    assert "tianping.safety.converters.chinese" in names
