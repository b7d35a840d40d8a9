"""Find benchmark definitions: the bundled ones by name, or a user's YAML file by path."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from tianping.benchmarks.benchmark import Benchmark
from tianping.benchmarks.definition import BenchmarkDef, Mode, load_definitions, parse_definitions_text
from tianping.benchmarks.errors import UnknownBenchmark

BUNDLED_PREFIX = "tianping/benchmarks/defs/"


@cache
def builtin_definitions() -> dict[str, tuple[BenchmarkDef, str]]:
    found: dict[str, tuple[BenchmarkDef, str]] = {}
    for entry in sorted(resources.files("tianping.benchmarks").joinpath("defs").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        source = f"{BUNDLED_PREFIX}{entry.name}"
        for definition in parse_definitions_text(entry.read_text("utf-8"), source):
            found[definition.name] = (definition, source)
    return found


_search_paths: list[Path] = []


def add_search_path(folder: Path) -> None:
    """Make the definitions in a folder's YAML files nameable like bundled ones (``--include-path``)."""
    if folder not in _search_paths:
        _search_paths.append(folder)


def named_definitions() -> dict[str, tuple[BenchmarkDef, str]]:
    """Every definition that can be named: the bundled ones, then those of the include paths (a name already
    taken is an error: a plugin must not silently replace a bundled benchmark)."""
    found = dict(builtin_definitions())
    for folder in _search_paths:
        for file in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            for definition in load_definitions(file):
                if definition.name in found and found[definition.name][1] != str(file):
                    raise UnknownBenchmark(
                        f"{file}: benchmark '{definition.name}' is already defined by {found[definition.name][1]}"
                    )
                found[definition.name] = (definition, str(file))
    return found


def is_path(name_or_path: str) -> bool:
    """Whether a --benchmark argument names a definition file rather than a bundled benchmark."""
    return name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path


def resolve(name_or_path: str) -> list[tuple[BenchmarkDef, str]]:
    """A bundled benchmark by name, or every definition in a YAML file given by path."""
    if is_path(name_or_path):
        path = Path(name_or_path)
        return [(d, str(path)) for d in load_definitions(path)]
    known = named_definitions()
    if name_or_path not in known:
        raise UnknownBenchmark(
            f"unknown benchmark '{name_or_path}'; known: {', '.join(sorted(known))} (or a path to a .yaml file)"
        )
    return [known[name_or_path]]


def benchmarks_of(
    found: list[tuple[BenchmarkDef, str]],
    ref: str,
    data_dir: Path,
    mode: Mode | None = None,
    *,
    allow_outside_data: bool = False,
) -> list[Benchmark]:
    """Benchmarks from definitions (each with its source file) that ``ref`` named; ``mode`` (None: each one's
    default) is refused by one that cannot run in it.

    Their datasets are read from inside ``data_dir`` or, for a definition file given by path, its folder;
    ``allow_outside_data`` lifts that limit (the user's choice, for a definition they trust)."""
    return [
        Benchmark(
            definition=d,
            source=src,
            data_dir=data_dir,
            mode=mode,
            allow_outside_data=allow_outside_data,
            # a user's file (by path or from an include path) may bring its data along; a bundled one reads the
            # data directory only
            definition_dir=None if src.startswith(BUNDLED_PREFIX) and not is_path(ref) else Path(src).parent,
        )
        for d, src in found
    ]


def build(
    name_or_path: str, data_dir: Path, mode: Mode | None = None, *, allow_outside_data: bool = False
) -> list[Benchmark]:
    """Benchmarks ready to load, from a bundled name or a definition file (see ``benchmarks_of``)."""
    return benchmarks_of(resolve(name_or_path), name_or_path, data_dir, mode, allow_outside_data=allow_outside_data)
