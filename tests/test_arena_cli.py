"""``tianping arena ratings``: Bradley-Terry ratings from the judged battles of runs, printed and stored.

Two models run Arena-Hard against a fake judge (tests/test_judged_cli.py's rules: a reply saying "EXCELLENT" wins
both games; otherwise the reply shown first wins). The strong model says it on most prompts, the weak one never,
so the ratings must order strong > baseline and put the weak model level with the baseline (each of its games
goes to whichever reply was shown first). Battle counts are recomputed here from the stored verdicts.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import cli
from fake_openai import last_user_text, running_server
from test_judged_cli import JUDGE, judge_answer
from tianping.judging.records import PairRecord, read_record
from tianping.store import Store
from tianping.store.schema import SCHEMA_VERSION


def _answer(body: dict[str, Any]) -> str:
    question = last_user_text(body)
    k = int(hashlib.sha256(question.encode()).hexdigest()[:8], 16)
    text = f"My answer to: {' '.join(question.split()[:8])}." + " Detail." * (k % 5)
    if body["model"] == "strong" and k % 5:
        text += " EXCELLENT"
    return text


@pytest.fixture(scope="module")
def rated(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    results = tmp_path_factory.mktemp("arena")
    with running_server(answer_fn=_answer) as model, running_server(answer_fn=judge_answer()) as judge:
        for name in ("strong", "weak"):
            done = cli(
                "run", "--model", f"openai/{name}", "--base-url", model.base_url, "--benchmark", "arena_hard",
                "--limit", "24", "--judge-model", JUDGE, "--judge-base-url", judge.base_url,
                "--results-dir", str(results), "--run-id", name, env={"OPENAI_API_KEY": "x"},
            )  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
    return results


def _battle_counts(results: Path) -> dict[str, list[int]]:
    """wins, ties, losses per model, from the games the samples stored."""
    counts: dict[str, list[int]] = {}
    store = Store.open(results)
    for run in ("strong", "weak"):
        for row in store.sample_rows(run):
            record = read_record(row["reason"])
            assert isinstance(record, PairRecord)
            for game in record.games:
                if game.label is None:
                    continue
                names = [row["model"], record.baseline]
                if game.shown_first != "model":
                    names.reverse()
                first_won = game.label.startswith("A>")
                outcome = "tie" if game.label == "A=B" else ("first" if first_won else "second")
                for side, name in enumerate(names):
                    slot = counts.setdefault(name, [0, 0, 0])
                    if outcome == "tie":
                        slot[1] += 1
                    else:
                        slot[0 if (outcome == "first") == (side == 0) else 2] += 1
    store.close()
    return counts


def test_ratings_are_printed_with_intervals_and_rank_ranges(rated: Path) -> None:
    done = cli("arena", "ratings", "strong", "weak", "--results-dir", str(rated), "--rounds", "200")
    assert done.returncode == 0, done.stdout + done.stderr
    text = " ".join(done.stdout.split())
    assert "arena_hard: Bradley-Terry ratings" in text and "rank range" in text and "95% CI" in text
    order = [text.index(name) for name in ("openai/strong", "o3-mini-2025-01-31", "openai/weak")]
    assert order[0] < order[1] and order[0] < order[2]  # strong is ranked first
    assert "stored as arena-" in done.stderr


def test_json_ratings_match_the_stored_battles_and_are_written_to_the_store(rated: Path) -> None:
    done = cli("arena", "ratings", "strong", "weak", "--results-dir", str(rated), "--json", "--rounds", "200")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    board = payload["benchmarks"]["arena_hard"]
    assert board["runs"] == ["strong", "weak"] and board["pairs"] == 48
    rows = {r["model"]: r for r in board["rows"]}
    assert set(rows) == {"openai/strong", "openai/weak", "o3-mini-2025-01-31"}
    for model, (wins, ties, losses) in _battle_counts(rated).items():
        assert (rows[model]["wins"], rows[model]["ties"], rows[model]["losses"]) == (wins, ties, losses), model
    strong, weak, base = rows["openai/strong"], rows["openai/weak"], rows["o3-mini-2025-01-31"]
    assert strong["rank"] == 1 and strong["rating"] > base["rating"]
    assert weak["lower"] < base["rating"] < weak["upper"]  # every game to the first position: level with it
    assert all(r["lower"] <= r["rating"] <= r["upper"] for r in rows.values())
    assert sum(r["rating"] for r in rows.values()) / 3 == pytest.approx(1000.0)  # the mean is anchored
    store = Store.open(rated)
    stored = store.arena_ratings(payload["rating_id"])
    store.close()
    assert {r["model"]: (r["rank"], r["rating"], r["ci_low"], r["ci_high"]) for r in stored} == {
        m: (r["rank"], r["rating"], r["lower"], r["upper"]) for m, r in rows.items()
    }
    assert json.loads(stored[0]["runs_json"]) == ["strong", "weak"]
    assert json.loads(stored[0]["settings_json"])["rounds"] == 200


def test_a_reference_model_is_pinned_and_strong_verdicts_can_weigh_more(rated: Path) -> None:
    done = cli("arena", "ratings", "strong", "weak", "--results-dir", str(rated), "--json", "--intervals", "none",
               "--reference", "o3-mini-2025-01-31", "--anchor", "1200", "--strong-weight", "3")  # fmt: skip
    assert done.returncode == 0, done.stderr
    board = json.loads(done.stdout)["benchmarks"]["arena_hard"]
    rows = {r["model"]: r for r in board["rows"]}
    assert rows["o3-mini-2025-01-31"]["rating"] == pytest.approx(1200.0)
    single = _battle_counts(rated)["openai/strong"]
    # the strong model's wins are clear verdicts (A>>B or B>>A): each now counts three times
    assert rows["openai/strong"]["wins"] > single[0] and rows["openai/strong"]["lower"] is None


def test_runs_without_judged_battles_and_bad_flags_are_refused(rated: Path, tmp_path: Path) -> None:
    missing = cli("arena", "ratings", "nope", "--results-dir", str(rated))
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr
    wrong = cli("arena", "ratings", "strong", "--benchmark", "alpaca_eval", "--results-dir", str(rated))
    assert wrong.returncode == 2 and "no judged battles of it" in wrong.stderr
    nowhere = cli("arena", "ratings", "strong", "--results-dir", str(tmp_path / "empty"))
    assert nowhere.returncode == 2 and "no result database" in nowhere.stderr
    assert not (tmp_path / "empty").exists()


def test_a_schema_4_store_gains_the_ratings_table_and_reads_without_it(tmp_path: Path) -> None:
    path = tmp_path / "tianping.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as db:  # make it a schema-4 store: no ratings table yet
        db.execute("DROP TABLE arena_ratings")
        db.execute("ALTER TABLE samples DROP COLUMN trajectory_json")  # added by schema 6
        db.execute("PRAGMA user_version=4")
    old = Store(path, readonly=True)
    assert old.arena_ratings() == []  # read-only: left as it is, and read as holding no ratings
    old.close()
    store = Store(path)
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    columns = {r[1] for r in store._db.execute("PRAGMA table_info(arena_ratings)")}
    assert {"rating_id", "benchmark", "model", "rating", "ci_low", "rank_best", "runs_json"} <= columns
    store.close()
