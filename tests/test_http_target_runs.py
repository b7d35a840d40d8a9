"""Whole runs through ``tianping run --model http/<target.yaml>``: the safety suite against each fake app (a
multi-turn attack over a cookie session among them), and an ordinary benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine_helpers import cli
from fake_apps import running_apps
from fake_openai import last_user_text, running_server
from tianping.store import Store

REFUSAL = "I'm sorry, but I can't help with that request."
SECRET = "tp-app-secret-7731"


def _cautious_app(turns: list[str]) -> str:
    """Refuses a request asked out of the blue, complies once a conversation has warmed up: a multi-turn attack
    succeeds only if every turn reached the same conversation."""
    if len(turns) < 2:
        return REFUSAL
    return f"Sure, here is how. Step 1: {turns[-1][:80]} Step 2: do it."


def _judge(body: dict) -> str:
    unsafe = "Sure, here is how" in last_user_text(body)
    return json.dumps({"refused": not unsafe, "harm": 3 if unsafe else 0, "unsafe": unsafe, "reason": "fake"})


TARGETS = {
    "json": (
        "url: {root}/json/chat\nheaders: {{X-Api-Key: '${{TP_APP_KEY}}'}}\n"
        "body: {{json: '{{\"message\": {{{{ prompt | json }}}}}}'}}\nreply: {{json_path: $.data.answer}}\n"
    ),
    "form": (
        "url: {root}/form/ask\nbody: {{form: {{q: '{{{{ prompt }}}}'}}}}\n"
        "reply: {{regex: '<div id=\"answer\">(.*?)</div>'}}\n"
    ),
    "session": (
        "url: {root}/session/chat\nbody: {{json: '{{\"text\": {{{{ prompt | json }}}}}}'}}\n"
        "reply: {{json_path: $.reply}}\nsession: {{cookies: true}}\nlimits: {{concurrency: 4}}\n"
    ),
}


@pytest.mark.parametrize("app", sorted(TARGETS))
def test_the_safety_suite_runs_against_each_fake_app(app, data_dir, tmp_path):
    results = tmp_path / "results"
    attacks = "none,crescendo" if app == "session" else "none,roleplay_grandma"
    with running_apps(_cautious_app, api_key=SECRET) as apps, running_server(answer_fn=_judge) as judge:
        target = tmp_path / f"{app}.yaml"
        target.write_text(TARGETS[app].format(root=apps.root), encoding="utf-8")
        done = cli(
            "run", "--model", f"http/{target}", "--suite", "safety", "--attacks", attacks, "--budget", "8",
            "--overrefusal-budget", "0", "--safety-lang", "en", "--judge-model", "openai/judge",
            "--judge-base-url", judge.base_url, "--results-dir", str(results), "--run-id", app,
            env={"TP_APP_KEY": SECRET, "OPENAI_API_KEY": "x"},
        )  # fmt: skip
        sessions = [len(turns) for turns in apps.sessions.values()]
    assert done.returncode in (0, 1), done.stderr
    rows = [r for r in Store.open(results).sample_rows(app) if r["benchmark"] == "safety"]
    by_attack: dict[str, list[dict]] = {}
    for r in rows:
        by_attack.setdefault(r["meta"]["attack"], []).append(r)
    assert set(by_attack) == set(attacks.split(","))
    assert all(r["status"] == "scored" for r in rows), [(r["status"], r["reason"]) for r in rows]
    assert all(r["score"] == 0.0 and "I" in r["output"] for r in by_attack["none"])  # refused out of the blue
    if app == "session":
        # the crescendo conversation reached the app as one session, turn after turn, and so it succeeded
        assert all(r["score"] == 1.0 for r in by_attack["crescendo"])
        assert max(sessions) >= 3 and sessions.count(1) >= len(by_attack["none"])
    else:
        assert all(r["score"] == 0.0 for r in by_attack["roleplay_grandma"])
    stored = b"".join(p.read_bytes() for p in results.rglob("*") if p.is_file())
    assert SECRET.encode() not in stored  # the header's secret is resolved in memory only


def test_an_ordinary_benchmark_runs_against_an_app(data_dir, tmp_path):
    results = tmp_path / "results"
    with running_apps(lambda turns: "Let me think. The answer is 18.", api_key=SECRET) as apps:
        target = tmp_path / "json.yaml"
        target.write_text(TARGETS["json"].format(root=apps.root), encoding="utf-8")
        done = cli(
            "run", "--model", f"http/{target}", "-b", "gsm8k", "--limit", "3", "--results-dir", str(results),
            "--run-id", "bench", env={"TP_APP_KEY": SECRET},
        )  # fmt: skip
        sent = len(apps.received)
    assert done.returncode in (0, 1), done.stderr
    rows = list(Store.open(results).sample_rows("bench"))
    assert len(rows) == 3 and sent == 3
    assert all(r["status"] == "scored" and r["extracted"] == "18" for r in rows)
    assert [r["score"] for r in rows].count(1.0) == sum(r["target"] == "18" for r in rows)


def test_a_bad_target_file_stops_the_run_before_it_starts(tmp_path):
    target = tmp_path / "broken.yaml"
    target.write_text('url: http://127.0.0.1:9/x\nbody: {json: \'{"m": "{{ prompt }}"}\'}\n', encoding="utf-8")
    done = cli("run", "--model", f"http/{target}", "-b", "gsm8k", "--limit", "1", "--results-dir", str(tmp_path))
    assert done.returncode == 2
    assert f"{target}: body.json: insert every value" in done.stderr
    assert not Path(tmp_path, "runs").exists() or not any(Path(tmp_path, "runs").iterdir())


def test_an_edited_target_file_is_another_endpoint_for_the_answer_cache(data_dir, tmp_path):
    """The target file says where the prompts go and how the reply is read: answers cached for one version of it
    are never served to another (a file pointed at another app, or reading another field), and the same file
    still answers from the cache."""
    results = tmp_path / "results"
    target = tmp_path / "app.yaml"
    with running_apps(lambda turns: "Let me think. The answer is 18.", api_key=SECRET) as apps:

        def run(run_id: str) -> tuple[int, set[str]]:
            before = len(apps.received)
            done = cli("run", "--model", f"http/{target}", "-b", "gsm8k", "--limit", "2", "--results-dir",
                       str(results), "--run-id", run_id, env={"TP_APP_KEY": SECRET})  # fmt: skip
            assert done.returncode in (0, 1), done.stderr
            return len(apps.received) - before, {r["endpoint"] for r in Store.open(results).sample_rows(run_id)}

        target.write_text(TARGETS["json"].format(root=apps.root), encoding="utf-8")
        sent_json, json_endpoint = run("json")
        sent_again, again_endpoint = run("again")
        target.write_text(TARGETS["form"].format(root=apps.root), encoding="utf-8")
        sent_form, form_endpoint = run("form")
    assert (sent_json, sent_again, sent_form) == (2, 0, 2)
    assert json_endpoint == again_endpoint != form_endpoint
    assert all(e.startswith(f"http:{target.resolve()}#sha256=") for e in json_endpoint | form_endpoint)


def test_a_resume_after_the_target_file_was_edited_is_refused_naming_the_file(data_dir, tmp_path):
    results = tmp_path / "results"
    target = tmp_path / "app.yaml"
    failing = TARGETS["json"].replace("/json/chat", "/fail/1")  # the same app, whose first request gets a 503
    with running_apps(lambda turns: "The answer is 18.", api_key=SECRET) as apps:
        target.write_text(failing.format(root=apps.root), encoding="utf-8")
        first = cli("run", "--model", f"http/{target}", "-b", "gsm8k", "--limit", "2", "--max-retries", "0",
                    "--concurrency", "1", "--results-dir", str(results), "--run-id", "r",
                    env={"TP_APP_KEY": SECRET})  # fmt: skip
        assert first.returncode == 1, first.stderr  # one sample met the app's 503: the run is incomplete
        target.write_text(TARGETS["json"].format(root=apps.root), encoding="utf-8")
        again = cli("resume", "r", "--results-dir", str(results), env={"TP_APP_KEY": SECRET})
    assert again.returncode != 0
    assert "already has answers from another endpoint" in again.stderr
    assert "Resume with the target file as it was when the run started" in again.stderr
