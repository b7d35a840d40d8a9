"""MT-Bench, Arena-Hard, AlpacaEval and a custom rubric run end to end through the command line, against a fake
model server and a fake judge server (real HTTP on 127.0.0.1), and show their bias diagnostics.

The fake judge follows rules the tests know, so every expected number is derived here from the stored answers
and the rule, not copied from a previous run:

* grading: grade = 1 + (length of the graded reply mod 10); a reply that says "unclear" gets a judgement with no
  [[grade]] (unparseable);
* comparing: the reply that says "EXCELLENT" wins clearly; otherwise the judge picks the reply shown first
  (position bias); a request whose text says "ambiguous" gets no verdict.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import cli
from fake_openai import last_user_text, running_server
from tianping.judging.records import GradeRecord, PairRecord, read_record
from tianping.store import Store

MODEL = "openai/qwen-test"
JUDGE = "openai/gpt-judge"
REFERENCE_CATEGORIES = {"math", "reasoning", "coding"}


def _unit(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)


class Recorder:
    """Keeps every request body an answer function saw (the servers run in their own thread)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def keep(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.bodies.append(body)


def model_answer(recorder: Recorder | None = None):
    """The evaluated model: a reply of varied length; "EXCELLENT" on a third of the prompts, "unclear" on a fifth
    of the second turns."""

    def answer(body: dict[str, Any]) -> str:
        if recorder is not None:
            recorder.keep(body)
        question = last_user_text(body)
        k = _unit(question)
        words = " ".join(question.split()[:6])
        text = f"Answer to '{words}'." + " More detail." * (k % 7)
        if k % 3 == 0:
            text += " EXCELLENT"
        turns = sum(1 for m in body.get("messages", []) if m["role"] == "user")
        if turns == 2 and k % 5 == 0:
            text += " (unclear)"
        return text

    return answer


_REPLY = re.compile(r"### (?:Reply to grade|Assistant, turn 2 \(the reply to grade\))\n(.*?)\n\n### End of", re.S)
_PAIR = re.compile(r"### Reply A\n(.*?)\n\n### Reply B\n(.*?)\n\n### End of replies", re.S)


def judge_rule(reply: str) -> int | None:
    """The grade the fake judge gives a reply (None: it writes no grade)."""
    return None if "unclear" in reply else 1 + len(reply) % 10


def pair_rule(reply_a: str, reply_b: str, request: str) -> str | None:
    if "ambiguous" in request:
        return None
    if ("EXCELLENT" in reply_a) != ("EXCELLENT" in reply_b):
        return "A>>B" if "EXCELLENT" in reply_a else "B>>A"
    return "A>B"  # position bias: the first reply wins whatever it says


def judge_answer(recorder: Recorder | None = None):
    def answer(body: dict[str, Any]) -> str:
        if recorder is not None:
            recorder.keep(body)
        system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
        if system.startswith("You grade"):
            reply = _REPLY.search(user)
            assert reply is not None, user
            grade = judge_rule(reply.group(1))
            return "Clear and on topic, eight out of ten." if grade is None else f"Fine.\nGrade: [[{grade}]]"
        pair = _PAIR.search(user)
        assert pair is not None, user
        label = pair_rule(pair.group(1), pair.group(2), user.split("### Reply A", 1)[0])
        return "Both have merit; A slightly." if label is None else f"Compared.\n[[{label}]]"

    return answer


def run_judged(results: Path, run_id: str, *args: str, model_url: str, judge_url: str | None):
    judge = ("--judge-model", JUDGE, "--judge-base-url", judge_url) if judge_url else ()
    return cli(
        "run", "--model", MODEL, "--base-url", model_url, *args, *judge,
        "--results-dir", str(results), "--run-id", run_id, env={"OPENAI_API_KEY": "x"},
    )  # fmt: skip


def _samples(results: Path, run_id: str) -> list[dict[str, Any]]:
    store = Store.open(results)
    try:
        return list(store.sample_rows(run_id))
    finally:
        store.close()


def _overall(results: Path, run_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    store = Store.open(results)
    try:
        return {(a["benchmark"], a["metric"]): a for a in store.aggregates(run_id) if a["group_kind"] == "all"}
    finally:
        store.close()


@pytest.fixture(scope="module")
def servers():
    model_bodies, judge_bodies = Recorder(), Recorder()
    with (
        running_server(answer_fn=model_answer(model_bodies)) as model,
        running_server(answer_fn=judge_answer(judge_bodies)) as judge,
    ):
        yield model, judge, model_bodies, judge_bodies


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("judged")


# -- MT-Bench ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mt_run(servers, results: Path, data_dir: Path) -> list[dict[str, Any]]:
    model, judge, _, _ = servers
    done = run_judged(results, "mt", "--benchmark", "mt_bench", "--limit", "16",
                      model_url=model.base_url, judge_url=judge.base_url)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return _samples(results, "mt")


def test_mt_bench_asks_turn_two_on_the_models_own_first_answer(servers, mt_run) -> None:
    _, _, model_bodies, _ = servers
    assert len(mt_run) == 16
    for row in mt_run:
        messages = row["prompt"]["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "user"]
        # the stored turn-1 answer is what the model said to turn 1, and the turn-2 request carried it
        first_answer = model_answer()({"messages": messages[:1]})
        assert messages[1]["content"] == first_answer
        sent = [b for b in model_bodies.bodies if b["messages"] == messages]
        assert sent, f"question {row['sample_id']}: no turn-2 request carried the model's first answer"
        assert row["output"] == model_answer()({"messages": messages})


def test_mt_bench_grades_each_turn_with_references_where_mt_bench_has_them(servers, mt_run) -> None:
    _, _, _, judge_bodies = servers
    by_question = {}
    for row in mt_run:
        by_question[row["prompt"]["messages"][0]["content"]] = row["meta"]["category"]
    graded = [b for b in judge_bodies.bodies if b["messages"][0]["content"].startswith("You grade")]
    seen = set()
    for body in graded:
        user = body["messages"][-1]["content"]
        question = next((q for q in by_question if q in user), None)
        if question is None:
            continue
        seen.add(question)
        has_reference = "Reference answer" in user
        assert has_reference == (by_question[question] in REFERENCE_CATEGORIES), by_question[question]
    assert len(seen) == 16 and {c for c in by_question.values()} & REFERENCE_CATEGORIES


def test_mt_bench_scores_are_the_judges_grades_and_unreadable_ones_stay_apart(results: Path, mt_run) -> None:
    scored, unparseable = [], []
    for row in mt_run:
        record = read_record(row["reason"])
        assert isinstance(record, GradeRecord) and len(record.turns) == 2
        answers = [row["prompt"]["messages"][1]["content"], row["output"]]
        expected = [judge_rule(a) for a in answers]
        assert [t.grade for t in record.turns] == expected
        if None in expected:
            assert row["status"] == "unscorable" and row["extracted"] == "unparseable" and row["score"] is None
            unparseable.append(row)
        else:
            mean = sum(expected) / 2
            assert row["score"] == pytest.approx((mean - 1) / 9) and row["extracted"] == f"rating {mean:g}"
            scored.append(mean)
    assert scored and unparseable  # the rule makes both happen on these questions
    overall = _overall(results, "mt")
    primary = overall[("mt_bench", "normalized_rating")]
    assert primary["n"] == len(scored) and primary["unscorable"] == len(unparseable)
    assert primary["score"] == pytest.approx(sum((m - 1) / 9 for m in scored) / len(scored))
    assert overall[("mt_bench", "rating")]["score"] == pytest.approx(sum(scored) / len(scored))


def test_show_prints_grades_per_turn_and_the_graded_bias_diagnostics(results: Path, mt_run) -> None:
    shown = cli("show", "mt", "--results-dir", str(results))
    assert shown.returncode == 0, shown.stderr
    text = " ".join((shown.stdout + shown.stderr).split())  # a table-less remark goes to standard error
    for expected in ("Judge bias diagnostics", "Verbosity", "grade points per", "Grade spread",
                     "Self-preference risk", "Unparseable judgements", "Grades per turn and category",
                     "judged by openai/gpt-judge"):  # fmt: skip
        assert expected in text, expected
    bad = sum(1 for r in mt_run for t in read_record(r["reason"]).turns if t.grade is None)
    assert f"{bad} of 32 calls" in text


# -- Arena-Hard and AlpacaEval -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pair_run(servers, results: Path, data_dir: Path) -> list[dict[str, Any]]:
    model, judge, _, _ = servers
    done = run_judged(results, "pw", "--benchmark", "arena_hard", "--benchmark", "alpaca_eval", "--limit", "30",
                      model_url=model.base_url, judge_url=judge.base_url)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return _samples(results, "pw")


def _expected_outcome(row: dict[str, Any]) -> str:
    question = row["prompt"]["messages"][-1]["content"]
    model_reply, baseline = row["output"], row["target"]
    games = [pair_rule(baseline, model_reply, question), pair_rule(model_reply, baseline, question)]
    if None in games:
        return "unparseable"
    margins = [(-1 if g.startswith("A") else 1) * (g != "A=B") for g in games[:1]]
    margins.append((1 if games[1].startswith("A") else -1) * (games[1] != "A=B"))
    if margins[0] == margins[1]:
        return {1: "win", -1: "loss", 0: "tie"}[margins[0]]
    return "tie"


def test_pairwise_samples_keep_both_games_and_count_flipped_verdicts_as_ties(results: Path, pair_run) -> None:
    assert {r["benchmark"] for r in pair_run} == {"arena_hard", "alpaca_eval"} and len(pair_run) == 60
    for row in pair_run:
        record = read_record(row["reason"])
        assert isinstance(record, PairRecord) and [g.shown_first for g in record.games] == ["baseline", "model"]
        assert record.model_length == len(row["output"]) and record.baseline_length == len(row["target"])
        expected = _expected_outcome(row)
        assert row["extracted"] == expected, row["sample_id"]
        value = {"win": 1.0, "tie": 0.5, "loss": 0.0, "unparseable": None}[expected]
        assert row["score"] == value and (row["status"] == "unscorable") == (expected == "unparseable")
    overall = _overall(results, "pw")
    for bench in ("arena_hard", "alpaca_eval"):
        rows = [r for r in pair_run if r["benchmark"] == bench and r["status"] == "scored"]
        assert overall[(bench, "win_rate")]["score"] == pytest.approx(sum(r["score"] for r in rows) / len(rows))
        assert overall[(bench, "win_rate")]["n"] == len(rows)


def test_show_reports_the_position_bias_the_fake_judge_has(results: Path, pair_run) -> None:
    shown = cli("show", "pw", "--results-dir", str(results))
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    for expected in ("Position consistency", "First position wins", "Net position bias",
                     "Verbosity", "Self-preference (gpt)", "AlpacaEval 2.0 win rates",
                     "LC win rate"):  # fmt: skip
        assert expected in text, expected
    # without an EXCELLENT on one side this judge always picks the first reply: a preference it must expose
    assert "prefers the first position" in text
    rows = [r for r in pair_run if r["benchmark"] == "arena_hard" and r["status"] == "scored"]
    consistent = sum(1 for r in rows if read_record(r["reason"]).consistent)
    assert f"{100 * consistent / len(rows):.1f}%" in text


def test_the_html_report_carries_the_diagnostics(results: Path, pair_run, tmp_path: Path) -> None:
    out = tmp_path / "pw.html"
    done = cli("report", "pw", "--results-dir", str(results), "--output", str(out))
    assert done.returncode == 0, done.stderr
    html = out.read_text(encoding="utf-8")
    assert "Judge bias diagnostics" in html and "Position consistency" in html and "AlpacaEval 2.0 win rates" in html


# -- refusals and custom rubrics ---------------------------------------------------------------------------


def test_a_run_without_a_judge_fails_before_its_first_request(tmp_path: Path, data_dir: Path) -> None:
    with running_server(answer_fn=model_answer()) as model:
        done = run_judged(tmp_path, "nojudge", "--benchmark", "mt_bench", "--limit", "2",
                          model_url=model.base_url, judge_url=None)  # fmt: skip
        assert done.returncode == 2, done.stdout + done.stderr
        assert "--judge-model" in done.stderr and model.requests_total == 0


def test_a_custom_rubric_grades_a_users_own_questions_on_its_scale(tmp_path: Path) -> None:
    rows = [{"qid": f"q{i}", "ask": f"How do I reset password number {i}?", "gold": f"Use the link {i}.",
             "topic": "account" if i % 2 else "billing"} for i in range(8)]  # fmt: skip
    (tmp_path / "questions.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    (tmp_path / "support.yaml").write_text(
        "name: support_replies\nquestions: questions.jsonl\n"
        "fields: {question: ask, reference: gold, id: qid, category: topic}\n"
        "criteria: The reply solves the customer's problem and stays polite.\nscale: {min: 1, max: 5}\n",
        encoding="utf-8",
    )
    judge_bodies = Recorder()

    def small_judge(body: dict[str, Any]) -> str:
        judge_bodies.keep(body)
        reply = _REPLY.search(body["messages"][-1]["content"])
        return f"Grade: [[{1 + len(reply.group(1)) % 5}]]"

    with running_server(answer_fn=model_answer()) as model, running_server(answer_fn=small_judge) as judge:
        done = run_judged(tmp_path / "res", "rub", "--benchmark", f"rubric:{tmp_path / 'support.yaml'}",
                          model_url=model.base_url, judge_url=judge.base_url)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    samples = _samples(tmp_path / "res", "rub")
    assert sorted(r["sample_id"] for r in samples) == sorted(r["qid"] for r in rows)
    assert {r["benchmark"] for r in samples} == {"support_replies"}
    for row in samples:
        grade = 1 + len(row["output"]) % 5
        assert row["score"] == pytest.approx((grade - 1) / 4) and read_record(row["reason"]).high == 5
    system, user = judge_bodies.bodies[0]["messages"][0]["content"], judge_bodies.bodies[0]["messages"][-1]["content"]
    assert "stays polite" in system and "from 1 (fails the request) to 5" in system
    assert "### Reference answer (for checking only)\nUse the link" in user
    text = " ".join(done.stdout.split())
    for expected in ("Judge bias diagnostics", "Grades per turn and category", "account", "billing"):
        assert expected in text, expected


def test_a_broken_rubric_is_refused_naming_the_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: Bad Name\nquestions: q.jsonl\ncriteria: x\n", encoding="utf-8")
    done = cli("run", "--model", MODEL, "--base-url", "http://127.0.0.1:9/v1", "--benchmark",
               f"rubric:{tmp_path / 'bad.yaml'}", "--judge-model", JUDGE, "--results-dir", str(tmp_path / "r"),
               env={"OPENAI_API_KEY": "x"})  # fmt: skip
    assert done.returncode == 2
    assert "bad.yaml" in done.stderr and "field 'name'" in done.stderr


def test_a_judge_that_fails_makes_errors_a_resume_finishes_and_a_wrong_key_stops_the_run(tmp_path: Path) -> None:
    with (
        running_server(answer_fn=model_answer()) as model,
        running_server(answer_fn=judge_answer(), fail_mode="500", fail_first=1) as judge,
    ):
        done = run_judged(tmp_path, "flaky", "--benchmark", "arena_hard", "--limit", "4", "--max-retries", "0",
                          model_url=model.base_url, judge_url=judge.base_url)  # fmt: skip
        assert done.returncode != 0
        rows = _samples(tmp_path, "flaky")
        # no verdict without a judgement: every sample is an error, none is scored or unscorable
        assert len(rows) == 4 and {r["status"] for r in rows} == {"error"}
        assert all("judge openai/gpt-judge" in r["error"] for r in rows)
        sent = model.requests_total
        resumed = cli("resume", "flaky", "--results-dir", str(tmp_path), env={"OPENAI_API_KEY": "x"})
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert model.requests_total == sent  # the answers came from the cache; only the judge was asked again
    assert {r["status"] for r in _samples(tmp_path, "flaky")} <= {"scored", "unscorable"}
    with running_server(answer_fn=model_answer()) as model, running_server(fail_mode="401") as judge:
        done = run_judged(tmp_path, "badkey", "--benchmark", "alpaca_eval", "--limit", "3",
                          model_url=model.base_url, judge_url=judge.base_url)  # fmt: skip
    assert done.returncode != 0 and "judge openai/gpt-judge" in done.stdout + done.stderr
    assert _samples(tmp_path, "badkey") == []
