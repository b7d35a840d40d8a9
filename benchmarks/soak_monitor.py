"""Soak test of ``tianping monitor``: resident memory must stay flat over a long run (loopback only).

Starts the fake stream server (``tests/fake_stream_server.py``) in a child process, then runs the
monitor in this process at a short interval against several fake endpoints -- healthy ones and
failing ones (HTML page with status 200, connection reset mid-stream, malformed SSE, non-JSON
chunks, HTTP 500, a stream that never sends a token, a port where nothing listens) -- scraping
its ``/metrics`` now and then, and samples this process's RSS every ``--sample-s`` seconds.

Prints a table of the samples and a verdict: after a warm-up (15% of the run, at most 2 minutes),
the median RSS of the last third of the samples must be within ``--tolerance`` (default 5%) of the
median of the first third. Exit status 0 when flat, 1 when not.

    python benchmarks/soak_monitor.py                 # 30 minutes
    python benchmarks/soak_monitor.py --minutes 3 --sample-s 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tianping.serving.monitor import Monitor, parse_config
from tianping.serving.monitor_store import MonitorStore

REPO = Path(__file__).resolve().parent.parent
FAKE_SERVER = REPO / "tests" / "fake_stream_server.py"
MODES = {
    "healthy-a": None,
    "healthy-b": None,
    "healthy-c": None,
    "html-200": "html_200",
    "reset": "reset_mid_stream",
    "malformed-sse": "malformed_sse",
    "non-json": "non_json_chunk",
    "http-500": "500",
    "never-answers": "ttft_timeout",
}


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; psutil elsewhere if installed)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import psutil  # type: ignore[import-not-found]

    return int(psutil.Process().memory_info().rss)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_fake_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(FAKE_SERVER), "--port", "0", "--ttft", "0.03", "--itl", "0.004", "--tokens", "32"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("http"):
        proc.kill()
        raise SystemExit(f"the fake stream server did not start (first line: {line!r})")
    return proc, line


async def soak(
    args: argparse.Namespace, base_url: str, store_path: Path
) -> tuple[list[tuple[float, int, int]], object]:
    endpoints = [
        {
            "name": name,
            "provider": f"prov-{i % 3}",
            "model": "fake-model",
            "base_url": base_url,
            "interval_s": args.interval,
            "prompts_per_probe": 2,
            "max_tokens": 32,
            "timeouts": {"ttft_s": 0.5, "idle_s": 0.5, "total_s": 5},
            "extra_body": {"fake_mode": mode} if mode else None,
        }
        for i, (name, mode) in enumerate(MODES.items())
    ]
    endpoints.append(
        {"name": "dead-port", "model": "fake-model", "base_url": f"http://127.0.0.1:{free_port()}/v1",
         "interval_s": args.interval}
    )  # fmt: skip
    port = free_port()
    config = parse_config({"endpoints": endpoints, "store": str(store_path), "metrics_port": port, "concurrency": 8})
    monitor = Monitor(config, seed=0)
    duration = args.minutes * 60.0
    samples: list[tuple[float, int, int]] = []
    run = asyncio.create_task(monitor.run(duration_s=duration))
    t0 = time.monotonic()

    import aiohttp

    async with aiohttp.ClientSession() as session:
        next_sample = t0
        while not run.done():
            now = time.monotonic()
            if now >= next_sample:
                with MonitorStore(store_path) as store:
                    n = store.count()
                samples.append((now - t0, rss_bytes(), n))
                next_sample += args.sample_s
                try:  # a scrape now and then, as Prometheus would
                    async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                        await resp.read()
                except aiohttp.ClientError:
                    pass
            await asyncio.wait({run}, timeout=max(0.05, min(1.0, next_sample - time.monotonic())))
    summary = run.result()
    return samples, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to run [30]")
    parser.add_argument("--interval", type=float, default=0.25, help="probe interval per endpoint, seconds [0.25]")
    parser.add_argument("--sample-s", type=float, default=10.0, help="seconds between RSS samples [10]")
    parser.add_argument("--tolerance", type=float, default=0.05, help="allowed relative RSS growth [0.05]")
    args = parser.parse_args(argv)

    proc, base_url = start_fake_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store_path = Path(tmp) / "soak.sqlite"
            try:
                import uvloop

                samples, summary = uvloop.run(soak(args, base_url, store_path))
            except ImportError:
                samples, summary = asyncio.run(soak(args, base_url, store_path))
            db_mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    print(f"{'t (s)':>8} {'RSS (MiB)':>10} {'records':>9}")
    for t, rss, n in samples:
        print(f"{t:8.0f} {rss / 2**20:10.1f} {n:9d}")
    print(f"\n{summary}")
    print(f"store size at the end: {db_mb:.1f} MiB")
    warmup = min(120.0, 0.15 * args.minutes * 60.0)
    steady = [rss for t, rss, _ in samples if t >= warmup]
    if len(steady) < 6:
        print("verdict: too few samples after warm-up to judge (run longer or sample more often)")
        return 1
    third = len(steady) // 3
    first, last = statistics.median(steady[:third]), statistics.median(steady[-third:])
    growth = (last - first) / first
    flat = growth <= args.tolerance
    print(
        f"warm-up {warmup:.0f}s; median RSS first third {first / 2**20:.1f} MiB, last third {last / 2**20:.1f} MiB "
        f"({100 * growth:+.1f}%, tolerance {100 * args.tolerance:.0f}%); peak {max(steady) / 2**20:.1f} MiB"
    )
    print(f"verdict: {'FLAT' if flat else 'GROWING'}")
    return 0 if flat else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
