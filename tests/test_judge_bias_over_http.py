"""The judge bias diagnostics of a real judged run recover biases scripted into a fake judge server.

``tianping run --benchmark arena_hard --judge-model ...`` runs end to end through the command line against a fake
model server and a fake judge server (real HTTP on 127.0.0.1). The judge answers tianping's own comparison prompt
with a ``[[A>B]]``-style verdict, and its bias is known:

* position: for each call, with a hash-drawn probability ``p`` it names reply A regardless of content; otherwise
  it judges by a hidden content rule (a reply holding the model's marker wins, else the reply with the larger
  content hash). Such a judge has net position bias ``p``, position consistency ``1 - p`` and first-position win
  rate ``(1 + p) / 2`` (see ``PositionPreference`` in ``tianping.judging.diagnostics``);
* verbosity: A wins with probability ``1 / (1 + exp(-(a + b * d)))`` where
  ``d = (len A - len B) / (len A + len B)``, the diagnostics' own length feature; the model's answers vary in
  length by a hash-drawn amount, so ``d`` spreads over most of [-1, 1].

The diagnostics are read from the run's report tables (``judged_sections``, checked against what ``show``
prints), and their 95% intervals must cover the injected values. Every draw is a hash of a fixed seed and the
request, so a run is the same whatever order the concurrent calls arrive in. A 95% interval misses on one seed in
20; coverage over many seeds is checked in process (``tests/test_judge_diagnostics.py``); these tests check that
a real run over HTTP feeds the diagnostics what the judge did.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import cli
from fake_openai import last_user_text, running_server
from tianping.judging.diagnostics import verbosity_preference
from tianping.judging.records import PairRecord, read_record
from tianping.judging.sections import BIAS_COLUMNS, judged_sections
from tianping.report.collect import run_info
from tianping.store import Store

MODEL = "openai/m"
JUDGE = "openai/judge"
PAIRS = 300  # 600 judge calls per run
P_FIRSTS = (0.1, 0.3, 0.6)
MARKED_SHARE = 0.4
SLOPES_INTERCEPTS = ((2.5, 0.4), (-1.5, 0.0))
MARKER = "[checked]"

_PAIR = re.compile(r"### Reply A\n(.*?)\n\n### Reply B\n(.*?)\n\n### End of replies\Z", re.S)


def _unit(*parts: object) -> float:
    """A number in [0, 1) drawn from a hash of its inputs."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _replies(body: dict[str, Any]) -> tuple[str, str]:
    found = _PAIR.search(body["messages"][-1]["content"])
    assert found is not None, "the fake judge got a prompt that is not tianping's comparison prompt"
    return found.group(1), found.group(2)


class Log:
    """What the fake judge decided per (reply A, reply B): the servers answer in their own threads."""

    def __init__(self) -> None:
        self.calls: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def keep(self, a: str, b: str, **decision: Any) -> None:
        with self._lock:
            assert (a, b) not in self.calls, "one order of one pair was judged twice"
            self.calls[(a, b)] = decision


def marked_model(seed: str):
    """The evaluated model: a short answer, with the marker on a hash-chosen MARKED_SHARE of the questions."""

    def answer(body: dict[str, Any]) -> str:
        question = last_user_text(body)
        text = f"My answer to: {' '.join(question.split()[:8])}"
        return text + (" " + MARKER if _unit(seed, "mark", question) < MARKED_SHARE else "")

    return answer


def varied_model(seed: str):
    """The evaluated model: answers from 30 to 6,000 characters, log-uniform by a hash of the question, so the
    length feature against the baselines' answers (mostly 1-3k characters) spans most of [-1, 1]."""

    def answer(body: dict[str, Any]) -> str:
        question = last_user_text(body)
        size = int(math.exp(math.log(30) + _unit(seed, "length", question) * math.log(6000 / 30)))
        text = f"Answer to: {' '.join(question.split()[:4])}. " + "More detail on this point. " * 250
        return text[:size].rstrip() or "Yes."

    return answer


def content_prefers(seed: str, a: str, b: str) -> bool:
    """The hidden rule on content: a marked reply beats an unmarked one, else the larger content hash wins; the
    order the replies come in plays no part."""
    if (MARKER in a) != (MARKER in b):
        return MARKER in a
    return _unit(seed, "content", a) > _unit(seed, "content", b)


def position_judge(seed: str, log: Log, p_first: float):
    """Names reply A with probability ``p_first`` whatever the replies say, else judges by content alone."""

    def answer(body: dict[str, Any]) -> str:
        a, b = _replies(body)
        biased = _unit(seed, "position", a, b) < p_first
        a_wins = True if biased else content_prefers(seed, a, b)
        log.keep(a, b, biased=biased, a_wins=a_wins)
        return "Compared both replies.\n" + ("[[A>B]]" if a_wins else "[[B>A]]")

    return answer


def length_feature(a: str, b: str) -> float:
    return (len(a) - len(b)) / (len(a) + len(b))


def verbose_judge(seed: str, log: Log, slope: float, intercept: float):
    """A wins with the logistic probability of ``intercept + slope * (relative length difference)``."""

    def answer(body: dict[str, Any]) -> str:
        a, b = _replies(body)
        p_a = 1 / (1 + math.exp(-(intercept + slope * length_feature(a, b))))
        a_wins = _unit(seed, "verbose", a, b) < p_a
        log.keep(a, b, a_wins=a_wins, p_a=p_a)
        return "Weighed them.\n" + ("[[A>>B]]" if a_wins else "[[B>>A]]")

    return answer


def judged_run(tmp: Path, model_fn, judge_fn) -> tuple[list[dict[str, Any]], dict[str, tuple[str, ...]]]:
    """Runs Arena-Hard through the CLI; the stored samples and the bias table's rows by diagnostic name."""
    with running_server(answer_fn=model_fn) as model, running_server(answer_fn=judge_fn) as judge:
        done = cli(
            "run", "--model", MODEL, "--base-url", model.base_url, "--benchmark", "arena_hard",
            "--limit", str(PAIRS), "--concurrency", "16", "--judge-model", JUDGE, "--judge-base-url",
            judge.base_url, "--results-dir", str(tmp), "--run-id", "bias", env={"OPENAI_API_KEY": "x"},
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    store = Store.open(tmp)
    try:
        samples = list(store.sample_rows("bias"))
        info = run_info(store, "bias")
    finally:
        store.close()
    sections = {s.id: s for s in judged_sections(info)}
    bias = sections["judge-bias"]
    assert bias.columns == BIAS_COLUMNS
    rows = {row[2]: row for row in bias.rows if row[0] == MODEL and row[1] == "arena_hard"}
    shown = cli("show", "bias", "--results-dir", str(tmp))
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    for name in ("Position consistency", "First position wins", "Net position bias", "Verbosity"):
        assert " ".join(rows[name][2:5]) in text, rows[name]  # show prints the numbers the tests read
    return samples, rows


def _number(text: str) -> float:
    return float(text.rstrip("%")) / (100 if text.endswith("%") else 1)


def _interval(text: str, percent: bool) -> tuple[float, float]:
    low, high = (float(x) for x in text.strip("[]").split(","))
    return (low / 100, high / 100) if percent else (low, high)


def _covers(interval: tuple[float, float], value: float) -> bool:
    return interval[0] <= value <= interval[1]


def _records(samples: list[dict[str, Any]]) -> list[tuple[dict[str, Any], PairRecord]]:
    out = []
    for row in samples:
        record = read_record(row["reason"])
        assert isinstance(record, PairRecord) and record.parsed, row["sample_id"]
        out.append((row, record))
    return out


@pytest.mark.parametrize("p_first", P_FIRSTS)
def test_position_bias_of_a_scripted_judge_is_recovered_from_a_real_run(
    p_first: float, tmp_path: Path, data_dir: Path
) -> None:
    seed, log = f"position-{p_first}", Log()
    samples, rows = judged_run(tmp_path, marked_model(seed), position_judge(seed, log, p_first))
    records = _records(samples)
    assert len(records) == PAIRS and len(log.calls) == 2 * PAIRS
    assert any(MARKER in row["output"] for row, _ in records) and any(MARKER not in r["output"] for r, _ in records)
    biased_calls = sum(c["biased"] for c in log.calls.values())
    assert abs(biased_calls / (2 * PAIRS) - p_first) < 0.06  # the script did inject about p_first

    # what the script did on this run's pairs: a pair flips exactly when the call that shows the content winner
    # second was a biased one, and then the first position won both times; the second position never wins twice
    flipped = 0
    for row, _ in records:
        model, baseline = row["output"], row["target"]
        winner, loser = (model, baseline) if content_prefers(seed, model, baseline) else (baseline, model)
        flipped += log.calls[(loser, winner)]["biased"]
    consistency = rows["Position consistency"]
    assert consistency[5] == str(PAIRS)
    assert _number(consistency[3]) == pytest.approx(1 - flipped / PAIRS, abs=0.0005)
    assert _covers(_interval(consistency[4], percent=True), 1 - p_first), consistency

    net = rows["Net position bias"]
    assert net[5] == str(PAIRS) and net[6] == f"first-first {flipped}, second-second 0"
    assert _covers(_interval(net[4], percent=False), p_first), net
    standard_error = math.sqrt(p_first * (1 - p_first) / PAIRS)
    assert abs(_number(net[3]) - p_first) < 4 * standard_error, net

    first = rows["First position wins"]
    assert first[5] == str(2 * PAIRS)
    assert _covers(_interval(first[4], percent=True), (1 + p_first) / 2), first
    assert first[6] == "prefers the first position"


@pytest.mark.parametrize(("slope", "intercept"), SLOPES_INTERCEPTS)
def test_verbosity_slope_of_a_scripted_judge_is_recovered_from_a_real_run(
    slope: float, intercept: float, tmp_path: Path, data_dir: Path
) -> None:
    seed, log = f"verbosity-{slope}", Log()
    samples, rows = judged_run(tmp_path, varied_model(seed), verbose_judge(seed, log, slope, intercept))
    records = _records(samples)
    assert len(records) == PAIRS and len(log.calls) == 2 * PAIRS
    # the lengths the diagnostics use are those of the replies the judge read
    for row, record in records:
        assert (record.model_length, record.baseline_length) == (len(row["output"]), len(row["target"]))
        assert (row["output"], row["target"]) in log.calls and (row["target"], row["output"]) in log.calls
    features = [length_feature(a, b) for a, b in log.calls]
    assert min(features) < -0.6 and max(features) > 0.6  # a slope needs a spread of length differences

    verbosity = rows["Verbosity"]
    assert verbosity[5] == str(2 * PAIRS)  # every call decisive
    assert _covers(_interval(verbosity[4], percent=False), slope), verbosity
    assert abs(_number(verbosity[3]) - slope) < 0.75, verbosity  # about four standard errors at 600 calls
    direction = "prefers longer" if slope > 0 else "prefers shorter"
    assert verbosity[6] == f"log-odds per relative length: {direction}"

    # the intercept (the position effect at equal lengths) is not in the table; fitted on the same stored pairs.
    # Checked to four standard errors, not to its 95% interval: that misses on one seed in 20 (on the seed
    # "verbosity-2.5" it does, 2.3 standard errors off), and a second interval per run would double the chance
    pairs = [dataclasses.replace(rec.pair(MODEL), item_id=str(row["sample_id"])) for row, rec in records]
    fit = verbosity_preference(pairs)
    assert fit is not None and f"{fit.slope:.2f}" == verbosity[3]
    standard_error = (fit.intercept_ci[1] - fit.intercept_ci[0]) / (2 * 1.96)
    assert abs(fit.intercept - intercept) < 4 * standard_error, fit
