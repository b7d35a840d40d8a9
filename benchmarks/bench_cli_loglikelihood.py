"""5-shot MMLU by log-likelihood through the CLI: ``tianping run`` against lm-eval's ``hf`` backend, same model.

Unlike ``bench_loglikelihood.py`` (which drives ``HFLocalBackend`` directly with questions grouped by
subject), this runs the command a user types, as a subprocess with default settings:

    tianping run --model hf/<dir> --mode loglikelihood --benchmark mmlu_5shot --limit 500

``--limit 500`` picks 500 questions round-robin over the 57 subjects (8 or 9 per subject), in that
interleaved order. lm-eval's ``--limit`` is per task and cannot pick the same 500, so its side is given the
same questions: the parent builds tianping's requests for that run (``load_benchmarks`` +
``build_request``; the parity tests hold them equal to lm-eval's MMLU contexts) and the lm-eval child feeds
exactly those (context, continuation) pairs to ``lm_eval.models.huggingface.HFLM.loglikelihood``, in the
same interleaved order (lm-eval re-sorts them by length itself).

Each side is one subprocess; the parent times the whole process (imports, model loading, scoring,
writing results) and reads that child's own peak RSS from ``os.wait4``. questions/s = questions / process
wall time. The lm-eval child also reports its scoring time alone. After both ran, the parent compares the
log-likelihoods tianping stored with lm-eval's, pair by pair.

    python benchmarks/bench_cli_loglikelihood.py                       # 7M and 17M models, --limit 500
    python benchmarks/bench_cli_loglikelihood.py --models 17m --full   # all 14,042 questions, tianping only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
DATA = Path(os.environ.get("TIANPING_DATA_DIR") or REPO.parent / "shared" / "datasets")

MODELS = {  # name -> (hidden, layers, intermediate, heads)
    "7m": (256, 4, 640, 4),
    "17m": (384, 6, 1024, 6),
}


def build_model(work_dir: Path, name: str, window: int) -> tuple[Path, int]:
    from bench_loglikelihood import _build_random_llama

    hidden, layers, inter, heads = MODELS[name]
    path = work_dir / f"random-llama-{name}-{window}"
    if not (path / "model.safetensors").is_file():
        _build_random_llama(path, window, hidden=hidden, layers=layers, intermediate=inter, heads=heads)
    return path, json.loads((path / "bench_meta.json").read_text())["parameters"]


def tianping_requests(model_dir: Path, limit: int | None) -> list[dict]:
    """The requests ``tianping run`` sends for this model, in the engine's order."""
    from tianping.engine.runner import load_benchmarks
    from tianping.spec import ModelSpec, RunSpec

    spec = RunSpec(
        models=[ModelSpec(id=f"hf/{model_dir}")],
        benchmarks=["mmlu_5shot"],
        limit=limit,
        mode="loglikelihood",
        data_dir=str(DATA),
    )
    (bench,) = load_benchmarks(spec)
    model = spec.models[0]
    out = []
    for sample in bench.samples:
        request = bench.build_request(sample, model.id, spec.params_for(model, bench.generation))
        out.append({"key": request.key, "context": request.prompt, "continuations": list(request.continuations or ())})
    return out


# ---- the sides ---------------------------------------------------------------------------------------


def spawn(cmd: list[str], log_path: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``cmd``; (wall seconds, peak RSS MiB of that process)."""
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[:4]} failed (exit {os.waitstatus_to_exitcode(status)}); see {log_path}")
    return wall, usage.ru_maxrss / 1024


def run_tianping(model_dir: Path, limit: int | None, work: Path, tag: str, src: Path) -> dict:
    results = work / f"results-{tag}"
    if results.exists():
        import shutil

        shutil.rmtree(results)
    summary = work / f"tianping-{tag}.json"
    cmd = [sys.executable, "-m", "tianping", "run", "--model", f"hf/{model_dir}", "--mode", "loglikelihood"]
    cmd += ["--benchmark", "mmlu_5shot", "--results-dir", str(results), "--json", str(summary)]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    env = {**os.environ, "TIANPING_DATA_DIR": str(DATA), "PYTHONPATH": str(src)}
    wall, rss = spawn(cmd, work / f"tianping-{tag}.log", env)
    return {"wall_s": wall, "peak_rss_mib": rss, "command": " ".join(["tianping", *cmd[3:]]), "results": str(results)}


def stored_logprobs(results: Path, keys: list[str]) -> list[list]:
    from tianping.store.store import DB_FILENAME

    db = sqlite3.connect(results / DB_FILENAME)
    found = dict(db.execute("SELECT request_key, response_json FROM responses").fetchall())
    out = []
    for key in keys:
        response = json.loads(found[key])
        out.extend([ll["logprob"], ll["greedy"]] for ll in response["loglikelihoods"])
    return out


def run_lm_eval(model_dir: Path, qfile: Path, work: Path, tag: str, batch_size: int) -> dict:
    out = work / f"lm_eval-{tag}.json"
    cmd = [sys.executable, __file__, "--child", str(model_dir), "--questions", str(qfile), "--out", str(out)]
    cmd += ["--lm-eval-batch-size", str(batch_size)]
    wall, rss = spawn(cmd, work / f"lm_eval-{tag}.log")
    return {**json.loads(out.read_text()), "wall_s": wall, "peak_rss_mib": rss}


def child_lm_eval(model_dir: str, qfile: str, out: str, batch_size: int) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    questions = json.loads(Path(qfile).read_text())
    lm = HFLM(pretrained=model_dir, device="cpu", batch_size=batch_size, dtype="float32")
    instances = []
    for q in questions:
        for cont in q["continuations"]:
            instances.append(Instance("loglikelihood", {}, (q["context"], cont), len(instances)))
    t0 = time.perf_counter()
    scores = lm.loglikelihood(instances, disable_tqdm=True)
    seconds = time.perf_counter() - t0
    Path(out).write_text(json.dumps({"scores": [[lp, g] for lp, g in scores], "scoring_s": seconds}))


# ---- the parent ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="7m,17m", help="comma-separated: 7m, 17m")
    parser.add_argument("--limit", type=int, default=500, help="0: no limited run (with --full)")
    parser.add_argument("--full", action="store_true", help="also a full MMLU run (no --limit), tianping only")
    parser.add_argument("--full-lm-eval", action="store_true", help="with --full: run lm-eval on the full set too")
    parser.add_argument("--lm-eval-batch-size", type=int, default=16)
    parser.add_argument("--window", type=int, default=4096)
    parser.add_argument("--tianping-first", action="store_true")
    parser.add_argument("--src", type=Path, default=REPO / "src", help="tianping sources the CLI runs from")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/tianping-bench-cli"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--questions", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_lm_eval(args.child, args.questions, args.out, args.lm_eval_batch_size)
        return
    work: Path = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.models.split(","):
        model_dir, params = build_model(work, name, args.window)
        runs: list[tuple[int | None, bool]] = [(args.limit, True)] if args.limit else []
        if args.full:
            runs.append((None, args.full_lm_eval))
        for limit, with_lm_eval in runs:
            tag = f"{name}-{limit or 'full'}"
            questions = tianping_requests(model_dir, limit)
            qfile = work / f"questions-{tag}.json"
            qfile.write_text(json.dumps(questions))
            sides: dict[str, dict] = {}
            order = ["tianping", "lm_eval"] if args.tianping_first else ["lm_eval", "tianping"]
            for side in order:
                if side == "tianping":
                    sides[side] = run_tianping(model_dir, limit, work, tag, args.src)
                elif with_lm_eval:
                    sides[side] = run_lm_eval(model_dir, qfile, work, tag, args.lm_eval_batch_size)
            n = len(questions)
            row: dict = {"model": f"{name} ({params / 1e6:.1f}M)", "limit": limit, "questions": n}
            for side, r in sides.items():
                row[side] = {
                    "questions_per_s": n / r["wall_s"],
                    "wall_s": r["wall_s"],
                    "peak_rss_mib": r["peak_rss_mib"],
                    **({"scoring_s": r["scoring_s"]} if "scoring_s" in r else {}),
                }
            row["tianping_command"] = sides["tianping"]["command"]
            run_summary = json.loads((work / f"tianping-{tag}.json").read_text())
            row["tianping"]["run_wall_s"] = run_summary["wall_s"]  # the run itself: model loading and scoring
            if "lm_eval" in sides:
                ours = stored_logprobs(Path(sides["tianping"]["results"]), [q["key"] for q in questions])
                ref = sides["lm_eval"]["scores"]
                row["speed_ratio"] = row["tianping"]["questions_per_s"] / row["lm_eval"]["questions_per_s"]
                row["rss_ratio"] = row["tianping"]["peak_rss_mib"] / row["lm_eval"]["peak_rss_mib"]
                row["max_abs_logprob_diff"] = max(abs(a[0] - b[0]) for a, b in zip(ref, ours, strict=True))
                row["greedy_equal"] = all(a[1] == b[1] for a, b in zip(ref, ours, strict=True))
            print(json.dumps(row), flush=True)
            rows.append(row)
    import torch

    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, torch {torch.__version__}, "
        f"load avg {os.getloadavg()[0]:.2f} at the end"
    )
    print("\nmachine:", machine)
    print("\n| model | questions | side | questions/s | wall s | peak RSS MiB |\n|---|---|---|---|---|---|")
    for row in rows:
        for side in ("lm_eval", "tianping"):
            if side in row:
                r = row[side]
                print(
                    f"| {row['model']} | {row['questions']} | {side} | {r['questions_per_s']:.2f} | "
                    f"{r['wall_s']:.1f} | {r['peak_rss_mib']:.0f} |"
                )
    for row in rows:
        if "speed_ratio" in row:
            print(
                f"{row['model']}, {row['questions']} questions: {row['speed_ratio']:.2f}x questions/s, "
                f"{row['rss_ratio']:.2f}x peak RSS, max |logprob diff| {row['max_abs_logprob_diff']:.1e}, "
                f"greedy equal: {row['greedy_equal']}"
            )
    (work / "summary.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
