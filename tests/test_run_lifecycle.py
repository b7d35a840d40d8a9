"""How a run ends, and how it is continued: signals, dead processes, two processes on one run, endpoints that
change, definitions that change, resumes that fail. Nothing already answered is lost or mixed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from engine_helpers import REPO, cli, make_spec, outcomes, run_engine
from fake_openai import oracle_answer_fn, running_server
from tianping.engine.runner import Runner
from tianping.store import Store

N = 40


def args_for(base_url: str, results, data_dir, *extra: str, limit: int = N) -> list[str]:
    return ["--model", "openai/m", "--base-url", base_url, "--benchmark", "gsm8k", "--limit", str(limit),
            "--concurrency", "2", "--data-dir", str(data_dir), "--results-dir", str(results), *extra]  # fmt: skip


def answered(db) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("select count(*) from samples").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tianping", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def wait_for_answers(db, at_least: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while answered(db) < at_least and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert answered(db) >= at_least, "the run never got going"


def test_the_same_model_name_on_another_server_is_not_answered_from_cache(tmp_path, data_dir):
    results = tmp_path / "results"
    with (
        running_server(answer_fn=oracle_answer_fn(accuracy=1.0)) as a,
        running_server(answer_fn=oracle_answer_fn(accuracy=0.0)) as b,
    ):
        first = cli("run", *args_for(a.base_url, results, data_dir, "--run-id", "on-a"))
        assert first.returncode == 0, first.stderr
        second = cli("run", *args_for(b.base_url, results, data_dir, "--run-id", "on-b"))
        assert second.returncode == 0, second.stderr
        assert b.requests_total == N  # nothing of server A's answers was reused
        assert "0 answered from cache" in second.stderr
        again = cli("run", *args_for(a.base_url, results, data_dir, "--run-id", "on-a-again"))
        assert f"{N} answered from cache" in again.stderr
    store = Store.open(results)
    rows = {r["run_id"]: r for r in (store.get_run(x) for x in ("on-a", "on-b"))}
    assert {r["status"] for r in rows.values()} == {"completed"}
    scores = {rid: [s["score"] for s in store.sample_rows(rid)] for rid in rows}
    assert set(scores["on-a"]) == {1.0} and set(scores["on-b"]) == {0.0}
    endpoints = {rid: {s["endpoint"] for s in store.sample_rows(rid)} for rid in rows}
    assert endpoints == {"on-a": {a.base_url}, "on-b": {b.base_url}}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_marks_the_run_interrupted_and_resume_finishes_it(tmp_path, data_dir, sig):
    results = tmp_path / "results"
    with running_server(answer_fn=oracle_answer_fn(), latency_s=0.05) as server:
        proc = start("run", *args_for(server.base_url, results, data_dir, "--run-id", "sig"))
        wait_for_answers(results / "tianping.sqlite", 4, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "Traceback" not in err and "tianping resume sig" in err
        # in a log the progress bar is printed once, when it stops: before the line that says how the run ended
        lines = err.splitlines()
        bar = max(i for i, line in enumerate(lines) if line.startswith("evaluating"))
        assert bar < next(i for i, line in enumerate(lines) if line.startswith("error: interrupted")), err
        store = Store.open(results, readonly=True)
        run = store.get_run("sig")
        assert run["stored_status"] == "interrupted" and not run["live"]
        kept = answered(results / "tianping.sqlite")
        assert 0 < kept < N
        shown = cli("show", "sig", "--results-dir", str(results))
        assert shown.returncode == 0 and "interrupted" in shown.stdout
        resumed = cli("resume", "sig", "--results-dir", str(results))
        assert resumed.returncode == 0, resumed.stderr
    assert Store.open(results).get_run("sig")["status"] == "completed"


def test_a_killed_run_reads_as_interrupted_and_shows_what_is_stored(tmp_path, data_dir):
    results = tmp_path / "results"
    with running_server(answer_fn=oracle_answer_fn(accuracy=1.0), latency_s=0.05) as server:
        proc = start("run", *args_for(server.base_url, results, data_dir, "--run-id", "dead"))
        wait_for_answers(results / "tianping.sqlite", 6, proc)
        proc.kill()
        proc.wait()
    kept = answered(results / "tianping.sqlite")
    listed = cli("runs", "--results-dir", str(results))
    assert "interrupted" in listed.stdout and "running" not in listed.stdout
    shown = cli("show", "dead", "--results-dir", str(results))
    assert shown.returncode == 0, shown.stderr
    assert "partial" in shown.stdout
    row = next(line for line in shown.stdout.splitlines() if "gsm8k" in line)
    assert f" {kept} " in row and "100.0" in row
    report = cli("report", "dead", "--results-dir", str(results))
    assert report.returncode == 0 and "partial" in (results / "dead.html").read_text()


def test_a_second_process_on_a_live_run_is_refused(tmp_path, data_dir):
    results = tmp_path / "results"
    with running_server(answer_fn=oracle_answer_fn(), latency_s=0.1) as server:
        first = start("run", *args_for(server.base_url, results, data_dir, "--run-id", "busy"))
        try:
            wait_for_answers(results / "tianping.sqlite", 2, first)
            # the rest of the run is slowed so that it is still live while two processes start (seconds on a
            # loaded machine); what the first asked before this answers at the old pace
            server.latency_s = 2.0
            for command in (
                ["resume", "busy"],
                ["run", *args_for(server.base_url, results, data_dir, "--run-id", "busy")],
            ):
                if command[0] == "resume":
                    command += ["--results-dir", str(results)]
                second = cli(*command)
                assert second.returncode == 3, second.stderr
                assert f"process {first.pid}" in second.stderr and "being executed" in second.stderr
        finally:
            first.kill()
            first.wait()
        server.latency_s = 0.0
        before = server.requests_total
        resumed = cli("resume", "busy", "--results-dir", str(results))  # its owner is dead: it may be taken over
        assert resumed.returncode == 0, resumed.stderr
        assert server.requests_total - before <= N
        assert max(server.requests_by_key.values()) <= 2  # only what was in flight at the kill was asked twice


def test_a_run_that_failed_on_a_mistyped_url_resumes_with_the_right_one(tmp_path, data_dir):
    results = tmp_path / "results"
    wrong = "http://127.0.0.1:9/v1"
    failed = cli("run", *args_for(wrong, results, data_dir, "--run-id", "typo", "--max-retries", "0"))
    assert failed.returncode == 3, failed.stderr
    with running_server(answer_fn=oracle_answer_fn()) as server:
        bad = cli("resume", "typo", "--results-dir", str(results), "--base-url", "ftp://x")
        assert bad.returncode == 2 and "--base-url" in bad.stderr
        fixed = cli("resume", "typo", "--results-dir", str(results), "--base-url", server.base_url, "-c", "8")
        assert fixed.returncode == 0, fixed.stderr
        assert server.requests_total == N
    run = Store.open(results).get_run("typo")
    assert run["status"] == "completed"
    assert run["spec"]["models"][0]["base_url"] == server.base_url
    assert run["spec"]["models"][0]["concurrency"] == 8


def test_run_with_the_same_id_may_change_how_it_executes_but_not_what_it_asks(tmp_path, data_dir):
    results = tmp_path / "results"
    wrong = "http://127.0.0.1:9/v1"
    assert cli("run", *args_for(wrong, results, data_dir, "--run-id", "r", "--max-retries", "0")).returncode == 3
    with running_server(answer_fn=oracle_answer_fn()) as server:
        other = cli("run", *args_for(server.base_url, results, data_dir, "--run-id", "r", "--temperature", "0.7"))
        assert other.returncode == 2 and "generation" in other.stderr and server.requests_total == 0
        same = cli("run", *args_for(server.base_url, results, data_dir, "--run-id", "r", "--timeout", "30"))
        assert same.returncode == 0, same.stderr


def test_answers_from_two_endpoints_never_mix_in_one_run(tmp_path, data_dir):
    results = tmp_path / "results"
    with running_server(answer_fn=oracle_answer_fn(), latency_s=0.05) as a, running_server() as b:
        proc = start("run", *args_for(a.base_url, results, data_dir, "--run-id", "mix"))
        wait_for_answers(results / "tianping.sqlite", 4, proc)
        proc.kill()
        proc.wait()
        refused = cli("resume", "mix", "--results-dir", str(results), "--base-url", b.base_url)
        assert refused.returncode == 3 and "already has answers from another endpoint" in refused.stderr
        assert b.requests_total == 0
        resumed = cli("resume", "mix", "--results-dir", str(results))
        assert resumed.returncode == 0, resumed.stderr


def test_an_edited_definition_is_refused_on_resume_and_a_moved_one_is_read_from_the_store(tmp_path, data_dir):
    bench = tmp_path / "defs" / "mine.yaml"
    bench.parent.mkdir()
    text = (
        "name: mine\nversion: 1\ndataset: {loader: gsm8k_jsonl, path: gsm8k/test.jsonl}\n"
        "prompt: {question: 'Q: {{ question }}'}\nscoring: {extractor: final_number}\n"
    )
    bench.write_text(text)
    results = tmp_path / "results"
    with running_server(answer_fn=oracle_answer_fn(), latency_s=0.05) as server:
        args = args_for(server.base_url, results, data_dir, "--run-id", "edit")
        args[args.index("gsm8k")] = "defs/mine.yaml"  # relative to the folder the run starts in
        proc = subprocess.Popen(
            [sys.executable, "-m", "tianping", "run", *args], cwd=tmp_path, stderr=subprocess.PIPE, text=True
        )
        wait_for_answers(results / "tianping.sqlite", 4, proc)
        proc.kill()
        proc.wait()
        bench.write_text(text.replace("Q: ", "Question: "))
        edited = subprocess.run([sys.executable, "-m", "tianping", "resume", "edit", "--results-dir", str(results)],
                                cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
        assert edited.returncode == 2, edited.stderr
        assert "mine.yaml" in edited.stderr and "changed since run edit started" in edited.stderr
        bench.write_text(text)
        elsewhere = cli("resume", "edit", "--results-dir", str(results))  # from the repository: the path is gone
        assert elsewhere.returncode == 0, elsewhere.stderr
    prompts = {r["prompt"]["messages"][-1]["content"][:3] for r in Store.open(results).sample_rows("edit")}
    assert prompts == {"Q: "}


def test_a_failed_resume_never_turns_a_finished_run_into_failed(tmp_path, data_dir):
    results = tmp_path / "results"
    with running_server(answer_fn=oracle_answer_fn()) as server:
        assert cli("run", *args_for(server.base_url, results, data_dir, "--run-id", "done")).returncode == 0
    again = cli("resume", "done", "--results-dir", str(results))
    assert again.returncode == 0 and "nothing to resume" in again.stderr
    with running_server(answer_fn=oracle_answer_fn(), error_rate=0.3, error_statuses=(500,)) as server:
        part = cli("run", *args_for(server.base_url, results, data_dir, "--run-id", "part", "--max-retries", "0"))
        assert part.returncode == 1, part.stderr
    down = cli("resume", "part", "--results-dir", str(results))  # its server is gone now
    assert down.returncode == 3, down.stderr
    store = Store.open(results)
    assert store.get_run("done")["status"] == "completed"
    part_run = store.get_run("part")
    assert part_run["status"] == "incomplete" and "a later resume failed" in part_run["message"]


def test_every_attempt_is_counted_and_retries_are_shown_apart(tmp_path, data_dir):
    with running_server(answer_fn=oracle_answer_fn(), fail_mode="500", fail_first=1) as server:
        done = cli("run", *args_for(server.base_url, tmp_path / "r", data_dir, "--run-id", "retry"))
        assert done.returncode == 0, done.stderr
        assert server.requests_total == 2 * N
    assert f"{N} requests sent ({N} retries)" in done.stderr


def test_an_internal_error_marks_the_run_failed_with_its_reason(tmp_path, data_dir, monkeypatch):
    def broken(self):
        raise RuntimeError("a defect")

    monkeypatch.setattr(Runner, "_check_same_endpoints", broken)
    store = Store.open(tmp_path)
    with running_server() as server, pytest.raises(RuntimeError):
        run_engine(store, make_spec(server.base_url, data_dir, ["gsm8k"], limit=4), "boom")
    run = store.get_run("boom")
    assert run["status"] == "failed" and "internal error: RuntimeError: a defect" in run["message"]
    assert not run["live"]


def test_a_scorer_that_fails_on_one_output_fails_that_sample_only(tmp_path, data_dir, monkeypatch):
    from tianping.benchmarks.benchmark import Benchmark

    real = Benchmark.ascore

    async def flaky(self, sample, response, context):
        if sample.id.endswith("3"):
            raise ValueError("cannot parse this output")
        return await real(self, sample, response, context)

    monkeypatch.setattr(Benchmark, "ascore", flaky)
    store = Store.open(tmp_path)
    with running_server(answer_fn=oracle_answer_fn()) as server:
        spec = make_spec(server.base_url, data_dir, ["gsm8k"], limit=20)
        result = run_engine(store, spec, "scorer")
        assert result.status == "incomplete"
        rows = outcomes(store, "scorer")
        failed = [k for k, v in rows.items() if v[3] == "error"]
        assert failed and all(k[2].endswith("3") for k in failed)
        # the answer was kept: once the scorer copes, a resume scores it without asking the model again
        monkeypatch.setattr(Benchmark, "ascore", real)
        asked = server.requests_total
        again = run_engine(store, spec, "scorer")
        assert again.status == "completed" and again.from_cache == len(failed)
        assert server.requests_total == asked


def test_a_reply_past_max_reply_mb_is_that_samples_error_and_the_run_goes_on(tmp_path, data_dir):
    def answer(body):
        return "x" * (2 << 20) if "3" in str(body["messages"][-1]["content"])[-40:] else "The answer is 1."

    with running_server(answer_fn=answer) as server:
        args = args_for(server.base_url, tmp_path / "r", data_dir, "--run-id", "big", "--max-reply-mb", "1")
        done = cli("run", *args)
    assert done.returncode == 1, done.stderr
    assert "reply larger than 1 MiB (max_body_bytes; raise with --max-reply-mb)" in done.stderr
    rows = list(Store.open(tmp_path / "r").sample_rows("big"))
    errors = [r for r in rows if r["status"] == "error"]
    assert errors and len(errors) < len(rows) and all(r["output"] is None for r in errors)


def test_empty_replies_are_retried_never_scored_as_wrong_nor_cached(tmp_path, data_dir):
    oracle = oracle_answer_fn(accuracy=0.7)
    seen: dict[str, int] = {}

    def flaky(body):  # every prompt's first answer is empty
        key = str(body["messages"])
        seen[key] = seen.get(key, 0) + 1
        return "" if seen[key] == 1 else oracle(body)

    with running_server(answer_fn=flaky) as server:
        spec = make_spec(server.base_url, data_dir, ["gsm8k"], limit=30, max_retries=2)
        flaky_run = run_engine(Store.open(tmp_path / "a"), spec, "flaky")
    with running_server(answer_fn=oracle) as server:
        clean_run = run_engine(Store.open(tmp_path / "b"), make_spec(server.base_url, data_dir, ["gsm8k"], limit=30))
    assert flaky_run.status == clean_run.status == "completed"
    assert flaky_run.retries == 30
    flaky_rows = {k[2]: v for k, v in outcomes(Store.open(tmp_path / "a"), "flaky").items()}
    clean_rows = {k[2]: v for k, v in outcomes(Store.open(tmp_path / "b"), clean_run.run_id).items()}
    assert flaky_rows == clean_rows
    with Store.open(tmp_path / "a")._db as db:
        assert all('"text": ""' not in r[0] for r in db.execute("SELECT response_json FROM responses"))
