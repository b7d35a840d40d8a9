"""``batch_size="auto"``: the scorer probes the largest call that fits (doubling a token budget until the
device runs out of memory, then backing off) and gives the same numbers as a fixed batch size."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from hf_fixtures import tiny_model_dir  # noqa: F401 - a fixture
from tianping.models import hf_scoring
from tianping.models.hf_load import load_local_model
from tianping.models.hf_scoring import LogLikelihoodScorer
from tianping.models.hf_tokens import ScoreItem
from tianping.spec import ModelSpec

SHOTS = "".join(f"Question {i}: what is {i} + {i}?\nA. {i}\nB. {2 * i}\nAnswer: B\n\n" for i in range(4))


@pytest.fixture(scope="module")
def loaded(tiny_model_dir: Path):  # noqa: F811
    return load_local_model(tiny_model_dir, device="cpu", batch_size=4)


def items_of(loaded, questions: int = 40, shared: bool = True) -> list[ScoreItem]:
    items = []
    for q in range(questions):
        lead = SHOTS if shared else f"Topic {q} " * (1 + q % 7)
        context = lead + f"Question {q + 10}: name planet {q}, or the moon {q * 7}.\nA. Mars\nB. Venus\nAnswer:"
        for cont in (" A", " B", " Mars is red"):
            items.append(loaded.encoder.item(*loaded.encoder.encode_pair(context, cont)))
    return items


def limit_memory(monkeypatch: pytest.MonkeyPatch, scorer: LogLikelihoodScorer, max_tokens: int) -> list[int]:
    """Every scoring call of more than ``max_tokens`` tokens (rows x (prefix + padded suffix)) raises
    torch.OutOfMemoryError, as a device would; returns the sizes of the calls that ran."""
    ran: list[int] = []
    forward = scorer._forward

    def guarded(chunk, kv, plen, items, results):  # noqa: ANN001, ANN202
        width = max(len(row.tokens) - plen for row in chunk)
        tokens = len(chunk) * (plen + width)
        if tokens > max_tokens:
            scorer.note_call(len(chunk), plen + width)
            raise torch.OutOfMemoryError(f"simulated: {tokens} tokens > {max_tokens}")
        ran.append(tokens)
        return forward(chunk, kv, plen, items, results)

    monkeypatch.setattr(scorer, "_forward", guarded)
    return ran


@pytest.mark.parametrize("shared", [True, False])
def test_auto_finds_the_limit_and_keeps_the_numbers(loaded, monkeypatch: pytest.MonkeyPatch, shared: bool) -> None:
    items = items_of(loaded, shared=shared)
    expected = LogLikelihoodScorer(loaded.model, loaded.device, batch_size=3).score(items)
    monkeypatch.setattr(hf_scoring, "AUTO_START_TOKENS", 64)
    scorer = LogLikelihoodScorer(loaded.model, loaded.device, batch_size=16)
    scorer.set_batch_size("auto")
    assert scorer.auto and scorer.budget == 64
    limit = 700
    ran = limit_memory(monkeypatch, scorer, limit)
    got = scorer.score(items)
    assert max(abs(g[0] - e[0]) for g, e in zip(got, expected, strict=True)) < 1e-5
    assert [g[1] for g in got] == [e[1] for e in expected]
    assert all(t <= limit for t in ran)
    if scorer.oom_events:  # it pressed against the limit: backed off below it and stopped probing there
        assert scorer.ceiling is not None and scorer.ceiling > limit
        assert scorer.budget < scorer.ceiling
    assert scorer.budget > 64, "the budget should have grown from its start by doubling"
    assert scorer.oom_events <= 3, "probing should not keep running out of memory"
    # a second pass runs at the budget found, without new out-of-memory errors
    before = scorer.oom_events
    again = scorer.score(items)
    assert again == got or max(abs(a[0] - g[0]) for a, g in zip(again, got, strict=True)) < 1e-5
    assert scorer.oom_events == before


def test_auto_grows_until_out_of_memory_then_backs_off(loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hf_scoring, "AUTO_START_TOKENS", 32)
    scorer = LogLikelihoodScorer(loaded.model, loaded.device, batch_size=16, use_prefix_cache=False)
    scorer.set_batch_size("auto")
    limit = 1500
    ran = limit_memory(monkeypatch, scorer, limit)
    items = items_of(loaded, questions=120, shared=True)
    scorer.score(items)
    assert scorer.oom_events >= 1, "doubling should reach the simulated limit"
    assert max(ran) > limit / 4, "calls should grow to near the limit"
    assert scorer.budget <= limit < (scorer.ceiling or 0)


def test_auto_reprobes_longer_rows(loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    """A budget found on short rows is a token budget: longer rows get fewer rows per call, and one that still
    does not fit backs the budget off (the call is halved) without losing an answer."""
    monkeypatch.setattr(hf_scoring, "AUTO_START_TOKENS", 64)
    scorer = LogLikelihoodScorer(loaded.model, loaded.device, batch_size=16, use_prefix_cache=False)
    scorer.set_batch_size("auto")
    short = items_of(loaded, questions=40, shared=False)
    long_items = [
        loaded.encoder.item(*loaded.encoder.encode_pair(SHOTS * 2 + f"Question {q}: why?\nAnswer:", " Because"))
        for q in range(30)
    ]
    limit = 900
    ran = limit_memory(monkeypatch, scorer, limit)
    scorer.score(short)
    probed = scorer.probed_len
    got = scorer.score(long_items)
    assert scorer.probed_len > probed
    assert all(t <= limit for t in ran)
    expected = LogLikelihoodScorer(loaded.model, loaded.device, batch_size=4, use_prefix_cache=False).score(long_items)
    assert max(abs(g[0] - e[0]) for g, e in zip(got, expected, strict=True)) < 1e-5


def test_auto_is_capped_on_cpu(loaded) -> None:
    scorer = LogLikelihoodScorer(loaded.model, loaded.device, batch_size=16)
    scorer.set_batch_size("auto")
    assert scorer.budget <= scorer.max_budget() == hf_scoring.AUTO_MAX_TOKENS["cpu"]
    for _ in range(20):
        scorer.ran(rows=100, row_tokens=scorer.budget // 100 + 1)
    assert scorer.budget == scorer.max_budget()


def test_fixed_batch_size_is_unchanged(loaded) -> None:
    scorer = LogLikelihoodScorer(loaded.model, loaded.device, batch_size=5)
    assert not scorer.auto and scorer.rows_for(10_000) == 5
    with pytest.raises(ValueError):
        scorer.set_batch_size(0)
    with pytest.raises(ValueError):
        scorer.set_batch_size("big")


def test_spec_and_cli_accept_auto() -> None:
    assert ModelSpec(id="hf/x", batch_size="auto").batch_size == "auto"
    assert ModelSpec(id="hf/x", batch_size=8).batch_size == 8
    assert ModelSpec(id="hf/x").batch_size == 16
    for bad in (0, 5000, "big"):
        with pytest.raises(ValueError):
            ModelSpec(id="hf/x", batch_size=bad)
    from tianping.cli.run_support import batch_size_option

    assert batch_size_option("auto") == "auto"
    assert batch_size_option("AUTO") == "auto"
    assert batch_size_option("32") == 32
    import typer

    for bad in ("0", "-1", "x"):
        with pytest.raises(typer.BadParameter):
            batch_size_option(bad)


def test_cli_refuses_a_bad_batch_size(tmp_path: Path) -> None:
    from tianping.cli import app

    result = CliRunner().invoke(
        app,
        ["run", "--model", "hf/nowhere", "--benchmark", "mmlu", "--batch-size", "zero", "--results-dir", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert "batch-size" in result.output
