"""Find benchmark definitions: the bundled ones by name, or a user's YAML file by path."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from pathlib import Path

from tianping.benchmarks.benchmark import Benchmark
from tianping.benchmarks.definition import BenchmarkDef, Mode, load_definitions, parse_definitions_text
from tianping.benchmarks.errors import UnknownBenchmark, unknown_benchmark

BUNDLED_PREFIX = "tianping/benchmarks/defs/"


class _BundledDefinitions(Mapping[str, tuple[BenchmarkDef, str]]):
    """The bundled definitions by name, each file parsed when first needed.

    Parsing and checking all the bundled files costs a run tens of milliseconds before its first request, for
    the one or two benchmarks it names. A lookup by name first parses only the files whose text holds the name
    (the file that defines a name usually spells it out), then all of them; listing parses every file, in file
    order, so a name defined twice resolves to the last file either way."""

    def __init__(self) -> None:
        root = resources.files("tianping.benchmarks").joinpath("defs")
        entries = sorted((e for e in root.iterdir() if e.name.endswith(".yaml")), key=lambda e: e.name)
        self._texts = {f"{BUNDLED_PREFIX}{e.name}": e.read_text("utf-8") for e in entries}
        self._parsed: dict[str, dict[str, tuple[BenchmarkDef, str]]] = {}
        self._all: dict[str, tuple[BenchmarkDef, str]] | None = None

    def _file(self, source: str) -> dict[str, tuple[BenchmarkDef, str]]:
        if source not in self._parsed:
            found = parse_definitions_text(self._texts[source], source)
            self._parsed[source] = {d.name: (d, source) for d in found}
        return self._parsed[source]

    def _every(self) -> dict[str, tuple[BenchmarkDef, str]]:
        if self._all is None:
            self._all = {name: pair for source in self._texts for name, pair in self._file(source).items()}
        return self._all

    def _named(self, name: str) -> tuple[BenchmarkDef, str] | None:
        if self._all is not None:
            return self._all.get(name)
        hit = None
        for source, text in self._texts.items():
            if name in text:
                hit = self._file(source).get(name, hit)
        # a name built by the loader rather than written out (a generated variant), or an unknown one
        return hit if hit is not None else self._every().get(name)

    def __getitem__(self, name: str) -> tuple[BenchmarkDef, str]:
        hit = self._named(name)
        if hit is None:
            raise KeyError(name)
        return hit

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._named(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._every())

    def __len__(self) -> int:
        return len(self._every())


@cache
def builtin_definitions() -> Mapping[str, tuple[BenchmarkDef, str]]:
    return _BundledDefinitions()


_search_paths: list[Path] = []


def add_search_path(folder: Path) -> None:
    """Make the definitions in a folder's YAML files nameable like bundled ones (``--include-path``)."""
    if folder not in _search_paths:
        _search_paths.append(folder)


def named_definitions() -> Mapping[str, tuple[BenchmarkDef, str]]:
    """Every definition that can be named: the bundled ones, then those of the include paths (a name already
    taken is an error: a plugin must not silently replace a bundled benchmark)."""
    if not _search_paths:
        return builtin_definitions()  # looked up by name without parsing every bundled file
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
        raise unknown_benchmark(name_or_path, known)
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
