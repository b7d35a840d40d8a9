"""Load shapes against a streaming endpoint: who sends when, and which records count.

Two families of shape:

* closed loop -- ``concurrency``: N workers, each sends its next request as soon as the last one
  ended. With ``ramp_to`` the number of active workers rises linearly from N to ``ramp_to``
  over ``ramp_s`` seconds.
* open loop -- ``constant``, ``poisson`` or ``gamma`` arrivals at ``rate`` requests per second,
  sent whether or not earlier ones have finished (an optional ``max_in_flight`` caps them). With
  ``ramp_to`` the rate rises linearly from ``rate`` to ``ramp_to`` over ``ramp_s`` seconds.

Arrival schedules are computed up front by pure functions (:func:`arrival_offsets`), so they can
be tested without sleeping. Every loop is bounded both in requests and in seconds.

Records whose request was *sent* inside the warm-up window (the first ``warmup_s`` seconds) or
the cool-down window (the last ``cooldown_s`` seconds of sending) are kept, tagged with their
phase, and left out of the statistics.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

from tianping.serving.records import ProbeRecord
from tianping.serving.selfcheck import SelfCheck, SelfCheckResult

SHAPE_KINDS = ("concurrency", "constant", "poisson", "gamma")
DEFAULT_MAX_REQUESTS = 100_000
"""The count bound used when only a duration is given."""
DEFAULT_MAX_DURATION_S = 3600.0
"""The time bound used when only a request count is given."""

LIVE_WINDOW = 2000

WORDS = (  # noqa: SIM905
    "the quick brown fox jumps over a lazy dog while river stones glitter under morning light and "
    "distant mountains hold their silence as travellers count the hours between villages where bread "
    "is warm tea is strong and stories are long enough to carry a whole winter through windows "
    "that face the sea gardens grow slowly old bridges remember every cart wheel market voices rise "
    "early clocks disagree about noon children draw maps of places nobody has visited yet"
).split()
"""The fixed word list synthetic prompts are drawn from."""

TOKENS_PER_WORD = 1.3
"""Rough tokens per word of :data:`WORDS` for common BPE tokenizers (used by :func:`words_for_tokens`)."""


class Prober(Protocol):
    async def probe(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        extra: dict[str, Any] | None = None,
    ) -> ProbeRecord: ...


# ---------------------------------------------------------------------------------------------
# shapes and schedules


@dataclass(frozen=True)
class LoadShape:
    kind: str = "concurrency"
    """One of :data:`SHAPE_KINDS`."""
    concurrency: int = 1
    """Workers for ``concurrency``; for open-loop kinds, the in-flight cap (0 = no cap)."""
    rate: float | None = None
    """Requests per second for open-loop kinds."""
    burstiness: float = 1.0
    """Gamma shape k: inter-arrival CV = 1/sqrt(k); 1 is Poisson, below 1 burstier, above 1 smoother."""
    ramp_to: float | None = None
    """Target rate (open loop) or concurrency (closed loop) reached after ``ramp_s``."""
    ramp_s: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in SHAPE_KINDS:
            raise ValueError(f"unknown load shape {self.kind!r}; expected one of {SHAPE_KINDS}")
        if self.kind == "concurrency":
            if self.concurrency < 1:
                raise ValueError("concurrency must be at least 1")
        else:
            if self.rate is None or not self.rate > 0:
                raise ValueError(f"{self.kind} arrivals need a positive rate")
            if self.concurrency < 0:
                raise ValueError("the in-flight cap must be >= 0")
        if not self.burstiness > 0:
            raise ValueError("burstiness must be positive")
        if self.ramp_to is not None:
            if not self.ramp_to > 0:
                raise ValueError("ramp_to must be positive")
            if not self.ramp_s > 0:
                raise ValueError("a ramp needs a positive ramp_s")

    @property
    def open_loop(self) -> bool:
        return self.kind != "concurrency"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rate_at(t: float, start: float, end: float | None, ramp_s: float) -> float:
    """The instantaneous value of a linear ramp from ``start`` to ``end`` over ``ramp_s`` seconds."""
    if end is None or ramp_s <= 0 or t >= ramp_s:
        return start if end is None else end
    return start + (end - start) * max(t, 0.0) / ramp_s


def _ramp_time_for(cum: float, r0: float, r1: float, ramp_s: float) -> float:
    """The time t at which the integral of a linear rate ramp reaches ``cum`` (inverse of the cumulative rate)."""
    area = (r0 + r1) / 2.0 * ramp_s
    if cum >= area:
        return ramp_s + (cum - area) / r1
    a = (r1 - r0) / (2.0 * ramp_s)
    if abs(a) < 1e-15:
        return cum / r0
    # a t^2 + r0 t - cum = 0, the root in [0, ramp_s]
    return (-r0 + math.sqrt(r0 * r0 + 4.0 * a * cum)) / (2.0 * a)


def arrival_offsets(shape: LoadShape, *, max_requests: int, max_duration_s: float) -> list[float]:
    """Send times (seconds from the start) of an open-loop shape, bounded by count and time.

    Unit-rate gaps (constant 1, exponential, or gamma with mean 1) are drawn from a RNG seeded
    with ``shape.seed`` and mapped through the inverse cumulative rate, so a ramp bends the same
    process rather than changing its variability.
    """
    if not shape.open_loop:
        raise ValueError("closed-loop (concurrency) shapes have no arrival schedule")
    if max_requests < 0 or not max_duration_s >= 0:
        raise ValueError("bounds must be non-negative")
    assert shape.rate is not None
    rng = random.Random(shape.seed)
    k = shape.burstiness
    offsets: list[float] = []
    cum = 0.0  # cumulative "unit-rate" time
    first = True
    while len(offsets) < max_requests:
        if shape.kind == "constant":
            gap = 0.0 if first else 1.0
        elif shape.kind == "poisson":
            gap = rng.expovariate(1.0)
        else:  # gamma with mean 1: shape k, scale 1/k
            gap = rng.gammavariate(k, 1.0 / k)
        first = False
        cum += gap
        ramp = shape.ramp_to
        t = cum / shape.rate if ramp is None else _ramp_time_for(cum, shape.rate, ramp, shape.ramp_s)
        if t > max_duration_s:
            break
        offsets.append(t)
    return offsets


def expected_cv(shape: LoadShape) -> float:
    """Coefficient of variation of the inter-arrival gaps of an un-ramped open-loop shape."""
    return {"constant": 0.0, "poisson": 1.0, "gamma": 1.0 / math.sqrt(shape.burstiness)}[shape.kind]


def concurrency_at(shape: LoadShape, t: float) -> int:
    """Active workers of a closed-loop shape at time ``t`` (a ramp rounds down, never below 1)."""
    return max(1, int(math.floor(rate_at(t, shape.concurrency, shape.ramp_to, shape.ramp_s) + 1e-9)))


# ---------------------------------------------------------------------------------------------
# prompts


def words_for_tokens(tokens: int) -> int:
    return max(1, round(tokens / TOKENS_PER_WORD))


def synthetic_prompt(words: int, rng: random.Random, *, nonce: str | None = None) -> str:
    """``words`` words drawn from :data:`WORDS` with ``rng``; ``nonce`` (if any) goes first to defeat prefix caches."""
    body = " ".join(rng.choice(WORDS) for _ in range(max(0, words)))
    return f"[{nonce}] {body}" if nonce else body


def shared_prefix(words: int, seed: int) -> str:
    """The block of ``words`` words that goes before every prompt of a seeded run (with its separator), drawn
    from its own stream so that the prompts themselves do not depend on its length; "" for none."""
    if words <= 0:
        return ""
    return synthetic_prompt(words, random.Random(f"prefix-{seed}")) + "\n\n"


def nonce_tag(count: int, rng: random.Random) -> str:
    """The unique tag of the ``count``-th prompt, which defeats a server's prefix cache."""
    return f"req-{count}-{rng.getrandbits(48):012x}"


@dataclass
class PromptFactory:
    """Seeded synthetic prompts; with ``nonce`` each prompt starts with a unique tag.

    ``shared_prefix_words`` > 0 puts the same block of that many words before every prompt (and before its
    nonce), so that a server's prompt cache can reuse it: comparing a run with and without it, or reading
    ``cached_prompt_tokens``, measures prompt caching. ``words`` stays the length of the unique part."""

    words: int = 128
    nonce: bool = True
    seed: int = 0
    shared_prefix_words: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _count: int = field(default=0, init=False, repr=False)
    _prefix: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._prefix = shared_prefix(self.shared_prefix_words, self.seed)

    def next(self) -> str:
        self._count += 1
        tag = nonce_tag(self._count, self._rng) if self.nonce else None
        return self._prefix + synthetic_prompt(self.words, self._rng, nonce=tag)


# ---------------------------------------------------------------------------------------------
# running a stage


@dataclass
class StageConfig:
    shape: LoadShape
    max_requests: int | None = None
    duration_s: float | None = None
    warmup_s: float = 0.0
    cooldown_s: float = 0.0
    prompt_words: int = 128
    shared_prefix_words: int = 0
    """Words of a prefix common to every prompt of the stage (see :class:`PromptFactory`)."""
    max_tokens: int | None = 128
    nonce: bool = True
    temperature: float = 0.0
    drain_s: float = 60.0
    """After the sending bound, at most this long is spent waiting for requests in flight."""
    prompts: Any = None
    """A :class:`~tianping.serving.prompt_sets.PromptSource`; None: synthetic prompts of ``prompt_words``."""

    def bounds(self) -> tuple[int, float]:
        n = self.max_requests if self.max_requests is not None else DEFAULT_MAX_REQUESTS
        d = self.duration_s if self.duration_s is not None else DEFAULT_MAX_DURATION_S
        return n, d

    def to_dict(self) -> dict[str, Any]:
        # not asdict: it would deep-copy a prompt source (a benchmark's every prompt) only to replace it
        d: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        d["shape"] = self.shape.to_dict()
        d["prompts"] = f"synthetic ({self.prompt_words} words)" if self.prompts is None else self.prompts.description
        return d


@dataclass
class TimedRecord:
    record: ProbeRecord
    index: int
    sent_s: float
    """Send time, seconds from the start of the stage."""
    phase: str = "measure"
    """``warmup``, ``measure`` or ``cooldown``."""

    def to_dict(self) -> dict[str, Any]:
        d = self.record.to_dict()
        d.update(index=self.index, sent_s=round(self.sent_s, 6), phase=self.phase)
        return d


@dataclass
class LiveStats:
    """Counters the live display reads while a stage runs."""

    started: float = field(default_factory=time.monotonic)
    sent: int = 0
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    output_tokens: int = 0
    ttft: deque[float] = field(default_factory=lambda: deque(maxlen=LIVE_WINDOW))
    """The latest :data:`LIVE_WINDOW` values, so that redrawing stays cheap on long runs."""
    tpot: deque[float] = field(default_factory=lambda: deque(maxlen=LIVE_WINDOW))

    def add(self, rec: ProbeRecord) -> None:
        self.done += 1
        if not rec.ok:
            self.failed += 1
            return
        if rec.ttft_s is not None:
            self.ttft.append(rec.ttft_s)
        if rec.tpot_s is not None:
            self.tpot.append(rec.tpot_s)
        self.output_tokens += rec.output_tokens or 0

    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)


@dataclass
class StageResult:
    config: StageConfig
    records: list[TimedRecord]
    wall_s: float
    send_window_s: float
    """From the stage start to the last send (or the duration bound, if the run reached it)."""
    self_check: SelfCheckResult
    stopped_early: str | None = None

    def measured(self) -> list[ProbeRecord]:
        return [t.record for t in self.records if t.phase == "measure"]

    def measure_window(self) -> tuple[float, float]:
        start = min(self.config.warmup_s, self.send_window_s)
        end = max(start, self.send_window_s - self.config.cooldown_s)
        return start, end


def assign_phases(records: Sequence[TimedRecord], send_window_s: float, warmup_s: float, cooldown_s: float) -> None:
    """Tag each record by its send time: warm-up before ``warmup_s``, cool-down in the last ``cooldown_s``."""
    cool_from = send_window_s - cooldown_s
    for t in records:
        if t.sent_s < warmup_s:
            t.phase = "warmup"
        elif cooldown_s > 0 and t.sent_s > cool_from:
            t.phase = "cooldown"
        else:
            t.phase = "measure"


def _failed_record(exc: BaseException) -> ProbeRecord:
    return ProbeRecord(
        endpoint="", model="", started_at=time.time(), ok=False, failure="connect_error", error=repr(exc)[:500]
    )


async def _wait(
    tasks: set[asyncio.Task[Any]], timeout: float | None, stopper: asyncio.Future[Any] | None
) -> tuple[set[asyncio.Task[Any]], bool]:
    """Wait for ``tasks`` up to ``timeout`` seconds or until ``stopper`` is done: (still pending, stopped)."""
    if stopper is None:
        if not tasks:
            return set(), False
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        return pending, False
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    pending = set(tasks)
    while pending and not stopper.done():
        left = None if deadline is None else deadline - loop.time()
        if left is not None and left <= 0:
            break
        done, _ = await asyncio.wait(pending | {stopper}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        pending -= done
    return pending, stopper.done()


async def _cancel(tasks: set[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def run_stage(
    prober: Prober,
    config: StageConfig,
    *,
    live: LiveStats | None = None,
    on_record: Callable[[TimedRecord], None] | None = None,
    self_check: SelfCheck | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    stop: asyncio.Event | None = None,
) -> StageResult:
    """Run one stage of load and return every record, phase-tagged, with the client's self-check.

    Setting ``stop`` ends the stage early (a signal, or a caller that gives up): nothing more is sent,
    requests in flight are cancelled and left out, and the records completed so far are returned, with
    ``stopped_early`` saying so.
    """
    max_requests, max_duration = config.bounds()
    shape = config.shape
    from tianping.serving.prompt_sets import SyntheticPrompts

    source = config.prompts or SyntheticPrompts(config.prompt_words, config.nonce, config.shared_prefix_words)
    prompts = source.stream(shape.seed)
    live = live if live is not None else LiveStats()
    check = self_check if self_check is not None else SelfCheck()
    records: list[TimedRecord] = []
    t0 = clock()
    live.started = time.monotonic()
    last_send = 0.0
    stopped: str | None = None
    stopper = asyncio.ensure_future(stop.wait()) if stop is not None else None

    async def one(index: int) -> None:
        nonlocal last_send
        sent = clock() - t0
        last_send = max(last_send, sent)
        live.sent += 1
        live.in_flight += 1
        prompt = next(prompts)
        max_tokens = prompt.max_tokens if prompt.max_tokens is not None else config.max_tokens
        try:
            rec = await prober.probe(prompt.messages, max_tokens=max_tokens, temperature=config.temperature)
        except asyncio.CancelledError:
            live.in_flight -= 1
            raise
        except Exception as exc:  # a probe should never raise; count it rather than lose it
            rec = _failed_record(exc)
        live.in_flight -= 1
        live.add(rec)
        timed = TimedRecord(rec, index, sent)
        records.append(timed)
        if on_record is not None:
            on_record(timed)

    def stopped_text(cancelled: int) -> str:
        return f"stopped before its bounds; {cancelled} requests in flight were cancelled and are not counted"

    await check.start()
    try:
        if shape.open_loop:
            offsets = arrival_offsets(shape, max_requests=max_requests, max_duration_s=max_duration)
            cap = asyncio.Semaphore(shape.concurrency) if shape.concurrency > 0 else None
            tasks: set[asyncio.Task[None]] = set()
            sent_all = 0.0 if not offsets else offsets[-1]

            async def capped(i: int) -> None:
                if cap is None:
                    await one(i)
                    return
                async with cap:
                    await one(i)

            async def send_all() -> None:
                for i, offset in enumerate(offsets):
                    delay = offset - (clock() - t0)
                    if delay > 0:
                        await sleep(delay)
                    tasks.add(asyncio.create_task(capped(i)))

            sender = asyncio.create_task(send_all())
            _, halted = await _wait({sender}, None, stopper)
            if halted:
                await _cancel({sender})
                stopped = stopped_text(sum(not t.done() for t in tasks))
                await _cancel(tasks)
                sent_all = last_send
            else:
                sender.result()
                pending, halted = await _wait(tasks, max(0.0, max_duration - (clock() - t0)) + config.drain_s, stopper)
                if halted:
                    stopped = stopped_text(len(pending))
                elif pending:
                    stopped = f"{len(pending)} requests still in flight after the drain limit were cancelled"
                await _cancel(pending)
            send_window = sent_all
            if config.duration_s is not None and config.max_requests is None and stopped is None:
                send_window = config.duration_s
        else:
            counter = iter(range(max_requests))
            n_workers = max(shape.concurrency, int(shape.ramp_to or 0))

            async def worker(w: int) -> None:
                while True:
                    now = clock() - t0
                    if now >= max_duration:
                        return
                    if w >= concurrency_at(shape, now):
                        await sleep(min(0.01, max_duration - now))
                        continue
                    i = next(counter, None)
                    if i is None:
                        return
                    await one(i)

            workers = {asyncio.create_task(worker(w)) for w in range(n_workers)}
            pending, halted = await _wait(workers, max_duration + config.drain_s, stopper)
            if halted:
                stopped = stopped_text(live.in_flight)
            elif pending:
                stopped = "requests still in flight after the drain limit were cancelled"
            await _cancel(pending)
            send_window = last_send
            if config.duration_s is not None and clock() - t0 >= config.duration_s and not halted:
                send_window = config.duration_s
    finally:
        if stopper is not None:
            stopper.cancel()
        result_check = await check.stop()
    wall = clock() - t0
    records.sort(key=lambda t: t.index)
    assign_phases(records, send_window, config.warmup_s, config.cooldown_s)
    return StageResult(config, records, wall, send_window, result_check, stopped)
