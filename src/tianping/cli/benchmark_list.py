"""``tianping benchmarks``: every task that can be named, with what it measures, its size, its metric, the
license of its data (non-commercial and unstated licenses flagged) and whether the data is here."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from tianping.cli.output import cells, out


@dataclass(frozen=True)
class BenchmarkFacts:
    name: str
    kind: str
    version: str
    task_type: str
    languages: list[str]
    items: int | None
    metric: str
    modes: list[str]
    dataset: str | None
    license: str
    license_flag: str
    """``non-commercial``, ``no license stated`` or empty."""
    data: str
    """``present``, ``missing`` or ``outside catalog`` (a user's own folder)."""
    description: str


def _license_flag(commercial: bool | None) -> str:
    return {False: "non-commercial", None: "no license stated"}.get(commercial, "")


def _metric(definition: Any) -> str:
    if definition.default_mode == "generate":
        return definition.scoring.metric_name
    return definition.loglikelihood.metrics[0]


def _paths(definition: Any) -> list[str]:
    sources = [definition.dataset, definition.fewshot.dataset if definition.fewshot.k else None]
    return [s.path for s in sources if s is not None]


def facts_of(name: str, kind: str, definition: Any | None, data_dir: Path) -> BenchmarkFacts:
    """What the listing says of one task: from its YAML definition, else from its kind's ``about``."""
    from tianping.data.catalog import catalog
    from tianping.engine.tasks import task_about

    datasets = catalog()
    if definition is None:
        about = task_about(name)
        entry = datasets.get(about.dataset) if about is not None and about.dataset else None
        return BenchmarkFacts(
            name=name,
            kind=kind,
            version="",
            task_type=about.task_type if about else "",
            languages=list(about.languages) if about else [],
            items=about.items if about else None,
            metric=about.metric if about else "",
            modes=["generate"] if about else [],
            dataset=entry.name if entry else None,
            license=entry.license if entry else "",
            license_flag=_license_flag(entry.commercial) if entry else "",
            data=("present" if (data_dir / entry.name).is_dir() else "missing") if entry else "",
            description="",
        )
    about = definition.about
    parts = PurePosixPath(definition.dataset.path).parts  # none for "." (a generated set reads no folder)
    entry = datasets.get(about.data or (parts[0] if parts else ""))
    if about.data == "generated":
        data = "generated"
    elif entry is None:
        data = "outside catalog"
    else:
        data = "present" if all((data_dir / p).exists() for p in _paths(definition)) else "missing"
    return BenchmarkFacts(
        name=name,
        kind=kind,
        version=definition.version,
        task_type=about.task_type,
        languages=list(about.languages),
        items=about.items,
        metric=_metric(definition),
        modes=[m for m in ("generate", "loglikelihood") if definition.supports(m)],
        dataset=entry.name if entry else None,
        license=entry.license if entry else "",
        license_flag=_license_flag(entry.commercial) if entry else "",
        data=data,
        description=definition.description,
    )


def list_benchmarks(
    include_path: Annotated[
        list[Path] | None, typer.Option("--include-path", help="A folder of plugins to list too; repeat.")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Datasets folder whose contents to report [env TIANPING_DATA_DIR].")
    ] = None,
    long: Annotated[bool, typer.Option("--long", help="Add each benchmark's description.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one object per task, and the suites).")] = False,
) -> None:
    """List the benchmarks and tasks that can be named in a run (bundled, and from plugins): task type,
    languages, items, metric, the data's license (non-commercial and unlicensed data flagged) and whether the
    data is present; then the suites."""
    from tianping.benchmarks.registry import named_definitions
    from tianping.benchmarks.suites import bundled_suites
    from tianping.cli.run_support import guard
    from tianping.data.location import default_data_dir
    from tianping.engine.tasks import include_paths_from_env, kinds, suites, use_include_paths

    guard(lambda: use_include_paths([*include_paths_from_env(), *(str(p) for p in include_path or [])]))
    root = data_dir or default_data_dir()
    definitions = named_definitions()
    rows = [
        facts_of(name, kind.name, definitions[name][0] if name in definitions else None, root)
        for kind in kinds()
        for name in sorted(kind.task_names())
    ]
    every_suite = suites()
    if as_json:
        described = bundled_suites()
        payload = {
            "data_dir": str(root),
            "tasks": [asdict(r) for r in rows],
            "suites": {
                n: {"tasks": t, "description": described[n].description if n in described else ""}
                for n, t in sorted(every_suite.items())
            },
        }
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    table = Table(title=escape(f"data folder: {root}"))
    columns = ["name", "kind", "task type", "lang", "items", "metric", "modes", "license", "data"]
    for col in [*columns, *(["description"] if long else [])]:
        table.add_column(col, overflow="fold")
    for r in rows:
        license_text = f"{r.license} ({r.license_flag.upper()})" if r.license_flag else r.license
        modes = ", ".join("gen" if m == "generate" else "ll" for m in r.modes)
        values = [r.name, r.kind, r.task_type, ",".join(r.languages), "" if r.items is None else str(r.items),
                  r.metric, modes, license_text, r.data]  # fmt: skip
        table.add_row(*cells(*values, *([r.description] if long else [])))
    out.print(table)
    missing = sorted({r.dataset for r in rows if r.data == "missing" and r.dataset})
    if missing:
        out.print(escape(f"data not in {root}; fetch it with: tianping data pull {' '.join(missing)}"))
    flagged = sorted({r.dataset for r in rows if r.license_flag and r.dataset})
    if flagged:
        out.print(escape(f"check the license before commercial use: {', '.join(flagged)} (tianping data list)"))
    for name, tasks in sorted(every_suite.items()):
        out.print(escape(f"suite {name}: {', '.join(tasks)}"))
