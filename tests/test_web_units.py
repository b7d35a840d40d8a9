"""The dashboard's parts on their own: the model registry's errors, spec redaction, slugs, rank intervals,
trend lines and the quadrant, the write guard, votes stored as battles and the CLI's input checks."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tianping.store import Store
from tianping.web.boards import ranked, suite_tree
from tianping.web.data import slug
from tianping.web.redact import REDACTED, redact_spec
from tianping.web.registry import RegistryError, load_registry, parse_registry
from tianping.web.security import Guard, Signer
from tianping.web.trends import Point, frontier, group_lines, theil_sen
from tianping.web.votes import Vote, VoteStore


def test_registry_reads_fields_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        "models:\n"
        "  - {name: a/x, organisation: X, release_date: 2024-03-01, parameters: 7B, access: open, region: domestic}\n"
        "  - {name: a/y, parameters: 1.5e11, access: closed, group: frontier-labs}\n"
        "  - {name: a/z, parameters: 2e9}\n",
        encoding="utf-8",
    )
    reg = load_registry(path)
    assert reg["a/x"].release_date == dt.date(2024, 3, 1) and reg["a/x"].parameters == 7e9
    assert reg["a/x"].group == "open, domestic" and reg["a/x"].parameters_text == "7B"
    assert reg["a/y"].group == "frontier-labs" and reg["a/y"].parameters == 1.5e11
    assert reg["a/z"].parameters == 2e9 and reg["a/z"].group == "other"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: a, release_date: 2024-13-01}", "models[0] (a): field 'release_date'"),
        ("{name: a, release_date: soon}", "field 'release_date': expected YYYY-MM-DD"),
        ("{name: a, parameters: lots}", "field 'parameters'"),
        ("{name: a, access: semi}", "field 'access': expected open or closed"),
        ("{name: a, licence: mit}", "unknown field(s) licence"),
        ("{organisation: X}", "models[0]: field 'name'"),
    ],
)
def test_registry_errors_name_file_entry_and_field(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "reg.yaml"
    path.write_text(f"models:\n  - {entry}\n", encoding="utf-8")
    with pytest.raises(RegistryError) as err:
        load_registry(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_registry_rejects_duplicates_bad_yaml_and_shapes(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"models\[1\]: model 'a' is listed twice"):
        parse_registry({"models": [{"name": "a"}, {"name": "a"}]}, "reg.yaml")
    with pytest.raises(RegistryError, match="expected a list of models"):
        parse_registry({"models": "a"}, "reg.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  - {name: a\n", encoding="utf-8")
    with pytest.raises(RegistryError, match=r"bad.yaml: line \d+ not valid YAML"):
        load_registry(bad)


def test_redact_spec_removes_every_kind_of_secret() -> None:
    spec = {
        "models": [
            {
                "id": "openai/x",
                "api_key_env": "OPENAI_API_KEY",
                "api_key": "sk-1",
                "headers": {"X-Key": "k"},
                "base_url": "https://u:pw@host.example/v1?api_key=sk-2&x=1",
                "extra": {"token": "t", "Authorization": "B"},
                "note": "see http://a:b@c.example/",
            }
        ],
        "judge": {"password": "p", "api_key": None},
    }
    out = redact_spec(spec)
    text = repr(out)
    for secret in ("sk-1", "'k'", "pw@", "sk-2", "'t'", "'B'", "a:b@", "'p'"):
        assert secret not in text, secret
    model = out["models"][0]
    assert model["api_key"] == REDACTED and model["headers"] == REDACTED and model["api_key_env"] == "OPENAI_API_KEY"
    assert "host.example/v1" in model["base_url"] and "x=1" in model["base_url"]
    assert out["judge"]["api_key"] is None  # nothing to hide: shown as it is
    assert spec["models"][0]["api_key"] == "sk-1"  # the input is not changed


def test_slug_is_path_safe_and_unique() -> None:
    names = ["..", "../../etc/passwd", "a/b", "a-b", "a b", '"><script>', "模型", ""]
    slugs = [slug(n) for n in names]
    assert len(set(slugs)) == len(names)
    for s in slugs:
        assert s not in (".", "..") and all(c.isalnum() or c in "-_" for c in s), s


def test_ranked_orders_and_gives_rank_intervals() -> None:
    rows = ranked(
        [
            {"model": "a", "score": 0.5, "ci_low": 0.4, "ci_high": 0.6},
            {"model": "b", "score": 0.9, "ci_low": 0.85, "ci_high": 0.95},
            {"model": "c", "score": 0.55, "ci_low": 0.45, "ci_high": 0.65},
            {"model": "d", "score": None},
        ]
    )
    assert [(r.model, r.rank, r.rank_best, r.rank_worst) for r in rows] == [
        ("b", 1, 1, 1),
        ("c", 2, 2, 3),
        ("a", 3, 2, 3),
    ]
    lower = ranked(
        [
            {"model": "a", "score": 0.1, "ci_low": 0.05, "ci_high": 0.15},
            {"model": "b", "score": 0.6, "ci_low": 0.5, "ci_high": 0.7},
        ],
        lower_is_better=True,
    )
    assert [(r.model, r.rank_best, r.rank_worst) for r in lower] == [("a", 1, 1), ("b", 2, 2)]


def test_suite_tree_has_one_capability_per_task() -> None:
    tree = suite_tree("core", ["gsm8k", "mmlu"], {"gsm8k": "accuracy"})
    caps = tree.dimensions[0].capabilities
    assert [c.benchmarks[0].benchmark for c in caps] == ["gsm8k", "mmlu"]


def _p(model: str, group: str, day: str, score: float) -> Point:
    return Point(model, group, "", dt.date.fromisoformat(day), score, None, None)


def test_frontier_theil_sen_and_group_lines() -> None:
    points = [
        _p("a", "g1", "2024-01-01", 0.4),
        _p("b", "g2", "2024-06-01", 0.35),
        _p("c", "g1", "2025-01-01", 0.6),
        _p("d", "g2", "2025-06-01", 0.55),
        _p("e", "g1", "2026-01-01", 0.8),
    ]
    assert [p.model for p in frontier(points)] == ["a", "c", "e"]
    slope = theil_sen([p for p in points if p.group == "g1"])
    assert slope is not None and slope.per_year == pytest.approx(0.2, abs=0.01)  # 0.2 per year, exactly linear
    assert slope.low <= slope.per_year <= slope.high
    lines = group_lines(points)
    assert set(lines) == {"g1", "g2"} and lines["g2"][0].per_year == pytest.approx(0.2, abs=0.01)
    assert theil_sen([points[0]]) is None


def test_signer_and_guard() -> None:
    signer = Signer()
    token = signer.dumps({"a": "<x>"})
    assert signer.loads(token) == {"a": "<x>"}
    tampered = token[:-1] + ("B" if token[-1] == "A" else "A")  # "+AA" left a token ending in AA as it was
    assert signer.loads(tampered) is None and Signer().loads(token) is None
    guard = Guard("secret", votes_per_minute=2)
    sid = guard.session_id(guard.new_session())
    assert sid and guard.session_id("forged.cookie") is None
    assert guard.csrf_ok(sid, "pair", guard.csrf(sid, "pair")) and not guard.csrf_ok(
        sid, "other", guard.csrf(sid, "pair")
    )
    assert guard.token_ok("secret") and not guard.token_ok("secreT")
    assert [guard.allow("s", now=t) for t in (0, 1, 2, 61.5)] == [True, True, False, True]
    assert Guard(None).session_id(guard.new_session()) is None  # read-only: no session is ever valid


def test_votes_are_battles_in_the_result_store(tmp_path: Path) -> None:
    votes = VoteStore(tmp_path)
    votes.add(Vote("gsm8k", "1", "a", "b", "model_a", "v"))
    votes.add(Vote("gsm8k", "2", "a", "b", "tie (bothbad)", "v"))
    assert votes.count() == 2 and [b.winner for b in votes.battles()] == ["a", "both_bad"]
    with pytest.raises(ValueError, match="vote: winner 'maybe'"):
        votes.add(Vote("gsm8k", "3", "a", "b", "maybe", "v"))
    votes.close()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".sqlite") == ["tianping.sqlite"]
    store = Store.open(tmp_path, readonly=True)
    assert [(b["benchmark"], b["sample_id"], b["winner"], b["source"]) for b in store.battles()] == [
        ("gsm8k", "1", "a", "web"),
        ("gsm8k", "2", "both_bad", "web"),
    ]
    store.close()


def test_votes_from_several_threads_land_in_one_store(tmp_path: Path) -> None:
    """FastAPI serves votes from a thread pool: each thread writes through its own handle."""
    import threading

    votes = VoteStore(tmp_path)
    threads = [
        threading.Thread(target=lambda i=i: votes.add(Vote("gsm8k", str(i), "a", "b", "a", f"v{i}"))) for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert votes.count() == 4
    votes.close()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tianping", "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TIANPING_TOKEN": ""},
    )


def test_serve_refuses_bad_input_with_the_flag_named(tmp_path: Path) -> None:
    bad = tmp_path / "reg.yaml"
    bad.write_text("models:\n  - {name: a, access: maybe}\n", encoding="utf-8")
    done = _cli("--results-dir", str(tmp_path), "--models", str(bad), "--export", str(tmp_path / "out"))
    assert done.returncode == 2 and "--models" in done.stderr and "field 'access'" in done.stderr
    done = _cli("--results-dir", str(tmp_path), "--monitor-store", str(tmp_path / "none.sqlite"))
    assert done.returncode == 2 and "--monitor-store" in done.stderr
    afile = tmp_path / "file"
    afile.write_text("x")
    done = _cli("--results-dir", str(tmp_path), "--export", str(afile))
    assert done.returncode == 2 and "--export" in done.stderr
    # a port already taken: one line naming it, before anything says the dashboard is up
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = _cli("--results-dir", str(tmp_path), "--port", str(port))
    assert done.returncode == 2 and f"--host 127.0.0.1 --port {port}: cannot listen there" in done.stderr
    assert "dashboard on" not in done.stdout and "Traceback" not in done.stderr


def test_export_of_an_empty_results_dir(tmp_path: Path) -> None:
    done = _cli("--results-dir", str(tmp_path / "nothing"), "--export", str(tmp_path / "site"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "index.html").is_file() and not (
        tmp_path / "nothing"
    ).exists()  # read-only: no store made
