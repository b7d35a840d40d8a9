"""How every command ends: the one exit-code table (documented in the README), the one way to fail, and the
one way to run a coroutine.

A user error never ends in a traceback: it ends in ``error: <what, naming the file, field or flag>`` and exit 2.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from rich.markup import escape

from tianping.cli.output import console

T = TypeVar("T")

OK = 0
"""Finished, and every result is whole and valid."""
INCOMPLETE = 1
"""Finished, but the results are not whole: samples failed after retries (``run``: resume retries them), or a
load test's measurement is not valid (the client was the bottleneck)."""
BAD_INPUT = 2
"""Bad input: a flag, a file, a definition, a data row or a result store; the message names which."""
FAILED = 3
"""Could not go on: 401, unknown model, unreachable endpoint, changed data, a full disk. Results already
obtained are kept."""
INTERRUPTED = 130
"""Interrupted (Ctrl-C or SIGTERM); results already obtained are kept."""


def error_line(message: str) -> None:
    """Print ``error: <message>`` on standard error (escaped: model output and file names are never read as
    markup)."""
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def fail(message: str, code: int = BAD_INPUT) -> typer.Exit:
    """Print one error line and return the exit to raise: ``raise fail("--flag: why")``."""
    error_line(message)
    return typer.Exit(code)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine to its end (``tianping.aio``: uvloop where installed; SIGINT and SIGTERM
    cancel it and then raise ``KeyboardInterrupt``)."""
    from tianping.aio import run

    return run(coro)
