"""The live progress bar of ``tianping run``: done/total, requests/s, ETA and the running score."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tianping.core import Score


class RichProgress:
    def __init__(self, console: Console, label: str = "evaluating"):
        self.console = console
        self.label = label
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>7.1f} req/s"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[running]}"),
            console=console,
            transient=False,
        )
        self._task = None
        self._scored = 0
        self._correct = 0.0
        self._other = 0
        self._started = time.perf_counter()
        self._advanced = 0

    def start(self, total: int, done: int) -> None:
        self._started = time.perf_counter()
        self._progress.start()
        self._task = self._progress.add_task(self.label, total=total, completed=done, rate=0.0, running="")

    def advance(self, score: Score) -> None:
        if score.status == "scored" and score.value is not None:
            self._scored += 1
            self._correct += score.value
        else:
            self._other += 1
        self._advanced += 1
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        running = f"score {100 * self._correct / self._scored:5.1f}%" if self._scored else ""
        if self._other:
            running += f"  unscored {self._other}"
        self._progress.update(self._task, advance=1, rate=self._advanced / elapsed, running=running)

    def stop(self) -> None:
        self._progress.stop()
