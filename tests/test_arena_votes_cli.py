"""``tianping arena ratings --votes``: the human votes stored as battles (the dashboard's, ``Store.add_battle``)
rated by the CLI, alone or pooled with the judged battles of runs, and the fit stored with the sources it used.

Votes are drawn from known ratings (``simulate_battles``, a fixed draw) and written to a real store, SQLite under a
results folder and PostgreSQL through ``--store``; the CLI must order the models as the truth does, its intervals
must cover the true ratings on this draw (a 95% interval misses about one time in twenty per model; this draw is
one where none misses), and its ratings must be those of the rating code fitted on the same battles.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import cli
from fake_openai import last_user_text, running_server
from test_judged_cli import JUDGE, judge_answer
from tianping.arena import OUTCOMES, Battle, arena_table, simulate_battles
from tianping.judging.records import PairRecord, read_record
from tianping.store import Store

TRUTH = {"m/alpha": 1150.0, "m/beta": 1050.0, "m/gamma": 950.0, "m/delta": 850.0}  # mean 1000: the CLI's anchor
BASELINE = "o3-mini-2025-01-31"  # Arena-Hard v2.0's baseline model


def _draw(n: int = 800, seed: int = 5) -> list[Battle]:
    table = simulate_battles(list(TRUTH.values()), n, tie_rate=0.2, seed=seed, names=list(TRUTH))
    return [
        Battle(table.models[a], table.models[b], OUTCOMES[o])
        for a, b, o in zip(table.a, table.b, table.outcome, strict=True)
    ]


def _vote(store: Store, battles: list[Battle], benchmark: str = "chat", source: str = "web") -> None:
    for i, b in enumerate(battles):
        store.add_battle(benchmark=benchmark, sample_id=str(i % 40), model_a=b.model_a, model_b=b.model_b,
                         winner=b.winner, voter=f"voter-{i % 9}", source=source)  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, list[str]]]:
    """An empty store and the CLI flags that name it: a results folder, or a PostgreSQL URL given as --store."""
    if request.param == "sqlite":
        store, flags = Store.open(tmp_path), ["--results-dir", str(tmp_path)]
    else:
        url = str(request.getfixturevalue("postgres_url"))
        store, flags = Store(url), ["--store", url]
    yield store, flags
    store.close()


def test_votes_alone_are_rated_in_the_order_of_the_truth_and_the_fit_is_stored(where) -> None:
    store, flags = where
    votes = _draw()
    _vote(store, votes)
    done = cli("arena", "ratings", "--votes", "--json", "--rounds", "200", *flags)
    assert done.returncode == 0, done.stdout + done.stderr
    payload = json.loads(done.stdout)
    assert payload["settings"]["votes"] is True
    board = payload["benchmarks"]["chat"]
    assert (board["runs"], board["pairs"], board["votes"], board["battles"]) == ([], 0, 800, 800)
    assert board["sources"] == {"web": 800}
    rows = board["rows"]
    assert [r["model"] for r in rows] == sorted(TRUTH, key=TRUTH.__getitem__, reverse=True)
    for r in rows:
        assert r["lower"] <= TRUTH[r["model"]] <= r["upper"], r
    # exactly the fit of the rating code on the votes as cast (the store keeps them in that order)
    expected = arena_table(votes, intervals="bootstrap", rounds=200, seed=0)
    assert {r["model"]: (r["rating"], r["lower"], r["upper"], r["wins"], r["ties"]) for r in rows} == {
        r.model: (pytest.approx(r.rating), pytest.approx(r.lower), pytest.approx(r.upper), r.wins, r.ties)
        for r in expected.rows
    }
    stored = store.arena_ratings(payload["rating_id"])
    assert {s["model"]: (s["rank"], s["rating"], s["ci_low"], s["ci_high"]) for s in stored} == {
        r["model"]: (r["rank"], pytest.approx(r["rating"]), pytest.approx(r["lower"]), pytest.approx(r["upper"]))
        for r in rows
    }
    assert {s["benchmark"] for s in stored} == {"chat"} and json.loads(stored[0]["runs_json"]) == []
    settings = json.loads(stored[0]["settings_json"])
    assert settings["sources"] == {"web": 800} and settings["votes"] is True and settings["rounds"] == 200


def test_votes_pool_per_benchmark_and_every_source_is_counted(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    _vote(store, _draw(300, seed=1))
    _vote(store, _draw(40, seed=2), source="import")  # another source's battles on the same benchmark
    _vote(store, [Battle("m/x", "m/y", "a")] * 5 + [Battle("m/x", "m/y", "b")] * 5, benchmark="other")
    store.close()
    done = cli("arena", "ratings", "--votes", "--json", "--intervals", "sandwich", "--results-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    boards = json.loads(done.stdout)["benchmarks"]
    assert set(boards) == {"chat", "other"}
    assert boards["chat"]["sources"] == {"import": 40, "web": 300} and boards["chat"]["battles"] == 340
    assert {r["model"] for r in boards["other"]["rows"]} == {"m/x", "m/y"}
    assert boards["other"]["rows"][0]["rating"] == pytest.approx(1000.0)  # 5 wins each: level
    only = cli("arena", "ratings", "--votes", "--json", "-b", "other", "--intervals", "none",
               "--results-dir", str(tmp_path))  # fmt: skip
    assert only.returncode == 0 and set(json.loads(only.stdout)["benchmarks"]) == {"other"}
    text = cli("arena", "ratings", "--votes", "-b", "chat", "--rounds", "50", "--results-dir", str(tmp_path))
    assert text.returncode == 0, text.stderr
    assert "chat: Bradley-Terry ratings (340 battles from 340 human votes)" in " ".join(text.stdout.split())
    assert "stored as arena-" in text.stderr


def _answer(body: dict[str, Any]) -> str:
    """The model's reply: the fake judge prefers the replies saying EXCELLENT (here two prompts in three)."""
    question = last_user_text(body)
    k = int(hashlib.sha256(question.encode()).hexdigest()[:8], 16)
    return f"On: {' '.join(question.split()[:6])}." + (" EXCELLENT" if k % 3 else "")


def _judged_games(results: Path, run_id: str) -> int:
    store = Store.open(results)
    games = 0
    for row in store.sample_rows(run_id):
        record = read_record(row["reason"])
        assert isinstance(record, PairRecord)
        games += sum(1 for g in record.games if g.label is not None)
    store.close()
    return games


def test_runs_and_votes_are_rated_together_in_one_table_per_benchmark(tmp_path: Path, data_dir: Path) -> None:
    with running_server(answer_fn=_answer) as model, running_server(answer_fn=judge_answer()) as judge:
        done = cli("run", "--model", "openai/strong", "--base-url", model.base_url, "--benchmark", "arena_hard",
                   "--limit", "8", "--judge-model", JUDGE, "--judge-base-url", judge.base_url,
                   "--results-dir", str(tmp_path), "--run-id", "strong", env={"OPENAI_API_KEY": "x"})  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    games = _judged_games(tmp_path, "strong")
    assert games > 0

    # before any vote: the judged battles are rated alone, and the command says there were no votes
    alone = cli("arena", "ratings", "strong", "--votes", "--json", "--intervals", "none",
                "--results-dir", str(tmp_path))  # fmt: skip
    assert alone.returncode == 0, alone.stderr
    assert "no human votes on arena_hard stored in" in " ".join(alone.stderr.split())
    board = json.loads(alone.stdout)["benchmarks"]["arena_hard"]
    assert board["sources"] == {"judge": games} and {r["model"] for r in board["rows"]} == {"openai/strong", BASELINE}

    # people compare the run's model with a model the judge never saw, on the same benchmark
    store = Store.open(tmp_path)
    people = [Battle("openai/strong", "openai/voted", "b" if i % 4 else "a") for i in range(24)]
    _vote(store, people, benchmark="arena_hard")
    _vote(store, _draw(100, seed=3), benchmark="chat")
    store.close()
    both = cli("arena", "ratings", "strong", "--votes", "--json", "--intervals", "sandwich",
               "--results-dir", str(tmp_path))  # fmt: skip
    assert both.returncode == 0, both.stderr
    payload = json.loads(both.stdout)
    assert set(payload["benchmarks"]) == {"arena_hard", "chat"}
    board = payload["benchmarks"]["arena_hard"]
    assert board["runs"] == ["strong"] and board["pairs"] == 8 and board["votes"] == 24
    assert board["sources"] == {"judge": games, "web": 24} and board["battles"] == games + 24
    rows = {r["model"]: r for r in board["rows"]}
    assert set(rows) == {"openai/strong", BASELINE, "openai/voted"}
    assert rows["openai/strong"]["battles"] == games + 24 and rows["openai/voted"]["battles"] == 24
    assert rows["openai/voted"]["wins"] == 18 and rows["openai/voted"]["rating"] > rows["openai/strong"]["rating"]
    assert rows["openai/strong"]["rating"] > rows[BASELINE]["rating"]  # the judge's verdicts, in the same fit
    store = Store.open(tmp_path)
    stored = store.arena_ratings(payload["rating_id"])
    store.close()
    sources = {s["benchmark"]: json.loads(s["settings_json"])["sources"] for s in stored}
    assert sources == {"arena_hard": {"judge": games, "web": 24}, "chat": {"web": 100}}
    assert {s["benchmark"]: json.loads(s["runs_json"]) for s in stored} == {"arena_hard": ["strong"], "chat": []}

    # without --votes the command rates what it rated before: the judge's battles of the runs only
    judged = cli("arena", "ratings", "strong", "--json", "--intervals", "none", "--results-dir", str(tmp_path))
    assert judged.returncode == 0, judged.stderr
    board = json.loads(judged.stdout)["benchmarks"]
    assert set(board) == {"arena_hard"} and board["arena_hard"]["sources"] == {"judge": games}
    styled = cli("arena", "ratings", "strong", "--votes", "--style-control", "-b", "arena_hard",
                 "--results-dir", str(tmp_path))  # fmt: skip
    assert styled.returncode == 2 and "the human votes on arena_hard carry no answer lengths" in styled.stderr


def test_nothing_to_rate_and_bad_votes_are_refused(tmp_path: Path) -> None:
    nothing = cli("arena", "ratings", "--results-dir", str(tmp_path))
    assert nothing.returncode == 2 and "nothing to rate: give the RUN ids" in nothing.stderr
    nowhere = cli("arena", "ratings", "--votes", "--results-dir", str(tmp_path / "none"))
    assert nowhere.returncode == 2 and "no result database" in nowhere.stderr
    assert not (tmp_path / "none").exists()

    store = Store.open(tmp_path)
    none = cli("arena", "ratings", "--votes", "--results-dir", str(tmp_path))
    assert none.returncode == 2 and "--votes: no human votes stored in" in none.stderr
    _vote(store, _draw(50))
    unknown = cli("arena", "ratings", "--votes", "-b", "mmlu", "--results-dir", str(tmp_path))
    assert unknown.returncode == 2 and "--benchmark mmlu: no human votes on it" in unknown.stderr
    assert "(found: chat)" in unknown.stderr
    styled = cli("arena", "ratings", "--votes", "--style-control", "--results-dir", str(tmp_path))
    assert styled.returncode == 2 and "the human votes on chat carry no answer lengths" in styled.stderr
    # the store takes the winner as given (the dashboard checks it): a bad one is refused here, by its id
    bad = store.add_battle(benchmark="chat", sample_id="1", model_a="m/alpha", model_b="m/beta", winner="maybe",
                           voter="v")  # fmt: skip
    store.close()
    refused = cli("arena", "ratings", "--votes", "--results-dir", str(tmp_path))
    assert refused.returncode == 2 and f"stored battle '{bad}': winner 'maybe'" in refused.stderr
    store = Store.open(tmp_path)
    assert store.arena_ratings() == []  # no refused fit was stored
    store.close()
