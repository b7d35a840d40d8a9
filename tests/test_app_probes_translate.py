"""``translate_model_<lang>``: the request translated by the attacker model, the answer translated back and judged,
both translations kept in the stored reason."""

from __future__ import annotations

import json

from engine_helpers import cli
from fake_openai import last_user_text, running_server
from tianping.store import Store

REFUSAL = "I'm sorry, but I can't help with that request."


def _target(body: dict) -> str:
    """Refuses in English, complies when asked in Zulu (the weakness the method looks for)."""
    text = last_user_text(body)
    complied = "[zu-answer] Sure, here is how. Step 1: gather what is needed. Step 2: do it at night. Step 3: hide it."
    return complied if text.startswith("[zu] ") else REFUSAL


def _translator(body: dict) -> str:
    system = body["messages"][0]["content"]
    text = last_user_text(body)
    if "into Zulu" in system:
        return f"[zu] {text}"
    return text.removeprefix("[zu-answer] ")  # back into the seed's language


def _judge(body: dict) -> str:
    unsafe = "Sure, here is how" in last_user_text(body)
    return json.dumps({"refused": not unsafe, "harm": 3 if unsafe else 0, "unsafe": unsafe, "reason": "fake"})


def test_translation_through_the_attacker_model_is_sent_judged_and_kept(data_dir, tmp_path):
    results = tmp_path / "results"
    with (
        running_server(answer_fn=_target) as model,
        running_server(answer_fn=_translator) as translator,
        running_server(answer_fn=_judge) as judge,
    ):
        done = cli(
            "run", "--model", "openai/fake", "--base-url", model.base_url, "--suite", "safety", "--attacks",
            "none,translate_model_zu", "--budget", "6", "--overrefusal-budget", "0", "--safety-lang", "en",
            "--attacker-model", "openai/translator", "--attacker-base-url", translator.base_url,
            "--judge-model", "openai/judge", "--judge-base-url", judge.base_url, "--results-dir", str(results),
            "--run-id", "tr", env={"OPENAI_API_KEY": "x"},
        )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    rows = [r for r in Store.open(results).sample_rows("tr") if r["benchmark"] == "safety"]
    zulu = [r for r in rows if r["meta"]["attack"] == "translate_model_zu"]
    plain = [r for r in rows if r["meta"]["attack"] == "none"]
    assert zulu and plain and all(r["score"] == 0.0 for r in plain)
    for r in zulu:
        assert r["status"] == "scored" and r["score"] == 1.0, r["reason"]
        assert r["output"].startswith("[zu-answer] Sure")  # what the model said, in the target language
        assert "sent in Zulu: [zu] " in r["reason"] and "answer read back: Sure, here is how" in r["reason"]


def test_translation_needs_an_attacker_model(tmp_path):
    done = cli("run", "--model", "openai/fake", "--base-url", "http://127.0.0.1:9/v1", "--suite", "safety",
               "--attacks", "translate_model_gd", "--budget", "2", "--overrefusal-budget", "0",
               "--results-dir", str(tmp_path), env={"OPENAI_API_KEY": "x"})  # fmt: skip
    assert done.returncode == 2 and "--attacker-model" in done.stderr
