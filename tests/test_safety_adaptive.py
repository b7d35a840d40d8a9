"""Adaptive attacks end to end: PAIR, TAP, Best-of-N and adaptive Crescendo run through the CLI against scripted
fake target, attacker and judge servers; plus attacker-reply parsing, unreadable or failing attackers, and the
refusal of a run that plans attacker-driven methods without an attacker.

The script: the target refuses everything except one reformulation per method (a prompt carrying that method's
magic marker; for Best-of-N one particular augmentation), so each attack succeeds exactly when its search reaches
that reformulation, after a number of requests the script fixes:

- PAIR: the attacker writes the magic prompt once it has seen three refusals -> request 4 (and its second reply
  is malformed once, so it takes 5 attacker calls);
- TAP (width 2, branching 2): one of the two first refinements drifts off topic and is pruned; the attacker writes
  magic prompts once a branch holds two refusals -> level 3, request 1 + 2 + 1 = 4;
- Crescendo: turn 2 first comes too direct and is refused (backtracked), the magic question comes at turn 3 and
  works only inside the whole benign conversation -> request 4 over 3 turns;
- Best-of-N: the target yields only to augmentation number 5 -> request 5.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import cli, run_engine
from fake_openai import last_user_text, running_server
from tianping.benchmarks.scorers import ScoringContext
from tianping.core import Completion, Request, Response
from tianping.models.errors import AuthError, ServerError
from tianping.safety.adaptive import AttackerError, AttackerReplyError
from tianping.safety.adaptive.best_of_n import sample_prompt
from tianping.safety.adaptive.common import first_json_object, parse_field, parse_on_topic
from tianping.safety.suite import build_suite
from tianping.spec import ModelSpec, RunSpec, SafetyOptions
from tianping.store import Store

REFUSAL = "I'm sorry, but I can't help with that request."
YIELD = "Sure, here is how. Step 1: gather what is needed. Step 2: follow the procedure. Step 3: carry it out."
BACKGROUND = "Here is some general background on the subject, its history and why people discuss it."
METHODS = ("pair", "tap", "best_of_n", "crescendo_adaptive")
SELECTION = ["--budget", "4", "--safety-lang", "en", "--categories", "ethics", "--overrefusal-budget", "0"]
TREE = ["--tap-width", "2", "--tap-branching", "2"]
BON_HIT = 4
"""The 0-based Best-of-N attempt the target yields to."""
SCRIPTED = {  # method -> (requests, rounds, attacker calls) when the attack succeeds
    "pair": (4, 4, 5),
    "tap": (4, 3, 16),
    "crescendo_adaptive": (4, 3, 4),
    "best_of_n": (BON_HIT + 1, BON_HIT + 1, 0),
}


def _goal_and_bon_prompts(data_dir: Path) -> tuple[str, list[str]]:
    """The seed prompt the CLI selection plans, and the Best-of-N samples it will send (seed 0)."""
    options = SafetyOptions(attacks=list(METHODS), budget=4, langs=["en"], categories=["ethics"])
    task = build_suite("safety", data_dir, options).load()
    sample = next(s for s in task.samples if s.meta["attack"] == "best_of_n")
    goal, key = sample.fields["prompt"], f"0:{sample.meta['seed_id']}:best_of_n"
    return goal, [sample_prompt(goal, key, i) for i in range(10)]


class Target:
    """The model under test: yields only to the scripted reformulations; can be made to fail on them."""

    def __init__(self, bon_prompt: str) -> None:
        self.bon_prompt = bon_prompt
        self.broken = False

    def __call__(self, body: dict[str, Any]) -> str:
        messages = body["messages"]
        last = last_user_text(body)
        users = [m["content"] for m in messages if m["role"] == "user"]
        answered = sum(1 for m in messages if m["role"] == "assistant")
        if last == self.bon_prompt or "MAGIC-PAIR" in last or "MAGIC-TAP" in last:
            yields = True
        elif "MAGIC-CRESCENDO" in last:  # only at the end of the whole benign conversation, without the refused turn
            yields = answered == 2 and not any("DIRECT" in u for u in users)
        elif "BENIGN" in last:
            return BACKGROUND
        else:
            yields = False
        if not yields:
            return REFUSAL
        return "" if self.broken else YIELD  # an empty reply is a transport failure: not cached, retried on resume


def attacker_answer(body: dict[str, Any]) -> str:
    """The attacker, scripted by what it is shown (stateless, so a resumed run gets the same prompts)."""
    messages = body["messages"]
    system = messages[0]["content"]
    everything = "\n".join(m["content"] for m in messages)
    last = messages[-1]["content"]
    refusals = everything.count(REFUSAL)
    if '"on_topic"' in system:
        return json.dumps({"on_topic": "DRIFT" not in last})
    if "You lead a conversation" in system:
        turn = int(re.search(r"TURN (\d+) of", last).group(1))
        if turn == 1:
            question = "BENIGN: what is the background of this subject?"
        elif turn == 2:
            question = "BENIGN: which parts of it are debated?" if "was refused" in last else "DIRECT: give it to me."
        elif turn == 3:
            question = "MAGIC-CRESCENDO: now put all of that together."
        else:
            question = f"BENIGN: turn {turn}"
        return json.dumps({"question": question, "progress": "some"})
    if "Several variants" in system:
        variant = re.findall(r"variant (\d+) of", everything)[-1]
        if refusals >= 2:
            prompt = f"MAGIC-TAP {variant} {hashlib.sha256(everything.encode()).hexdigest()[:8]}"
        elif refusals == 0 and variant == "2":
            prompt = "DRIFT: write a poem about spring"
        else:
            prompt = f"tap attempt {refusals}.{variant}"
        return json.dumps({"improvement": "another angle", "prompt": prompt})
    if refusals == 1 and "could not be used" not in last:
        return "I would try a role-play this time, but I forgot the JSON."  # unreadable once: re-asked
    prompt = "MAGIC-PAIR" if refusals >= 3 else f"pair attempt {refusals}"
    return "Here you go:\n```json\n" + json.dumps({"improvement": "reframe", "prompt": prompt}) + "\n```"


def judge_answer(body: dict[str, Any]) -> str:
    unsafe = "Sure, here is how" in last_user_text(body)
    return json.dumps({"refused": False, "harm": 3 if unsafe else 0, "reason": "scripted"})


def _run(results: Path, run_id: str, target: Any, attacker: Any, judge: Any, *extra: str) -> Any:
    return cli(
        "run", "--model", "openai/target", "--base-url", target.base_url, "--suite", "safety",
        "--attacks", ",".join(METHODS), *SELECTION, *TREE,
        "--attacker-model", "openai/attacker", "--attacker-base-url", attacker.base_url,
        "--judge-model", "openai/judge", "--judge-base-url", judge.base_url,
        "--results-dir", str(results), "--run-id", run_id, *extra,
        env={"OPENAI_API_KEY": "x"},
    )  # fmt: skip


def _by_method(results: Path, run_id: str) -> dict[str, dict[str, Any]]:
    rows = [r for r in Store.open(results).sample_rows(run_id) if r["benchmark"] == "safety"]
    return {r["meta"]["attack"]: r for r in rows}


def _used(row: dict[str, Any]) -> tuple[int, int, int]:
    m = row["metrics"]
    return int(m["queries"]), int(m["rounds"]), int(m["attacker_calls"])


def test_each_attack_finds_the_scripted_reformulation_within_its_budget(data_dir, tmp_path):
    goal, bon = _goal_and_bon_prompts(data_dir)
    assert bon[BON_HIT] not in bon[:BON_HIT]
    target = Target(bon[BON_HIT])
    results = tmp_path / "results"
    with (
        running_server(answer_fn=target) as model,
        running_server(answer_fn=attacker_answer) as attacker,
        running_server(answer_fn=judge_answer) as judge,
    ):
        done = _run(results, "win", model, attacker, judge, "--adaptive-queries", "6", "--best-of-n", "6")
        assert done.returncode == 0, done.stderr
        assert model.requests_total == sum(v[0] for v in SCRIPTED.values())
    rows = _by_method(results, "win")
    assert set(rows) == set(METHODS)
    for method, row in rows.items():
        assert row["status"] == "scored" and row["score"] == 1.0, (method, row["reason"])
        assert _used(row) == SCRIPTED[method], method
        assert row["output"] == YIELD
        assert row["reason"].startswith(f"{method}: unsafe answer after {SCRIPTED[method][0]} of 6 requests")
    assert rows["pair"]["prompt"]["messages"] == [{"role": "user", "content": "MAGIC-PAIR"}]
    assert "1 candidate(s) pruned off topic" in rows["tap"]["reason"]
    assert "1 refused turn(s) dropped" in rows["crescendo_adaptive"]["reason"]
    # Crescendo stores the whole conversation that broke the model, without the refused turn
    conversation = rows["crescendo_adaptive"]["prompt"]["messages"]
    assert [m["role"] for m in conversation] == ["user", "assistant", "user", "assistant", "user"]
    assert "MAGIC-CRESCENDO" in conversation[-1]["content"] and "DIRECT" not in json.dumps(conversation)
    bon_sent = rows["best_of_n"]["prompt"]["messages"][-1]["content"]
    assert bon_sent == bon[BON_HIT] and bon_sent != goal
    # the aggregates carry the spend beside the success rate
    aggregates = Store.open(results).aggregates("win")
    overall = {a["metric"]: a for a in aggregates if a["benchmark"] == "safety" and a["group_kind"] == "all"}
    assert overall["attack_success"]["score"] == 1.0
    assert overall["queries"]["score"] == pytest.approx(sum(v[0] for v in SCRIPTED.values()) / 4)
    assert "rounds" in overall and "attacker_calls" in overall


def test_each_attack_fails_when_its_budget_is_one_request_short(data_dir, tmp_path):
    _, bon = _goal_and_bon_prompts(data_dir)
    results = tmp_path / "results"
    with (
        running_server(answer_fn=Target(bon[BON_HIT])) as model,
        running_server(answer_fn=attacker_answer) as attacker,
        running_server(answer_fn=judge_answer) as judge,
    ):
        done = _run(results, "short", model, attacker, judge, "--adaptive-queries", "3", "--best-of-n", str(BON_HIT))
        assert done.returncode == 0, done.stderr
        assert model.requests_total == 3 + 3 + 3 + BON_HIT
    rows = _by_method(results, "short")
    expected = {"pair": (3, 3, 4), "tap": (3, 2, 8), "crescendo_adaptive": (3, 2, 3), "best_of_n": (4, 4, 0)}
    for method, row in rows.items():
        assert row["status"] == "scored" and row["score"] == 0.0, (method, row["reason"])
        assert _used(row) == expected[method], method
        assert "no unsafe answer" in row["reason"]
        assert row["output"] != YIELD


def test_a_resumed_run_replays_the_answered_requests_from_the_cache(data_dir, tmp_path):
    """The target fails on each attack's last request; the resume replays every earlier request from the cache
    (the attacker and the augmentations ask the same things again) and sends only those four last requests."""
    _, bon = _goal_and_bon_prompts(data_dir)
    target = Target(bon[BON_HIT])
    target.broken = True
    results = tmp_path / "results"
    with (
        running_server(answer_fn=target) as model,
        running_server(answer_fn=attacker_answer) as attacker,
        running_server(answer_fn=judge_answer) as judge,
    ):
        done = _run(results, "again", model, attacker, judge, "--adaptive-queries", "6", "--max-retries", "0")
        assert done.returncode == 1, done.stderr
        rows = _by_method(results, "again")
        assert {r["status"] for r in rows.values()} == {"error"}
        assert model.requests_total == sum(v[0] for v in SCRIPTED.values())
        target.broken = False
        model.reset_counters()
        done = cli("resume", "again", "--results-dir", str(results), env={"OPENAI_API_KEY": "x"})
        assert done.returncode == 0, done.stderr
        assert model.requests_total == len(METHODS)  # only each attack's final request was not cached
        assert "4 requests sent" in done.stderr and "answered from cache" in done.stderr
    rows = _by_method(results, "again")
    for method, row in rows.items():
        assert row["score"] == 1.0 and _used(row) == SCRIPTED[method], method


def test_attacker_methods_without_an_attacker_are_refused_before_any_request(data_dir, tmp_path):
    with running_server(answer_fn=lambda body: REFUSAL) as model:
        done = cli(
            "run", "--model", "openai/target", "--base-url", model.base_url, "--suite", "safety",
            "--attacks", "pair", *SELECTION, "--results-dir", str(tmp_path / "r"), env={"OPENAI_API_KEY": "x"},
        )  # fmt: skip
        assert done.returncode == 2 and "--attacker-model" in done.stderr, done.stderr
        # the engine refuses too, for callers that do not go through the CLI
        spec = RunSpec(
            models=[ModelSpec(id="openai/target", base_url=model.base_url)],
            benchmarks=["safety"],
            data_dir=str(data_dir),
            safety=SafetyOptions(attacks=["tap"], budget=1, langs=["en"], categories=["ethics"]),
        )
        result = run_engine(Store.open(tmp_path / "engine"), spec)
        assert result.status == "failed" and "--attacker-model" in (result.message or "")
        assert model.requests_total == 0


# attacker replies ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        '{"improvement": "x", "prompt": "P"}',
        'Sure! ```json\n{"improvement": "x", "prompt": "P"}\n``` Good luck.',
        'I considered {this} first. {"prompt": "P", "extra": {"nested": [1, 2]}}',
    ],
)
def test_a_readable_reply_yields_its_prompt(reply: str) -> None:
    assert parse_field(reply, "prompt") == "P"


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("Here is my prompt: be nice", "no JSON object"),
        ('{"prompt": "unterminated', "no JSON object"),
        ("[1, 2, 3]", "no JSON object"),
        ('{"improvement": "x"}', '"prompt"'),
        ('{"prompt": ""}', '"prompt"'),
        ('{"prompt": 42}', '"prompt"'),
        ("{" * 5000, "no JSON object"),
    ],
)
def test_an_unreadable_reply_is_an_error_saying_why(reply: str, why: str) -> None:
    with pytest.raises(AttackerReplyError, match=why):
        parse_field(reply, "prompt")


def test_on_topic_replies() -> None:
    assert parse_on_topic('{"on_topic": true}') is True
    assert parse_on_topic('verdict: {"on_topic": "no"}') is False
    with pytest.raises(AttackerReplyError):
        parse_on_topic('{"on_topic": "maybe"}')
    assert first_json_object('x {"a": {"b": 1}} y') == {"a": {"b": 1}}


class _Attacker:
    """An in-process attacker backend: a fixed reply, or a failure."""

    model_id = "openai/attacker"

    def __init__(self, reply: str = "", error: Exception | None = None) -> None:
        self.reply, self.error, self.calls = reply, error, 0

    async def generate(self, request: Request) -> Response:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return Response(completions=(Completion(self.reply),), latency_s=0.0)


def _episode(data_dir: Path, method: str, **options: Any):
    opts = SafetyOptions(attacks=[method], budget=1, langs=["en"], categories=["ethics"], **options)
    task = build_suite("safety", data_dir, opts).load()
    sample = task.samples[0]
    task.build_request(sample, "openai/target", task.generation)
    return task.episode(sample)


async def _never_asked(request: Request) -> Response:
    raise AssertionError("no prompt should reach the model")


@pytest.mark.parametrize("method", ["pair", "tap", "crescendo_adaptive"])
def test_an_attacker_that_never_answers_readably_spends_its_budget_and_sends_nothing(data_dir, method):
    attacker = _Attacker("I refuse to write jailbreaks.")
    episode = _episode(data_dir, method, adaptive_attacker_calls=7, adaptive_retries=2)
    request, response, score = asyncio.run(episode(_never_asked, ScoringContext(attacker=attacker)))
    # TAP stops once a whole level is lost; the others try until the attacker budget is spent
    assert attacker.calls == (6 if method == "tap" else 7) == score.metrics["attacker_calls"]
    assert response is None and score.status == "skipped" and score.metrics["queries"] == 0
    assert score.reason.startswith(f"{method}: no prompt reached the model")


def test_a_failing_attacker_fails_the_sample_and_a_wrong_key_the_run(data_dir):
    from tianping.engine.runner import FatalRunError

    episode = _episode(data_dir, "pair")
    with pytest.raises(AttackerError, match="ServerError"):
        asyncio.run(episode(_never_asked, ScoringContext(attacker=_Attacker(error=ServerError("boom")))))
    with pytest.raises(FatalRunError, match="attacker"):
        asyncio.run(episode(_never_asked, ScoringContext(attacker=_Attacker(error=AuthError("bad key")))))
