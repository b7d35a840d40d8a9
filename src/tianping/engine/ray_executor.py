"""The Ray executor: a run's plan cut into work units in the store, each unit run as a Ray task.

The driver (``tianping run --executor ray``) cuts the plan into units (``tianping.store.units``), adds them to
the store (a unit cut again adds nothing, so a restarted or a second driver on the same run finds the same
units), then claims units under a lease and submits each as a Ray task: API models as one task per unit that
runs the unit's samples on its own event loop with the model's concurrency; local models on actors that keep
the loaded model, one per slot, reused across units. Each task renews its unit's lease while it runs.

Nothing is lost when a part dies: a worker killed mid-unit is retried by Ray, and the retried task skips the
samples already stored; a driver killed mid-run leaves its units leased to a dead process, which a driver on
the same host takes over at once (and any driver once the lease has expired). Samples are written idempotently,
so a unit run twice stores each sample once. Requests-per-minute limits hold across the cluster: one named
actor keeps a token bucket per model and endpoint, and every worker reserves its start times there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

from tianping.benchmarks.errors import DatasetError, UnknownBenchmark
from tianping.core import Score
from tianping.core.errors import FatalRunError, TaskConfigError
from tianping.engine.runner import Runner, RunResult, scores_so_far
from tianping.engine.unit_worker import KILL_HOOK_ENV, UnitOutcome, run_claimed
from tianping.spec import ModelSpec, RunSpec
from tianping.store import Store, backends
from tianping.store.lease import Owner, lease_is_live
from tianping.store.store import RunBusy, StoreError, now_iso
from tianping.store.units import Claim, Unit, UnitQueue, cut_plan

UNIT_SIZE = 64
"""Samples per unit: large enough that a unit's start-up (a task, its store connection) is small beside its
requests, small enough that a dead worker's unit is little work to repeat."""
LEASE_S = 60.0
"""How long a unit's lease lasts without renewal (a worker renews it every third of that)."""
POLL_S = 0.5
NAMESPACE = "tianping"
LIMITER_NAME = "tianping-rate-limits"
LOCAL_BACKENDS = ("hf", "ref", "vllm")


class RayMissing(FatalRunError):
    """``--executor ray`` on a machine without Ray installed."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayMissing("--executor ray needs Ray: pip install 'tianping[ray]'") from None
    return ray


def connect(address: str | None) -> Any:
    """Ray, connected to the cluster at ``address`` (``auto``: the one started on this machine with ``ray
    start``; HOST:PORT) or, with no address, to a new single-machine cluster that ends with this process."""
    ray = import_ray()
    if not ray.is_initialized():
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # a run never reports usage anywhere
        try:
            ray.init(
                address=address or "local",
                namespace=NAMESPACE,
                include_dashboard=False if not address else None,
                log_to_driver=False,
                configure_logging=False,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise FatalRunError(f"--ray-address {address or 'local'}: cannot connect to a Ray cluster: {exc}") from None
    return ray


# what runs on the cluster ---------------------------------------------------------------------------------------


def _limiter_for(bucket: Any) -> Any:
    """A factory of per-model limiters that reserve their start times in the cluster's token buckets."""

    class ClusterLimiter:
        __slots__ = ("key", "interval")

        def __init__(self, model: ModelSpec):
            self.key = f"{model.endpoint}|{model.request_name}"
            self.interval = 60.0 / float(model.rpm or 1)

        async def wait(self) -> None:
            delay = await bucket.reserve.remote(self.key, self.interval)
            if delay > 0:
                await asyncio.sleep(delay)

    return ClusterLimiter


class TokenBuckets:
    """Start times per (endpoint, model) for the whole cluster: each caller reserves the next free slot, at
    least ``interval`` seconds after the one before (a token bucket of size one, as a single process spaces its
    requests)."""

    def __init__(self) -> None:
        self.next_at: dict[str, float] = {}

    def reserve(self, key: str, interval: float) -> float:
        now = time.time()
        at = max(self.next_at.get(key, 0.0), now)
        self.next_at[key] = at + interval
        return at - now


def _run_api_unit(
    store_url: str, run_id: str, spec_data: dict[str, Any], claim: Claim, lease_s: float, bucket: Any, hook: str
) -> UnitOutcome:
    limiter = _limiter_for(bucket) if bucket is not None else None
    return run_claimed(store_url, run_id, spec_data, claim, lease_s=lease_s, limiter=limiter, kill_hook=hook or None)


class ModelSlot:
    """One slot (a GPU, or a CPU) holding a local model: the model is loaded by its first unit and kept for the
    next ones, on one event loop for the actor's life."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(
        self, store_url: str, run_id: str, spec_data: dict[str, Any], claim: Claim, lease_s: float, hook: str
    ) -> UnitOutcome:
        return run_claimed(
            store_url, run_id, spec_data, claim, lease_s=lease_s, loop=self.loop, keep_backend=True, kill_hook=hook
        )


# the driver ----------------------------------------------------------------------------------------------------


class RayRunner(Runner):
    """A ``Runner`` whose samples are executed by Ray workers, unit by unit; preparation, the final aggregates
    and the run's status are the local runner's. Several drivers may execute one run together: the first holds
    the run's lease, the others join it."""

    def __init__(
        self,
        spec: RunSpec,
        store: Store,
        run_id: str,
        progress: Any = None,
        benchmarks: Any = None,
        *,
        address: str | None = None,
        unit_size: int = UNIT_SIZE,
        lease_s: float = LEASE_S,
        slots: int | None = None,
        local_slots: int = 1,
    ):
        super().__init__(spec, store, run_id, progress, benchmarks)
        self.address = address
        self.unit_size = unit_size
        self.lease_s = lease_s
        self.slots = slots
        self.local_slots = local_slots
        self.worker = Owner.me().to_json()
        self.queue = UnitQueue(store)
        self.holds_lease = False

    async def execute(self) -> RunResult:
        started = time.perf_counter()
        before = self.store.get_run(self.run_id) or {}
        self._previous_status = before.get("stored_status")
        try:
            self.store.acquire_lease(self.run_id)
            self.holds_lease = True
        except RunBusy:
            pass  # another driver executes this run: share its units rather than refuse
        heartbeat = asyncio.create_task(self._heartbeat()) if self.holds_lease else None
        try:
            return await self._settle(started)
        finally:
            if heartbeat is not None:
                heartbeat.cancel()

    def _prepare(self) -> list[Unit]:
        """The local runner's checks and records, then the run's units (added to the store if new)."""
        benchmarks = self._checked_benchmarks()
        self._record_plan(benchmarks)
        plan = [(m.id, b.name, [s.id for s in b.samples]) for m in self.spec.models for b in benchmarks]
        units = cut_plan(self.run_id, plan, self.unit_size)
        self.queue.add(units)
        return units

    async def _execute(self) -> None:
        units = self._prepare()
        ray = connect(self.address)
        total = sum(len(u.sample_ids) for u in units)
        if self.progress:
            answered = self._answered(units)
            done = sum(len(ids) for ids in answered.values())
            several = len(self.spec.models) > 1
            self.progress.start(total, done, scores_so_far(self.store, self.run_id, answered, several) if done else [])
        spec_data = self.spec.model_dump(mode="json")
        # the workers open the store themselves: the full URL (a PostgreSQL password included) travels to them
        store_url = backends.recall(self.store.url)
        hook = os.environ.get(KILL_HOOK_ENV, "")
        bucket = None
        if any(m.rpm for m in self.spec.models):
            bucket = (
                ray.remote(num_cpus=0)(TokenBuckets)
                .options(name=LIMITER_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True)
                .remote()
            )
        api_task = ray.remote(num_cpus=1, max_retries=3)(_run_api_unit)
        slots = self.slots or max(1, int(ray.cluster_resources().get("CPU", 1)))
        actors: dict[str, list[Any]] = {}
        busy: dict[Any, int] = {}
        in_flight: dict[Any, tuple[Claim, Any]] = {}
        failed_here: dict[str, Claim] = {}
        errors: list[str] = []

        def submit(claim: Claim) -> Any:
            model = next(m for m in self.spec.models if m.id == claim.unit.model)
            if model.backend not in LOCAL_BACKENDS:
                return api_task.remote(store_url, self.run_id, spec_data, claim, self.lease_s, bucket, hook), None
            pool = actors.get(model.id)
            if pool is None:
                gpu = 1 if model.device.startswith("cuda") else 0
                options = {"num_cpus": 1, "num_gpus": gpu, "max_restarts": 2, "max_task_retries": 2}
                pool = actors[model.id] = [ray.remote(ModelSlot).options(**options).remote()
                                           for _ in range(self.local_slots)]  # fmt: skip
            actor = min(pool, key=lambda a: busy.get(a, 0))
            busy[actor] = busy.get(actor, 0) + 1
            return actor.run.remote(store_url, self.run_id, spec_data, claim, self.lease_s, hook), actor

        try:
            while True:
                while len(in_flight) < slots:
                    claim = self.queue.claim(self.run_id, self.worker, self.lease_s)
                    if claim is None:
                        break
                    if claim.unit.unit_id in failed_here:
                        # tried here and some samples failed after their retries: a resume retries them
                        failed_here[claim.unit.unit_id] = claim
                        continue
                    ref, actor = submit(claim)
                    in_flight[ref] = (claim, actor)
                if not in_flight:
                    if not self._waiting_on_others(failed_here):
                        break
                    await asyncio.sleep(POLL_S)
                    continue
                done, _ = await asyncio.to_thread(ray.wait, list(in_flight), num_returns=1, timeout=POLL_S)
                for ref in done:
                    claim, actor = in_flight.pop(ref)
                    if actor is not None:
                        busy[actor] -= 1
                    outcome = self._outcome(ray, ref, claim)
                    self._count(outcome)
                    if outcome.failures:
                        errors.extend(outcome.failures)
                        failed_here[claim.unit.unit_id] = claim
        finally:
            for ref in in_flight:
                with contextlib.suppress(Exception):
                    ray.cancel(ref)
            # what this driver leaves unfinished is claimable again at once (a resume need not wait out leases)
            for claim, _ in in_flight.values():
                with contextlib.suppress(StoreError):
                    self.queue.renew(claim, 0.0)
            for claim in failed_here.values():
                with contextlib.suppress(StoreError):
                    self.queue.renew(claim, 0.0)
            for pool in actors.values():
                for actor in pool:
                    with contextlib.suppress(Exception):
                        ray.kill(actor)
        missing = total - sum(len(ids) for ids in self._answered(units).values())
        self.result.errors = missing
        if missing:
            self.result.status = "incomplete"
            first = errors[0] if errors else "stored by another driver"
            self.result.message = f"{missing} samples failed after retries (first: {first})"
        else:
            self.result.status = "completed"

    def _outcome(self, ray: Any, ref: Any, claim: Claim) -> UnitOutcome:
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            if isinstance(cause, (FatalRunError, TaskConfigError, DatasetError, UnknownBenchmark, StoreError)):
                raise type(cause)(str(cause)) from None
            raise FatalRunError(f"unit {claim.unit.unit_id} ({claim.unit.model}/{claim.unit.task}): {cause}") from None
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.RayActorError) as exc:
            raise FatalRunError(
                f"unit {claim.unit.unit_id} ({claim.unit.model}/{claim.unit.task}): its worker died on every retry "
                f"({type(exc).__name__}); answers stored so far are kept: run again to finish"
            ) from None

    def _count(self, outcome: UnitOutcome) -> None:
        result = self.result
        result.sent += outcome.sent
        result.from_cache += outcome.from_cache
        result.attempts += outcome.attempts
        result.unanswered += outcome.unanswered
        self._recorded += outcome.stored
        if self.progress:
            for name, status, value in outcome.scores:
                self.progress.advance(Score(value=value, status=status), name)  # type: ignore[arg-type]

    def _waiting_on_others(self, failed_here: dict[str, Claim]) -> bool:
        """Whether a unit not yet done is held by another live driver (so this one waits for it to end or
        its lease to lapse); a unit held by a dead process on this host is released at once."""
        now = time.time()
        waiting = False
        for row in self.queue.units(self.run_id):
            if row["status"] == "done" or row["unit_id"] in failed_here:
                continue
            waiting = True
            holder = row.get("worker")
            held = row.get("lease_until") is not None and row["lease_until"] > now
            mine = holder == self.worker
            # a unit held by a driver that is gone is free now, not once its lease expires
            if held and holder and not mine and Owner.from_json(holder) is not None and not lease_is_live(holder, now):
                unit = Unit(row["unit_id"], row["run_id"], row["model"], row["task"], int(row["shard"]),
                            tuple(row["sample_ids"]))  # fmt: skip
                with contextlib.suppress(StoreError):
                    self.queue.renew(Claim(unit, holder, row["lease_until"], int(row["attempts"])), 0.0)
        return waiting

    def _answered(self, units: list[Unit]) -> dict[tuple[str, str], set[str]]:
        """(model, task) -> the planned samples answered before."""
        pairs = {(u.model, u.task) for u in units}
        stored = {pair: self.store.answered_ids(self.run_id, *pair) for pair in pairs}
        answered: dict[tuple[str, str], set[str]] = {pair: set() for pair in pairs}
        for u in units:
            answered[(u.model, u.task)].update(sid for sid in u.sample_ids if sid in stored[(u.model, u.task)])
        return answered

    def _finish(self, started: float) -> None:
        if self.holds_lease:
            super()._finish(started)
            return
        # a joining driver records the outcome too (the first may have died), but holds no lease to release
        self.result.wall_s = time.perf_counter() - started
        with contextlib.suppress(StoreError):
            self._aggregate()
            if self.result.status in ("completed", "incomplete"):
                self.store.update_run(
                    self.run_id, status=self.result.status, finished_at=now_iso(), wall_s=self.result.wall_s,
                    message=self.result.message,
                )  # fmt: skip


def runner_factory(address: str | None) -> Any:
    """What ``tianping run --executor ray`` builds its runner with (units of $TIANPING_UNIT_SIZE samples)."""
    raw = os.environ.get("TIANPING_UNIT_SIZE", "")
    try:
        size = int(raw) if raw else UNIT_SIZE
    except ValueError:
        raise FatalRunError(f"TIANPING_UNIT_SIZE={raw!r}: expected a whole number of samples") from None
    if size < 1:
        raise FatalRunError(f"TIANPING_UNIT_SIZE={raw!r}: must be at least 1")

    def build(spec: RunSpec, store: Store, run_id: str, progress: Any, benchmarks: Any) -> RayRunner:
        return RayRunner(spec, store, run_id, progress, benchmarks, address=address, unit_size=size)

    return build


__all__ = ["LEASE_S", "UNIT_SIZE", "RayMissing", "RayRunner", "connect", "import_ray", "runner_factory"]
