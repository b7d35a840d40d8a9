"""Checks shared by ``loadtest`` and ``monitor``: every bad flag, file or path ends in one line naming it and
exit 2 (``tianping.exitcodes``), found before any load is sent or any probe starts."""

from __future__ import annotations

import math
import os
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from tianping import exitcodes
from tianping.core.limits import MIB, ReplyLimits

console = Console(stderr=True, highlight=False)

DEFAULT_MAX_REPLY_MB = 16.0
MIN_MAX_REPLY_MB = 1 / 1024  # ReplyLimits refuses a body bound under 1024 bytes


def fail(message: str, code: int = exitcodes.BAD_INPUT) -> typer.Exit:
    """Print ``error: message`` as one line (no wrapping at the terminal's width) and return the exit to raise."""
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


def number_problem(value: float | None, *, positive: bool = False, minimum: float | None = None) -> str | None:
    """Why ``value`` is not acceptable (NaN, infinite, not positive, under ``minimum``), or None."""
    if value is None:
        return None
    if not math.isfinite(value):
        return f"must be a finite number, got {value}"
    if positive and not value > 0:
        return f"must be greater than 0, got {value:g}"
    if minimum is not None and value < minimum:
        return f"must be at least {minimum:g}, got {value:g}"
    return None


def check_number(flag: str, value: float | None, *, positive: bool = False, minimum: float | None = None) -> None:
    problem = number_problem(value, positive=positive, minimum=minimum)
    if problem is not None:
        raise fail(f"{flag} {problem}")


def reply_limits(max_reply_mb: float, where: str = "--max-reply-mb") -> ReplyLimits:
    """The reply bounds for a body bound of ``max_reply_mb`` MiB (other bounds at their defaults)."""
    problem = number_problem(max_reply_mb, positive=True, minimum=MIN_MAX_REPLY_MB)
    if problem is not None:
        raise fail(f"{where} {problem} (MiB)")
    return ReplyLimits(max_body_bytes=int(max_reply_mb * MIB))


def check_output(path: Path | None, flag: str) -> None:
    """Refuse, before any work, an output path that cannot be written: a directory, or a file in a folder that
    cannot be created or written."""
    if path is None:
        return
    if path.is_dir():
        raise fail(f"{flag} {path}: is a directory; give a file name")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise fail(f"{flag} {path}: cannot create the folder {parent}: part of that path is a file") from None
    except OSError as exc:
        raise fail(f"{flag} {path}: cannot create the folder {parent}: {exc.strerror or exc}") from None
    if not os.access(parent, os.W_OK):
        raise fail(f"{flag} {path}: the folder {parent} is not writable")
