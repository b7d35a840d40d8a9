"""Streaming-probe accuracy and capacity against a fake streaming server with known timing.

The fake server (``tests/fake_stream_server.py``, standard-library event loop so that its ``loop.time()`` stamps are
exact ``time.monotonic()`` readings) runs in its own process on 127.0.0.1, pinned to one core; this client is pinned
to another. Every request carries a ``fake_tag``; the server records, per tag, when the request arrived and when it
sent the first and the last token, on the same monotonic clock as the client's ``time.perf_counter()``. Truth:

- TTFT: the server's own first-token send time - its arrival time (nominally ``--ttft``); TPOT: (last send - first
  send) / (tokens - 1) (nominally ``--itl``);
- token stamps: the client's first/last token time against the server's first/last send time, per stream.

Scenarios: (a) 64 concurrent streams, ttft 0.2 s, itl 0.04 s, 64 tokens: TTFT and TPOT p50 errors; (b) 1,000
concurrent streams at 25 tokens/s (128 tokens) on one client core, with the self-check (CPU, event-loop lag):
p50/p99 token-stamp error and the verdict; (c) beyond capacity (more streams, faster tokens): the self-check must
flag the run invalid; (d) the same workload as (a) with a plain openai-SDK client loop (``--sdk-python``, a Python
that has ``openai``; it is never a dependency of tianping) against the same truth.

    python benchmarks/bench_probe_accuracy.py --sdk-python /tmp/cmpvenv/bin/python --json /tmp/probe_acc.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

REPO = Path(__file__).resolve().parent.parent
SERVER = REPO / "tests" / "fake_stream_server.py"
MSG = [{"role": "user", "content": "say something please"}]

from tianping.serving.probe import ProbeTimeouts, StreamingProbe  # noqa: E402
from tianping.serving.selfcheck import SelfCheck  # noqa: E402

SDK_CLIENT = r"""
import asyncio, json, sys, time
import httpx
from openai import AsyncOpenAI

SENT = {}

async def on_request(request):  # httpx's request hook: just before the request goes to the connection pool
    SENT[json.loads(request.content)["fake_tag"]] = time.perf_counter()

async def main(base_url, n, tokens, prefix):
    http = httpx.AsyncClient(event_hooks={"request": [on_request]}, timeout=60,
                             limits=httpx.Limits(max_connections=1000, max_keepalive_connections=1000))
    client = AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0, http_client=http)

    async def one(i):
        tag = f"{prefix}{i}"
        t_call = time.perf_counter()
        stream = await client.chat.completions.create(
            model="fake", messages=[{"role": "user", "content": "say something please"}], max_tokens=tokens,
            stream=True, extra_body={"fake_tag": tag})
        first = last = None
        count = 0
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                t = time.perf_counter()
                first = t if first is None else first
                last = t
                count += 1
        sent = SENT.get(tag, t_call)
        return {"tag": tag, "t_call": t_call, "sent": sent, "first": first, "last": last, "n": count,
                "ttft": None if first is None else first - sent, "queue": sent - t_call}

    out = []
    for r in range(ROUNDS):
        rows = await asyncio.gather(*(one(r * 1000 + i) for i in range(n)))
        if r:  # round 0 warms up connections
            out.extend(rows)
    await client.close()
    print(json.dumps(out))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
"""


def pick_cores() -> tuple[set[int] | None, set[int] | None]:
    """(client cores, server cores): one core each when the machine lets us pin, else None."""
    if not hasattr(os, "sched_setaffinity"):
        return None, None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    return {cores[0]}, {cores[1]}


def start_server(server_cores: set[int] | None, ttft: float, itl: float, tokens: int) -> subprocess.Popen:
    argv = [sys.executable, str(SERVER), "--port", "0", "--ttft", str(ttft), "--itl", str(itl)]
    argv += ["--tokens", str(tokens), "--no-uvloop", "--stamp-all"]  # stamp-all: for peers that cannot tag
    if server_cores and Path("/usr/bin/taskset").exists():
        argv = ["taskset", "-c", ",".join(map(str, sorted(server_cores))), *argv]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    if server_cores and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(proc.pid, server_cores)
    return proc


async def fetch_stamps(base_url: str) -> dict[str, list[float]]:
    async with aiohttp.ClientSession() as session, session.get(base_url.removesuffix("/v1") + "/fake/stamps") as r:
        return await r.json()


def ms(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 1000:+.2f}"


def pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values), q)) if values else None


# -- scenarios -------------------------------------------------------------------------------------------------


async def probe_rounds(
    base_url: str, n: int, tokens: int, rounds: int, prefix: str, ramp_s: float = 0.0, check: bool = False
) -> tuple[list[dict[str, Any]], Any]:
    """``rounds`` rounds of ``n`` concurrent probes (round 0 is a warm-up and not kept); per stream, the stamps."""
    probe = StreamingProbe(base_url, "fake", timeouts=ProbeTimeouts(60, 60, 600))
    rows: list[dict[str, Any]] = []
    result = None

    async def one(tag: str, delay: float) -> dict[str, Any]:
        if delay:
            await asyncio.sleep(delay)
        t_call = time.perf_counter()
        r = await probe.probe(MSG, max_tokens=tokens, extra={"fake_tag": tag})
        sent = t_call + (r.queue_s or 0.0)
        first = sent + r.ttft_s if r.ttft_s is not None else None
        last = first + sum(r.itl_s) if first is not None else None
        return {"tag": tag, "ok": r.ok, "t_call": t_call, "sent": sent, "ttft": r.ttft_s, "tpot": r.tpot_s,
                "queue": r.queue_s, "first": first, "last": last, "n": r.output_tokens}  # fmt: skip

    for rnd in range(rounds):
        sc = SelfCheck() if check and (rnd or rounds == 1) else None
        if sc is not None:
            await sc.start()
        out = await asyncio.gather(*(one(f"{prefix}{rnd}-{i}", ramp_s * i / n) for i in range(n)))
        if sc is not None:
            result = await sc.stop()
        if rnd or rounds == 1:
            rows.extend(out)
    await probe.aclose()
    return rows, result


def join_truth(rows: list[dict[str, Any]], stamps: dict[str, list[float]], tokens: int) -> dict[str, list[float]]:
    err: dict[str, list[float]] = {k: [] for k in ("ttft", "ttft_call", "tpot", "first", "last", "wire", "queue")}
    for row in rows:
        st = stamps.get(row["tag"])
        if not st or row["first"] is None:
            continue
        arrived, first_sent, last_sent = st
        true_ttft = first_sent - arrived
        true_tpot = (last_sent - first_sent) / (tokens - 1)
        if row.get("ttft") is not None:  # tianping: from the moment the request was sent
            err["ttft"].append(row["ttft"] - true_ttft)
            err["wire"].append(row["ttft"] - (first_sent - row["sent"]))
            err["queue"].append(row["queue"] or 0.0)
        err["ttft_call"].append(row["first"] - row["t_call"] - true_ttft)  # from the call, as an SDK loop sees it
        tpot = row.get("tpot")
        if tpot is None and row["n"] and row["n"] > 1:
            tpot = (row["last"] - row["first"]) / (row["n"] - 1)
        if tpot is not None:
            err["tpot"].append(tpot - true_tpot)
        err["first"].append(row["first"] - first_sent)
        err["last"].append(row["last"] - last_sent)
    return err


def run_sdk(sdk_python: str, base_url: str, n: int, tokens: int, rounds: int, cores: set[int] | None) -> list[dict]:
    argv = [sdk_python, "-c", SDK_CLIENT.replace("ROUNDS", str(rounds)), base_url, str(n), str(tokens), "sdk"]
    if cores and Path("/usr/bin/taskset").exists():
        argv = ["taskset", "-c", ",".join(map(str, sorted(cores))), *argv]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout)


def with_server(cores, ttft, itl, tokens):
    proc = start_server(cores, ttft, itl, tokens)
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise RuntimeError("fake server did not start")
    return proc, base_url


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    if proc.poll() is None:
        proc.kill()


def guidellm_rows(
    guidellm: str, base_url: str, streams: int, tokens: int, rounds: int, cores: set[int] | None, raw: dict, runner
) -> list[tuple[str, ...]]:
    """(e) guidellm at the same concurrency and request count as (a), with one worker process per client core
    (fair on a pinned core) and with its default worker count; rows matched to the server's untagged stamps."""
    from peer_guidellm import assign_tags, make_tokenizer, run_guidellm

    tokenizer = str(make_tokenizer(Path("/tmp/peer_guidellm_tokenizer")))
    out = []
    for label, workers in (("1 worker per client core", len(cores or {0})), ("default workers", None)):
        info: dict[str, Any] = {}
        rows = run_guidellm(guidellm, base_url, streams=streams, requests=streams * (rounds - 1), prompt_tokens=32,
                            output_tokens=tokens, tokenizer_dir=tokenizer, cores=cores, workers=workers,
                            info=info)  # fmt: skip
        stamps = runner(fetch_stamps(base_url))
        rows = assign_tags(rows, stamps, info["t0"], info["t1"])
        e = join_truth(rows, stamps, tokens)
        raw[f"e_guidellm_{workers or 'default'}"] = {k: [round(x, 6) for x in v] for k, v in e.items()}
        out.append((f"(e) guidellm {info.get('version', '')} ({label}), same workload", str(len(e["ttft"])),
                    ms(pct(e["ttft"], 50)), ms(pct(e["wire"], 50)), ms(pct(e["ttft_call"], 50)),
                    ms(pct(e["tpot"], 50)), ms(pct(e["first"], 50)), ms(pct(e["first"], 99)),
                    f"TPOT = its ITL; sent = httpx headers start; queue p50 {ms(pct(e['queue'], 50))}"))  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--streams", type=int, default=64, help="(a) and (d): concurrent streams")
    ap.add_argument("--rounds", type=int, default=4, help="(a) and (d): rounds, the first a warm-up")
    ap.add_argument("--capacity-streams", default="1000", help="(b) concurrent streams at 25 tokens/s (comma list)")
    ap.add_argument("--capacity-tokens", type=int, default=128)
    ap.add_argument("--ramp", type=float, default=1.0, help="(b)/(c) seconds over which the streams start")
    ap.add_argument("--over-streams", type=int, default=3000, help="(c) streams beyond capacity")
    ap.add_argument("--over-itl", type=float, default=0.01, help="(c) seconds between tokens")
    ap.add_argument("--sdk-python", default=None, help="a Python with the openai SDK installed, for (d)")
    ap.add_argument("--guidellm", default=None, help="a guidellm executable (own virtualenv), for (e)")
    ap.add_argument("--skip", default="", help="comma list of scenarios to skip: a,b,c,d")
    ap.add_argument("--json", default=None, help="write the raw results here")
    ap.add_argument("--no-gc-tune", action="store_true", help="keep Python's default garbage-collector thresholds")
    args = ap.parse_args(argv)
    skip = set(args.skip.split(","))

    client_cores, server_cores = pick_cores()
    if client_cores:
        os.sched_setaffinity(0, client_cores)
    loop_name = "asyncio"
    if not args.no_gc_tune:  # fewer full collections: a gen-2 pass over thousands of live streams stalls the loop
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
    runner: Any = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner, loop_name = uvloop.run, f"uvloop {uvloop.__version__}"

    table: list[tuple[str, ...]] = []
    raw: dict[str, Any] = {}
    ttft, itl, tokens = 0.2, 0.04, 64

    if "a" not in skip or "d" not in skip:
        proc, base_url = with_server(server_cores, ttft, itl, tokens)
        try:
            if "a" not in skip:
                rows, _ = runner(probe_rounds(base_url, args.streams, tokens, args.rounds, "a"))
                stamps = runner(fetch_stamps(base_url))
                e = join_truth(rows, stamps, tokens)
                raw["a"] = {k: [round(x, 6) for x in v] for k, v in e.items()}
                table.append((f"(a) tianping probe, {args.streams} streams, ttft 0.2 s, itl 0.04 s, 64 tok",
                              str(len(e["ttft"])), ms(pct(e["ttft"], 50)), ms(pct(e["wire"], 50)),
                              ms(pct(e["ttft_call"], 50)),
                              ms(pct(e["tpot"], 50)), ms(pct(e["first"], 50)), ms(pct(e["first"], 99)),
                              f"queue_s p50 {ms(pct(e['queue'], 50))}, max {ms(max(e['queue']))}"))  # fmt: skip
            if "d" not in skip and args.sdk_python:
                rows = run_sdk(args.sdk_python, base_url, args.streams, tokens, args.rounds, client_cores)
                stamps = runner(fetch_stamps(base_url))
                e = join_truth(rows, stamps, tokens)
                raw["d_openai"] = {k: [round(x, 6) for x in v] for k, v in e.items()}
                version = subprocess.run([args.sdk_python, "-c", "import openai; print(openai.__version__)"],
                                         capture_output=True, text=True).stdout.strip()  # fmt: skip
                table.append((f"(d) openai SDK {version} loop (AsyncOpenAI, stream=True), same workload",
                              str(len(e["ttft"])), ms(pct(e["ttft"], 50)), ms(pct(e["wire"], 50)),
                              ms(pct(e["ttft_call"], 50)), ms(pct(e["tpot"], 50)), ms(pct(e["first"], 50)),
                              ms(pct(e["first"], 99)),
                              f"sent = httpx request hook; queue p50 {ms(pct(e['queue'], 50))}"))  # fmt: skip
            if "e" not in skip and args.guidellm:
                table.extend(guidellm_rows(args.guidellm, base_url, args.streams, tokens, args.rounds, client_cores,
                                           raw, runner))  # fmt: skip
        finally:
            stop(proc)

    points = [("b", int(n), 0.04, "(b) capacity") for n in args.capacity_streams.split(",")]
    for key, n, step, label in [*points, ("c", args.over_streams, args.over_itl, "(c) beyond capacity")]:
        if key in skip:
            continue
        proc, base_url = with_server(server_cores, ttft, step, args.capacity_tokens)
        try:
            t_start = time.perf_counter()
            work = probe_rounds(base_url, n, args.capacity_tokens, 1, key, ramp_s=args.ramp, check=True)
            rows, check = runner(work)
            wall = time.perf_counter() - t_start
            stamps = runner(fetch_stamps(base_url))
        finally:
            stop(proc)
        e = join_truth(rows, stamps, args.capacity_tokens)
        stamp_err = e["first"] + e["last"]
        ok = sum(r["ok"] for r in rows)
        raw[f"{key}{n}"] = {"check": check.to_dict() if check else None, "ok": ok, "n": n, "wall_s": wall,
                    "p50": pct(stamp_err, 50), "p99": pct(stamp_err, 99)}  # fmt: skip
        verdict = "n/a" if check is None else ("valid" if check.valid else f"INVALID: {check.reason}")
        cpu = "n/a" if check is None else f"CPU {check.cpu_pct:.0f}%, lag p99 {check.loop_lag_p99_ms:.1f} ms"
        table.append((f"{label}: {n} streams at {1 / step:g} tok/s, {args.capacity_tokens} tok, ramp {args.ramp:g} s",
                      f"{ok}/{n}", ms(pct(e["ttft"], 50)), ms(pct(e["wire"], 50)), ms(pct(e["ttft_call"], 50)),
                      ms(pct(e["tpot"], 50)),
                      ms(pct(stamp_err, 50)), ms(pct(stamp_err, 99)), f"{verdict} ({cpu})"))  # fmt: skip

    header = ("run", "streams", "TTFT err p50 ms (vs server arrival to first send)",
              "TTFT err p50 ms (vs request sent to first send)", "TTFT-from-call err p50 ms", "TPOT err p50 ms",
              "token stamp err p50 ms", "token stamp err p99 ms", "notes / self-check")  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in table:
        print("| " + " | ".join(row) + " |")
    cores = os.cpu_count()
    print(
        f"\nMachine: {platform.machine()}, {cores} cores, Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}, client loop {loop_name}, client cores {sorted(client_cores or [])}, "
        f"server cores {sorted(server_cores or [])} (server: standard asyncio loop), Linux {platform.release()}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(raw))


if __name__ == "__main__":
    main()
