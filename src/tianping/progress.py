"""The live progress bar of ``tianping run``: done/total, requests/s, ETA and the running score per benchmark."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column

from tianping.core import Score

SHOWN = 4
"""Running scores shown at once; the rest are summed up as "+N more" so the line stays one line."""

UPDATE_EVERY_S = 0.1
"""How often answers are handed to the bar: rich's own refresh rate (10 per second)."""


class RunningScores:
    """The score of each benchmark so far, counted as the headline counts it: an incomplete answer is not
    correct; errors and undecidable answers are counted apart ("unscored")."""

    def __init__(self) -> None:
        self._totals: dict[str, list[float]] = {}  # name -> [sum of values, answers counted]
        self.unscored = 0

    def add(self, name: str, score: Score) -> None:
        if score.status == "scored" and score.value is not None:
            value = score.value
        elif score.status == "incomplete":
            value = 0.0
        else:
            self.unscored += 1
            return
        total = self._totals.setdefault(name, [0.0, 0.0])
        total[0] += value
        total[1] += 1

    def text(self) -> str:
        parts = [f"{escape(name)} {100 * s / n:.1f}%" for name, (s, n) in self._totals.items()]
        shown = "  ".join(parts[:SHOWN]) + (f"  +{len(parts) - SHOWN} more" if len(parts) > SHOWN else "")
        return shown + (f"  unscored {self.unscored}" if self.unscored else "")


class RichProgress:
    def __init__(self, console: Console, label: str = "evaluating"):
        self.console = console
        self.label = label
        # in a narrow terminal (or a log, 80 columns) rich squeezes every column alike ("evalua… re…"): the counts
        # keep their width, the bar shrinks first and the running scores end with an ellipsis
        self._progress = Progress(
            TextColumn("[bold]{task.description}", table_column=Column(no_wrap=True, min_width=len(label))),
            BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=1, max_width=40)),
            MofNCompleteColumn(table_column=Column(no_wrap=True)),
            TextColumn("{task.fields[rate]:>7.1f} req/s", table_column=Column(no_wrap=True, min_width=13)),
            TimeRemainingColumn(table_column=Column(no_wrap=True, min_width=7)),
            TextColumn("{task.fields[running]}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=3)),
            console=console,
            expand=True,
            transient=False,
            # where nothing is redrawn (a file, a pipe, CI's log) the bar is printed once when it stops: without a
            # terminal its refresh thread would only render it unseen, ten times a second, for the whole run
            auto_refresh=console.is_interactive,
        )
        self._task = None
        self._scores = RunningScores()
        self._started = time.perf_counter()
        self._advanced = 0
        self._pending = 0  # answers counted but not yet handed to rich
        self._pushed = 0.0  # when they last were

    def start(self, total: int, done: int, earlier: Sequence[tuple[str, Score]] = ()) -> None:
        for name, score in earlier:  # a resumed run: its running scores are the whole run's
            self._scores.add(name, score)
        self._started = time.perf_counter()
        self._progress.start()
        self._task = self._progress.add_task(self.label, total=total, completed=done, rate=0.0, running="")

    def advance(self, score: Score, name: str = "") -> None:
        """One sample done; ``name`` is what its score is shown under (the benchmark, and the model when a run
        has several)."""
        self._scores.add(name, score)
        self._advanced += 1
        self._pending += 1
        now = time.perf_counter()
        # rich redraws UPDATE_EVERY_S at most anyway: handing it every answer (a lock, a speed sample, the score
        # line formatted again) is work per request that nobody sees at C=256
        if now - self._pushed >= UPDATE_EVERY_S:
            self._push(now)

    def _push(self, now: float) -> None:
        elapsed = max(now - self._started, 1e-9)
        rate = self._advanced / elapsed
        self._progress.update(self._task, advance=self._pending, rate=rate, running=self._scores.text())
        self._pending, self._pushed = 0, now

    def stop(self) -> None:
        if self._pending and self._task is not None:  # the last answers show in the final line
            self._push(time.perf_counter())
        self._progress.stop()
