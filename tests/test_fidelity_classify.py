"""Issue 19's done-when: four fake providers of one model -- faithful, "quantized" (5 points of accuracy lost and
log-probabilities shifted), one that truncates the context below the claim, one that counts with another
tokenizer -- are each classified right in at least 95 of 100 seeded simulations, and the faithful one is called
degraded no more often than the nominal false-positive rate of the tests that ran.

The simulations run the real signal code in-process on seeded inputs drawn by the fake servers' own rules
(tests/fidelity_fakes.py); one real-HTTP run of ``tianping fidelity probe`` per fake kind checks the same
classification end to end.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from engine_helpers import cli
from fake_openai import in_background
from fidelity_fakes import (
    FAITHFUL_SD,
    QUANTIZED_SD,
    FidelityServer,
    count_tokens,
    simulated_prompt_counter,
    simulated_replies,
    simulated_scores,
)
from tianping.fidelity.classify import classify
from tianping.fidelity.logprob_signal import FPR, compare_logprobs
from tianping.fidelity.signals import PROBES, compare_fingerprints, search_context
from tianping.fidelity.stats import fidelity_compare

CLAIMED = 4096
KINDS = ("faithful", "quantized", "truncating", "tokenizer")
EXPECTED = {
    "faithful": "faithful",
    "quantized": "degraded",
    "truncating": "context cut",
    "tokenizer": "another tokenizer",
}
NOMINAL_DEGRADED = 0.025 + FPR
"""Accuracy's lower tail of a two-sided 0.05 McNemar test plus the log-probability test's rate."""


def _fingerprint(overhead: int, tokenizer: str) -> list[int]:
    counts = [overhead + count_tokens(p, tokenizer) for p in PROBES]
    return [c - counts[0] for c in counts]


def simulate(kind: str, seed: int, *, probes: bool = True) -> tuple[str, dict[str, Any]]:
    """The label one seeded run of every signal gives a fake provider of ``kind``, and the signals."""
    rng = random.Random(seed)
    drop = 0.05 if kind == "quantized" else 0.0
    accuracy = fidelity_compare(*simulated_scores(seed, drop))
    sd = QUANTIZED_SD if kind == "quantized" else FAITHFUL_SD
    # no repeat of the reference: a deterministic one measures no noise of its own, and the floor applies
    reference = simulated_replies(seed, noise_seed=2 * seed, sd=FAITHFUL_SD)
    logprobs = compare_logprobs(reference, simulated_replies(seed, noise_seed=2 * seed + 1, sd=sd))
    found: dict[str, Any] = {"accuracy": accuracy, "logprobs": logprobs}
    if probes:
        tokenizer = "bytes" if kind == "tokenizer" else "words"
        ref_fp = _fingerprint(rng.randint(0, 60), "words")
        found["tokenizer"] = compare_fingerprints(ref_fp, _fingerprint(rng.randint(0, 60), tokenizer))
        limit = int(CLAIMED * rng.uniform(0.3, 0.9)) if kind == "truncating" else None
        count = simulated_prompt_counter(rng.randint(0, 60), "words", limit)
        found["context"] = asyncio.run(search_context(count, CLAIMED))
    return classify(**found).label, found


@pytest.mark.parametrize("kind", KINDS)
def test_each_fake_provider_is_classified_right_in_at_least_95_of_100_simulations(kind: str) -> None:
    runs = [simulate(kind, seed) for seed in range(100)]
    labels = [label for label, _ in runs]
    right = labels.count(EXPECTED[kind])
    assert right >= 95, {label: labels.count(label) for label in set(labels)}
    # each defect is seen by the signal made for it, not only by the verdict
    own = {
        "faithful": lambda f: not f["logprobs"].flagged and f["tokenizer"].same and not f["context"].truncates,
        "quantized": lambda f: f["logprobs"].flagged and f["accuracy"].verdict == "degraded",
        "truncating": lambda f: f["context"].truncates,
        "tokenizer": lambda f: not f["tokenizer"].same,
    }[kind]
    assert sum(bool(own(found)) for _, found in runs) >= 95


def test_the_faithful_provider_is_called_degraded_no_more_often_than_the_nominal_rate() -> None:
    labels = [simulate("faithful", 10_000 + seed, probes=False)[0] for seed in range(500)]
    assert labels.count("degraded") / len(labels) <= NOMINAL_DEGRADED, labels.count("degraded")


def _probe(server: FidelityServer, reference: FidelityServer) -> dict[str, Any]:
    args = ["--base-url", server.base_url, "--model", "qwen2.5-7b-instruct", "--reference-url", reference.base_url]
    done = cli("fidelity", "probe", *args, "--claimed-context", str(CLAIMED), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("kind", KINDS)
def test_the_probe_command_classifies_each_fake_provider_over_http(kind: str) -> None:
    options: dict[str, Any] = {
        "faithful": {},
        "quantized": {"logprob_sd": QUANTIZED_SD},
        "truncating": {"truncate_at": 1500},
        "tokenizer": {"tokenizer": "bytes"},
    }[kind]
    with (
        in_background(FidelityServer(noise_seed=0, overhead=11)) as reference,
        in_background(FidelityServer(noise_seed=1, overhead=5, **options)) as server,
    ):
        report = _probe(server, reference)
    assert report["verdict"] == EXPECTED[kind], report
    signals = report["signals"]
    assert signals["tokenizer"]["flagged"] == (kind == "tokenizer")
    assert signals["context"]["flagged"] == (kind == "truncating")
    assert signals["logprobs"]["flagged"] == (kind == "quantized") and signals["logprobs"]["aligned_tokens"] > 100
    if kind == "truncating":
        assert abs(signals["context"]["honoured"] - 1500) <= 2
    for name in ("length", "refusal", "truncation", "fields", "max_tokens"):
        assert signals[name]["flagged"] is False, (name, signals[name])
    assert report["reasons"] and all(isinstance(r, str) for r in report["reasons"])
