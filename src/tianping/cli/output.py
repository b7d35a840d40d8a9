"""The consoles every command prints to, and the cells of its tables.

``console`` (standard error) carries progress, notes, warnings and error lines; ``out`` (standard output)
carries what a command produces: tables and the paths it wrote. Model output, subjects and file names may
hold markup-like text, so everything printed from data is escaped.
"""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console
from rich.markup import escape

console = Console(stderr=True, highlight=False)
out = Console(highlight=False)
if not out.is_terminal and not os.environ.get("COLUMNS", "").strip().isdigit():
    # piped or logged: do not squeeze tables into 80 columns (a width the user set with COLUMNS stands)
    out = Console(width=160, highlight=False)


def note(message: str) -> None:
    console.print(escape(message), soft_wrap=True)


def cells(*values: Any) -> list[str]:
    """Table cells from values that may hold markup-like text (model names, subjects, run ids)."""
    return [escape(str(v)) for v in values]


def pct(value: float | None, unit: str = "rate") -> str:
    """A rate as a percentage; a count (``unit="count"``) as the number itself."""
    if value is None:
        return "—"
    return f"{value:.2f}" if unit == "count" else f"{100 * value:.1f}"


def ci(low: float | None, high: float | None, unit: str = "rate") -> str:
    if low is None or high is None:
        return "—"
    return f"[{low:.2f}, {high:.2f}]" if unit == "count" else f"[{100 * low:.1f}, {100 * high:.1f}]"
