"""Errors that any part of tianping may raise and the engine understands."""

from __future__ import annotations


class FatalRunError(RuntimeError):
    """The run cannot go on (bad key, unknown model, unreachable endpoint, changed data): every sample would fail
    alike, so the engine stops and records why instead of failing them one by one."""


class TaskConfigError(ValueError):
    """A task cannot be planned from its definition or the run's settings; the message names the file and the
    field, or the option."""
