"""Entry points of installed packages (plugins), read once per process and only when needed.

Reading every installed distribution's entry points costs tens of milliseconds on a machine with many
packages, so the start of a run reads only tianping's own (``own``) and looks further (``find``, ``group``)
when a name is not known otherwise.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata

OWN_DISTRIBUTION = "tianping"


@cache
def _every() -> tuple[metadata.EntryPoint, ...]:
    return tuple(ep for dist in metadata.distributions() for ep in dist.entry_points)


def group(name: str) -> list[metadata.EntryPoint]:
    """Every installed package's entry points of a group."""
    return [ep for ep in _every() if ep.group == name]


def find(group_name: str, name: str) -> metadata.EntryPoint | None:
    """The entry point of that name in the group, from any installed package; None if there is none."""
    return next((ep for ep in _every() if ep.group == group_name and ep.name == name), None)


@cache
def _own() -> tuple[metadata.EntryPoint, ...] | None:
    try:
        return tuple(metadata.distribution(OWN_DISTRIBUTION).entry_points)
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return None


def own(group_name: str) -> list[metadata.EntryPoint]:
    """tianping's own entry points of a group (read from its one distribution: fast)."""
    entries = _own()
    if entries is None:
        return []
    return [ep for ep in entries if ep.group == group_name]
