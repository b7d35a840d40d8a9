"""Bring a dataset's files into the data folder, each held to its pinned SHA-256.

A file already there with the pinned hash is left alone; one there with another hash (edited, cut) is kept and
reported, unless ``force`` replaces it. Each missing file is tried from the sources in order (``auto``: the hub
mirror, then the file's upstream repo, except when a mirror was named: then only that mirror). A download
whose hash is wrong is deleted at once, so a corrupted file never counts as present.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tianping.data.catalog import CatalogFile, Dataset, HubMirror, hub_mirror
from tianping.data.check import check_file
from tianping.data.fetch import PART_SUFFIX, FetchError, HostUnknown, fetch_from_hub, fetch_url, upstream_url
from tianping.data.location import hub_endpoint, upstream_base

Source = Literal["auto", "hub", "upstream"]
SOURCES: tuple[Source, ...] = ("auto", "hub", "upstream")


class OfflineError(RuntimeError):
    """Files are missing and downloads are off; the message names the command that fetches them."""


@dataclass(frozen=True)
class PullOptions:
    source: Source = "auto"
    mirror: str | None = None
    """An explicit hub endpoint (URL or alias): then only that mirror is asked."""
    force: bool = False
    """Replace files whose content differs from the pin."""
    jobs: int = 8
    offline: str | None = None
    """Why downloads are off (``location.offline_reason``), or None."""


@dataclass(frozen=True)
class FileOutcome:
    path: str
    source: str | None = None
    """Where it came from (``hub`` or ``upstream``); None when it failed."""
    error: str | None = None


@dataclass
class PullResult:
    dataset: str
    present: int = 0
    """Files already there with the pinned hash."""
    fetched: list[FileOutcome] = field(default_factory=list)
    failed: list[FileOutcome] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """Files there with another hash, left as they are (``force`` replaces them)."""
    unresolved: list[str] = field(default_factory=list)
    """Hosts whose names did not resolve (no network): the other files from them were not tried."""


def unresolved_hint(results: list[PullResult]) -> str:
    """What to do when the sources' host names did not resolve (no network), or "" when they did."""
    hosts = sorted({host for r in results for host in r.unresolved})
    if not hosts:
        return ""
    return (
        f"{', '.join(hosts)} could not be resolved: no network here? Pull where there is one and copy the data "
        "folder (tianping data path), or name a mirror this machine reaches: --mirror URL (docs/data.md)"
    )


def pull_command(names: list[str]) -> str:
    return "tianping data pull " + " ".join(names)


def pull(
    entry: Dataset,
    root: Path,
    options: PullOptions,
    *,
    before_download: Callable[[Dataset, int], None] = lambda entry, count: None,
    on_file: Callable[[FileOutcome], None] = lambda outcome: None,
) -> PullResult:
    """Fetch the dataset's missing files. ``before_download`` is called once, with the number of files to
    fetch, before the first download (the license notice goes there); ``on_file`` after each file."""
    result = PullResult(entry.name)
    wanted: list[CatalogFile] = []
    for f in entry.files:
        dest = root / entry.name / f.path
        if not dest.exists():
            wanted.append(f)
        elif check_file(dest, f, count=False).problem is None:
            result.present += 1
        elif options.force:
            wanted.append(f)
        else:
            result.kept.append(f.path)
    if not wanted:
        return result
    if options.offline:
        raise OfflineError(
            f"{entry.name}: {len(wanted)} of {len(entry.files)} files would have to be downloaded into "
            f"{root / entry.name} and downloads are off ({options.offline}); fetch them with: "
            f"{pull_command([entry.name])}"
        )
    before_download(entry, len(wanted))
    plan = _Plan(entry, root, options)
    with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        for outcome in pool.map(plan.fetch, wanted):
            (result.fetched if outcome.error is None else result.failed).append(outcome)
            on_file(outcome)
    result.unresolved = sorted(set(plan.unknown_hosts.values()))
    return result


class _Plan:
    """Where one dataset's files are fetched from, and how each download is checked."""

    def __init__(self, entry: Dataset, root: Path, options: PullOptions) -> None:
        self.entry = entry
        self.root = root
        self.options = options
        self.mirror: HubMirror = hub_mirror()
        self.endpoint = hub_endpoint(options.mirror)
        self.base = upstream_base()
        self.unknown_hosts: dict[str, str] = {}
        """Sources whose host name did not resolve in this pull: source -> host."""
        if options.source == "hub" or (options.source == "auto" and options.mirror):
            self.order: tuple[str, ...] = ("hub",)
        elif options.source == "upstream":
            self.order = ("upstream",)
        else:
            self.order = ("hub", "upstream")

    def fetch(self, f: CatalogFile) -> FileOutcome:
        dest = self.root / self.entry.name / f.path
        errors = []
        for source in self.order:
            if source in self.unknown_hosts:  # no network: do not pay every file's retries to learn it again
                errors.append(f"{source}: not tried: {self.unknown_hosts[source]} could not be resolved (no network?)")
                continue
            try:
                if source == "hub":
                    self._from_hub(f, dest)
                else:
                    self._from_upstream(f, dest)
            except HostUnknown as exc:
                self.unknown_hosts.setdefault(source, exc.host)
                errors.append(f"{source}: {exc}")
                continue
            except FetchError as exc:
                errors.append(f"{source}: {exc}")
                continue
            except OSError as exc:  # the data folder itself (read-only, full): no other source can help
                return FileOutcome(f.path, error=f"{dest}: {exc.strerror or exc}")
            return FileOutcome(f.path, source)
        return FileOutcome(f.path, error="; ".join(errors))

    def _from_hub(self, f: CatalogFile, dest: Path) -> None:
        dest.unlink(missing_ok=True)  # only a missing file or one --force replaces gets here
        got = fetch_from_hub(self.root, f"{self.entry.name}/{f.path}", self.mirror, self.endpoint)
        self._accept(got, dest, f, "the hub copy")

    def _from_upstream(self, f: CatalogFile, dest: Path) -> None:
        upstream = self.entry.source_of(f)
        if upstream is None or f.upstream_path is None:
            raise FetchError("no upstream file (this file exists only in tianping's copy, on the hub mirror)")
        part = dest.with_name(dest.name + PART_SUFFIX)
        got = fetch_url(upstream_url(self.base, upstream, f.upstream_path), part, f.bytes)
        self._accept(got, dest, f, f"{upstream.slug}@{upstream.commit[:8]}:{f.upstream_path}")

    @staticmethod
    def _accept(got: Path, dest: Path, f: CatalogFile, what: str) -> None:
        problem = check_file(got, f, count=False).problem
        if problem is not None:
            got.unlink(missing_ok=True)  # never leave a wrong file where a run would read it
            raise FetchError(f"{what} does not match the catalog ({problem}); deleted")
        if got != dest:
            got.replace(dest)
