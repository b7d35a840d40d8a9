"""The live score beside the progress bar: one per benchmark, counted as the headline counts it."""

from __future__ import annotations

import io

from rich.console import Console

from tianping.core import Score
from tianping.progress import RichProgress, RunningScores


def test_running_scores_are_per_benchmark_never_mixed():
    """The issue's case: gsm8k and mmlu were shown as one number (49.8%)."""
    scores = RunningScores()
    for value in (1.0, 0.0, 0.0, 0.0):
        scores.add("gsm8k", Score(value=value))
    for value in (1.0, 1.0, 1.0, 0.0):
        scores.add("mmlu", Score(value=value))
    assert scores.text() == "gsm8k 25.0%  mmlu 75.0%"


def test_incomplete_counts_as_not_correct_and_errors_as_unscored():
    scores = RunningScores()
    scores.add("gsm8k", Score(value=1.0))
    scores.add("gsm8k", Score(value=None, status="incomplete"))
    scores.add("gsm8k", Score(value=None, status="error"))
    assert scores.text() == "gsm8k 50.0%  unscored 1"


def test_many_benchmarks_stay_on_one_line_and_names_are_not_markup():
    scores = RunningScores()
    for name in ("a", "b", "c", "d", "e", "f[bold]"):
        scores.add(name, Score(value=1.0))
    text = scores.text()
    assert text.endswith("+2 more") and "e 100" not in text


def test_rich_progress_shows_each_benchmark(monkeypatch):
    buffer = io.StringIO()
    progress = RichProgress(Console(file=buffer, width=200, force_terminal=False))
    progress.start(total=3, done=0)
    progress.advance(Score(value=1.0), "gsm8k")
    progress.advance(Score(value=0.0), "mmlu")
    progress.advance(Score(value=1.0), "mmlu")
    progress.stop()
    assert "gsm8k 100.0%" in buffer.getvalue() and "mmlu 50.0%" in buffer.getvalue()


def test_without_a_terminal_the_bar_is_printed_once_and_never_redrawn_in_the_background():
    import threading

    before = set(threading.enumerate())
    piped = io.StringIO()
    bar = RichProgress(Console(file=piped, width=100))
    bar.start(3, 0)
    assert set(threading.enumerate()) == before  # no refresh thread rendering what nobody sees
    for _ in range(3):
        bar.advance(Score(value=1.0), "gsm8k")
    bar.stop()
    assert piped.getvalue().count("3/3") == 1 and "gsm8k 100.0%" in piped.getvalue()
    live = RichProgress(Console(file=io.StringIO(), force_terminal=True, force_interactive=True))
    live.start(3, 0)
    try:
        assert set(threading.enumerate()) - before  # a terminal is redrawn as answers come
    finally:
        live.stop()


def test_in_80_columns_the_counts_keep_their_width_and_the_scores_give_way():
    """A narrow terminal or a log: rich squeezed every column alike ("evalua…  25.9 re…"); the label, the counts,
    the rate and the time stay whole, the bar shrinks, and the running scores end with an ellipsis."""
    buffer = io.StringIO()
    progress = RichProgress(Console(file=buffer, width=80, force_terminal=False))
    progress.start(total=14042, done=0)
    for name in ("mmlu_5shot", "cmmlu_5shot", "arc_easy", "gsm8k"):
        progress.advance(Score(value=1.0), name)
    progress.stop()
    (line,) = [x for x in buffer.getvalue().splitlines() if x.strip()]
    assert len(line) <= 80
    assert line.startswith("evaluating ") and "4/14042" in line and "req/s" in line
    assert "mmlu_5shot 100.0%" in line and line.rstrip().endswith("…")
