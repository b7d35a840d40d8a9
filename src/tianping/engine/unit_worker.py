"""Run one work unit (a model, a task, a shard of sample ids) in a worker process, through the engine's own
per-sample path: the unit's samples go to ``Runner._drive_model`` exactly as a local run's do, so a unit stores
the same requests, answers and scores the local executor would, in the same ``samples`` rows.

Nothing here imports Ray: ``tianping.engine.ray_executor`` calls it from Ray tasks and actors, and a test may
call it in-process. A worker process keeps one ``UnitSession`` per run (its store connection, the run's spec and
loaded tasks) and reuses it for every unit of that run it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tianping.core import Score
from tianping.core.errors import FatalRunError
from tianping.core.task import ScoringContext, Task
from tianping.engine.backends import create_backend
from tianping.engine.runner import Runner, _first_cause, _ModelState, load_benchmarks
from tianping.models.base import ModelBackend
from tianping.spec import ModelSpec, RunSpec
from tianping.store import Store
from tianping.store.store import StoreError
from tianping.store.units import Claim, UnitQueue

KILL_HOOK_ENV = "TIANPING_TEST_KILL_WORKER"
"""Test hook: ``PATH:N`` makes the first worker that stores its N-th sample of a unit while PATH does not exist
create PATH and kill its own process (SIGKILL), as a crashed worker would die: mid-unit, once per PATH."""


@dataclass
class UnitOutcome:
    """What one execution of a unit did (the driver sums these into the run's counts)."""

    unit_id: str
    stored: int = 0
    sent: int = 0
    from_cache: int = 0
    attempts: int = 0
    unanswered: int = 0
    failures: list[str] = field(default_factory=list)
    scores: list[tuple[str, str, float | None]] = field(default_factory=list)
    """(progress name, score status, value) of every sample stored, for the driver's running scores."""
    lost_lease: bool = False


class _UnitSink:
    """The runner's progress sink inside a unit: counts what was stored, keeps the scores for the driver, and
    fires the kill hook of the tests."""

    def __init__(self, outcome: UnitOutcome, kill_hook: str | None):
        self.outcome = outcome
        self.kill_path, self.kill_after = _parse_hook(kill_hook)

    def start(self, total: int, done: int, earlier: Sequence[tuple[str, Score]] = ()) -> None:
        pass

    def advance(self, score: Score, name: str = "") -> None:
        self.outcome.stored += 1
        self.outcome.scores.append((name, score.status, score.value))
        if self.kill_path is not None and self.outcome.stored >= self.kill_after:
            try:
                fd = os.open(self.kill_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                self.kill_path = None  # another worker already died for this hook
                return
            os.close(fd)
            os.kill(os.getpid(), signal.SIGKILL)


def _parse_hook(text: str | None) -> tuple[str | None, int]:
    if not text:
        return None, 0
    path, _, count = text.rpartition(":")
    try:
        return (path or None), max(1, int(count))
    except ValueError:
        raise FatalRunError(f"{KILL_HOOK_ENV}={text!r}: expected PATH:N") from None


class UnitSession:
    """One worker process's view of a run: its own store connection, the spec the driver runs, and the run's
    tasks loaded from the definitions the run stored (so every worker reads the same questions)."""

    def __init__(self, store_url: str, run_id: str, spec_data: dict[str, Any]):
        self.store = Store(store_url)
        self.run_id = run_id
        self.spec = RunSpec.model_validate(spec_data)
        self.spec_data = spec_data
        stored = self.store.get_run(run_id)
        if stored is None:
            raise FatalRunError(f"no run '{run_id}' in {self.store.url}")
        self.tasks: dict[str, Task] = {t.name: t for t in load_benchmarks(self.spec, stored.get("definitions") or None)}
        self._samples = {name: {s.id: s for s in task.samples} for name, task in self.tasks.items()}
        self.models = {m.id: m for m in self.spec.models}
        self.queue = UnitQueue(self.store)
        self.kept: dict[str, ModelBackend] = {}
        """Backends kept across units (a local model's loaded weights, in an actor)."""

    def close(self) -> None:
        with contextlib.suppress(StoreError):
            self.store.close()

    async def run_unit(
        self,
        claim: Claim,
        *,
        lease_s: float,
        keep_backend: bool = False,
        limiter: Callable[[ModelSpec], Any] | None = None,
        kill_hook: str | None = None,
    ) -> UnitOutcome:
        """Send, score and store every sample of the claimed unit that has no stored answer yet, renewing the
        unit's lease meanwhile; then mark the unit done if all its samples are answered."""
        unit = claim.unit
        model = self.models.get(unit.model)
        task = self.tasks.get(unit.task)
        if model is None or task is None:
            raise FatalRunError(f"unit {unit.unit_id}: the run has no model {unit.model!r} or task {unit.task!r}")
        outcome = UnitOutcome(unit.unit_id)
        answered = self.store.answered_ids(self.run_id, unit.model, unit.task)
        samples = self._samples[unit.task]
        missing = [sid for sid in unit.sample_ids if sid not in samples]
        if missing:
            raise FatalRunError(f"unit {unit.unit_id}: {unit.task} has no sample {missing[0]!r} (its data changed)")
        work = [(task, samples[sid]) for sid in unit.sample_ids if sid not in answered]
        runner = Runner(self.spec, self.store, self.run_id, _UnitSink(outcome, kill_hook), list(self.tasks.values()))
        renewing = asyncio.create_task(self._renew(claim, lease_s, outcome))
        try:
            if work:
                outcome.failures = await self._drive(runner, model, work, keep_backend, limiter)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        result = runner.result
        outcome.sent, outcome.from_cache, outcome.attempts = result.sent, result.from_cache, result.attempts
        outcome.unanswered = result.unanswered
        self.queue.finish(unit)
        return outcome

    async def _drive(
        self,
        runner: Runner,
        model: ModelSpec,
        work: list[Any],
        keep_backend: bool,
        limiter: Callable[[ModelSpec], Any] | None,
    ) -> list[str]:
        backend = self.kept.get(model.id)
        if backend is None:
            try:
                backend = create_backend(model)
            except ValueError as exc:
                raise FatalRunError(f"model {model.id}: {exc}") from None
            if keep_backend:
                self.kept[model.id] = backend
        if limiter is not None and model.rpm and hasattr(backend, "_limiter"):
            # the backend's own limiter spaces requests in this process only; the run's limit is the cluster's
            backend._limiter = limiter(model)
        tasks = list(self.tasks.values())
        runner._context = ScoringContext(
            sandbox=runner._make_sandbox(tasks),
            judge=runner._make_helper("judge", self.spec.judge),
            judge_preset=self.spec.judge_preset,
            attacker=runner._make_helper("attacker", self.spec.attacker),
        )
        cached = self.store.cached_keys(model.id, model.endpoint) if self.spec.use_cache else set()
        state = _ModelState(model, backend, cached, model.endpoint)
        try:
            await runner._drive_model(state, work)
        except BaseExceptionGroup as group:
            raise _first_cause(group) from None
        finally:
            if not keep_backend:
                await backend.aclose()
            for helper in (runner._context.judge, runner._context.attacker):
                if helper is not None:
                    await helper.aclose()
        return state.failures

    async def _renew(self, claim: Claim, lease_s: float, outcome: UnitOutcome) -> None:
        while True:
            await asyncio.sleep(lease_s / 3)
            with contextlib.suppress(StoreError):  # the next write that matters reports the store's trouble
                if self.queue.renew(claim, lease_s) is None:
                    # it expired and another worker took it: both finish it, and idempotent writes store each
                    # sample once
                    outcome.lost_lease = True


_SESSIONS: dict[tuple[str, str], UnitSession] = {}


def session_for(store_url: str, run_id: str, spec_data: dict[str, Any]) -> UnitSession:
    """This process's session for a run, opened on first use."""
    key = (store_url, run_id)
    session = _SESSIONS.get(key)
    if session is not None and session.spec_data != spec_data:  # a later driver runs it with other settings
        session.close()
        session = None
    if session is None:
        session = _SESSIONS[key] = UnitSession(store_url, run_id, spec_data)
    return session


def run_claimed(
    store_url: str,
    run_id: str,
    spec_data: dict[str, Any],
    claim: Claim,
    *,
    lease_s: float,
    loop: asyncio.AbstractEventLoop | None = None,
    keep_backend: bool = False,
    limiter: Callable[[ModelSpec], Any] | None = None,
    kill_hook: str | None = None,
) -> UnitOutcome:
    """Run one claimed unit to its end in this process (on ``loop``, kept by an actor across units, or a fresh
    one)."""
    session = session_for(store_url, run_id, spec_data)
    work: Awaitable[UnitOutcome] = session.run_unit(
        claim, lease_s=lease_s, keep_backend=keep_backend, limiter=limiter, kill_hook=kill_hook
    )
    if loop is None:
        return asyncio.run(work)  # type: ignore[arg-type]
    return loop.run_until_complete(work)
