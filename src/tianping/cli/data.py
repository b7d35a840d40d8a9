"""``tianping data``: list, pull, verify and locate the benchmark datasets of the catalog; and the check
``tianping run`` makes before it starts (``ensure_for_run``).

Exit codes follow ``tianping.cli.errors``: 1 a verify that found bad files (or a pull that kept modified
ones), 2 bad input (an unknown dataset, a bad flag, data missing while offline), 3 a download that failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from tianping.cli.common import listed_names
from tianping.cli.errors import FAILED, INCOMPLETE, fail
from tianping.cli.output import console, note, out

__all__ = ["data_app", "ensure_for_run", "register"]

data_app = typer.Typer(
    name="data",
    help="The benchmark datasets: list them, pull (download) them, verify them, find them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[env TIANPING_DATA_DIR]" must not be read as markup
)

DataDir = Annotated[
    Path | None,
    typer.Option(help="Datasets folder [env TIANPING_DATA_DIR; default ~/.cache/tianping/datasets]."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _root(data_dir: Path | None) -> Path:
    from tianping.data.location import default_data_dir

    return (data_dir or default_data_dir()).expanduser()


def _datasets(names: list[str]) -> list[Any]:
    from tianping.data.catalog import UnknownDataset, dataset

    try:
        return [dataset(n) for n in dict.fromkeys(listed_names(names))]
    except UnknownDataset as exc:
        raise fail(str(exc)) from None


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} kB"


def _license_cell(entry: Any) -> str:
    if entry.commercial is False:
        return f"{entry.license} [NC]"
    if entry.commercial is None:
        return f"{entry.license} [?]"
    return str(entry.license)


def _upstream_cell(entry: Any) -> str:
    """The dataset's upstream repo@commit, ``+N`` for files from N other repos; ``hub only`` when none."""
    sources = {entry.source_of(f) for f in entry.files} - {None}
    if entry.upstream is None:
        return f"{len(sources)} repos" if sources else "hub only"
    more = len(sources - {entry.upstream})
    return f"{entry.upstream.slug}@{entry.upstream.commit[:7]}" + (f" +{more}" if more else "")


@data_app.command("list")
def list_(data_dir: DataDir = None, json_out: JsonFlag = False) -> None:
    """Every dataset of the catalog: upstream source, license ([NC] non-commercial, [?] none stated), size,
    and what the data folder holds (complete, partial N/M, missing, or modified: a file of another size)."""
    from rich.table import Table

    from tianping.data.catalog import catalog, hub_mirror
    from tianping.data.check import presence

    root = _root(data_dir)
    mirror = hub_mirror()
    rows = [(entry, presence(entry, root)) for entry in catalog().values()]
    if json_out:
        items = [
            {
                **e.model_dump(include={"name", "title", "license", "commercial", "license_note", "upstream"}),
                **{"files": len(e.files), "bytes": e.total_bytes, "path": str(root / e.name)},
                **{"status": p.status, "missing": p.missing, "modified": p.modified},
            }
            for e, p in rows
        ]
        payload = {"data_dir": str(root), "hub": mirror.model_dump(), "datasets": items}
        out.print_json(json.dumps(payload, ensure_ascii=False))
        return
    table = Table()
    for col in ("name", "upstream", "license", "size", "files", "present"):
        # a license or a source is never cut to "CC-BY-NC-SA-4…": in a narrow terminal it folds
        table.add_column(col, overflow="fold", no_wrap=col in ("name", "size", "files", "present"))
    for entry, found in rows:
        table.add_row(entry.name, _upstream_cell(entry), _license_cell(entry), _size(entry.total_bytes),
                      str(len(entry.files)), found.status)  # fmt: skip
    out.print(table)
    out.print(f"data folder: {root}", highlight=False, soft_wrap=True)
    out.print(f"hub mirror: {mirror.repo}@{mirror.revision}; [NC] non-commercial license, [?] no license stated")


def _license_notice(entry: Any, count: int) -> None:
    """Printed before a dataset's first download: what the files may be used for."""
    from rich.markup import escape

    where = f"{entry.upstream.repo}" if entry.upstream else "per file, see its SOURCE.md"
    console.print(f"{escape(entry.name)}: fetching {count} file(s); license {escape(entry.license)} ({where})",
                  soft_wrap=True)  # fmt: skip
    if entry.commercial is False:
        console.print(f"[bold yellow]  NON-COMMERCIAL license: {escape(entry.name)} may not be used commercially.[/]",
                      soft_wrap=True)  # fmt: skip
    elif entry.commercial is None:
        console.print(f"[bold yellow]  NO LICENSE STATED for {escape(entry.name)}: its terms of use are unclear.[/]",
                      soft_wrap=True)  # fmt: skip
    if entry.license_note:
        console.print(f"  {escape(entry.license_note)}", soft_wrap=True)


def _pull_all(entries: list[Any], root: Path, options: Any) -> list[Any]:
    """Pull each dataset with a progress line per file on standard error; the results, in order."""
    from rich.markup import escape

    from tianping.data.pull import OfflineError, pull

    results = []
    for entry in entries:
        try:
            result = pull(
                entry,
                root,
                options,
                before_download=_license_notice,
                on_file=lambda o: console.print(
                    f"  {escape(o.path)}: " + (f"ok ({o.source})" if o.error is None else "[red]failed[/]"),
                    soft_wrap=True,
                ),
            )
        except OfflineError as exc:
            raise fail(str(exc)) from None
        for failed in result.failed:
            console.print(f"[red]  {escape(entry.name)}/{escape(failed.path)}:[/] {escape(failed.error or '')}",
                          soft_wrap=True)  # fmt: skip
        results.append(result)
    return results


def _options(source: str, mirror: str | None, offline: bool, force: bool = False, jobs: int = 8) -> Any:
    from tianping.data.location import hub_endpoint, offline_reason
    from tianping.data.pull import SOURCES, PullOptions, Source

    if source not in SOURCES:
        raise fail(f"--source: expected one of {', '.join(SOURCES)}, got {source!r}")
    try:
        hub_endpoint(mirror)
    except ValueError as exc:
        raise fail(str(exc)) from None
    chosen = cast(Source, source)
    return PullOptions(source=chosen, mirror=mirror, force=force, jobs=jobs, offline=offline_reason(offline))


@data_app.command("pull")
def pull_(
    names: Annotated[
        list[str] | None, typer.Argument(help="Datasets to fetch, or a list: a,b (see 'tianping data list').")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every dataset of the catalog.")] = False,
    data_dir: DataDir = None,
    source: Annotated[
        str,
        typer.Option(
            help="auto (the hub mirror, then each file's upstream repo), hub, or upstream (the original files "
            "at their pinned commits) [default: auto]."
        ),
    ] = "auto",
    mirror: Annotated[
        str | None,
        typer.Option(
            help="Hub endpoint: a URL or 'hf-mirror' (https://hf-mirror.com) / 'huggingface'; only it is asked "
            "[env HF_ENDPOINT, which keeps the upstream fallback]."
        ),
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Never download (also TIANPING_OFFLINE=1 or HF_HUB_OFFLINE=1).")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace files whose content differs from the pin.")] = False,
    jobs: Annotated[int, typer.Option(min=1, max=64, help="Files downloaded at once.")] = 8,
) -> None:
    """Download datasets into the data folder, each file checked against its pinned SHA-256 (a wrong download is
    deleted). The license is printed before a dataset's first download."""
    if all_ == bool(names):
        raise fail("give dataset names or --all (not both)")
    from tianping.data.catalog import catalog

    entries = list(catalog().values()) if all_ else _datasets(names or [])
    root = _root(data_dir)
    results = _pull_all(entries, root, _options(source, mirror, offline, force, jobs))
    for result in results:
        summary = f"{result.dataset}: {result.present} present, {len(result.fetched)} fetched"
        if result.failed:
            summary += f", {len(result.failed)} failed"
        if result.kept:
            summary += f", {len(result.kept)} modified (kept; --force replaces them: {', '.join(result.kept[:3])})"
        out.print(summary, highlight=False, soft_wrap=True)
    from tianping.data.pull import unresolved_hint

    hint = unresolved_hint(results)
    if hint:
        note(hint)
    if any(r.failed for r in results):
        raise fail("some files could not be fetched (see above); run the same command again to retry", FAILED)
    if any(r.kept for r in results):
        raise typer.Exit(INCOMPLETE)
    out.print(f"data folder: {root}", highlight=False, soft_wrap=True)


def _problem(check: Any) -> dict[str, str | None]:
    return {"path": str(check.path), "problem": check.problem}


@data_app.command("verify")
def verify_(
    names: Annotated[
        list[str] | None, typer.Argument(help="Datasets to check [default: every one with files in the folder].")
    ] = None,
    data_dir: DataDir = None,
    json_out: JsonFlag = False,
) -> None:
    """Check every file's SHA-256 and row count against the catalog; exit 1 naming each bad or missing file."""
    from rich.markup import escape

    from tianping.data.catalog import catalog
    from tianping.data.check import presence, verify

    root = _root(data_dir)
    if names:
        entries = _datasets(names)
    else:
        entries = [e for e in catalog().values() if presence(e, root).status != "missing"]
        if not entries:
            raise fail(f"no dataset of the catalog in {root}; fetch one with: tianping data pull NAME", INCOMPLETE)
    report = []
    for entry in entries:
        bad = [c for c in verify(entry, root) if c.problem is not None]
        report.append((entry, bad))
    if json_out:
        items = [
            {"name": e.name, "ok": not bad, "files": len(e.files), "problems": [_problem(c) for c in bad]}
            for e, bad in report
        ]
        ok = all(not bad for _, bad in report)
        out.print_json(json.dumps({"data_dir": str(root), "ok": ok, "datasets": items}, ensure_ascii=False))
    else:
        for entry, bad in report:
            state = "ok" if not bad else f"[red]{len(bad)} bad[/]"
            out.print(f"{escape(entry.name)}: {len(entry.files)} files, {state}")
            for check in bad:
                out.print(f"  {escape(str(check.path))}: {escape(check.problem or '')}", soft_wrap=True)
    if any(bad for _, bad in report):
        names_bad = " ".join(e.name for e, bad in report if bad)
        note(f"fix with: tianping data pull --force {names_bad}")
        raise typer.Exit(INCOMPLETE)


@data_app.command("path")
def path_(name: Annotated[str, typer.Argument(help="A dataset of the catalog.")], data_dir: DataDir = None) -> None:
    """Print the dataset's folder (whether or not it has been pulled)."""
    (entry,) = _datasets([name])
    out.print(str(_root(data_dir) / entry.name), highlight=False, soft_wrap=True)


def ensure_for_run(spec: Any, records: Any, offline: bool) -> None:
    """Before a run: pull the catalog datasets its tasks need and the data folder lacks (a stat per needed path;
    nothing happens when all are there). Offline, a missing dataset is exit 2 naming the pull command."""
    from tianping.core.errors import TaskConfigError
    from tianping.data.catalog import dataset
    from tianping.data.ensure import offline_refusal
    from tianping.engine.tasks import datasets_missing

    root = Path(spec.data_dir)
    try:
        missing = datasets_missing(spec.benchmarks, records, root)
    except TaskConfigError as exc:
        raise fail(str(exc)) from None
    if not missing:
        return
    options = _options("auto", None, offline)
    if options.offline:
        raise fail(offline_refusal(missing, root, options.offline))
    note(f"pulling {', '.join(missing)} into {root} (--offline forbids this)")
    results = _pull_all([dataset(n) for n in missing], root, options)
    failed = [r.dataset for r in results if r.failed]
    if failed:
        from tianping.data.pull import unresolved_hint

        hint = unresolved_hint(results)
        retry = f"could not fetch {', '.join(failed)}; retry with: tianping data pull {' '.join(failed)}"
        raise fail(retry + (f"\n{hint}" if hint else ""), FAILED)


def _register_check() -> None:
    from tianping.cli.data_check import check_command  # the quality checks (``tianping.quality``)

    data_app.command("check")(check_command)


_register_check()


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to the main ``tianping`` app."""
    app.add_typer(data_app, name="data")
