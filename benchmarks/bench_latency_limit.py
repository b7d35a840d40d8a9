"""API evaluation at the latency limit (issue 23): tianping against a minimal aiohttp client ("direct").

One command measures, against the local fake server (``tests/fake_openai.py``, fixed latency per request):

- the wall-time ratio tianping / direct at each CONCURRENCY:N point (whole processes, start-up included);
- when tianping's first request reached the server, on the server's clock, after the process started;
- the CPU time (user + sys, from ``wait4`` of the child, so robust to a loaded machine) of each tool, per
  1,000 requests both whole-run and marginal (the difference between two sizes at one concurrency, which
  leaves out the fixed start-up cost);
- the bytes each tianping run wrote to disk (``/proc/<pid>/io`` ``write_bytes``, read while the process is a
  zombie so nothing is missed) against the size of its results folder at the end; ``--mmlu-io`` does the same
  for a full MMLU run (14,042 samples, C=256).

Runs alternate direct / tianping (/ ``--before-src`` tianping, for a before-and-after in one session) within
each repeat; the tables give medians and the 1-minute load average beside each point. Peers (lm-eval,
inspect-ai) are timed once per point with ``--peers-venv`` (see ``benchmarks/peers.py``).

    python benchmarks/bench_latency_limit.py --latency 0.3 \\
        --points 1:200,8:200,8:1319,32:200,32:1319,128:200,128:1319,256:200,256:1319 --repeats 3

``direct`` sends exactly the request bodies tianping sends (built by tianping's own benchmark code, outside the
timed region), so both do the same work on the wire.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_api_overhead import (  # noqa: E402  (a sibling script, found through the path set just above)
    REPO,
    data_dir,
    gsm8k_bodies,
    reset_stats,
    server_stats,
    start_server,
    tianping_cmd,
)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def measured(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run ``cmd`` to its end: wall seconds, CPU seconds (user + sys), bytes written, monotonic start time."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, **(env or {})})
        # Wait without reaping: /proc/<pid>/io of the zombie still holds the final counters.
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        wall = time.monotonic() - started
        io = {}
        try:
            for line in Path(f"/proc/{proc.pid}/io").read_text().splitlines():
                key, _, value = line.partition(":")
                io[key] = int(value)
        except OSError:  # not Linux, or /proc hidden: the other figures still stand
            pass
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read()[-2000:].decode("utf-8", "replace")
            raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "write_bytes": io.get("write_bytes", 0),
        "wchar": io.get("wchar", 0),
        "started": started,
        "load1": load,
        "max_rss_mb": usage.ru_maxrss / 1024,
    }


def compile_bytecode(env: dict[str, str] | None) -> None:
    """Write the ``.pyc`` files of the tianping that ``env`` imports, as an installed package has them.

    Where ``PYTHONDONTWRITEBYTECODE`` is set (as on the machine of the first measurements) a source checkout
    compiles its ~100 modules on every start: about 0.2 s of CPU that no installed copy pays."""
    locate = "import importlib.util, os; print(os.path.dirname(importlib.util.find_spec('tianping').origin))"
    full_env = {**os.environ, **(env or {})}
    where = subprocess.run([sys.executable, "-c", locate], capture_output=True, text=True, env=full_env, check=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", where.stdout.strip()], env=full_env, check=True)


def direct_cmd(base_url: str, bodies: Path, n: int, c: int) -> list[str]:
    return [
        sys.executable,
        str(HERE / "raw_client.py"),
        *("--base-url", base_url, "--requests", str(bodies), "--n", str(n), "--concurrency", str(c)),
    ]


def run_checked(base_url: str, cmd: list[str], n: int, env: dict[str, str] | None = None) -> dict[str, float]:
    reset_stats(base_url)
    result = measured(cmd, env)
    stats = server_stats(base_url)
    if stats["requests_total"] != n:
        raise SystemExit(f"{cmd[1]} sent {stats['requests_total']} requests, expected {n}")
    result["first_request_s"] = stats["first_arrival"] - result["started"]
    result["last_request_s"] = stats["last_arrival"] - result["started"]
    return result


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def tools_for(args: argparse.Namespace) -> dict[str, dict[str, str] | None]:
    """Tool name -> extra environment (None: direct)."""
    tools: dict[str, dict[str, str] | None] = {"direct": None, "tianping": {}}
    if args.before_src:
        tools["before"] = {"PYTHONPATH": str(Path(args.before_src).resolve())}
    if args.warm_runtime:
        tools["warm"] = {"TIANPING_WARM": "1", "XDG_RUNTIME_DIR": args.warm_runtime, "TIANPING_WARM_IDLE": "900"}
    return tools


def start_warm(args: argparse.Namespace, base_url: str, work: Path) -> None:
    """Start the warm process (``--warm``) with one command, and wait until it listens: what is measured is
    every later command, each handed to it."""
    env = tools_for(args)["warm"]
    run_checked(base_url, tianping_cmd(base_url, "gsm8k", 1, work / "warm-start", 1), 1, env)
    deadline = time.monotonic() + 60
    while not list(Path(args.warm_runtime).glob("tianping-warm-*/*.sock")):
        if time.monotonic() > deadline:
            raise SystemExit("the warm process did not start (see the .log beside its socket)")
        time.sleep(0.1)


def stop_warm(args: argparse.Namespace) -> None:
    for sock in Path(args.warm_runtime).glob("tianping-warm-*/*.sock"):
        sock.unlink()  # the warm process stops within 2 s of its socket's removal
    shutil.rmtree(args.warm_runtime, ignore_errors=True)


def measure_point(
    args: argparse.Namespace, base_url: str, bodies: Path, work: Path, c: int, n: int
) -> dict[str, object]:
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in tools_for(args)}
    for _ in range(args.repeats):
        for name, env in tools_for(args).items():
            if env is None:
                runs[name].append(run_checked(base_url, direct_cmd(base_url, bodies, n, c), n))
                continue
            results = work / f"{name}-{n}-{c}-{time.monotonic_ns()}"
            one = run_checked(base_url, tianping_cmd(base_url, "gsm8k", c, results, n), n, env)
            one["results_bytes"] = folder_bytes(results)
            runs[name].append(one)
    row: dict[str, object] = {"n": n, "concurrency": c, "floor_s": math.ceil(n / c) * args.latency}
    for name, found in runs.items():
        for key in ("wall_s", "cpu_s", "first_request_s", "load1", "write_bytes", "results_bytes"):
            if key in found[0]:
                row[f"{name}_{key}"] = median(found, key)
        row[f"{name}_runs"] = found
    for name in runs:
        if name != "direct":
            row[f"{name}_over_direct"] = row[f"{name}_wall_s"] / row["direct_wall_s"]  # type: ignore[operator]
    return row


def marginal_cpu(rows: list[dict[str, object]], tool: str) -> dict[int, float]:
    """CPU seconds per 1,000 requests beyond start-up: between the smallest and largest N at one concurrency."""
    out: dict[int, float] = {}
    for c in sorted({int(r["concurrency"]) for r in rows}):  # type: ignore[arg-type]
        at = sorted((r for r in rows if r["concurrency"] == c), key=lambda r: r["n"])  # type: ignore[arg-type,return-value]
        if len(at) >= 2 and at[-1]["n"] != at[0]["n"]:
            extra = at[-1][f"{tool}_cpu_s"] - at[0][f"{tool}_cpu_s"]  # type: ignore[operator]
            out[c] = extra / (at[-1]["n"] - at[0]["n"]) * 1000  # type: ignore[operator]
    return out


def startup(args: argparse.Namespace, base_url: str, bodies: Path, work: Path) -> dict[str, dict[str, float]]:
    """One request per process, ``--startup-runs`` times per tool, alternated: the start-up alone, as medians of
    the first request's arrival after the process started and of the whole process's CPU time."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in tools_for(args)}
    for _ in range(args.startup_runs):
        for name, env in tools_for(args).items():
            if env is None:
                runs[name].append(run_checked(base_url, direct_cmd(base_url, bodies, 1, 1), 1))
            else:
                results = work / f"start-{name}-{time.monotonic_ns()}"
                runs[name].append(run_checked(base_url, tianping_cmd(base_url, "gsm8k", 1, results, 1), 1, env))
    return {
        name: {key: median(found, key) for key in ("first_request_s", "cpu_s", "wall_s", "load1")}
        for name, found in runs.items()
    }


def mmlu_io(base_url: str, work: Path, env: dict[str, str] | None = None) -> dict[str, float]:
    results = work / f"mmlu-{time.monotonic_ns()}"
    one = measured(tianping_cmd(base_url, "mmlu", 256, results), env)
    one["results_bytes"] = folder_bytes(results)
    return one


def print_tables(args: argparse.Namespace, rows: list[dict[str, object]], mmlu: dict[str, dict[str, float]]) -> None:
    tools = [t for t in tools_for(args) if t != "direct"]
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; fake server "
        f"latency {args.latency * 1000:.0f} ms; medians of {args.repeats}; load = 1-minute load average (median)\n"
    )
    head = ["N", "C", "floor s", "load", "direct s"]
    for t in tools:
        head += [f"{t} s", f"{t}/direct", f"{t} first request s"]
    head += ["direct CPU s"] + [f"{t} CPU s" for t in tools]
    head += ["direct CPU ms/req"] + [f"{t} CPU ms/req" for t in tools]
    head += [f"{t} written MB / results MB" for t in tools]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        n = int(r["n"])  # type: ignore[arg-type]
        cells = [n, r["concurrency"], f"{r['floor_s']:.2f}", f"{r['tianping_load1']:.1f}", f"{r['direct_wall_s']:.2f}"]
        for t in tools:
            cells += [f"{r[f'{t}_wall_s']:.2f}", f"{r[f'{t}_over_direct']:.3f}", f"{r[f'{t}_first_request_s']:.2f}"]
        # the warm command runs in a child of the warm process: its CPU and writes are not the caller's
        cells += [f"{r[f'{t}_cpu_s']:.2f}" if t != "warm" else "n/a" for t in ("direct", *tools)]
        cells += [f"{r[f'{t}_cpu_s'] / n * 1000:.2f}" if t != "warm" else "n/a" for t in ("direct", *tools)]  # type: ignore[operator]
        cells += [
            f"{r[f'{t}_write_bytes'] / 1e6:.2f} / {r[f'{t}_results_bytes'] / 1e6:.2f}" if t != "warm" else "n/a"  # type: ignore[operator]
            for t in tools
        ]
        print("| " + " | ".join(str(x) for x in cells) + " |")
    direct = marginal_cpu(rows, "direct")
    for t in (t for t in tools if t != "warm"):
        ours = marginal_cpu(rows, t)
        for c in sorted(ours):
            print(
                f"marginal CPU per 1,000 requests at C={c}: direct {direct[c]:.2f} s, {t} {ours[c]:.2f} s "
                f"({ours[c] / direct[c]:.2f}x)"
            )
    for t in tools:
        firsts = [run["first_request_s"] for r in rows for run in r[f"{t}_runs"]]  # type: ignore[attr-defined]
        if firsts:
            print(f"{t} first request: median {statistics.median(firsts):.3f} s over {len(firsts)} runs")
    for name, one in mmlu.items():
        print(
            f"full MMLU ({name}, C=256): wall {one['wall_s']:.1f} s (load {one['load1']:.1f}), "
            f"CPU {one['cpu_s']:.1f} s, "
            f"written {one['write_bytes'] / 1e6:.1f} MB (wchar {one['wchar'] / 1e6:.1f} MB), results folder "
            f"{one['results_bytes'] / 1e6:.1f} MB, ratio {one['write_bytes'] / max(one['results_bytes'], 1):.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds the fake server waits per request")
    parser.add_argument(
        "--points", default="1:200,8:200,8:1319,32:200,32:1319,128:200,128:1319,256:200,256:1319", help="C:N,..."
    )
    parser.add_argument("--repeats", type=int, default=3, help="medians of K runs per tool")
    parser.add_argument("--before-src", default=None, help="a src/ folder of another tianping version to compare")
    parser.add_argument("--peers-venv", type=Path, default=None, help="virtualenv with lm-eval and inspect-ai")
    parser.add_argument("--mmlu-io", action="store_true", help="also a full MMLU run: bytes written vs stored")
    parser.add_argument("--startup-runs", type=int, default=0, help="K one-request runs per tool: start-up alone")
    parser.add_argument("--no-compile", action="store_true", help="do not write .pyc files before measuring")
    parser.add_argument(
        "--warm", action="store_true", help="also tianping with TIANPING_WARM=1 (its CPU is not the caller's: n/a)"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    args.warm_runtime = tempfile.mkdtemp(prefix="tpw-") if args.warm else None

    points = [tuple(int(v) for v in p.split(":")) for p in args.points.split(",")]
    if not args.no_compile:
        for env in tools_for(args).values():
            if env is not None:
                compile_bytecode(env)
    server, base_url = start_server(args.latency)
    rows: list[dict[str, object]] = []
    mmlu: dict[str, dict[str, float]] = {}
    starts: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="tp-latency-", dir=os.environ.get("BENCH_TMP")) as tmp:
            work = Path(tmp)
            bodies = work / "bodies.json"
            bodies.write_text(json.dumps(gsm8k_bodies(max(n for _, n in points), "fake")), encoding="utf-8")
            peers = None
            if args.peers_venv:
                from peers import Peers

                peers = Peers(args.peers_venv, base_url, data_dir(), work)
            if args.warm:
                start_warm(args, base_url, work)
            starts = startup(args, base_url, bodies, work) if args.startup_runs else {}
            for c, n in points:
                row = measure_point(args, base_url, bodies, work, c, n)
                if peers is not None:
                    for name, wall in peers.time_all(n, c).items():
                        row[f"{name}_wall_s"] = wall
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if not k.endswith("_runs")}), flush=True)
            if args.mmlu_io:
                for name, env in tools_for(args).items():
                    if env is not None and name != "warm":  # the warm command's writes are not the caller's
                        mmlu[name] = mmlu_io(base_url, work, env)
    finally:
        if args.warm:
            stop_warm(args)
        server.terminate()
        server.wait()
    print_tables(args, rows, mmlu)
    for name, one in starts.items():
        print(
            f"start-up ({name}, one request, median of {args.startup_runs}): "
            f"first request {one['first_request_s']:.3f} s after process start, CPU {one['cpu_s']:.3f} s, "
            f"wall {one['wall_s']:.3f} s, load {one['load1']:.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "mmlu": mmlu, "startup": starts}, indent=2))


if __name__ == "__main__":
    os.chdir(REPO)
    main()
