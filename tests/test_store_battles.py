"""Battles in the result store (Alembic revision 0003) and the reads the dashboard aggregates in the database, on
SQLite and PostgreSQL: votes stored and read back, a store at revision 0002 upgraded with its rows kept, the
newest completed run's scores picked by one query, the data fingerprint that tells a cache when to rebuild, and
stored votes rated together with other battles by the arena code."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tianping.arena import OUTCOMES, Battle, arena_table, simulate_battles
from tianping.arena.stored import battles_by_benchmark, stored_battles
from tianping.store import Store, migrate
from tianping.store.backends import sqlalchemy_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tianping.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


def _agg(model: str, benchmark: str, score: float | None, metric: str = "accuracy", n: int = 10) -> dict:
    return {"model": model, "benchmark": benchmark, "metric": metric, "group_kind": "all", "group_name": "",
            "score": score, "n": n, "ci_low": None, "ci_high": None, "extraction_failures": 0, "incomplete": 0,
            "errors": 0}  # fmt: skip


def _finished_run(store: Store, run_id: str, rows: list[dict], finished: str = "2026-01-01T00:00:00") -> None:
    time.sleep(0.002)  # runs are ordered by their start, stamped to the millisecond
    store.create_run(run_id, {"models": [{"id": r["model"]} for r in rows]}, "test")
    store.write_aggregates(run_id, [*rows, {**rows[0], "group_kind": "subject", "group_name": "x", "score": 0.0}])
    store.update_run(run_id, status="completed", finished_at=finished)


def test_votes_are_stored_and_read_back_as_battles(url):
    store = Store(url)
    assert store.battles() == [] and store.battle_count() == 0
    first = store.add_battle(benchmark="gsm8k", sample_id="7", model_a="m/a", model_b="m/b", winner="a", voter="v1")
    store.add_battle(benchmark="gsm8k", sample_id="8", model_a="m/b", model_b="m/c", winner="both_bad", voter="v2")
    store.add_battle(benchmark="mmlu", sample_id="1", model_a="m/a", model_b="m/c", winner="tie", voter="v1",
                     source="import")  # fmt: skip
    # a retried write of the same vote is stored once
    store.add_battle(benchmark="gsm8k", sample_id="7", model_a="m/a", model_b="m/b", winner="a", voter="v1",
                     battle_id=first)  # fmt: skip
    web = store.battles("web")
    assert [(b["sample_id"], b["model_a"], b["model_b"], b["winner"], b["voter"]) for b in web] == [
        ("7", "m/a", "m/b", "a", "v1"),
        ("8", "m/b", "m/c", "both_bad", "v2"),
    ]
    assert web[0]["battle_id"] == first and {b["source"] for b in web} == {"web"}
    assert store.battle_count() == 3 and len(store.battles()) == 3
    assert stored_battles(store) == {
        "gsm8k": [Battle("m/a", "m/b", "a"), Battle("m/b", "m/c", "both_bad")],
    }
    assert set(stored_battles(store, source=None)) == {"gsm8k", "mmlu"}
    store.close()


def test_a_store_at_revision_0002_is_upgraded_with_its_rows_kept(url):
    store = Store(url)
    _finished_run(store, "r1", [_agg("m/a", "gsm8k", 0.5)])
    store.close()
    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    with engine.begin() as conn:
        migrate.upgrade(conn, "0003")  # at head already: nothing to do
        from alembic import command

        command.downgrade(migrate.alembic_config(conn), "0002")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
        assert "battles" not in _tables(conn) and "work_units" in _tables(conn)
    engine.dispose()

    # read-only, the old store serves its results and has no battles (nothing is written to it)
    old = Store(url, readonly=True)
    assert old.battles() == [] and old.battle_count() == 0
    assert [r["score"] for r in old.latest_aggregates()] == [0.5]
    old.close()

    store = Store(url)  # opening it for writing upgrades it
    store.add_battle(benchmark="gsm8k", sample_id="1", model_a="m/a", model_b="m/b", winner="b", voter="v")
    assert store.get_run("r1")["status"] == "completed"
    assert [(a["group_kind"], a["score"]) for a in store.aggregates("r1")] == [("all", 0.5), ("subject", 0.0)]
    assert [b["winner"] for b in store.battles()] == ["b"]
    store.close()
    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == migrate.HEAD_REVISION
    engine.dispose()


def _tables(conn) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(conn).get_table_names())


def test_latest_aggregates_pick_the_newest_finished_run_per_model_benchmark_and_metric(url):
    store = Store(url)
    _finished_run(store, "old", [_agg("m/a", "gsm8k", 0.2), _agg("m/a", "gsm8k", 3.0, metric="tokens"),
                                 _agg("m/b", "gsm8k", 0.4)])  # fmt: skip
    _finished_run(store, "new", [_agg("m/a", "gsm8k", 0.6), _agg("m/a", "gsm8k", None, metric="tokens")])
    store.create_run("live", {}, "test")  # running: its aggregates are not the newest finished ones
    store.write_aggregates("live", [_agg("m/a", "gsm8k", 0.9)])
    got = {(r["model"], r["metric"]): (r["run_id"], r["score"]) for r in store.latest_aggregates()}
    assert got == {
        ("m/a", "accuracy"): ("new", 0.6),
        ("m/a", "tokens"): ("old", 3.0),  # the newest run has no score under it: the newest that has one
        ("m/b", "accuracy"): ("old", 0.4),
    }
    _finished_run(store, "unscored", [_agg("m/c", "gsm8k", None)])
    assert [(r["run_id"], r["score"]) for r in store.latest_aggregates() if r["model"] == "m/c"] == [("unscored", None)]
    store.close()


def test_the_data_version_changes_with_runs_and_live_samples_but_not_with_votes(url):
    from tianping.core import Message, Request, Response, Sample, Score
    from tianping.core.types import Completion

    store = Store(url)
    seen = [store.data_version()]
    store.create_run("r", {}, "test")
    seen.append(store.data_version())
    request = Request(model="m/a", messages=(Message("user", "1+1?"),))
    store.record(run_id="r", benchmark="gsm8k", sample=Sample(id="1", fields={}, target="2"), request=request,
                 response=Response(completions=(Completion(text="2"),), latency_s=0.1),
                 score=Score(value=1.0))  # fmt: skip
    seen.append(store.data_version())
    store.write_aggregates("r", [_agg("m/a", "gsm8k", 1.0)])
    seen.append(store.data_version())
    store.update_run("r", status="completed", finished_at="2026-01-02T00:00:00")
    seen.append(store.data_version())
    assert len(set(seen)) == len(seen), seen
    store.add_battle(benchmark="gsm8k", sample_id="1", model_a="m/a", model_b="m/b", winner="a", voter="v")
    assert store.data_version() == seen[-1]
    store.close()


def test_stored_votes_rate_together_with_other_battles(tmp_path):
    store = Store.open(tmp_path)
    names = ["m/strong", "m/weak"]
    for i in range(30):  # people prefer the strong model 2 to 1
        winner = "b" if i % 3 == 2 else "a"
        store.add_battle(benchmark="chat", sample_id=str(i), model_a=names[0], model_b=names[1], winner=winner,
                         voter="v")  # fmt: skip
    votes = stored_battles(store)["chat"]
    store.close()
    # battles of another source (a judge's games) between the weaker model and two others
    judged = simulate_battles([1000.0, 1000.0, 1100.0], 300, seed=1, names=["m/weak", "m/other", "m/judge-pick"])
    pooled = [*votes, *(Battle(judged.models[a], judged.models[b], OUTCOMES[o])
                        for a, b, o in zip(judged.a, judged.b, judged.outcome, strict=True))]  # fmt: skip
    table = arena_table(pooled, intervals="none")
    rows = {r.model: r for r in table.rows}
    assert set(rows) == {"m/strong", "m/weak", "m/other", "m/judge-pick"}
    assert rows["m/strong"].battles == 30 and rows["m/strong"].wins == 20
    assert rows["m/strong"].rating > rows["m/weak"].rating


def test_a_stored_battle_with_an_unknown_verdict_is_refused_by_id():
    with pytest.raises(ValueError, match="stored battle 'x1': winner 'maybe'"):
        battles_by_benchmark([{"battle_id": "x1", "benchmark": "b", "model_a": "p", "model_b": "q", "winner": "maybe"}])
