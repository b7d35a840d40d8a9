"""API-evaluation overhead: tianping's wall time against a minimal raw aiohttp client.

Against a local fake endpoint with a fixed latency per request, N GSM8K requests at concurrency C
cannot finish faster than ceil(N/C) * latency. For each size and concurrency this script times, as
whole processes (start-up included):

- ``raw``: ``benchmarks/raw_client.py`` sending the same request bodies tianping sends;
- ``tianping``: ``tianping run --benchmark gsm8k --limit N --concurrency C --no-cache``;
- optionally peers from a separate virtualenv (``--peers-venv``, see ``benchmarks/peers.py``).

It also reads, from the server's own clock, how long after its start ``tianping run`` sent its first
request, and (``--mmlu-rss``) the peak RSS of a full MMLU run. Results are printed as a Markdown
table for docs/benchmarks.md and written as JSON.

    python benchmarks/bench_api_overhead.py --latency 0.5 --points 1:20,8:200,32:200,32:1319,128:1319,256:200,256:1319 \
        --repeats 2 --peers-venv /work/peers-venv --mmlu-rss
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def data_dir() -> Path:
    return Path(os.environ.get("TIANPING_DATA_DIR") or REPO.parent / "shared" / "datasets").resolve()


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "fake_openai.py"), "--port", "0", "--latency", str(latency), "--oracle"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TIANPING_DATA_DIR": str(data_dir())},
    )
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http://127.0.0.1"):
        proc.kill()
        raise SystemExit(f"fake server did not start: {base_url!r}")
    return proc, base_url


def server_stats(base_url: str) -> dict:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/fake/stats", timeout=10) as resp:
        return json.load(resp)


def reset_stats(base_url: str) -> None:
    request = urllib.request.Request(base_url.removesuffix("/v1") + "/fake/reset", method="POST", data=b"")
    urllib.request.urlopen(request, timeout=10).close()


def gsm8k_bodies(n: int, model: str) -> list[dict]:
    """The exact request bodies ``tianping run --benchmark gsm8k`` sends (built by tianping itself)."""
    from tianping.benchmarks.registry import build

    (bench,) = build("gsm8k", data_dir())
    bench.load(n)
    return [
        {**bench.build_request(s, f"openai/{model}", bench.generation).payload(), "model": model} for s in bench.samples
    ]


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall seconds of a whole process and the monotonic time it was started."""
    started = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"command failed ({result.returncode}): {' '.join(cmd)}\n{result.stderr[-2000:]}")
    return wall, started


def tianping_cmd(base_url: str, benchmark: str, concurrency: int, results: Path, limit: int | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "tianping", "run", "--model", "openai/fake", "--base-url", base_url]
    cmd += ["--benchmark", benchmark, "--concurrency", str(concurrency), "--no-cache"]
    cmd += ["--data-dir", str(data_dir()), "--results-dir", str(results)]
    return cmd + (["--limit", str(limit)] if limit else [])


def run_tianping(base_url: str, n: int, c: int, workdir: Path) -> tuple[float, float]:
    reset_stats(base_url)
    wall, started = timed(tianping_cmd(base_url, "gsm8k", c, workdir / f"tp-{n}-{c}-{time.monotonic_ns()}", n))
    stats = server_stats(base_url)
    if stats["requests_total"] != n:
        raise SystemExit(f"tianping sent {stats['requests_total']} requests, expected {n}")
    first_request_s = stats["first_arrival"] - started
    return wall, first_request_s


def mmlu_peak_rss(base_url: str, workdir: Path) -> tuple[float, float]:
    """Peak RSS (MB) and wall time of a full MMLU run (14,042 samples).

    A fresh Python parent runs tianping as its only child, so RUSAGE_CHILDREN is tianping's own peak.
    """
    cmd = tianping_cmd(base_url, "mmlu", 256, workdir / "mmlu")
    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", probe, *cmd], check=True, capture_output=True, text=True)
    wall = time.monotonic() - started
    return int(out.stdout.strip()) / 1024, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument(
        "--points", default="1:20,8:200,32:200,32:1319,128:1319,256:200,256:1319", help="CONCURRENCY:N,..."
    )
    parser.add_argument("--repeats", type=int, default=1, help="best of K for each tool")
    parser.add_argument("--peers-venv", type=Path, default=None, help="virtualenv with lm-eval and inspect-ai")
    parser.add_argument("--mmlu-rss", action="store_true", help="also measure a full MMLU run's peak RSS")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    points = [tuple(int(v) for v in p.split(":")) for p in args.points.split(",")]
    server, base_url = start_server(args.latency)
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="tp-bench-") as tmp:
            work = Path(tmp)
            bodies_file = work / "bodies.json"
            bodies_file.write_text(json.dumps(gsm8k_bodies(max(n for _, n in points), "fake")), encoding="utf-8")
            peers = None
            if args.peers_venv:
                from peers import Peers

                peers = Peers(args.peers_venv, base_url, data_dir(), work)
            for c, n in points:
                ideal = math.ceil(n / c) * args.latency
                raw_cmd = [
                    sys.executable,
                    str(REPO / "benchmarks" / "raw_client.py"),
                    "--base-url",
                    base_url,
                    "--requests",
                    str(bodies_file),
                    "--n",
                    str(n),
                    "--concurrency",
                    str(c),
                ]
                raw = min(timed(raw_cmd)[0] for _ in range(args.repeats))
                tp, first = min(run_tianping(base_url, n, c, work) for _ in range(args.repeats))
                row = {
                    "n": n,
                    "concurrency": c,
                    "ideal_s": ideal,
                    "raw_s": raw,
                    "tianping_s": tp,
                    "tianping_over_raw": tp / raw,
                    "first_request_s": first,
                }
                if peers is not None:
                    for name, wall in peers.time_all(n, c).items():
                        row[f"{name}_s"] = wall
                rows.append(row)
                print(json.dumps(row), flush=True)
            rss = mmlu_peak_rss(base_url, work) if args.mmlu_rss else None
    finally:
        server.terminate()
        server.wait()

    peer_names = sorted(
        {k[:-2] for r in rows for k in r if k.endswith("_s")} - {"ideal", "raw", "tianping", "first_request"}
    )
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"fake server latency {args.latency * 1000:.0f} ms per request\n"
    )
    head = ["N", "C", "floor s", "raw s", "tianping s", "tianping/raw", "first request s"]
    head += [f"{p} s" for p in peer_names] + [f"{p}/tianping" for p in peer_names]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = [
            r["n"],
            r["concurrency"],
            f"{r['ideal_s']:.2f}",
            f"{r['raw_s']:.2f}",
            f"{r['tianping_s']:.2f}",
            f"{r['tianping_over_raw']:.3f}",
            f"{r['first_request_s']:.2f}",
        ]
        cells += [f"{r[p + '_s']:.2f}" if p + "_s" in r else "" for p in peer_names]
        cells += [f"{r[p + '_s'] / r['tianping_s']:.2f}" if p + "_s" in r else "" for p in peer_names]
        print("| " + " | ".join(str(x) for x in cells) + " |")
    if rss:
        print(
            f"\nfull MMLU (14,042 samples, C=256, latency {args.latency * 1000:.0f} ms): "
            f"peak RSS {rss[0]:.0f} MB, wall {rss[1]:.1f} s"
        )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "mmlu_peak_rss_mb": rss[0] if rss else None}, indent=2))


if __name__ == "__main__":
    main()
