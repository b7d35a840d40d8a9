"""Execute a run: send every unanswered request once, score it, commit it, then aggregate.

The journal is the ``samples`` table: a sample with a stored answer is never sent again in the same
run, so a run killed at any point resumes by sending only what is missing. Identical requests are
answered from the ``responses`` cache across runs unless the spec turns the cache off.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tianping import __version__
from tianping.benchmarks.errors import DatasetError, UnknownBenchmark
from tianping.core import Request, Response, Sample, Score
from tianping.core.errors import FatalRunError, TaskConfigError
from tianping.core.task import (
    LOGLIKELIHOOD,
    LOGLIKELIHOOD_CHAT,
    Episode,
    ScoringContext,
    Task,
    TaskAggregation,
    TaskSettings,
)
from tianping.engine.backends import backend_supports, check_backend, create_backend
from tianping.engine.collector import spaced_collections
from tianping.engine.tasks import inputs_of, load_tasks, missing_capabilities, use_include_paths
from tianping.models.base import ModelBackend
from tianping.models.errors import ConnectError, ModelError
from tianping.spec import ModelSpec, RunSpec, check_run_id, stored_spec
from tianping.store import Store
from tianping.store.lease import HEARTBEAT_S
from tianping.store.store import StoreError, now_iso

Benchmark = Task
"""The engine's name for a loaded task before the Task protocol (kept for callers of ``load_benchmarks``)."""
GROUP_ROWS = 500
GROUP_SECONDS = 1.0
GROUP_ENV = "TIANPING_COMMIT_GROUP"
"""Answers are committed in groups of up to ``GROUP_ROWS``, none waiting longer than ``GROUP_SECONDS``
(``TIANPING_COMMIT_GROUP=ROWS,SECONDS`` changes both): one commit per answer wrote ~17x the database's size to
disk over a full MMLU run, groups of 100 / 0.2 s 4.9x, of 500 / 1 s 2.8x (docs/benchmarks.md). A ``kill -9``
loses at most one group, which a resume asks again."""


def commit_group() -> tuple[int, float]:
    """The group size and age of this process: ``TIANPING_COMMIT_GROUP`` or the defaults."""
    raw = os.environ.get(GROUP_ENV, "").strip()
    if not raw:
        return GROUP_ROWS, GROUP_SECONDS
    rows, _, seconds = raw.partition(",")
    try:
        value = int(rows), float(seconds)
    except ValueError:
        value = (0, 0.0)
    if value[0] < 1 or not 0 < value[1] <= 60:
        raise TaskConfigError(f"{GROUP_ENV}={raw!r}: expected ROWS,SECONDS (e.g. 500,1.0; 1 row or more, 0-60 s)")
    return value


class ProgressSink(Protocol):
    def start(self, total: int, done: int, earlier: Sequence[tuple[str, Score]] = ()) -> None:
        """``done`` of ``total`` samples were answered before (a resumed run): ``earlier`` holds their scores,
        named as ``advance`` names them, so the running scores cover the whole run."""

    def advance(self, score: Score, name: str = "") -> None: ...


@dataclass
class RunResult:
    run_id: str
    status: str
    wall_s: float
    sent: int = 0
    """Requests answered by the model in this process (not from the cache)."""
    unanswered: int = 0
    """Requests that failed after their retries."""
    attempts: int = 0
    """Every request attempt made, answered or not, retries included."""
    from_cache: int = 0
    errors: int = 0
    message: str | None = None

    @property
    def retries(self) -> int:
        return max(0, self.attempts - self.sent - self.unanswered)


@dataclass
class _ModelState:
    spec: ModelSpec
    backend: ModelBackend
    cached_keys: set[str]
    endpoint: str
    successes: int = 0
    failures: list[str] = field(default_factory=list)


def read_definitions(spec: RunSpec) -> dict[str, Any]:
    """What a run keeps to load its tasks again in another process: the text of every benchmark definition it
    names and the plugin files it imported, keyed by reference."""
    use_include_paths(spec.include_paths)
    return inputs_of(spec.benchmarks)


def _settings(spec: RunSpec, stored: dict[str, Any] | None) -> Callable[[str], TaskSettings]:
    common = spec.model_dump(mode="python")

    def settings_for(name: str) -> TaskSettings:
        return TaskSettings(
            data_dir=Path(spec.data_dir),
            limit=spec.limits.get(name, spec.limit),
            limit_mode=spec.limit_mode,
            mode=spec.modes.get(name, spec.mode),
            allow_outside_data=spec.allow_outside_data,
            spec=common,
            stored_inputs=stored,
        )

    return settings_for


def load_benchmarks(spec: RunSpec, definitions: dict[str, Any] | None = None) -> list[Task]:
    """The spec's tasks, loaded; from ``definitions`` (the inputs a run stored) where given, else from the
    current files. Refused before anything is sent: a task that needs a request kind a model's backend cannot
    answer, and two tasks of one name."""
    use_include_paths(spec.include_paths, expected=definitions)
    stored = {ref: _record(text) for ref, text in definitions.items()} if definitions is not None else None
    tasks = load_tasks(spec.benchmarks, _settings(spec, stored))
    missing = missing_capabilities(tasks, [(m.id, backend_supports(m)) for m in spec.models])
    if missing:
        lines = [f"{m.task} needs {', '.join(m.needs)}, which {m.model} cannot answer" for m in missing]
        hint = ""
        if any(LOGLIKELIHOOD in m.needs or LOGLIKELIHOOD_CHAT in m.needs for m in missing):
            hint = (
                " (an OpenAI-compatible endpoint only generates, unless --completions-logprobs says its /completions "
                "echoes prompt log-probabilities; a chat context needs a local model's template); use an hf/<path> "
                "model or --mode generate"
            )
        raise TaskConfigError("; ".join(lines) + hint)
    names = [t.name for t in tasks]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise FatalRunError(f"benchmark named more than once: {', '.join(sorted(duplicated))}")
    return tasks


class BackendUnavailable(ValueError):
    """A model's backend cannot be created (a URL or credentials it refuses, a path without a model);
    ``model_id`` names the model, the message says why."""

    def __init__(self, model_id: str, reason: str):
        super().__init__(reason)
        self.model_id = model_id


def check_before_run(spec: RunSpec) -> None:
    """What a command checks before it registers a run, so that a typo leaves nothing behind: the process's
    commit group setting (``TaskConfigError``), and that every model's backend can be created
    (``BackendUnavailable``; nothing is loaded or connected). The command line and the Python API both call it;
    what needs an attacker is ``needing_attacker``'s to say, in each one's words."""
    commit_group()
    for m in [*spec.models, *spec.helper_models]:
        try:
            check_backend(m)
        except ValueError as exc:
            raise BackendUnavailable(m.id, str(exc)) from None


def needing_attacker(spec: RunSpec, benchmarks: list[Task]) -> list[str]:
    """The tasks whose planned attacks need an attacker model the spec does not give (empty when it gives one)."""
    return [] if spec.attacker is not None else [b.name for b in benchmarks if "attacker" in b.helpers]


def _record(text: Any) -> Any:
    return text.to_record() if hasattr(text, "to_record") else text


class Runner:
    def __init__(
        self,
        spec: RunSpec,
        store: Store,
        run_id: str,
        progress: ProgressSink | None = None,
        benchmarks: list[Benchmark] | None = None,
    ):
        """``benchmarks``: already loaded from ``spec`` (the CLI loads them to validate before a run exists)."""
        self.spec = spec
        self._benchmarks = benchmarks
        self._context = ScoringContext()
        self.store = store
        self.run_id = run_id
        self.progress = progress
        self.result = RunResult(run_id=run_id, status="running", wall_s=0.0)
        self._previous_status: str | None = None
        self._recorded = 0

    def _check_same_data(self, benchmarks: list[Benchmark]) -> None:
        """A resumed run must see the data it started with, or its samples would not be comparable."""
        stored = (self.store.get_run(self.run_id) or {}).get("dataset_checksums") or {}
        for bench in benchmarks:
            before = stored.get(bench.name)
            if before is not None and before != bench.checksum:
                raise FatalRunError(
                    f"dataset of '{bench.name}' changed since run {self.run_id} started "
                    f"(checksum {before[:12]} -> {bench.checksum[:12]}); start a new run instead"
                )

    async def execute(self) -> RunResult:
        """Run to the end. A refusal (``RunBusy``: another process executes this run) changes nothing; any
        other way of ending is recorded in the run's status with its reason."""
        started = time.perf_counter()
        before = self.store.get_run(self.run_id) or {}
        self._previous_status = before.get("stored_status")
        rows, seconds = commit_group()
        self.store.acquire_lease(self.run_id)
        self.store.group_commits(rows, seconds)
        heartbeat = asyncio.create_task(self._heartbeat())
        flusher = asyncio.create_task(self._flush_groups(seconds))
        try:
            with spaced_collections():
                return await self._settle(started)
        finally:
            heartbeat.cancel()
            flusher.cancel()

    async def _settle(self, started: float) -> RunResult:
        """Execute the run and record how it ended: a failure with its reason, an interruption (re-raised once
        recorded), or the end; a defect is recorded too, so that the run does not read as running forever."""
        try:
            await self._execute()
        except (FatalRunError, TaskConfigError, DatasetError, UnknownBenchmark, StoreError) as exc:
            self.result.status, self.result.message = "failed", str(exc)
        except (asyncio.CancelledError, KeyboardInterrupt):
            self.result.status, self.result.message = "interrupted", "interrupted; resume to finish"
            self._finish(started)
            raise
        except Exception as exc:
            self.result.status, self.result.message = "failed", f"internal error: {type(exc).__name__}: {exc}"
            self._finish(started)
            raise
        self._finish(started)
        return self.result

    async def _flush_groups(self, seconds: float) -> None:
        """End a group of answers that no new answer ends (a slow model, the last answers of a run)."""
        while True:
            await asyncio.sleep(seconds / 4)
            with contextlib.suppress(StoreError):  # the next write that matters reports the store's trouble
                self.store.flush_due()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            with contextlib.suppress(StoreError):  # the next write that matters reports the store's trouble
                self.store.heartbeat(self.run_id)

    def _aggregate(self) -> None:
        """Aggregates of whatever is stored, so that even a run that stopped early shows its partial scores."""
        from tianping.engine.aggregate import aggregate

        rows = self.store.score_rows(self.run_id)
        self.store.write_aggregates(self.run_id, aggregate(rows, _aggregations(self._benchmarks or [])))

    def _finish(self, started: float) -> None:
        self.result.wall_s = time.perf_counter() - started
        status, message = self.result.status, self.result.message
        if status == "failed" and self._recorded == 0 and self._previous_status in ("completed", "incomplete"):
            # a resume that failed before it stored anything leaves the run as it was
            status, message = self._previous_status, f"a later resume failed: {message}"
        try:
            self._aggregate()
            self.store.update_run(
                self.run_id, status=status, finished_at=now_iso(), wall_s=self.result.wall_s, message=message
            )
            self.store.release_lease(self.run_id)
        except StoreError as exc:
            # the store cannot take even this (full disk): the answers are in; the run reads as interrupted
            # once this process is gone, and resume finishes it
            if self.result.status not in ("failed", "interrupted"):
                self.result.status = "failed"
            self.result.message = f"{self.result.message}; {exc}" if self.result.message else str(exc)

    def _checked_benchmarks(self) -> list[Benchmark]:
        """The run's tasks, loaded once, after the checks a resume must pass and before any backend exists (so
        that nothing is left open): the same data, the same endpoints, an attacker where attacks need one."""
        if self._benchmarks is None:
            self._benchmarks = load_benchmarks(self.spec)
        benchmarks = self._benchmarks
        self._check_same_data(benchmarks)
        self._check_same_endpoints()
        needing = needing_attacker(self.spec, benchmarks)
        if needing:
            raise FatalRunError(
                f"{', '.join(needing)}: the planned attacks need an attacker model: pass "
                "--attacker-model openai/<name> (and --attacker-base-url if it is served elsewhere)"
            )
        return benchmarks

    def _record_plan(self, benchmarks: list[Benchmark]) -> None:
        """What the run is made of, as it stands now: a resume's execution settings (a corrected URL) replace the
        old ones; versions, checksums and aggregations are what a partial run is read and resumed with."""
        self.store.update_run(
            self.run_id,
            spec=stored_spec(self.spec),
            benchmark_versions={b.name: b.version for b in benchmarks},
            dataset_checksums={b.name: b.checksum for b in benchmarks},
            tasks={b.name: b.aggregation.stored() for b in benchmarks},
        )

    async def _execute(self) -> None:
        benchmarks = self._checked_benchmarks()
        self._context = ScoringContext(
            sandbox=self._make_sandbox(benchmarks),
            judge=self._make_helper("judge", self.spec.judge),
            judge_preset=self.spec.judge_preset,
            attacker=self._make_helper("attacker", self.spec.attacker),
        )
        self._record_plan(benchmarks)
        pending: dict[str, list[tuple[Benchmark, Sample]]] = {}
        answered_before: dict[tuple[str, str], set[str]] = {}
        total = 0
        for model in self.spec.models:
            todo = []
            for bench in benchmarks:
                answered = self.store.answered_ids(self.run_id, model.id, bench.name)
                planned = {s.id for s in bench.samples}
                answered_before[(model.id, bench.name)] = answered & planned
                total += len(planned)
                todo.extend((bench, s) for s in bench.samples if s.id not in answered)
            pending[model.id] = todo
        if self.progress:
            done = sum(len(ids) for ids in answered_before.values())
            earlier = scores_so_far(self.store, self.run_id, answered_before, len(self.spec.models) > 1) if done else []
            self.progress.start(total, done, earlier)
        states = []
        try:
            for model in self.spec.models:
                endpoint = model.endpoint
                cached = self.store.cached_keys(model.id, endpoint) if self.spec.use_cache else set()
                try:
                    backend = create_backend(model)
                except ValueError as exc:  # a path that holds no model, an unknown ref model, no base URL
                    raise FatalRunError(f"model {model.id}: {exc}") from None
                states.append(_ModelState(model, backend, cached, endpoint))
            async with asyncio.TaskGroup() as group:
                for state in states:
                    group.create_task(self._drive_model(state, pending[state.spec.id]))
        except BaseExceptionGroup as group:
            raise _first_cause(group) from None
        finally:
            for state in states:
                await state.backend.aclose()
            for helper in (self._context.judge, self._context.attacker):
                if helper is not None:
                    await helper.aclose()
        errors = sum(len(s.failures) for s in states)
        self.result.errors = errors
        if errors:
            self.result.status = "incomplete"
            self.result.message = f"{errors} samples failed after retries (first: {_first_error(states)})"
        else:
            self.result.status = "completed"

    def _check_same_endpoints(self) -> None:
        """A resume may correct a URL, but answers from two endpoints must not mix in one run."""
        for model in self.spec.models:
            endpoint = model.endpoint  # derived each time it is read (a target file hashed, a hub cache looked up)
            others = {e: n for e, n in self.store.endpoints_answered(self.run_id, model.id).items() if e != endpoint}
            if others:
                listing = ", ".join(f"{n} by {e}" for e, n in sorted(others.items()))
                # an application's endpoint is its target file's text: an edit, not a URL, is what moved it
                fix = (
                    "the target file as it was when the run started"
                    if model.backend == "http"
                    else ("that endpoint's --base-url")
                )
                raise FatalRunError(
                    f"model {model.id}: run {self.run_id} already has answers from another endpoint ({listing}); "
                    f"this process would ask {endpoint or 'no endpoint'}. Resume with {fix}, or start a new run"
                )

    def _make_sandbox(self, benchmarks: list[Benchmark]) -> Any:
        """The code sandbox, when a benchmark runs model-written code; refused before any request is sent."""
        if not any("sandbox" in b.helpers for b in benchmarks):
            return None
        from tianping.scoring.sandbox import Sandbox, SandboxUnavailable

        try:
            return Sandbox(allow_unsafe=self.spec.unsafe_exec)
        except SandboxUnavailable as exc:
            raise FatalRunError(str(exc)) from None

    def _make_helper(self, role: str, spec: ModelSpec | None) -> ModelBackend | None:
        """The backend of the judge or the attacker, where the spec names one."""
        if spec is None:
            return None
        try:
            return create_backend(spec)
        except ValueError as exc:
            raise FatalRunError(f"{role}: {exc}") from None

    async def _drive_model(self, state: _ModelState, work: list[tuple[Benchmark, Sample]]) -> None:
        items: Iterator[tuple[Benchmark, Sample]] = iter(work)

        async def worker() -> None:
            for bench, sample in items:  # a shared iterator: each item goes to exactly one worker
                await self._one(state, bench, sample)

        async with asyncio.TaskGroup() as group:
            for _ in range(min(in_flight(state.backend, state.spec), max(1, len(work)))):
                group.create_task(worker())

    async def _one(self, state: _ModelState, bench: Benchmark, sample: Sample) -> None:
        params = self.spec.params_for(state.spec, bench.generation)
        try:
            request: Request = bench.build_request(sample, state.spec.id, params)
        except (DatasetError, TaskConfigError) as exc:  # every other sample would fail alike
            raise FatalRunError(str(exc)) from None
        pictures = request.messages is not None and any(m.parts for m in request.messages)
        if pictures and not getattr(state.backend, "takes_images", False):  # it would answer without seeing them
            raise FatalRunError(
                f"model {state.spec.id} cannot take images, and {bench.name} asks about pictures: use a vision "
                "model behind an OpenAI-compatible endpoint (openai/<name> --base-url ...)"
            )
        # a task may settle a sample without asking the model (an attack that cannot apply to its prompt)
        settled = bench.precheck(sample)
        if settled is not None:
            self._conclude(bench, sample, request, None, settled)
            return
        # a task may play a sample as an episode of several model calls (an adaptive attack)
        episode = bench.episode(sample)
        if episode is not None:
            await self._episode(state, bench, sample, request, episode)
            return
        try:
            response, from_cache = await self._ask(state, request, keep=False)
        except ModelError as exc:
            self.result.unanswered += 1
            self._fail(state, bench, sample, request, f"{type(exc).__name__}: {exc}", fatal=_is_fatal(exc, state))
            return
        try:
            score = await bench.ascore(sample, response, self._context)
        except (StoreError, FatalRunError):
            raise
        except Exception as exc:  # a scorer that cannot cope with this output: that sample's error, not the run's
            reason = f"scoring failed: {type(exc).__name__}: {exc}"
            self._fail(state, bench, sample, request, reason, response=response)
            return
        self._conclude(bench, sample, request, response, score, from_cache=from_cache, endpoint=state.endpoint)

    async def _ask(self, state: _ModelState, request: Request, *, keep: bool) -> tuple[Response, bool]:
        """The model's answer to one request and whether it came from the cache; a fresh one is counted, and with
        ``keep`` cached at once (an episode's turn has no sample row that would store it). Raises ``ModelError``
        (its attempts counted) when the model could not answer."""
        if request.key in state.cached_keys:
            hit = self.store.cached_response(request.key, state.endpoint)
            if hit is not None:
                self.result.from_cache += 1
                return hit, True
        try:
            response = await state.backend.generate(request)
        except ModelError as exc:
            self.result.attempts += getattr(exc, "attempts", 1)
            raise
        state.successes += 1
        self.result.sent += 1
        self.result.attempts += response.attempts
        if keep:
            self.store.cache_response(request, response, state.endpoint)
            state.cached_keys.add(request.key)
        return response, False

    async def _episode(
        self, state: _ModelState, bench: Benchmark, sample: Sample, request: Request, episode: Episode
    ) -> None:
        """Play one episode: every call to the evaluated model goes through ``ask`` (answered from the cache where
        it can be, counted, its answer cached), and the episode's final request, answer and score are stored."""
        sent_any = False

        async def ask(turn: Request) -> Response:
            nonlocal sent_any
            answer, cached = await self._ask(state, turn, keep=True)
            sent_any = sent_any or not cached
            return answer

        try:
            outcome = await episode(ask, self._context)
        except ModelError as exc:
            self.result.unanswered += 1
            self._fail(state, bench, sample, request, f"{type(exc).__name__}: {exc}", fatal=_is_fatal(exc, state))
            return
        except (StoreError, FatalRunError):
            raise
        except Exception as exc:  # the episode's own defect or an attacker's odd reply: that sample's error
            self._fail(state, bench, sample, request, f"episode failed: {type(exc).__name__}: {exc}")
            return
        final, response, score = outcome
        self._conclude(bench, sample, final, response, score, from_cache=not sent_any, endpoint=state.endpoint)

    def _fail(
        self,
        state: _ModelState,
        bench: Benchmark,
        sample: Sample,
        request: Request,
        message: str,
        *,
        fatal: bool = False,
        response: Response | None = None,
    ) -> None:
        """Record a sample that could not be answered or scored; its answer, if any, stays in the cache."""
        if fatal:
            raise FatalRunError(f"model {state.spec.id}: {message}")
        state.failures.append(message)
        score = Score(value=None, status="error", reason=message)
        self._conclude(bench, sample, request, response, score, error=message, endpoint=state.endpoint)

    def _conclude(
        self,
        bench: Benchmark,
        sample: Sample,
        request: Request,
        response: Response | None,
        score: Score,
        *,
        error: str | None = None,
        from_cache: bool = False,
        endpoint: str = "",
    ) -> None:
        """Record one sample's outcome, then show it. Answers are committed in groups (``commit_group``): what
        the progress bar counts is stored, or in the open group that a ``kill -9`` would lose and a resume would
        ask again."""
        if request.messages is not None and any(m.parts for m in request.messages):
            # the stored prompt names its images by hash: their bytes go once each beside the database
            from tianping.multimodal.image_store import images_folder, save_images

            folder = images_folder(self.store)
            if folder is not None:
                save_images(folder, request)
        self.store.record(
            run_id=self.run_id,
            benchmark=bench.name,
            sample=sample,
            request=request,
            response=response,
            score=score,
            error=error,
            from_cache=from_cache,
            endpoint=endpoint,
        )
        self._recorded += 1
        if self.progress:
            several = len(self.spec.models) > 1
            self.progress.advance(score, f"{request.model}/{bench.name}" if several else bench.name)


def scores_so_far(
    store: Store, run_id: str, answered: Mapping[tuple[str, str], set[str]], several_models: bool
) -> list[tuple[str, Score]]:
    """The stored scores of the samples in ``answered`` ((model, task) -> sample ids), named as the progress bar
    names a sample's score: what a resumed run shows for the answers it does not ask again."""
    found = []
    for row in store.score_rows(run_id):
        if row["sample_id"] in answered.get((row["model"], row["benchmark"]), ()):
            name = f"{row['model']}/{row['benchmark']}" if several_models else row["benchmark"]
            found.append((name, Score(value=row["score"], status=row["status"])))
    return found


def _aggregations(benchmarks: list[Benchmark]) -> dict[str, TaskAggregation]:
    """How each task's samples aggregate; stored with the run so that a partial run aggregates the same way."""
    return {b.name: b.aggregation for b in benchmarks}


def in_flight(backend: Any, spec: ModelSpec) -> int:
    """How many of a model's samples are sent at once: the spec's ``concurrency``, unless the backend names its
    own window in a ``max_in_flight`` attribute. A local backend does (``HFLocalBackend``): it orders and
    batches whatever it holds by shared prefix and length, so it is handed a large part of the plan at once
    rather than a window of ``concurrency`` requests that interleaved subjects would leave unrelated."""
    own = getattr(backend, "max_in_flight", None)
    return own if isinstance(own, int) and not isinstance(own, bool) and own > 0 else spec.concurrency


def _is_fatal(exc: ModelError, state: _ModelState) -> bool:
    """A wrong key or model fails every request alike; so does an endpoint never reached at all."""
    return exc.fatal or (isinstance(exc, ConnectError) and state.successes == 0)


def _leaves(group: BaseExceptionGroup) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


def _first_cause(group: BaseExceptionGroup) -> BaseException:
    """The one exception that explains why the worker task groups stopped: a fatal run error first, then a
    store error, then whatever else (a defect); cancellations of sibling workers are not causes."""
    leaves = [e for e in _leaves(group) if not isinstance(e, asyncio.CancelledError)]
    for kind in (FatalRunError, StoreError):
        found = next((e for e in leaves if isinstance(e, kind)), None)
        if found is not None:
            return found
    return leaves[0] if leaves else asyncio.CancelledError()


def _first_error(states: list[_ModelState]) -> str:
    return next((s.failures[0] for s in states if s.failures), "")


def new_run_id() -> str:
    import secrets

    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def start_run(store: Store, spec: RunSpec, run_id: str | None = None, definitions: dict[str, Any] | None = None) -> str:
    """Register a new run (or return an existing one to resume, if ``run_id`` names it), with the text of
    every definition it reads (``definitions``; read now when not given)."""
    if run_id is not None:
        check_run_id(run_id)
        if store.get_run(run_id) is not None:
            return run_id
    run_id = run_id or new_run_id()
    texts = definitions if definitions is not None else read_definitions(spec)
    store.create_run(run_id, stored_spec(spec), __version__, {ref: _record(text) for ref, text in texts.items()})
    return run_id
