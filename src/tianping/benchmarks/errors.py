"""Errors raised while loading benchmark definitions and their data; each names where it happened."""

from __future__ import annotations

from collections.abc import Iterable

from tianping.core.errors import TaskConfigError
from tianping.core.suggest import did_you_mean


class BenchmarkDefinitionError(TaskConfigError):
    """A benchmark definition file is invalid; the message names the file and the field."""


class DatasetError(ValueError):
    """A dataset file is missing or a row is malformed; the message names the file and the line."""


class UnknownBenchmark(KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def unknown_benchmark(name: str, known: Iterable[str], what: str = "benchmark") -> UnknownBenchmark:
    """The error for a name that is none of ``known``: the nearest names first (a typo is the usual cause, and
    the full list runs to a hundred names), then the list."""
    listed = sorted(set(known))
    hint = did_you_mean(name, listed, n=3)
    hint = f" ({hint})" if hint else ""
    tail = " (or a path to a .yaml file)" if what == "benchmark" else ""
    return UnknownBenchmark(f"unknown {what} '{name}'{hint}; known: {', '.join(listed) or 'none'}{tail}")
