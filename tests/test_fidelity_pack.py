"""Fidelity packs v1 and v2, the long-context truncation evidence, and item discrimination (pack-stats), on
seeded in-process data; the same over real runs is tests/test_fidelity_pack_runs.py."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from tianping.benchmarks.longctx import BUCKETS, make_items
from tianping.fidelity.longctx_evidence import context_evidence
from tianping.fidelity.pack import PACKS, pack_plan
from tianping.fidelity.pack_stats import item_stats, select_items
from tianping.plan import load_plan

URLS = ["http://127.0.0.1:8001/v1", "http://127.0.0.1:8002/v1"]


def test_v1_is_unchanged_and_v2_adds_code_and_long_context(tmp_path: Path) -> None:
    assert PACKS["v1"] == {"gsm8k": 100, "mmlu": 100, "arc_challenge": 40, "cmmlu": 60, "ceval": 40, "ifeval": 60}
    v2 = PACKS["v2"]
    assert set(v2) == set(PACKS["v1"]) | {"humaneval", "mbpp", "tp_longctx"} and sum(v2.values()) == 464
    for pack, unsafe in (("v1", False), ("v2", False), ("v2", True)):
        target = tmp_path / f"{pack}-{unsafe}.yaml"
        text = pack_plan("qwen", URLS, pack=pack, unsafe_exec=unsafe)
        target.write_text(text, encoding="utf-8")
        plan = load_plan(target)
        assert plan.spec.limits == PACKS[pack] and plan.spec.benchmarks == list(PACKS[pack])
        assert plan.spec.unsafe_exec is (pack == "v2" and unsafe)
        assert ("needs bubblewrap, or add settings.unsafe_exec" in text) is (pack == "v2" and not unsafe)
    assert pack_plan("qwen", URLS) == pack_plan("qwen", URLS, pack="v2")
    with pytest.raises(ValueError, match="unknown fidelity pack 'v9'"):
        pack_plan("qwen", URLS, pack="v9")


def test_v2_takes_every_bucket_task_and_language_of_the_long_context_set(data_dir: Path) -> None:
    from tianping.benchmarks.registry import build

    bench = build("tp_longctx", data_dir)[0].load(PACKS["v2"]["tp_longctx"], "spread")
    assert len(bench.samples) == 64
    assert Counter(s.meta["length"] for s in bench.samples) == dict.fromkeys(BUCKETS, 16)
    assert Counter(s.meta["subject"] for s in bench.samples) == dict.fromkeys(
        {f"{b}/{t}/{lang}" for b in BUCKETS for t in ("single", "multi", "kv", "aggregate") for lang in ("en", "zh")},
        2,
    )


IDS = [i.id for i in make_items()]


def _paired(seed: int, kind: str) -> tuple[dict[str, float], dict[str, float]]:
    """Reference and provider scores on the pack's 64 long-context items: the model is right on 85% (a coin
    per item); ``cut`` loses every item from 16k on, ``uniform`` loses 15% of its right answers everywhere."""
    rng = random.Random(seed)
    ids = [i for k, i in enumerate(IDS) if k % 3 != 2][:64]
    reference = {i: float(rng.random() < 0.85) for i in ids}
    provider = dict(reference)
    for i in ids:
        noisy = rng.random() < 0.03  # items faithful deployments disagree on
        if noisy:
            provider[i] = 1.0 - provider[i]
        if kind == "cut" and ("-16k-" in i or "-32k-" in i):
            provider[i] = 0.0
        if kind == "uniform" and provider[i] and rng.random() < 0.15:
            provider[i] = 0.0
    return reference, provider


def test_a_loss_confined_to_the_long_buckets_is_called_a_cut_and_a_uniform_one_is_not() -> None:
    calls = {kind: [] for kind in ("cut", "uniform", "faithful")}
    for seed in range(100):
        for kind in calls:
            found = context_evidence(*_paired(seed, kind))
            assert found is not None and [r.bucket for r in found.rows] == list(BUCKETS)
            calls[kind].append(found.cut_from)
    assert sum(c == "16k" for c in calls["cut"]) >= 95, Counter(calls["cut"])
    assert sum(c is not None for c in calls["uniform"]) <= 5, Counter(calls["uniform"])
    assert sum(c is not None for c in calls["faithful"]) <= 5, Counter(calls["faithful"])
    shown = context_evidence(*_paired(0, "cut"))
    assert shown is not None and "from the 16k bucket on" in shown.evidence and "2k: " in shown.evidence
    assert context_evidence({"longctx-en-single-2k-d10-0": 1.0}, {"longctx-en-single-2k-d10-0": 0.0}) is None


def _matrix(seed: int) -> tuple[dict[tuple[str, str], dict[str, float]], set[str]]:
    """Five models of abilities 0.3-0.9 on 200 items of known difficulty d (a model is right when its ability
    exceeds d, except for 5% of answers flipped at random), plus 40 items answered at random (noise)."""
    rng = random.Random(seed)
    abilities = {f"m{k}": a for k, a in enumerate((0.3, 0.45, 0.6, 0.75, 0.9))}
    matrix: dict[tuple[str, str], dict[str, float]] = {}
    separating = set()
    for i in range(200):
        d = rng.random()
        row = {}
        for model, ability in abilities.items():
            right = ability > d
            row[model] = float(right != (rng.random() < 0.05))
        matrix[("b", f"q{i}")] = row
        if 0.3 < d < 0.9:
            separating.add(f"q{i}")
    for i in range(40):
        matrix[("b", f"noise{i}")] = {m: float(rng.random() < 0.5) for m in abilities}
    return matrix, separating


def test_the_items_that_separate_models_of_known_ability_are_ranked_first() -> None:
    for seed in range(5):
        matrix, separating = _matrix(seed)
        models, stats = item_stats(matrix)
        assert models == [f"m{k}" for k in range(5)] and len(stats) == 240
        chosen = select_items(stats, {"b": 40})["b"]
        top = [s.sample_id for s in chosen]
        assert sum(i in separating for i in top) >= 36, top  # noise items rarely correlate by chance
        assert all(0.2 <= s.p <= 0.8 for s in chosen)
        worst = {s.sample_id for s in stats if s.r is None}
        assert worst and not worst & set(top)  # no item every model got right (or wrong) is chosen
    with pytest.raises(ValueError, match="at least 3 models; found 2"):
        item_stats({("b", "q"): {"a": 1.0, "b": 0.0}})
