"""``--limit`` picks samples round-robin over subjects by default; ``--limit-mode first`` and ``per-subject``
reproduce lm-evaluation-harness, whose ``--limit`` applies to each task (MMLU is 57 subject tasks there)."""

from __future__ import annotations

from collections import Counter

from engine_helpers import cli
from tianping.benchmarks.registry import build


def _mmlu(data_dir, limit, mode=None):
    return next(b for b in build("mmlu", data_dir) if b.name == "mmlu").load(limit, mode)


def test_spread_is_round_robin_over_subjects(data_dir):
    bench = _mmlu(data_dir, 57)
    assert len({s.meta["subject"] for s in bench.samples}) == 57


def test_first_takes_the_first_n_in_file_order(data_dir):
    everything = _mmlu(data_dir, None)
    first = _mmlu(data_dir, 12, "first")
    assert [s.id for s in first.samples] == [s.id for s in everything.samples[:12]]
    assert len({s.meta["subject"] for s in first.samples}) == 1


def test_per_subject_takes_the_first_n_of_each_subject_as_lm_eval_does_on_a_group(data_dir):
    everything = _mmlu(data_dir, None)
    bench = _mmlu(data_dir, 3, "per-subject")
    counts = Counter(s.meta["subject"] for s in bench.samples)
    assert len(counts) == 57 and set(counts.values()) == {3}
    for subject in counts:
        in_file = [s.id for s in everything.samples if s.meta["subject"] == subject][:3]
        assert [s.id for s in bench.samples if s.meta["subject"] == subject] == in_file


def test_a_benchmark_without_subjects_takes_the_first_n_in_every_mode(data_dir):
    (gsm8k,) = build("gsm8k", data_dir)
    ids = {mode: [s.id for s in gsm8k.load(5, mode).samples] for mode in (None, "first", "per-subject")}
    assert ids[None] == ids["first"] == ids["per-subject"] and len(ids[None]) == 5


def test_an_unknown_limit_mode_names_the_flag(tmp_path):
    done = cli(
        "run", "--model", "openai/m", "--base-url", "http://127.0.0.1:9/v1", "-b", "gsm8k", "--limit", "2",
        "--limit-mode", "last", "--results-dir", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 2 and "--limit-mode" in done.stderr and "'first'" in done.stderr
