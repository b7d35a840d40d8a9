"""benchmarks/peer_guidellm.py: reading guidellm's report, clock mapping, and pairing rows with server stamps."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import peer_guidellm as pg

OFFSET = 1.8e9  # time.time() - time.perf_counter(), as if measured around the run


def _request(start: float, ttft: float, itl: float, n: int = 64) -> dict:
    first, last = start + ttft, start + ttft + itl * (n - 1)
    timings = {"resolve_start": start - 0.002, "request_start": start, "first_token_iteration": first,
               "last_token_iteration": last, "token_iterations": n}  # fmt: skip
    return {"request_id": f"r{start}", "info": {"timings": timings}, "output_tokens": n,
            "time_to_first_token_ms": 1000 * ttft, "inter_token_latency_ms": 1000 * itl,
            "time_per_output_token_ms": 1000 * (last - start) / n}  # fmt: skip


def _report(requests: list[dict]) -> dict:
    return {"benchmarks": [{"requests": {"successful": requests, "errored": [], "incomplete": None}}]}


def test_parse_report_maps_wall_clock_to_perf_counter_and_takes_itl_as_tpot():
    rows, totals = pg.parse_report(_report([_request(OFFSET + 12.0, 0.25, 0.04)]), OFFSET, "r.json")
    (row,) = rows
    assert totals == {"successful": 1, "errored": 0, "incomplete": 0}
    us = pytest.approx  # wall-clock seconds near 1.8e9 keep about a microsecond of precision
    assert row["start"] == us(12.0, abs=1e-6) and row["sent"] == row["start"]
    assert row["first"] == us(12.25, abs=1e-6) and row["last"] == us(12.25 + 63 * 0.04, abs=1e-6)
    assert row["queue"] == us(0.002, abs=1e-6) and row["ttft"] == pytest.approx(0.25)
    assert row["tpot"] == pytest.approx(0.04)  # (last - first) / (n - 1), the server truth's definition
    assert row["guidellm_tpot"] == pytest.approx((0.25 + 63 * 0.04) / 64)  # guidellm's TPOT counts the TTFT


def test_parse_report_names_the_file_and_field_when_timings_are_missing():
    req = _request(OFFSET, 0.2, 0.04)
    del req["info"]["timings"]["first_token_iteration"]
    with pytest.raises(pg.GuidellmError, match=r"r\.json: benchmarks\[0\]\.requests\.successful\[0\].*first_token"):
        pg.parse_report(_report([req]), OFFSET, "r.json")
    with pytest.raises(pg.GuidellmError, match="exactly one benchmark"):
        pg.parse_report({"benchmarks": []}, OFFSET, "r.json")


def _burst(seed: int = 1, n: int = 64) -> tuple[list[dict], dict[str, list[float]], dict[str, str]]:
    """n requests sent within 10 ms that reach the server 0-250 ms later in a scrambled order (a busy client)."""
    rng = np.random.default_rng(seed)
    rows, stamps, truth = [], {}, {}
    for i in range(n):
        sent = 100.0 + rng.uniform(0, 0.01)
        arrival = sent + rng.uniform(0.0005, 0.25)
        first_sent = arrival + 0.2 + rng.uniform(0, 0.001)
        last_sent = first_sent + 63 * 0.04 + rng.uniform(0, 0.001)
        delay = rng.uniform(0.0002, 0.002)  # the client reads a token shortly after the server sends it
        tag = f"auto-{i + 1}"
        stamps[tag] = [arrival, first_sent, last_sent]
        rows.append({"request_id": f"q{i}", "start": sent, "sent": sent, "t_call": sent, "queue": 0.0,
                     "first": first_sent + delay, "last": last_sent + delay, "ttft": first_sent + delay - sent,
                     "tpot": (last_sent - first_sent) / 63, "n": 64})  # fmt: skip
        truth[f"q{i}"] = tag
    return rows, stamps, truth


def test_assign_tags_by_token_times_recovers_pairs_that_send_order_scrambles():
    rows, stamps, truth = _burst()
    stamps["t-other"] = [100.1, 100.3, 103.0]  # a tagged request from another client: not a candidate
    stamps["auto-999"] = [50.0, 50.2, 52.8]  # untagged, but outside the run's window

    def arrival_error(tagged: list[dict]) -> np.ndarray:  # the paired stamp's arrival against the true one's
        return np.array([stamps[r["tag"]][0] - stamps[truth[r["request_id"]]][0] for r in tagged])

    by_tokens = pg.assign_tags(rows, stamps, 99.0, 110.0)
    assert {r["tag"] for r in by_tokens} == set(truth.values())
    assert sum(r["tag"] == truth[r["request_id"]] for r in by_tokens) >= 0.7 * len(rows)
    assert np.abs(arrival_error(by_tokens)).max() < 0.003  # a swap only between near-simultaneous arrivals
    assert all(r["arrival_lag"] > 0 and r["first_lag"] > 0 for r in by_tokens)
    by_send = pg.assign_tags(rows, stamps, 99.0, 110.0, by="send")
    assert np.abs(arrival_error(by_send)).max() > 0.05
    assert sum(r["tag"] == truth[r["request_id"]] for r in by_send) < len(rows) // 2


def test_assign_tags_refuses_when_stamps_and_rows_differ_in_number():
    rows, stamps, _ = _burst(n=8)
    del stamps["auto-3"]  # e.g. two requests stamped under one tag
    with pytest.raises(pg.GuidellmError, match="8 guidellm rows but 7 auto-"):
        pg.assign_tags(rows, stamps, 99.0, 110.0)


def test_tagged_rows_fit_the_accuracy_benchmarks_join_truth():
    from bench_probe_accuracy import join_truth

    rows, stamps, _ = _burst(n=16)
    tagged = pg.assign_tags(rows, stamps, 99.0, 110.0)
    err = join_truth(tagged, stamps, 64)
    expected = [r["ttft"] - (stamps[r["tag"]][1] - stamps[r["tag"]][0]) for r in tagged]
    assert err["ttft"] == pytest.approx(expected)
    assert err["wire"] == pytest.approx([r["first_lag"] for r in tagged])
    ours = pg.truth_errors(tagged, stamps, 64)
    assert ours["ttft"] == pytest.approx(expected) and ours["tpot"] == pytest.approx(err["tpot"])


def test_run_guidellm_names_what_is_missing(tmp_path):
    kw = {"streams": 1, "requests": 1, "prompt_tokens": 8, "output_tokens": 4, "cores": None}
    with pytest.raises(pg.GuidellmError, match="guidellm not found"):
        pg.run_guidellm(str(tmp_path / "nope"), "http://127.0.0.1:1/v1", tokenizer_dir=str(tmp_path), **kw)
    fake_bin = tmp_path / "guidellm"
    fake_bin.write_text("")
    with pytest.raises(pg.GuidellmError, match="no tokenizer_config.json"):
        pg.run_guidellm(str(fake_bin), "http://127.0.0.1:1/v1", tokenizer_dir=str(tmp_path), **kw)


def test_make_tokenizer_builds_a_loadable_tokenizer_that_round_trips_text(tmp_path):
    from transformers import AutoTokenizer

    path = pg.make_tokenizer(tmp_path / "tok")
    tok = AutoTokenizer.from_pretrained(str(path))
    text = "Prove adult science people. Beautiful different plan."
    ids = tok.encode(text)
    assert 3 < len(ids) < len(text) and tok.decode(ids) == text
    assert pg.make_tokenizer(path) == path  # an existing tokenizer is kept
