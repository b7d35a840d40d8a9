"""Errors raised while loading benchmark definitions and their data; each names where it happened."""

from __future__ import annotations

from tianping.core.errors import TaskConfigError


class BenchmarkDefinitionError(TaskConfigError):
    """A benchmark definition file is invalid; the message names the file and the field."""


class DatasetError(ValueError):
    """A dataset file is missing or a row is malformed; the message names the file and the line."""


class UnknownBenchmark(KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])
