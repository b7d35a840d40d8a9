"""``tianping loadtest``: load shapes against a streaming endpoint, a live table, and a JSON summary.

``register(app)`` adds the command to the main app. The JSON schema is documented in docs/loadtest-json.md.

Exit codes are those of ``tianping.cli.errors``: 0 done; 1 (``INCOMPLETE``) with ``--strict`` when a stage
failed the client self-check; 2 a bad flag or output path, found before any load is sent; 3 no request
succeeded (the endpoint cannot be reached, or refuses the key: the run gives up early when its first requests
all fail that way); 130 SIGINT or SIGTERM. The JSON is written in every case but 2, with what was measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from tianping.cli.common import SummaryJsonAlias, aliased, check_output, write_output
from tianping.cli.errors import FAILED, INCOMPLETE, INTERRUPTED, fail, run_async
from tianping.cli.output import console, out
from tianping.cli.serving_checks import DEFAULT_MAX_REPLY_MB, check_number, reply_limits

SCHEMA = "tianping.loadtest/1"
SWEEP_PARAMS = ("concurrency", "rate")
GIVE_UP_AFTER = 8
"""Requests that must all fail to connect, or be refused the key, before a run with no success gives up."""
LOCAL_BACKENDS = ("hf", "ref")
"""``run``'s prefixes of models it runs itself: there is no endpoint to put load on."""


def served_name(model: str) -> str:
    """The model name each request carries, from ``--model`` in ``run``'s form (``openai/<name>``) or bare."""
    backend, sep, name = model.partition("/")
    if sep and backend == "openai":
        if not name:
            raise ValueError("--model openai/ names no model: give openai/<name>")
        return name
    if sep and backend in LOCAL_BACKENDS:
        raise ValueError(
            f"--model {model}: a local model; loadtest measures an OpenAI-compatible endpoint (openai/<name>)"
        )
    return model


def parse_sweep(text: str) -> tuple[str, list[float]]:
    """``concurrency=1,8,32`` or ``rate=1,5,10`` -> (param, values)."""
    param, sep, values = text.partition("=")
    param = param.strip().lower()
    if not sep or param not in SWEEP_PARAMS:
        raise ValueError(f"--sweep must look like concurrency=1,8,32 or rate=1,5,10, got {text!r}")
    try:
        vals = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--sweep values must be numbers, got {values!r}") from None
    if not vals or not all(0 < v < float("inf") for v in vals):  # also refuses NaN
        raise ValueError("--sweep needs positive, finite values")
    if param == "concurrency" and any(v != int(v) for v in vals):
        raise ValueError("--sweep concurrency values must be whole numbers")
    return param, vals


def build_shapes(
    *,
    concurrency: int | None,
    rate: float | None,
    poisson: bool,
    gamma_burstiness: float | None,
    ramp_to: float | None,
    ramp_s: float | None,
    sweep: str | None,
    seed: int,
) -> list[tuple[str, Any]]:
    """The (label, LoadShape) of each stage the flags ask for."""
    from tianping.serving.load import LoadShape

    sweep_param, sweep_values = parse_sweep(sweep) if sweep else (None, [])
    if poisson and gamma_burstiness is not None:
        raise ValueError("choose one of --poisson and --gamma-burstiness")
    open_loop = rate is not None or sweep_param == "rate"
    if (poisson or gamma_burstiness is not None) and not open_loop:
        raise ValueError("--poisson and --gamma-burstiness need --rate (or --sweep rate=...)")
    if sweep_param == "concurrency" and rate is not None:
        raise ValueError("--sweep concurrency=... is closed loop; drop --rate")
    if ramp_to is not None and sweep_param is not None:
        raise ValueError("--ramp-to and --sweep do not combine")
    if ramp_to is not None and not ramp_s:
        raise ValueError("--ramp-to needs --ramp-s (or --duration)")
    kind = "gamma" if gamma_burstiness is not None else "poisson" if poisson else "constant"
    common: dict[str, Any] = {
        "burstiness": gamma_burstiness or 1.0,
        "ramp_to": ramp_to,
        "ramp_s": (ramp_s or 0.0) if ramp_to is not None else 0.0,
        "seed": seed,
    }

    def make(conc: int | None, r: float | None) -> Any:
        if r is not None:
            return LoadShape(kind=kind, rate=r, concurrency=conc or 0, **common)
        return LoadShape(kind="concurrency", concurrency=conc or 1, **common)

    if sweep_param == "concurrency":
        return [(f"concurrency={int(v)}", make(int(v), None)) for v in sweep_values]
    if sweep_param == "rate":
        return [(f"rate={v:g}", make(concurrency, v)) for v in sweep_values]
    shape = make(concurrency, rate)
    label = f"concurrency={shape.concurrency}" if not shape.open_loop else f"rate={rate:g}"
    return [(label, shape)]


def _fmt_ms(values: list[float], q: float) -> str:
    if not values:
        return "—"
    s = sorted(values)
    return f"{1000 * s[min(len(s) - 1, int(q * len(s)))]:.0f}"


def live_table(label: str, live: Any) -> Table:
    t = Table(title=f"loadtest {label}", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("done", "failed", "in flight", "req/s", "TTFT p50 ms", "TTFT p90 ms", "TPOT p50 ms", "out tok/s"):
        t.add_column(col, justify="right")
    el = live.elapsed()
    t.add_row(
        str(live.done),
        str(live.failed),
        str(live.in_flight),
        f"{live.done / el:.2f}",
        _fmt_ms(live.ttft, 0.5),
        _fmt_ms(live.ttft, 0.9),
        _fmt_ms(live.tpot, 0.5),
        f"{live.output_tokens / el:.1f}",
    )
    return t


def _ms(d: dict[str, Any], key: str) -> str:
    v = d.get(key)
    return "—" if v is None else f"{1000 * v:.0f}"


def summary_table(stages: list[dict[str, Any]]) -> Table:
    t = Table(title="loadtest summary (measured window)", title_justify="left", box=box.SIMPLE_HEAD)
    rows = []
    for s in stages:
        rate = s["success_rate"]["value"]
        good = s["goodput"]["fraction"]
        rps = s["throughput"]["requests_per_s"]
        tps = s["throughput"]["output_tokens_per_s"]
        lat = s["latency"]
        rows.append(
            (
                s["label"],
                str(s["counts"]["attempted"]),
                "—" if rate is None else f"{100 * rate:.1f}",
                "—" if rps is None else f"{rps:.2f}",
                "—" if tps is None else f"{tps:.0f}",
                _ms(lat["ttft_s"], "p50"),
                _ms(lat["ttft_s"], "p99"),
                _ms(lat["tpot_s"], "p50"),
                _ms(lat["e2e_s"], "p50"),
                "—" if good is None else f"{100 * good:.1f}",
                "yes" if s["self_check"]["valid"] else "[red]NO[/]",
            )
        )
    numbers = ("N", "ok %", "req/s", "tok/s", "TTFT p50", "TTFT p99", "TPOT p50", "e2e p50", "goodput %", "valid")
    if out.width < NARROW_SUMMARY:  # 80 columns: one column per stage, one row per number, nothing cut short
        t.add_column("")
        for row in rows:
            t.add_column(row[0], justify="right", overflow="fold")
        for i, name in enumerate(numbers, start=1):
            t.add_row(name, *(row[i] for row in rows))
        return t
    t.add_column("stage")
    for col in numbers:
        t.add_column(col, justify="right")
    for row in rows:
        t.add_row(*row)
    return t


NARROW_SUMMARY = 120
"""Below this many columns the summary is turned: a column per stage (eleven columns do not fit in 80)."""


class _Watch:
    """Decides, record by record, whether the run must give up: nothing has succeeded and the first
    ``GIVE_UP_AFTER`` requests all failed before they were sent (no connection) or were refused the key."""

    def __init__(self, stop: asyncio.Event):
        self.stop = stop
        self.hopeless = 0
        self.hope = False
        self.reason: str | None = None

    def __call__(self, timed: Any) -> None:
        rec = timed.record
        if self.hope:
            return
        never_sent = rec.failure == "connect_error" and rec.http_status is None and rec.queue_s is None
        if rec.ok or not (never_sent or rec.failure == "auth"):
            self.hope = True
            return
        self.hopeless += 1
        if self.hopeless >= GIVE_UP_AFTER and not self.stop.is_set():
            what = "could not connect" if never_sent else "were refused (HTTP 401/403)"
            self.reason = f"gave up: the first {self.hopeless} requests {what} ({(rec.error or '')[:120]})"
            self.stop.set()


async def run_loadtest(
    prober: Any,
    stages: list[tuple[str, Any]],
    *,
    stage_kwargs: dict[str, Any],
    slo_ttft_s: float | None,
    slo_tpot_s: float | None,
    keep_records: bool,
    max_cpu_pct: float,
    max_lag_ms: float,
    show_live: bool,
    stop: asyncio.Event | None = None,
    on_record: Any = None,
    done: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Run each stage in turn and return their summaries (with records when ``keep_records``).

    ``stop`` ends the stage running and skips the rest; ``done`` (if given) receives each summary as soon as
    its stage ends, so that a caller keeps them even if this coroutine is cancelled."""
    from rich.live import Live

    from tianping.serving.load import LiveStats, StageConfig, run_stage
    from tianping.serving.selfcheck import SelfCheck
    from tianping.serving.summary import summarize_stage

    summaries: list[dict[str, Any]] = done if done is not None else []
    for i, (label, shape) in enumerate(stages):
        if stop is not None and stop.is_set():
            break
        config = StageConfig(shape=shape, **stage_kwargs)
        stats = LiveStats()
        check = SelfCheck(max_cpu_pct=max_cpu_pct, max_lag_p99_ms=max_lag_ms)
        kw = {"live": stats, "self_check": check, "stop": stop, "on_record": on_record}
        if show_live:
            with Live(
                get_renderable=lambda label=label, stats=stats: live_table(label, stats),
                console=console,
                refresh_per_second=2,
            ):
                result = await run_stage(prober, config, **kw)
            if not console.is_terminal:  # rich leaves the last frame without its newline in a file or pipe
                console.line()
        else:
            result = await run_stage(prober, config, **kw)
        summary = {"stage": i, "label": label, **summarize_stage(result, slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s)}
        if keep_records:
            summary["records"] = [t.to_dict() for t in result.records]
        summaries.append(summary)
        sc = result.self_check
        if not sc.valid:
            console.print(f"[yellow]stage {escape(label)} invalid:[/] {escape(sc.reason or '')}", soft_wrap=True)
    return summaries


@contextlib.contextmanager
def _signals_stop(stop: asyncio.Event, caught: list[str]):  # noqa: ANN202
    """SIGINT and SIGTERM end the load gracefully: the first sets ``stop`` (what was measured is written),
    a second one is not waited for (the default handlers are back)."""
    loop = asyncio.get_running_loop()
    installed: list[int] = []

    def on_signal(sig: int) -> None:
        caught.append(signal.Signals(sig).name)
        stop.set()
        for s in installed:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(s)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            continue
        installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)


def loadtest(
    base_url: Annotated[str, typer.Option(help="API root of the OpenAI-compatible endpoint (…/v1).")],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="The model, as run takes it: 'openai/<name>' (each request carries <name>), or the bare <name>. "
            "A served name that itself begins with 'openai/' needs the prefix twice: openai/openai/<name>.",
        ),
    ],
    api_key_env: Annotated[
        str, typer.Option(help="NAME of the environment variable that holds the API key (never the key).")
    ] = "OPENAI_API_KEY",
    provider: Annotated[str | None, typer.Option(help="Provider label stored in each record.")] = None,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", "-c", min=1, help="Closed loop: workers. With --rate: the in-flight cap."),
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Open loop: requests per second.")] = None,
    poisson: Annotated[bool, typer.Option("--poisson", help="Poisson arrivals at --rate.")] = False,
    gamma_burstiness: Annotated[
        float | None,
        typer.Option(help="Gamma arrivals at --rate with shape k (CV 1/sqrt(k); 1 = Poisson, <1 burstier)."),
    ] = None,
    ramp_to: Annotated[
        float | None, typer.Option(help="Ramp the rate (or the concurrency) linearly up to this value.")
    ] = None,
    ramp_s: Annotated[float | None, typer.Option(help="Length of the ramp in seconds [default: --duration].")] = None,
    sweep: Annotated[str | None, typer.Option(help="One stage per value: concurrency=1,8,32 or rate=1,5,10.")] = None,
    requests: Annotated[int | None, typer.Option("--requests", "-n", min=1, help="Requests per stage.")] = None,
    duration: Annotated[float | None, typer.Option(help="Seconds of sending per stage.")] = None,
    warmup: Annotated[float, typer.Option(help="Seconds at the start of a stage not counted.")] = 0.0,
    cooldown: Annotated[float, typer.Option(help="Seconds at the end of sending not counted.")] = 0.0,
    prompt_words: Annotated[int | None, typer.Option(min=0, help="Synthetic prompt length in words.")] = None,
    prompt_tokens: Annotated[
        int | None, typer.Option(min=1, help="Approximate prompt length in tokens (converted to words).")
    ] = None,
    shared_prefix_words: Annotated[
        int,
        typer.Option(min=0, help="Words of a prefix shared by every prompt, before the nonce (prompt caching)."),
    ] = 0,
    prompts: Annotated[
        str,
        typer.Option(
            help="Where prompts come from: synthetic (--prompt-words each), profile:chat (lengths of 1,305 real "
            "conversations, bundled), profile:FILE.json, or benchmark:NAME (the messages an evaluation sends)."
        ),
    ] = "synthetic",
    profile_replies: Annotated[
        bool,
        typer.Option(
            "--profile-replies/--no-profile-replies",
            help="With profile:, ask each request for its conversation's real reply length (else --max-tokens).",
        ),
    ] = True,
    data_dir: Annotated[
        Path | None, typer.Option(help="Datasets folder for --prompts benchmark:NAME [env TIANPING_DATA_DIR].")
    ] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="max_tokens of each request.")] = 128,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.0,
    nonce: Annotated[bool, typer.Option("--nonce/--no-nonce", help="Unique tag at the start of each prompt.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the prompts and arrival process.")] = 0,
    slo_ttft_ms: Annotated[float | None, typer.Option(help="Goodput SLO on time to first token.")] = None,
    slo_tpot_ms: Annotated[float | None, typer.Option(help="Goodput SLO on time per output token.")] = None,
    ttft_timeout: Annotated[float, typer.Option(help="Seconds to wait for the first token.")] = 60.0,
    idle_timeout: Annotated[
        float, typer.Option(help="Seconds allowed between data events after the first token (comments do not count).")
    ] = 30.0,
    total_timeout: Annotated[float, typer.Option(help="Seconds allowed for a whole call.")] = 300.0,
    max_reply_mb: Annotated[
        float,
        typer.Option(
            "--max-reply-mb",
            help="Largest reply accepted, in MiB after decompression (all events of a stream); a larger one "
            "fails that request as reply_too_large.",
        ),
    ] = DEFAULT_MAX_REPLY_MB,
    tokenizer: Annotated[
        str | None,
        typer.Option(
            help="Count output tokens with the model's tokenizer (TPOT over tokens when a chunk holds several): "
            "tiktoken:NAME, a tokenizer.json or folder, or a locally cached Hugging Face id."
        ),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(help="PEM CA certificate(s) that verify an https endpoint (it is always verified)."),
    ] = None,
    max_cpu_pct: Annotated[float, typer.Option(help="Self-check: client CPU above this % of a core = invalid.")] = 90.0,
    max_loop_lag_ms: Annotated[float, typer.Option(help="Self-check: event-loop lag p99 above this = invalid.")] = 10.0,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when a stage fails the client self-check.")] = False,
    records: Annotated[
        bool, typer.Option("--records/--no-records", help="Include every probe record in the JSON.")
    ] = True,
    live: Annotated[bool, typer.Option("--live/--no-live", help="Show the live table.")] = True,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="Write a machine-readable JSON summary to this file (docs/loadtest-json.md)."),
    ] = None,
    summary_json: SummaryJsonAlias = None,
) -> None:
    """Put load on a streaming endpoint and measure TTFT, TPOT, ITL, throughput, errors and goodput.

    Exit: 0 done; 1 --strict and the client was the bottleneck; 2 bad flag or path; 3 nothing succeeded; 130 signal.
    """
    from tianping.core.secrets import check_env_name, strip_credentials
    from tianping.serving.h1 import Target
    from tianping.serving.load import words_for_tokens

    try:
        name = served_name(model)
    except ValueError as exc:
        raise fail(str(exc)) from None
    json_path, json_flag = aliased("--json", json_path, "--summary-json", summary_json)
    if requests is None and duration is None:
        raise fail("bound the run: pass --requests N and/or --duration S")
    if prompt_words is not None and prompt_tokens is not None:
        raise fail("choose one of --prompt-words and --prompt-tokens")
    for flag, value, positive in (
        ("--rate", rate, True),
        ("--gamma-burstiness", gamma_burstiness, True),
        ("--ramp-to", ramp_to, True),
        ("--ramp-s", ramp_s, True),
        ("--duration", duration, True),
        ("--warmup", warmup, False),
        ("--cooldown", cooldown, False),
        ("--temperature", temperature, False),
        ("--slo-ttft-ms", slo_ttft_ms, True),
        ("--slo-tpot-ms", slo_tpot_ms, True),
        ("--ttft-timeout", ttft_timeout, True),
        ("--idle-timeout", idle_timeout, True),
        ("--total-timeout", total_timeout, True),
        ("--max-cpu-pct", max_cpu_pct, True),
        ("--max-loop-lag-ms", max_loop_lag_ms, True),
    ):
        check_number(flag, value, positive=positive, minimum=0.0)
    limits = reply_limits(max_reply_mb)
    try:
        check_env_name(api_key_env, "--api-key-env")
    except ValueError as exc:
        raise fail(str(exc)) from None
    shown_url = strip_credentials(base_url)
    try:
        Target.parse(base_url.rstrip("/") + "/chat/completions")
    except ValueError:
        raise fail(f"--base-url must be an http(s) URL with a host, got {shown_url!r}") from None
    check_output(json_path, json_flag)
    words = prompt_words if prompt_words is not None else words_for_tokens(prompt_tokens) if prompt_tokens else 128
    from tianping.serving.prompt_sets import PromptSetError, prompt_source

    if prompts != "synthetic" and (prompt_words is not None or prompt_tokens is not None):
        raise fail("--prompt-words and --prompt-tokens apply to --prompts synthetic only")
    try:
        from tianping.data.location import default_data_dir

        source = prompt_source(
            prompts,
            words=words,
            nonce=nonce,
            shared_prefix_words=shared_prefix_words,
            data_dir=data_dir or default_data_dir(),
            replies=profile_replies,
        )
    except PromptSetError as exc:
        raise fail(str(exc)) from None
    try:
        stages = build_shapes(
            concurrency=concurrency,
            rate=rate,
            poisson=poisson,
            gamma_burstiness=gamma_burstiness,
            ramp_to=ramp_to,
            ramp_s=ramp_s if ramp_s is not None else duration,
            sweep=sweep,
            seed=seed,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    from tianping.serving.h1 import TLSConfigError, tls_context
    from tianping.serving.probe import ProbeTimeouts, StreamingProbe
    from tianping.serving.token_count import TokenCounterError, load_token_counter

    try:
        counter = load_token_counter(tokenizer) if tokenizer is not None else None
    except TokenCounterError as exc:
        raise fail(f"--tokenizer: {exc}") from None
    if ca_file is not None:
        try:
            tls_context(str(ca_file))  # checked here, where a bad file is a flag error (exit 2)
        except TLSConfigError as exc:
            raise fail(f"--ca-file: {exc}") from None

    stage_kwargs = {
        "max_requests": requests,
        "duration_s": duration,
        "warmup_s": warmup,
        "cooldown_s": cooldown,
        "prompt_words": words,
        "shared_prefix_words": shared_prefix_words,
        "prompts": source,
        "max_tokens": max_tokens,
        "nonce": nonce,
        "temperature": temperature,
        "drain_s": total_timeout + 5.0,
    }
    slo_ttft_s = None if slo_ttft_ms is None else slo_ttft_ms / 1000.0
    slo_tpot_s = None if slo_tpot_ms is None else slo_tpot_ms / 1000.0
    results: list[dict[str, Any]] = []
    caught: list[str] = []
    watch: list[_Watch] = []

    async def main() -> None:
        stop = asyncio.Event()
        watch.append(_Watch(stop))
        probe = StreamingProbe(
            base_url,
            name,
            provider=provider,
            api_key_env=api_key_env,
            timeouts=ProbeTimeouts(ttft_s=ttft_timeout, idle_s=idle_timeout, total_s=total_timeout),
            limits=limits,
            tokenizer=counter,
            ca_file=str(ca_file) if ca_file is not None else None,
        )
        try:
            with _signals_stop(stop, caught):
                await run_loadtest(
                    probe,
                    stages,
                    stage_kwargs=stage_kwargs,
                    slo_ttft_s=slo_ttft_s,
                    slo_tpot_s=slo_tpot_s,
                    keep_records=records,
                    max_cpu_pct=max_cpu_pct,
                    max_lag_ms=max_loop_lag_ms,
                    show_live=live,
                    stop=stop,
                    on_record=watch[0],
                    done=results,
                )
        finally:
            await probe.aclose()

    from tianping import __version__

    started = datetime.now(UTC)
    t0 = time.monotonic()
    try:
        run_async(main())
    except KeyboardInterrupt:  # a signal outside the stages (or a second one): keep the stages that ended
        caught.append("SIGINT")
    stopped: dict[str, str] | None = None
    if caught:
        stopped = {"by": "signal", "reason": f"interrupted by {caught[0]}"}
    elif watch and watch[0].reason:
        stopped = {"by": "give_up", "reason": watch[0].reason}
    doc = {
        "schema": SCHEMA,
        "tianping_version": __version__,
        "started_at": started.isoformat(),
        "wall_s": time.monotonic() - t0,
        "base_url": shown_url,
        "model": name,
        "provider": provider,
        "sweep": sweep,
        "valid": all(s["self_check"]["valid"] for s in results),
        "stopped": stopped,
        "stages": results,
    }
    if json_path is not None:
        # checked before the run: what fails now is the disk, not the flag (exit 3)
        write_output(json_path, json.dumps(doc, indent=2, ensure_ascii=False), json_flag)
        console.print(f"wrote {escape(str(json_path))}", highlight=False, soft_wrap=True)
    if results:
        out.print(summary_table(results))
    if caught:
        raise fail(f"interrupted by {caught[0]}; the stages measured so far are kept", INTERRUPTED)
    if all(s["counts"]["succeeded"] == 0 for s in results):
        stage = next((s for s in results if s["errors"]), None)
        counts, examples = (stage["errors"], stage.get("error_examples", {})) if stage else ({}, {})
        example = next(iter(examples.items()), None)
        why = f"{stopped['reason']}; " if stopped else ""
        first = f"; the first {example[0]}: {example[1]}" if example and example[1] else ""
        raise fail(f"{why}no request succeeded (errors: {counts}){first}", FAILED)
    if strict and not doc["valid"]:
        raise fail("the client was the bottleneck in at least one stage (see self_check)", INCOMPLETE)


def register(app: typer.Typer) -> None:
    """Add ``loadtest`` to ``app``."""
    app.command("loadtest")(loadtest)
