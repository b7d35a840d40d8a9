"""Local models see the plan, not a window of ``concurrency``: the engine sends a local backend all pending
samples (up to its ``max_in_flight``), and the backend batches neighbours by prompt, so interleaved subjects
are regrouped; answers are unchanged and are stored batch by batch."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import run_engine
from hf_fixtures import tiny_model_dir  # noqa: F401 - a fixture
from tianping.core import Request
from tianping.engine.runner import in_flight
from tianping.models import hf_local
from tianping.models.hf_local import HFLocalBackend, _order_key, _Pending, _take_batch
from tianping.spec import ModelSpec, RunSpec
from tianping.store import Store

SUBJECTS = ("algebra", "biology", "chemistry")


def shots(subject: str) -> str:
    return f"Questions about {subject}.\n\n" + "".join(
        f"Q: {subject} fact {i} is what?\nA. yes\nB. no\nAnswer: A\n\n" for i in range(4)
    )


def interleaved(n: int) -> list[Request]:
    """Round-robin over the subjects, as ``--limit`` spreads them; each subject shares a k-shot prefix."""
    return [
        Request(
            model="hf/t", prompt=shots(s) + f"Q: {s} question {q}?\nA. yes\nB. no\nAnswer:", continuations=(" A", " B")
        )
        for q in range(n)
        for s in SUBJECTS
    ]


class _Plain:
    model_id = "x"


class _Local:
    model_id = "y"
    max_in_flight = 4096


def test_in_flight_follows_the_backend_else_the_spec() -> None:
    spec = ModelSpec(id="hf/x", concurrency=7)
    assert in_flight(_Plain(), spec) == 7
    assert in_flight(_Local(), spec) == 4096
    assert HFLocalBackend.max_in_flight >= 1024


def test_take_batch_groups_by_prompt_and_serves_the_oldest_first() -> None:
    loop = asyncio.new_event_loop()
    try:
        works = [f"{s} {i}" for i in range(4) for s in ("b", "a", "c")]
        pool = [_Pending(_order_key(w), i, w, loop.create_future(), 0.0) for i, w in enumerate(works)]
        batch, rest = _take_batch(list(pool), 4)
        assert [p.work for p in batch] == ["b 0", "b 1", "b 2", "b 3"]  # the oldest ("b 0") with its neighbours
        assert len(rest) == 8 and {p.work for p in batch}.isdisjoint(p.work for p in rest)
        batch, rest = _take_batch(rest, 4)
        assert [p.work for p in batch] == ["a 0", "a 1", "a 2", "a 3"]
        small, none = _take_batch(rest[:3], 4)
        assert len(small) == 3 and none == []
        # the oldest near the end of the order still gets a full batch
        tail = [
            _Pending(_order_key(w), i, w, loop.create_future(), 0.0) for i, w in enumerate(["z", "a", "b", "c", "d"])
        ]
        batch, rest = _take_batch(tail, 2)
        assert [p.work for p in batch] == ["d", "z"] and len(rest) == 3
    finally:
        loop.close()


def test_order_key_separates_kinds() -> None:
    ll = Request(model="m", prompt="b", continuations=(" x",))
    gen = Request(model="m", prompt="a")
    assert _order_key(ll) < _order_key("a text") < _order_key(gen)


def test_backend_regroups_interleaved_subjects(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(hf_local, "MAX_COLLECT", 4)
    backend = HFLocalBackend("hf/t", tiny_model_dir, device="cpu", batch_size=16)
    seen: list[list[Any]] = []
    run = backend._run

    def spy(works: list[Any]) -> list[Any]:
        seen.append(list(works))
        return run(works)

    monkeypatch.setattr(backend, "_run", spy)
    requests = interleaved(8)

    async def ask() -> list[Any]:
        try:
            return await asyncio.gather(*(backend.generate(r) for r in requests))
        finally:
            await backend.aclose()

    answers = asyncio.run(ask())
    assert sum(len(b) for b in seen) == len(requests)
    for batch in seen:  # each batch holds one subject: neighbours in prompt order
        assert len({w.prompt.split(".")[0] for w in batch}) == 1, [w.prompt[:30] for w in batch]
    alone = HFLocalBackend("hf/t", tiny_model_dir, device="cpu", batch_size=1)

    async def one(r: Request) -> Any:
        return await alone.generate(r)

    async def each() -> list[Any]:
        try:
            return [await one(r) for r in requests]
        finally:
            await alone.aclose()

    expected = asyncio.run(each())
    for got, want in zip(answers, expected, strict=True):
        assert [x.logprob for x in got.loglikelihoods] == pytest.approx(
            [x.logprob for x in want.loglikelihoods], abs=1e-5
        )
        assert [x.greedy for x in got.loglikelihoods] == [x.greedy for x in want.loglikelihoods]


def test_engine_sends_a_local_model_more_than_concurrency(
    tiny_model_dir: Path,  # noqa: F811
    tmp_path: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With concurrency 2, the engine still hands the local backend every sample of the plan at once, and the
    backend stores answers batch by batch (a batch of at most MAX_COLLECT), not all at the end."""
    monkeypatch.setattr(hf_local, "MAX_COLLECT", 8)
    sizes: list[int] = []
    original = HFLocalBackend._run
    store = Store(tmp_path / "results.db")

    def spy(self: HFLocalBackend, works: list[Any]) -> list[Any]:
        sizes.append(len(works))
        return original(self, works)

    monkeypatch.setattr(HFLocalBackend, "_run", spy)
    recorded: list[int] = []
    record = store.record

    def counting_record(**kwargs: Any) -> Any:
        recorded.append(len(sizes))  # how many batches had run when this answer was stored
        return record(**kwargs)

    monkeypatch.setattr(store, "record", counting_record)
    spec = RunSpec(
        models=[ModelSpec(id=f"hf/{tiny_model_dir}", device="cpu", batch_size=4, concurrency=2)],
        benchmarks=["mmlu"],
        mode="loglikelihood",
        limit=30,
        data_dir=str(data_dir),
    )
    result = run_engine(store, spec)
    assert result.status == "completed", result.message
    assert max(sizes) == 8, sizes  # full batches although only 2 would be in flight by concurrency
    assert sum(sizes) == 30
    # answers are stored as batches finish, not all at the end (the exact interleaving follows the machine's load:
    # the worker may start the next batch before the event loop stores the first one's answers)
    assert recorded[0] < len(sizes), (recorded[0], sizes)
