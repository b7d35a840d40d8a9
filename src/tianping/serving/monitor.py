"""Continuous monitoring of serving endpoints: scheduled streaming probes, raw records, Prometheus metrics.

``tianping monitor run CONFIG`` loads a YAML config (:class:`MonitorConfig`), then probes every
endpoint every ``interval_s`` seconds (first probe at a random offset within the first interval,
so endpoints do not fire in lock-step), with at most ``concurrency`` endpoints probed at once.
Each probe sends ``prompts_per_probe`` requests one after another (so they do not slow each other
down), each through :class:`~tianping.serving.probe.StreamingProbe`, which classifies every
failure instead of raising. Every :class:`~tianping.serving.records.ProbeRecord` is written to
the SQLite store as soon as it is made, and counted in Prometheus metrics served on
``http://{metrics_host}:{metrics_port}/metrics``.

Built to run for days: the only per-call state is the record being written; metrics have one
series per (endpoint, outcome, failure class), bounded by the config; each endpoint keeps one
probe (and so one HTTP session) for the whole run. Each reply is bounded by ``max_reply_mb``
(a larger one is that call's ``reply_too_large``), and no URL credential or key reaches the store,
the metrics or a log: ``api_key_env`` must name a variable, and a key pasted there is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tianping.core.secrets import check_env_name, strip_credentials
from tianping.core.suggest import unknown_field
from tianping.fidelity.monitor_check import FidelityCheckConfig
from tianping.serving.monitor_tally import EndpointTally, total_failures
from tianping.serving.records import FAILURE_CLASSES, ProbeRecord

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from tianping.serving.monitor_store import MonitorStore

__all__ = [
    "BUILTIN_PROMPTS",
    "ConfigError",
    "EndpointConfig",
    "Monitor",
    "MonitorConfig",
    "MonitorMetrics",
    "MonitorSummary",
    "TimeoutsConfig",
    "load_config",
]

log = logging.getLogger(__name__)

BUILTIN_PROMPTS: tuple[str, ...] = (
    "Explain in three sentences why the sky is blue.",
    "Write a haiku about a lighthouse in winter.",
    "List five prime numbers greater than 100 and say how you checked them.",
    "Summarise the plot of Romeo and Juliet in one paragraph.",
    "Translate into French: 'The train leaves at seven tomorrow morning.'",
    "Write a Python function that reverses the words of a sentence.",
    "What is the difference between a list and a tuple in Python? Answer briefly.",
    "Give three tips for writing a clear bug report.",
)

# Latency buckets (seconds) from fast local servers to slow reasoning models; TPS buckets in tokens/s.
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120)
_TPOT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1)
_TPS_BUCKETS = (1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000, 2000)


class ConfigError(ValueError):
    """An invalid monitor config; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class TimeoutsConfig(_Strict):
    ttft_s: float = Field(30.0, gt=0, description="Seconds to the first token.")
    idle_s: float = Field(30.0, gt=0, description="Longest gap between data events after the first token.")
    total_s: float = Field(300.0, gt=0, description="Whole call.")


class EndpointConfig(_Strict):
    name: str = Field(min_length=1)
    provider: str | None = None
    model: str = Field(min_length=1)
    base_url: str = Field(min_length=1, description="API root of the OpenAI-compatible endpoint (…/v1).")
    api_key_env: str = "OPENAI_API_KEY"
    interval_s: float = Field(60.0, gt=0)
    prompts: list[str] | None = Field(None, min_length=1)
    """Prompts to send; each probe takes the next ``prompts_per_probe`` of them, cycling."""
    prompts_per_probe: int = Field(1, ge=1, le=100)
    max_tokens: int | None = Field(128, ge=1)
    temperature: float = Field(0.0, ge=0)
    timeouts: TimeoutsConfig = Field(default_factory=TimeoutsConfig)
    extra_body: dict[str, Any] | None = None
    ca_file: str | None = Field(None, description="PEM CA certificate(s) that verify an https endpoint.")
    """Relative to the config file; checked when the config is loaded (``parse_config``)."""
    tokenizer: str | None = Field(None, description="The model's tokenizer, to count tokens (token_count).")
    """A path (relative to the config file) or a tokenizer name; loaded once when the config is loaded."""
    fidelity: FidelityCheckConfig | None = None
    """A scheduled check of the answers on a rotating sample of the fidelity pack (docs/fidelity.md)."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        try:
            parts = urlsplit(value)
            ok = bool(parts.hostname) and (parts.port is None or parts.port > 0)
        except ValueError:
            ok = False
        if not ok:  # the URL is not repeated: it may carry credentials
            raise ValueError("must be an http(s) URL with a host and a valid port")
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        return check_env_name(value, "api_key_env")

    @field_validator("prompts")
    @classmethod
    def _non_empty_prompts(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not p.strip() for p in value):
            raise ValueError("prompts must not be empty strings")
        return value

    def prompt_set(self) -> tuple[str, ...]:
        return tuple(self.prompts) if self.prompts else BUILTIN_PROMPTS


class MonitorConfig(_Strict):
    endpoints: list[EndpointConfig] = Field(min_length=1)
    store: Path = Path("monitor.sqlite")
    """SQLite file of raw records; a relative path is relative to the config file."""
    metrics_port: int = Field(9464, ge=0, le=65535)
    """Port of the Prometheus ``/metrics`` endpoint; 0 turns it off."""
    metrics_host: str = "127.0.0.1"
    concurrency: int = Field(8, ge=1)
    """Endpoints probed at the same time, at most."""
    jitter: bool = True
    """Start each endpoint at a random offset within its first interval."""
    max_reply_mb: float = Field(16.0, ge=1 / 1024)
    """Largest reply accepted, in MiB after decompression (all the events of a stream): a larger one is that
    call's ``reply_too_large``."""

    @model_validator(mode="after")
    def _unique_names(self) -> MonitorConfig:
        seen: set[str] = set()
        for ep in self.endpoints:
            if ep.name in seen:
                raise ValueError(f"endpoint name {ep.name!r} is used twice")
            seen.add(ep.name)
        return self


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _format_validation(source: str, exc: ValidationError, data: Any) -> str:
    lines = []
    for err in exc.errors():
        where = _field_path(tuple(err["loc"]))
        # point at the endpoint by name as well as by index, which is what a user looks for
        loc = err["loc"]
        if len(loc) >= 2 and loc[0] == "endpoints" and isinstance(loc[1], int) and isinstance(data, dict):
            eps = data.get("endpoints")
            if (
                isinstance(eps, list)
                and loc[1] < len(eps)
                and isinstance(eps[loc[1]], dict)
                and eps[loc[1]].get("name")
            ):
                where += f" (endpoint {eps[loc[1]]['name']!r})"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = unknown_field(MonitorConfig, tuple(err["loc"]))
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        lines.append(f"{source}: {where}: {msg}")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "<config>", base_dir: Path | None = None) -> MonitorConfig:
    """Validate already-parsed config data; raise :class:`ConfigError` naming ``source`` and the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with an 'endpoints' list, got {type(data).__name__}")
    try:
        config = MonitorConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation(source, exc, data)) from None
    if base_dir is not None and not config.store.is_absolute():
        config.store = base_dir / config.store
    for i, ep in enumerate(config.endpoints):
        _check_files(ep, f"{source}: endpoints.{i} (endpoint {ep.name!r})", base_dir)
    return config


def _check_files(ep: EndpointConfig, where: str, base_dir: Path | None) -> None:
    """Resolves ``ca_file`` and a tokenizer path against the config's folder and loads both once, so that a
    bad one is a config error naming the field rather than a failure of every probe."""
    from tianping.serving.h1 import TLSConfigError, tls_context
    from tianping.serving.token_count import TokenCounterError, load_token_counter

    if ep.ca_file is not None:
        if base_dir is not None and not Path(ep.ca_file).expanduser().is_absolute():
            ep.ca_file = str(base_dir / ep.ca_file)
        try:
            tls_context(ep.ca_file)
        except TLSConfigError as exc:
            raise ConfigError(f"{where}.ca_file: {exc}") from None
    if ep.tokenizer is not None:
        local = base_dir / ep.tokenizer if base_dir is not None else None
        if local is not None and not Path(ep.tokenizer).is_absolute() and local.exists():
            ep.tokenizer = str(local)
        try:
            load_token_counter(ep.tokenizer)
        except TokenCounterError as exc:
            raise ConfigError(f"{where}.tokenizer: {exc}") from None


def load_config(path: str | Path) -> MonitorConfig:
    """Read and validate a YAML monitor config; raise :class:`ConfigError` naming the file and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # the parser's message quotes the offending line, which may hold a key: say where, not what
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_config(data, str(path), path.resolve().parent)


# -- metrics ------------------------------------------------------------------------------------


class MonitorMetrics:
    """Prometheus metrics of one monitor, in their own registry (never the process-global one)."""

    def __init__(self, registry: CollectorRegistry | None = None):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = registry or CollectorRegistry(auto_describe=True)
        labels = ("endpoint", "provider", "model")
        self.calls = Counter(
            "tianping_probe_calls",
            "Probed calls by outcome (ok/failed) and failure class ('' when ok).",
            (*labels, "outcome", "failure"),
            registry=self.registry,
        )
        self.rounds = Counter("tianping_probe_rounds", "Probe rounds completed.", labels, registry=self.registry)
        self.ttft = Histogram(
            "tianping_probe_ttft_seconds", "Time to first token, successful calls.", labels,
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.ttfat = Histogram(
            "tianping_probe_ttfat_seconds", "Time to first answer (non-reasoning) token, successful calls.", labels,
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.tpot = Histogram(
            "tianping_probe_tpot_seconds", "Time per output token after the first, successful calls.", labels,
            buckets=_TPOT_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.e2e = Histogram(
            "tianping_probe_e2e_seconds", "Whole call, successful calls.", labels,
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.tps = Histogram(
            "tianping_probe_output_tps", "Output tokens per second while streaming, successful calls.", labels,
            buckets=_TPS_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.last_success = Gauge(
            "tianping_probe_last_success_timestamp_seconds", "Unix time of the last successful call.", labels,
            registry=self.registry,
        )  # fmt: skip
        self.internal_errors = Counter(
            "tianping_monitor_internal_errors", "Errors inside the monitor itself (a bug, not the endpoint).",
            registry=self.registry,
        )  # fmt: skip

    def init_endpoint(self, ep: EndpointConfig) -> None:
        """Create the series of an endpoint at zero, so rates are defined before the first failure."""
        labels = (ep.name, ep.provider or "", ep.model)
        self.calls.labels(*labels, "ok", "")
        for failure in FAILURE_CLASSES:
            self.calls.labels(*labels, "failed", failure)
        self.rounds.labels(*labels)

    def observe(self, ep: EndpointConfig, record: ProbeRecord) -> None:
        labels = (ep.name, ep.provider or "", ep.model)
        if record.ok:
            self.calls.labels(*labels, "ok", "").inc()
            for hist, value in (
                (self.ttft, record.ttft_s),
                (self.ttfat, record.ttfat_s),
                (self.tpot, record.tpot_s),
                (self.e2e, record.e2e_s),
                (self.tps, record.output_tps),
            ):
                if value is not None:
                    hist.labels(*labels).observe(value)
            self.last_success.labels(*labels).set(record.started_at or time.time())
        else:
            failure = record.failure if record.failure in FAILURE_CLASSES else "bad_response"
            self.calls.labels(*labels, "failed", failure).inc()

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


# -- the scheduler ------------------------------------------------------------------------------


@dataclass
class MonitorSummary:
    calls: int
    ok: int
    failures: dict[str, int]
    rounds: int
    wall_s: float
    stopped_by: str
    """"rounds", "duration" or "signal"."""
    endpoints: dict[str, EndpointTally] = field(default_factory=dict)
    """Each endpoint's calls, successes and failures, by name, in the config's order."""


class Monitor:
    """Runs the probes of a :class:`MonitorConfig` until stopped, a duration passes or rounds run out.

    ``probe_factory(endpoint_config) -> probe`` makes the probe of an endpoint (default:
    :class:`~tianping.serving.probe.StreamingProbe`); tests pass fakes. ``store`` defaults to a
    :class:`~tianping.serving.monitor_store.MonitorStore` at ``config.store``, closed at the end.
    """

    def __init__(
        self,
        config: MonitorConfig,
        *,
        store: MonitorStore | None = None,
        probe_factory: Any = None,
        metrics: MonitorMetrics | None = None,
        seed: int | None = None,
        shutdown_grace_s: float = 5.0,
        on_change: Callable[[str], None] | None = None,
    ):
        """``on_change(line)`` hears each change of an endpoint's state (it starts failing, or recovers), as
        ``"<endpoint>: <what>"``; the command line prints it with the time."""
        self.config = config
        self._store = store
        self._own_store = store is None
        self._probe_factory = probe_factory or (lambda ep: _default_probe(ep, config))
        self.metrics = metrics or MonitorMetrics()
        self._rng = random.Random(seed)
        self._grace = shutdown_grace_s
        self._stop = asyncio.Event()
        self._stopped_by = "rounds"
        self._sem: asyncio.Semaphore | None = None
        self._rounds = 0
        self._tallies = {ep.name: EndpointTally() for ep in config.endpoints}
        self._on_change = on_change
        self.metrics_url: str | None = None
        self._fidelity: Any = None

    def stop(self, reason: str = "signal") -> None:
        """Ask the run to end: probes in flight finish (up to the grace period), no new ones start."""
        if not self._stop.is_set():
            self._stopped_by = reason
            self._stop.set()

    async def run(self, *, duration_s: float | None = None, max_rounds: int | None = None) -> MonitorSummary:
        """Probe until SIGINT/SIGTERM, ``duration_s`` seconds, or ``max_rounds`` rounds per endpoint."""
        from tianping.serving.monitor_store import MonitorStore

        t0 = time.monotonic()
        self._stop = asyncio.Event()
        self._sem = asyncio.Semaphore(self.config.concurrency)
        store = self._store or MonitorStore(self.config.store)
        self._store = store
        if any(ep.fidelity is not None for ep in self.config.endpoints):
            from tianping.fidelity.monitor_check import FidelityMonitor

            self._fidelity = FidelityMonitor(store.path, self.metrics.registry)
        loop = asyncio.get_running_loop()
        signals = _install_signals(loop, self.stop)
        runner = await self._start_metrics_server()
        probes: list[Any] = []
        try:
            for ep in self.config.endpoints:
                self.metrics.init_endpoint(ep)
                probes.append(self._probe_factory(ep))
            tasks = [
                asyncio.create_task(self._endpoint_loop(ep, probe, max_rounds), name=f"monitor:{ep.name}")
                for ep, probe in zip(self.config.endpoints, probes, strict=True)
            ]
            stopper = asyncio.create_task(self._stop.wait())
            pending: set[asyncio.Task[Any]] = set(tasks)
            deadline = None if duration_s is None else t0 + duration_s
            while pending and not self._stop.is_set():
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                done, _ = await asyncio.wait(pending | {stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                pending -= done
                if deadline is not None and time.monotonic() >= deadline:
                    self.stop("duration")
            stopper.cancel()
            if pending:  # stopped: let calls in flight finish and be recorded, within the grace period
                _, still = await asyncio.wait(pending, timeout=self._grace)
                for task in still:
                    task.cancel()
                await asyncio.gather(*still, return_exceptions=True)
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    log.error("endpoint loop %s failed: %r", task.get_name(), task.exception())
        finally:
            for probe in probes:
                with contextlib.suppress(Exception):
                    await probe.aclose()
            if runner is not None:
                await runner.cleanup()
            for sig in signals:
                loop.remove_signal_handler(sig)
            if self._fidelity is not None:
                await self._fidelity.aclose()
                self._fidelity = None
            if self._own_store:
                store.close()
        tallies = self._tallies
        return MonitorSummary(
            calls=sum(t.calls for t in tallies.values()),
            ok=sum(t.ok for t in tallies.values()),
            failures=total_failures(tallies),
            rounds=self._rounds,
            wall_s=time.monotonic() - t0,
            stopped_by=self._stopped_by,
            endpoints=dict(tallies),
        )

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped first; True if the run was stopped."""
        if seconds <= 0:
            return self._stop.is_set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        return self._stop.is_set()

    async def _endpoint_loop(self, ep: EndpointConfig, probe: Any, max_rounds: int | None) -> None:
        prompts = ep.prompt_set()
        offset = self._rng.randrange(len(prompts))
        if self.config.jitter and await self._sleep(self._rng.uniform(0, ep.interval_s)):
            return
        next_at = time.monotonic()
        rounds = 0
        while not self._stop.is_set() and (max_rounds is None or rounds < max_rounds):
            assert self._sem is not None
            async with self._sem:
                for _ in range(ep.prompts_per_probe):
                    if self._stop.is_set():
                        break
                    prompt = prompts[offset % len(prompts)]
                    offset = (offset + 1) % len(prompts)
                    await self._probe_once(ep, probe, prompt)
            rounds += 1
            self._rounds += 1
            self.metrics.rounds.labels(ep.name, ep.provider or "", ep.model).inc()
            if self._fidelity is not None:
                await self._fidelity.after_round(ep, rounds)
            if max_rounds is not None and rounds >= max_rounds:
                return
            # fixed-rate schedule; after an overrun, skip the missed slots rather than bunch up
            next_at += ep.interval_s
            now = time.monotonic()
            if next_at < now:
                next_at += ep.interval_s * ((now - next_at) // ep.interval_s + 1)
            if await self._sleep(next_at - now):
                return

    async def _probe_once(self, ep: EndpointConfig, probe: Any, prompt: str) -> None:
        messages = [{"role": "user", "content": prompt}]
        started = time.time()
        try:
            record = await probe.probe(messages, max_tokens=ep.max_tokens, temperature=ep.temperature)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the probe promises not to raise; if it does, record it and go on
            self.metrics.internal_errors.inc()
            log.exception("probe of %s raised", ep.name)
            from tianping.serving.probe import redact, url_secrets

            error = redact(f"probe raised {type(exc).__name__}: {exc}", url_secrets(ep.base_url))[:2000]
            record = ProbeRecord(
                endpoint=strip_credentials(ep.base_url), model=ep.model, provider=ep.provider, started_at=started,
                ok=False, failure="bad_response", error=error,
            )  # fmt: skip
        if record.provider is None and ep.provider is not None:
            record.provider = ep.provider
        change = self._tallies[ep.name].count(record)
        if change is not None and self._on_change is not None:
            self._on_change(f"{ep.name}: {change}")
        try:
            assert self._store is not None
            self._store.add(record, ep.name)
        except Exception:  # a full disk must not kill the monitor; metrics still count the call
            self.metrics.internal_errors.inc()
            log.exception("could not store a record of %s", ep.name)
        self.metrics.observe(ep, record)

    async def _start_metrics_server(self) -> Any:
        if self.config.metrics_port == 0:
            return None
        from aiohttp import web
        from prometheus_client import CONTENT_TYPE_LATEST

        async def metrics(_request: web.Request) -> web.Response:
            resp = web.Response(body=self.metrics.render())
            resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
            return resp

        async def index(_request: web.Request) -> web.Response:
            return web.Response(text="tianping monitor: see /metrics\n")

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/", index)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.config.metrics_host, self.config.metrics_port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self.metrics_url = f"http://{self.config.metrics_host}:{self.config.metrics_port}/metrics"
        return runner


def _default_probe(ep: EndpointConfig, config: MonitorConfig | None = None) -> Any:
    from tianping.core.limits import MIB, ReplyLimits
    from tianping.serving.probe import ProbeTimeouts, StreamingProbe

    max_reply_mb = config.max_reply_mb if config is not None else 16.0
    return StreamingProbe(
        ep.base_url,
        ep.model,
        provider=ep.provider,
        api_key_env=ep.api_key_env,
        timeouts=ProbeTimeouts(ttft_s=ep.timeouts.ttft_s, idle_s=ep.timeouts.idle_s, total_s=ep.timeouts.total_s),
        extra_body=ep.extra_body,
        limits=ReplyLimits(max_body_bytes=int(max_reply_mb * MIB)),
        tokenizer=ep.tokenizer,
        ca_file=ep.ca_file,
    )


def _install_signals(loop: asyncio.AbstractEventLoop, stop: Any) -> list[int]:
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop, "signal")
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            continue
        installed.append(sig)
    return installed
