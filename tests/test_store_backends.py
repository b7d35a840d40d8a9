"""The same store behaviour on SQLite and on PostgreSQL (a throwaway cluster, see postgres_fixture.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

from engine_helpers import REPO, make_spec, outcomes, run_engine
from fake_openai import oracle_answer_fn, running_server
from postgres_fixture import PASSWORD
from tianping.core import Completion, Request, Response, Sample, Score
from tianping.store import Store
from tianping.store.store import RunBusy, StoreError

ENDPOINT = "http://127.0.0.1:9/v1"


def _answer(text: str) -> Response:
    return Response(completions=(Completion(text=text, finish_reason="stop"),), latency_s=0.25, prompt_tokens=7,
                    completion_tokens=3)  # fmt: skip


def _record(store: Store, run_id: str, sample_id: str, text: str | None, **kw: Any) -> Request:
    request = Request(model="openai/m", prompt=f"question {sample_id}")
    response = _answer(text) if text is not None else None
    score = Score(value=1.0 if text == "42" else 0.0, extracted=text) if text is not None else Score(None, "error")
    store.record(run_id=run_id, benchmark="gsm8k", sample=Sample(id=sample_id, fields={}, target="42"),
                 request=request, response=response, score=score, endpoint=ENDPOINT,
                 error=None if text is not None else "timed out", **kw)  # fmt: skip
    return request


def _rows(store: Store, run_id: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "created_at"} for r in store.sample_rows(run_id)]


def test_runs_are_created_updated_and_listed(location):
    store = Store(location)
    store.create_run("a", {"models": ["m"], "benchmarks": ["gsm8k"]}, "0.1.0", {"defs/x.yaml": {"sha": "1"}})
    time.sleep(0.01)  # start times are kept to the millisecond
    store.create_run("b", {"models": []}, "0.1.0")
    store.update_run("a", status="completed", wall_s=1.5, tasks={"gsm8k": {"kind": "benchmark"}}, message="ok")
    run = store.get_run("a")
    assert run["stored_status"] == "completed" and run["wall_s"] == 1.5 and run["message"] == "ok"
    assert run["spec"] == {"models": ["m"], "benchmarks": ["gsm8k"]} and run["definitions"] == {
        "defs/x.yaml": {"sha": "1"}
    }
    assert run["tasks"] == {"gsm8k": {"kind": "benchmark"}} and run["dataset_checksums"] == {}
    assert [r["run_id"] for r in store.list_runs()] == ["b", "a"]  # newest first
    assert store.get_run("b")["status"] == "interrupted"  # running, and no process holds it
    assert store.get_run("nope") is None
    with pytest.raises(ValueError, match="owner_json"):
        store.update_run("a", owner_json="x")
    with pytest.raises(StoreError, match="database error"):  # the same run id twice
        store.create_run("a", {}, "0.1.0")
    store.update_run("a", message="still usable after a failed write")
    assert store.get_run("a")["message"] == "still usable after a failed write"
    store.close()


def test_answers_are_recorded_cached_and_read_back_in_natural_order(location):
    store = Store(location)
    store.create_run("r", {}, "0.1.0")
    for sample_id, text in (("10", "42"), ("2", "41"), ("1", None)):
        _record(store, "r", sample_id, text)
    assert store.answered_ids("r", "openai/m", "gsm8k") == {"10", "2"}  # the errored one is retried
    assert store.endpoints_answered("r", "openai/m") == {ENDPOINT: 2}
    keys = store.cached_keys("openai/m", ENDPOINT)
    assert keys == {Request(model="openai/m", prompt=f"question {i}").key for i in ("10", "2")}
    assert store.cached_response(next(iter(keys)), "http://elsewhere/v1") is None
    hit = store.cached_response(Request(model="openai/m", prompt="question 10").key, ENDPOINT)
    assert hit is not None and hit.completions[0].text == "42"
    rows = _rows(store, "r")
    assert [r["sample_id"] for r in rows] == ["1", "2", "10"]
    assert rows[2]["output"] == "42" and rows[2]["score"] == 1.0 and rows[2]["prompt_tokens"] == 7
    assert rows[0]["status"] == "error" and rows[0]["error"] == "timed out" and rows[0]["output"] is None
    assert rows[1]["extraction_failed"] is False and rows[1]["from_cache"] is False and rows[1]["metrics"] == {}
    store.close()


def test_a_retried_write_never_duplicates_or_replaces_an_answer(location):
    store = Store(location)
    store.create_run("r", {}, "0.1.0")
    for _ in range(2):  # a unit run twice (a worker died after writing, its unit was claimed again)
        for i in range(20):
            _record(store, "r", str(i), "42" if i % 2 else "7")
    _record(store, "r", "3", "a different answer on the second try")
    rows = _rows(store, "r")
    assert len(rows) == 20 and rows[3]["output"] == "42"  # the first answer stays
    # an errored sample is the one thing a later write replaces
    _record(store, "r", "error-then-answer", None)
    _record(store, "r", "error-then-answer", "42")
    assert {r["sample_id"]: r["status"] for r in _rows(store, "r")}["error-then-answer"] == "scored"
    request = Request(model="openai/m", prompt="an episode turn")
    store.cache_response(request, _answer("first"), ENDPOINT)
    store.cache_response(request, _answer("second"), ENDPOINT)
    assert store.cached_response(request.key, ENDPOINT).completions[0].text == "first"
    store.close()


def test_two_writers_of_the_same_samples_store_each_once(location):
    Store(location).create_run("r", {}, "0.1.0")
    failures: list[BaseException] = []

    def writer() -> None:
        store = Store(location)
        try:
            for i in range(60):
                _record(store, "r", str(i), "42")
        except BaseException as exc:  # surfaced below: a thread's exception would otherwise vanish
            failures.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sorted(int(r["sample_id"]) for r in Store(location).sample_rows("r")) == list(range(60))


def test_aggregates_and_arena_ratings_round_trip(location):
    store = Store(location)
    row = {"model": "m", "benchmark": "b", "metric": "accuracy", "group_kind": "all", "group_name": "all",
           "score": 0.5, "n": 4, "ci_low": 0.1, "ci_high": 0.9, "extraction_failures": 0, "incomplete": 0,
           "errors": 0}  # fmt: skip
    store.write_aggregates("r", [{**row, "benchmark": "z"}, row])
    store.write_aggregates("r", [row, {**row, "group_kind": "subject", "group_name": "algebra", "n": 2}])
    got = store.aggregates("r")
    assert [(r["group_kind"], r["n"], r["unscorable"]) for r in got] == [("all", 4, 0), ("subject", 2, 0)]
    rating = {"rating_id": "fit1", "created_at": "2026-12-06T00:00:00", "benchmark": "arena", "model": "m",
              "rank": 1, "rating": 1012.5, "ci_low": 990.0, "ci_high": 1030.0, "rank_best": 1, "rank_worst": 2,
              "battles": 10, "wins": 6, "losses": 3, "ties": 1, "runs_json": "[]", "settings_json": "{}"}  # fmt: skip
    store.write_arena_ratings([rating, {**rating, "model": "n", "rank": 2, "rating": 987.5}])
    store.write_arena_ratings([{**rating, "rating_id": "fit2", "created_at": "2026-12-07T00:00:00"}])
    assert [(r["rating_id"], r["model"]) for r in store.arena_ratings()] == [
        ("fit1", "m"),
        ("fit1", "n"),
        ("fit2", "m"),
    ]
    assert [r["rating"] for r in store.arena_ratings("fit1")] == [1012.5, 987.5]
    store.close()


def _hold_lease(location: str) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import time
        from tianping.store import Store
        store = Store({location!r})
        store.acquire_lease("r")
        print("held", flush=True)
        time.sleep(60)
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_live_lease_refuses_a_second_executor_until_its_process_is_gone(location):
    store = Store(location)
    store.create_run("r", {}, "0.1.0")
    holder = _hold_lease(location)
    try:
        assert store.get_run("r")["status"] == "running" and store.get_run("r")["live"]
        with pytest.raises(RunBusy, match=f"process {holder.pid}"):
            store.acquire_lease("r")
    finally:
        holder.kill()
        holder.wait()
    assert store.get_run("r")["status"] == "interrupted"
    store.acquire_lease("r")
    store.heartbeat("r")
    assert store.get_run("r")["live"]
    store.release_lease("r")
    assert store.get_run("r")["owner_json"] is None
    store.close()


@pytest.mark.postgres
def test_a_run_gives_the_same_outcomes_on_both_databases(tmp_path, data_dir, postgres_url):
    results = {}
    with running_server(answer_fn=oracle_answer_fn(accuracy=0.6)) as server:
        spec = make_spec(server.base_url, data_dir, ["gsm8k", "arc_easy"], limit=25)
        for name, location in (("sqlite", str(tmp_path / "t.sqlite")), ("postgresql", postgres_url)):
            store = Store(location)
            result = run_engine(store, spec, "same")
            assert result.status == "completed", result.message
            results[name] = (outcomes(store, "same"), store.aggregates("same"))
            store.close()
    assert len(results["sqlite"][0]) == 50
    assert results["sqlite"] == results["postgresql"]


@pytest.mark.postgres
def test_a_password_in_the_url_is_never_shown(postgres_url):
    password = PASSWORD
    assert password in postgres_url
    store = Store(postgres_url)
    assert password not in store.url and password not in str(store.path) and "tianping@127.0.0.1" in store.url
    store.create_run("r", {}, "0.1.0")
    with pytest.raises(StoreError) as failed:
        store.create_run("r", {}, "0.1.0")
    assert password not in str(failed.value) and store.url in str(failed.value)
    # a report's sections reopen the store from the location it shows
    assert Store(store.url, readonly=True).get_run("r") is not None
    store.close()
    wrong = postgres_url.replace(password, "not-" + password)
    with pytest.raises(StoreError, match="cannot open the result database") as refused:
        Store(wrong)
    assert password not in str(refused.value) and "tianping@127.0.0.1" in str(refused.value)
    missing = postgres_url.rsplit("/", 1)[0] + "/no_such_db?password=" + password
    with pytest.raises(StoreError, match="no_such_db") as refused:
        Store(missing)
    assert password not in str(refused.value)


@pytest.mark.postgres
def test_the_commands_use_a_postgresql_store_and_never_print_its_password(tmp_path, data_dir, postgres_url):
    from engine_helpers import cli

    results = tmp_path / "results"
    with running_server(answer_fn=oracle_answer_fn()) as server:
        args = ["--model", "openai/m", "--base-url", server.base_url, "--benchmark", "gsm8k", "--limit", "6",
                "--data-dir", str(data_dir), "--results-dir", str(results)]  # fmt: skip
        done = cli("run", *args, "--run-id", "pg", "--store", postgres_url)
        assert done.returncode == 0, done.stderr
        # the environment names the store as well
        again = cli("run", *args, "--run-id", "pg2", env={"TIANPING_STORE": postgres_url})
        assert again.returncode == 0, again.stderr
    listed = cli("runs", "--store", postgres_url)
    shown = cli("show", "pg", env={"TIANPING_STORE": postgres_url})
    exported = cli("export", "pg", "--store", postgres_url)
    missing = cli("show", "nope", "--store", postgres_url)
    for finished in (done, again, listed, shown, exported, missing):
        assert PASSWORD not in finished.stdout + finished.stderr
    assert "pg2" in listed.stdout and "pg" in listed.stdout and "gsm8k" in shown.stdout
    assert len(exported.stdout.splitlines()) == 6
    assert missing.returncode != 0 and "tianping@127.0.0.1" in missing.stderr
    assert not (results / "tianping.sqlite").exists()  # nothing went to the SQLite file
    store = Store(postgres_url)
    assert len(list(store.sample_rows("pg"))) == len(list(store.sample_rows("pg2"))) == 6
    assert PASSWORD not in repr(store.get_run("pg"))  # nor stored with the run
    store.close()


def test_a_nul_in_an_output_is_kept_where_the_database_can_hold_it(location):
    store = Store(location)
    _record(store, "r", "1", "4\x002")
    (row,) = _rows(store, "r")
    # PostgreSQL's text cannot hold NUL: it becomes U+FFFD there, and the answer is still stored
    assert row["output"] == ("4\x002" if location.endswith(".sqlite") else "4\ufffd2")
    store.close()


def test_a_postgresql_store_without_psycopg_says_what_to_install():
    code = (
        "import sys; sys.modules['psycopg'] = None\n"  # as if psycopg were not installed
        "from tianping.store import Store\n"
        "from tianping.store.store import StoreError\n"
        "try:\n"
        "    Store('postgresql://u:s3cret-word@127.0.0.1:1/x')\n"
        "except StoreError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert "pip install 'tianping[postgres]'" in done.stdout and "postgresql://u@127.0.0.1:1/x" in done.stdout
    assert "s3cret-word" not in done.stdout + done.stderr


def test_a_store_named_by_one_command_is_not_opened_by_the_next_in_the_same_process(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tianping.cli import app

    monkeypatch.delenv("TIANPING_STORE", raising=False)
    other = tmp_path / "other.sqlite"
    Store.open(tmp_path / "named", store=f"sqlite:///{other}").create_run("on-the-named-store", {"models": []}, "test")
    runner = CliRunner()
    named = runner.invoke(app, ["runs", "--store", f"sqlite:///{other}", "--results-dir", str(tmp_path / "a")])
    assert named.exit_code == 0 and "on-the-named-store" in named.output
    plain = runner.invoke(app, ["runs", "--results-dir", str(tmp_path / "a")])
    assert plain.exit_code == 0 and "on-the-named-store" not in plain.output
    Store.open(tmp_path / "a").close()
    runner.invoke(app, ["runs", "--store", f"sqlite:///{other}"])
    # a command without --store opens its results folder's store, not the one the command before it named
    unnamed = runner.invoke(app, ["compare", "on-the-named-store", "--results-dir", str(tmp_path / "a")])
    assert unnamed.exit_code == 2 and "no run 'on-the-named-store'" in unnamed.output


def test_every_command_that_reads_runs_takes_the_store_option(tmp_path, monkeypatch):
    """A team on a shared store could run, show and report but not compare: compare, fidelity report,
    fidelity pack-stats and data check opened only the results folder's store."""
    from typer.testing import CliRunner

    from tianping.cli import app

    monkeypatch.delenv("TIANPING_STORE", raising=False)
    named = f"sqlite:///{tmp_path / 'team.sqlite'}"
    Store.open(tmp_path / "unused", store=named).create_run("shared-run", {"models": []}, "test")
    elsewhere = ["--results-dir", str(tmp_path / "empty")]
    runner = CliRunner()
    commands = [
        ["show", "shared-run"],
        ["export", "shared-run"],
        ["compare", "shared-run"],
        ["fidelity", "report", "shared-run", "--reference", "openai/x"],
        ["fidelity", "pack-stats", "shared-run", "-o", str(tmp_path / "pack.yaml")],
    ]
    for command in commands:
        done = runner.invoke(app, [*command, "--store", named, *elsewhere])
        assert "No such option" not in done.output and "no run 'shared-run'" not in done.output, (command, done.output)
        without = runner.invoke(app, [*command, *elsewhere])
        assert "no run 'shared-run'" in without.output or without.exit_code != 0, command
    assert "--store" in runner.invoke(app, ["data", "check", "--help"], env={"COLUMNS": "200"}).output
