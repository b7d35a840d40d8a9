"""Task kinds and plugins: found once per process, then asked to resolve task and suite names.

Where kinds and plugin code come from:

- installed packages, through entry points: ``tianping.tasks`` (a ``TaskKind``), ``tianping.loaders``,
  ``tianping.scorers``, ``tianping.extractors``, ``tianping.metrics`` (a function registered under the entry
  point's name) and ``tianping.backends`` (a backend factory, read by ``tianping.models.registry``).
  tianping's own kinds (YAML benchmarks among them) register the same way, so the engine never names one;
- ``--include-path DIR`` (and ``TIANPING_INCLUDE_PATH``): every ``*.py`` file of DIR is imported (it registers
  what it defines through ``tianping.extend``) and every ``*.yaml`` definition in DIR can be named like a
  bundled benchmark;
- ``register_kind`` called by code that is already imported.

A run stores the files it imported from include paths with their SHA-256 (``plugin_records``), so that
``resume`` imports them again in a fresh process and refuses files edited since the run started.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from tianping.benchmarks.errors import unknown_benchmark
from tianping.benchmarks.sources import PLUGIN_PREFIX
from tianping.core import entry_points
from tianping.core.errors import TaskConfigError
from tianping.core.results import MetricRow, RunInfo
from tianping.core.task import ReportSection, Task, TaskAbout, TaskKind, TaskSettings

GROUPS = {
    "tasks": "tianping.tasks",
    "loaders": "tianping.loaders",
    "scorers": "tianping.scorers",
    "extractors": "tianping.extractors",
    "metrics": "tianping.metrics",
    "backends": "tianping.backends",
}
"""Entry point groups an installed package may register under."""
INCLUDE_ENV = "TIANPING_INCLUDE_PATH"
BENCHMARK_KIND = "benchmark"
"""The entry point name of the kind that runs the YAML benchmarks."""

_kinds: dict[str, TaskKind] = {}
_own_loaded = False
_entry_points_loaded = False
_included: dict[Path, str] = {}
_installed: dict[str, dict[str, str]] = {}
"""Plugins loaded from other packages' entry points: what they are and which version (kept with a run)."""
"""Files imported from include paths (resolved path -> SHA-256 of the text imported)."""


class PluginError(TaskConfigError):
    """A plugin that cannot be loaded, or one that changed since the run that uses it started."""


def register_kind(kind: TaskKind) -> TaskKind:
    """Make a task kind's tasks and suites known by name; a second kind of the same name replaces the first."""
    _kinds[kind.name] = kind
    return kind


def kinds(*, every: bool = False) -> list[TaskKind]:
    """The known kinds: tianping's own and those registered in code, and with ``every`` the kinds of every
    installed package too (reading all packages' entry points costs tens of milliseconds, so a run does that
    only when a name is not found among the others)."""
    _load_own()
    if every:
        load_entry_points()
    return list(_kinds.values())


def _load_own() -> None:
    global _own_loaded
    if _own_loaded:
        return
    _own_loaded = True
    found = entry_points.own(GROUPS["tasks"])
    if not found:
        found = entry_points.group(GROUPS["tasks"])  # a source tree without its metadata: look everywhere
    if not any(ep.value.startswith("tianping.") for ep in found):
        raise PluginError(
            "tianping's own task kinds are not registered (its entry points are missing): reinstall it with "
            "`pip install -e .` (or `pip install tianping`)"
        )
    for ep in found:
        _kinds.setdefault(ep.name, _load(ep))


def load_entry_points() -> None:
    """Every installed package's plugins: task kinds, loaders, scorers, extractors and metrics."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    _load_own()
    for ep in entry_points.group(GROUPS["tasks"]):
        if ep.name not in _kinds:
            register_kind(_load(ep))
    from tianping.benchmarks.loaders import register_loader
    from tianping.benchmarks.scorers import register_extractor, register_metric, register_scorer

    registrars: dict[str, Callable[[str], Callable[[Any], Any]]] = {
        "loaders": register_loader,
        "scorers": register_scorer,
        "extractors": register_extractor,
        "metrics": register_metric,
    }
    for role, register in registrars.items():
        for ep in entry_points.group(GROUPS[role]):
            register(ep.name)(_load(ep))


def _load(ep: metadata.EntryPoint) -> Any:
    if ep.dist is not None and ep.dist.name != "tianping":  # a third party's: kept with the runs that may use it
        _installed[f"{PLUGIN_PREFIX}{ep.group}:{ep.name}"] = {
            "module": ep.value,
            "distribution": ep.dist.name,
            "version": ep.dist.version,
        }
    try:
        return ep.load()
    except Exception as exc:  # a broken plugin names itself instead of failing somewhere later
        raise PluginError(f"entry point {ep.group}:{ep.name} ({ep.value}) failed to load: {exc}") from None


# include paths -------------------------------------------------------------------------------------------


def include_paths_from_env() -> list[str]:
    return [p for p in os.environ.get(INCLUDE_ENV, "").split(os.pathsep) if p.strip()]


def use_include_paths(paths: Sequence[str | Path], expected: Mapping[str, Any] | None = None) -> None:
    """Import the Python files of each folder and make its YAML definitions nameable. ``expected``: the plugin
    records a run stored; a file whose text changed since is refused (its answers would mix two versions)."""
    from tianping.benchmarks.registry import add_search_path

    for raw in paths:
        folder = Path(raw).expanduser().absolute()
        if not folder.is_dir():
            raise PluginError(f"include path {raw}: not a folder")
        add_search_path(folder)
        for file in sorted(folder.glob("*.py")):
            _import_file(file.resolve(), expected)


def _import_file(file: Path, expected: Mapping[str, Any] | None) -> None:
    text = file.read_bytes()
    digest = hashlib.sha256(text).hexdigest()
    record = (expected or {}).get(PLUGIN_PREFIX + str(file))
    if record is not None and record.get("sha256") != digest:
        raise PluginError(
            f"{file}: the plugin changed since this run started (sha256 {record['sha256'][:12]} -> {digest[:12]}); "
            "restore it to finish the run, or start a new run"
        )
    if _included.get(file) == digest:
        return
    name = f"tianping_include_{hashlib.sha256(str(file).encode()).hexdigest()[:10]}_{file.stem}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise PluginError(f"{file}: cannot be imported as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise PluginError(f"{file}: importing the plugin failed: {type(exc).__name__}: {exc}") from None
    _included[file] = digest


def plugin_records() -> dict[str, dict[str, str]]:
    """What the run keeps of the plugins loaded so far (beside its definitions' texts): include-path files with
    their SHA-256 (checked on resume), installed plugins with their distribution's version (for the record)."""
    records: dict[str, dict[str, str]] = {key: dict(value) for key, value in _installed.items()}
    for file, digest in _included.items():
        records[PLUGIN_PREFIX + str(file)] = {"source": str(file), "sha256": digest, "module": file.stem}
    return records


# names ---------------------------------------------------------------------------------------------------


def suites(*, every: bool = True) -> dict[str, list[str]]:
    """``--suite NAME`` -> the tasks it stands for, over every kind (``every=False``: the kinds known so far)."""
    found: dict[str, list[str]] = {}
    for kind in kinds(every=every):
        for name, tasks in kind.suites().items():
            found.setdefault(name, []).extend(t for t in tasks if t not in found.get(name, []))
    return found


def expand_suites(names: Sequence[str]) -> list[str]:
    """The task names of the suites, in order, each once; an unknown suite is an error naming the known."""
    if not names:
        return []  # listing the suites loads every task kind: not worth it for a run that names none
    known = suites(every=False)
    if any(name not in known for name in names):
        known = suites()
    out: list[str] = []
    for name in names:
        if name not in known:
            raise unknown_benchmark(name, known, "suite")
        out.extend(t for t in known[name] if t not in out)
    return out


def task_about(name: str) -> TaskAbout | None:
    """What the task's kind says of it (``TaskKind.about``, an optional method: kinds written before it existed
    are listed by name alone)."""
    about = getattr(kind_of(name), "about", None)
    return about(name) if callable(about) else None


def whole_datasets(tasks: Sequence[str], records: Mapping[str, Any]) -> dict[str, str]:
    """Task -> the catalog dataset its kind says it reads whole (``about``), for the tasks without a definition
    text in ``records`` (a YAML benchmark's definition names its exact paths)."""
    found = {}
    for name in tasks:
        if name in records:
            continue
        about = task_about(name)
        if about is not None and about.dataset:
            found[name] = about.dataset
    return found


def datasets_missing(tasks: Sequence[str], records: Mapping[str, Any], root: Path) -> list[str]:
    """The catalog datasets that the tasks read and ``root`` lacks (a stat per needed path)."""
    from tianping.data.ensure import missing_datasets, needed_paths

    return missing_datasets(needed_paths(tasks, records, whole_datasets(tasks, records)), root)


def kind_of(name: str) -> TaskKind:
    """The kind that provides task ``name``: a kind that lists it, else one that claims it (a file path)."""
    quick = _bundled_benchmark_kind(name)
    if quick is not None:
        return quick
    for complete in (False, True):
        known = kinds(every=complete)
        for kind in known:
            if name in kind.task_names():
                return kind
        for kind in known:
            if kind.claims(name):
                return kind
    raise unknown_benchmark(name, (n for kind in kinds(every=True) for n in kind.task_names()))


def _bundled_benchmark_kind(name: str) -> TaskKind | None:
    """The benchmark kind, when ``name`` is a bundled benchmark and no kind is loaded or registered yet.

    Listing every kind's tasks imports the agent, BFCL, judging and safety modules and parses every definition:
    most of a run's start-up beyond its imports. tianping's own kinds name disjoint tasks (a test holds them to
    it), so a bundled benchmark's name is the benchmark kind's whichever kinds are asked first; once any kind
    is registered (a plugin's may list any name), the full search decides."""
    if _kinds:
        return None
    from tianping.benchmarks.registry import is_path, named_definitions

    if is_path(name) or name not in named_definitions():
        return None
    found = next((ep for ep in entry_points.own(GROUPS["tasks"]) if ep.name == BENCHMARK_KIND), None)
    return _load(found) if found is not None else None


def inputs_of(names: Sequence[str]) -> dict[str, Any]:
    """The inputs a run keeps to load its tasks again: definition texts and imported plugin files."""
    records: dict[str, Any] = {}
    for name in names:
        records.update(kind_of(name).inputs(name))
    records.update(plugin_records())
    return records


def load_tasks(names: Sequence[str], settings_for: Callable[[str], TaskSettings]) -> list[Task]:
    """Every task the names stand for, loaded with the settings each name gets."""
    tasks: list[Task] = []
    for name in names:
        kind, settings = kind_of(name), settings_for(name)
        loaded = kind.load(name, settings)
        chosen = (settings.spec.get("items") or {}).get(name)
        if chosen is not None and any([s.id for s in task.samples] != list(chosen) for task in loaded):
            # a kind that does not read ``items`` would run other samples than the ones asked for
            raise TaskConfigError(f"items.{name}: {kind.name} tasks cannot be run by sample id; drop its items")
        tasks.extend(loaded)
    return tasks


@dataclass(frozen=True)
class MissingCapability:
    task: str
    model: str
    needs: tuple[str, ...]


def missing_capabilities(
    tasks: Sequence[Task], models: Sequence[tuple[str, frozenset[str]]]
) -> list[MissingCapability]:
    """Each (task, model) pair whose model cannot answer the request kinds the task needs."""
    return [
        MissingCapability(task.name, model, tuple(sorted(task.requires - supports)))
        for task in tasks
        for model, supports in models
        if not task.requires <= supports
    ]


def report_sections(info: RunInfo, metrics: Sequence[MetricRow]) -> list[ReportSection]:
    """The further tables every kind adds for a run (one kind's failure costs only its own tables)."""
    names = {n for n in info.spec.get("benchmarks") or () if isinstance(n, str)} | {m.benchmark for m in metrics}
    quick = {_bundled_benchmark_kind(name) for name in names}
    # a run of bundled benchmarks alone: their kind's tables, without importing every other kind to ask it
    only = next(iter(quick)) if len(quick) == 1 else None
    sections: list[ReportSection] = []
    for kind in [only] if only is not None else kinds(every=True):
        sections.extend(kind.report_sections(info, metrics))
    return sections


def outcome_labels(name: str) -> Sequence[str]:
    """The outcome words of task ``name`` (``TaskKind.outcome_labels``); () for a task no kind lists."""
    for kind in kinds(every=True):
        if name in kind.task_names():
            return kind.outcome_labels(name)
    return ()


def import_run_plugins(run: Mapping[str, Any] | None) -> str | None:
    """Import the plugins a stored run used, so that reading its results shows them as the run did (their
    outcome words, their report tables). Returns why it could not, for a note; the results read either way."""
    folders = ((run or {}).get("spec") or {}).get("include_paths") or []
    try:
        use_include_paths(folders)
    except TaskConfigError as exc:
        return f"the run's plugins could not be imported ({exc}); their own tables are left out"
    return None
