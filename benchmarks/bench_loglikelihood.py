"""Log-likelihood speed on 5-shot MMLU: tianping's hf backend against lm-eval's HFLM, same model, same CPU.

Both sides score the identical (context, continuation) pairs, built here in lm-eval's MMLU format from
the shared dataset (description line, five dev shots, "Answer:", continuations " A".." D"). Each side
runs in its own subprocess; the parent reads that child's peak RSS from ``os.wait4`` and compares the
scores of the two sides, so a speed-up that changed the numbers would show.

    python benchmarks/bench_loglikelihood.py --per-subject 9 --batch-size 16 [--random-model]

The model is a bundled reference model when ``src/tianping/refmodels/<name>`` exists (``--ref`` picks
one; the first by name otherwise), else, or with ``--random-model``, a random-initialised Llama (~17M
parameters, 8k byte-level BPE vocabulary trained on MMLU text, a ``--window`` of 4096 tokens by default)
saved under ``--work-dir``; the summary says which.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("TIANPING_DATA_DIR") or REPO.parent / "shared" / "datasets")
LETTERS = "ABCD"


# ---- the workload --------------------------------------------------------------------------------


def _block(row: dict[str, str], answer: bool) -> str:
    text = row["question"].strip() + "".join(f"\n{L}. {row[f'choice{i}']}" for i, L in enumerate(LETTERS))
    return text + (f"\nAnswer: {LETTERS[int(row['answer'])]}" if answer else "\nAnswer:")


def mmlu_questions(data: Path, per_subject: int) -> list[dict]:
    """The first ``per_subject`` test questions of every subject, each with its 5-shot context."""
    out = []
    for test in sorted((data / "mmlu" / "test").glob("*_test.csv")):
        subject = test.name.removesuffix("_test.csv")
        with open(data / "mmlu" / "dev" / f"{subject}_dev.csv", newline="", encoding="utf-8") as f:
            shots = list(csv.DictReader(f))[:5]
        with open(test, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))[:per_subject]
        head = f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"
        prefix = head + "".join(_block(s, True) + "\n\n" for s in shots)
        for row in rows:
            out.append({"context": prefix + _block(row, False), "answer": int(row["answer"])})
    return out


# ---- the model -----------------------------------------------------------------------------------


def bench_model(work_dir: Path, ref: str | None, window: int, random: bool) -> tuple[Path, str]:
    refmodels = REPO / "src" / "tianping" / "refmodels"
    names = sorted(p.name for p in refmodels.iterdir() if (p / "config.json").is_file()) if refmodels.is_dir() else []
    if not random and (ref or names):
        name = ref or names[0]
        return refmodels / name, f"bundled reference model ref/{name}"
    path = work_dir / f"random-llama-{window}"
    if not (path / "model.safetensors").is_file():
        _build_random_llama(path, window)
    import json as _json

    n = _json.loads((path / "bench_meta.json").read_text())["parameters"]
    return path, f"random-initialised Llama, {n / 1e6:.1f}M parameters, {window}-token window "


def _build_random_llama(
    path: Path, window: int, *, hidden: int = 384, layers: int = 6, intermediate: int = 1024, heads: int = 6
) -> None:
    """A random-initialised Llama (seed 0) with an 8k byte-level BPE trained on MMLU text, saved to ``path``;
    the defaults give the ~17M-parameter model, ``hidden=256, layers=4, intermediate=640, heads=4`` ~7M."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    texts = [p.read_text(encoding="utf-8") for p in sorted((DATA / "mmlu" / "dev").glob("*.csv"))]
    texts += [p.read_text(encoding="utf-8")[:40000] for p in sorted((DATA / "mmlu" / "test").glob("*.csv"))]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=8192, special_tokens=["<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=window,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / "bench_meta.json").write_text(json.dumps({"parameters": sum(p.numel() for p in model.parameters())}))


# ---- the two sides (each in its own process) -----------------------------------------------------


def child_lm_eval(model_dir: Path, questions: list[dict], batch_size: int) -> tuple[list, float, float]:
    os.environ["HF_HUB_OFFLINE"] = "1"
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    t0 = time.perf_counter()
    lm = HFLM(pretrained=str(model_dir), device="cpu", batch_size=batch_size, dtype="float32")
    load_s = time.perf_counter() - t0
    instances = [
        Instance("loglikelihood", {}, (q["context"], f" {L}"), 4 * i + k)
        for i, q in enumerate(questions)
        for k, L in enumerate(LETTERS)
    ]
    t0 = time.perf_counter()
    out = lm.loglikelihood(instances, disable_tqdm=True)
    return [[lp, g] for lp, g in out], load_s, time.perf_counter() - t0


def child_tianping(
    model_dir: Path, questions: list[dict], batch_size: int, concurrency: int
) -> tuple[list, float, float]:
    sys.path.insert(0, str(REPO / "src"))
    from tianping.core import Request
    from tianping.models.hf_local import HFLocalBackend

    t0 = time.perf_counter()
    backend = HFLocalBackend("hf/bench", model_dir, device="cpu", batch_size=batch_size)
    load_s = time.perf_counter() - t0
    requests = [
        Request(model="hf/bench", prompt=q["context"], continuations=tuple(f" {L}" for L in LETTERS)) for q in questions
    ]
    answers: list = [None] * len(requests)

    async def run() -> float:
        work = iter(enumerate(requests))

        async def worker() -> None:  # as the engine drives a backend: many tasks, one request each
            for i, request in work:
                answers[i] = await backend.generate(request)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - t0
        await backend.aclose()
        return seconds

    seconds = asyncio.run(run())
    flat = [[ll.logprob, ll.greedy] for response in answers for ll in response.loglikelihoods]
    return flat, load_s, seconds


def run_child(args: argparse.Namespace) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    questions = json.loads(Path(args.questions).read_text())
    if args.child == "lm_eval":
        scores, load_s, seconds = child_lm_eval(Path(args.model_dir), questions, args.batch_size)
    else:
        scores, load_s, seconds = child_tianping(Path(args.model_dir), questions, args.batch_size, args.concurrency)
    Path(args.out).write_text(
        json.dumps(
            {
                "scores": scores,
                "load_s": load_s,
                "seconds": seconds,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "loadavg": os.getloadavg()[0],
            }
        )
    )


# ---- the parent ----------------------------------------------------------------------------------


def spawn(side: str, args: argparse.Namespace, model_dir: Path, qfile: Path) -> dict:
    out = args.work_dir / f"{side}.json"
    cmd = [
        sys.executable,
        __file__,
        "--child",
        side,
        "--model-dir",
        str(model_dir),
        "--questions",
        str(qfile),
        "--out",
        str(out),
        "--batch-size",
        str(args.batch_size),
        "--concurrency",
        str(args.concurrency),
        "--threads",
        str(args.threads),
    ]
    with open(args.work_dir / f"{side}.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not all children's
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{side} failed (exit {proc.returncode}); see {args.work_dir / f'{side}.log'}")
    result = json.loads(out.read_text())
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # KiB on Linux
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-subject", type=int, default=10, help="test questions per subject (57 subjects)")
    parser.add_argument("--batch-size", type=int, default=16, help="batch size of both sides")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent generate() calls (tianping)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in both children (0: torch default)")
    parser.add_argument("--tianping-first", action="store_true", help="run tianping's side first")
    parser.add_argument("--random-model", action="store_true", help="use the random Llama even if a ref model exists")
    parser.add_argument("--window", type=int, default=4096, help="context window of the random model")
    parser.add_argument("--ref", default=None, help="bundled reference model name (default: the first found)")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/tianping-bench-ll"))
    parser.add_argument("--child", choices=("lm_eval", "tianping"), help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--questions", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return
    args.work_dir.mkdir(parents=True, exist_ok=True)
    model_dir, model_note = bench_model(args.work_dir, args.ref, args.window, args.random_model)
    questions = mmlu_questions(DATA, args.per_subject)
    qfile = args.work_dir / "questions.json"
    qfile.write_text(json.dumps(questions))
    order = ("tianping", "lm_eval") if args.tianping_first else ("lm_eval", "tianping")
    results = {side: spawn(side, args, model_dir, qfile) for side in order}
    ref, ours = results["lm_eval"]["scores"], results["tianping"]["scores"]
    max_diff = max(abs(a[0] - b[0]) for a, b in zip(ref, ours, strict=True))
    greedy_equal = all(a[1] == b[1] for a, b in zip(ref, ours, strict=True))
    n = len(questions)
    rate = {side: n / r["seconds"] for side, r in results.items()}
    loads = {side: r["loadavg"] for side, r in results.items()}
    summary = {
        "questions": n,
        "pairs": 4 * n,
        "model": model_note,
        "batch_size": args.batch_size,
        "concurrency": args.concurrency,
        "loadavg_1min_at_end_of_each_side": loads,
        "samples_per_s": rate,
        "ratio": rate["tianping"] / rate["lm_eval"],
        "seconds": {s: r["seconds"] for s, r in results.items()},
        "load_s": {s: r["load_s"] for s, r in results.items()},
        "peak_rss_mib": {s: r["peak_rss_mib"] for s, r in results.items()},
        "max_abs_logprob_diff": max_diff,
        "greedy_flags_equal": greedy_equal,
        "torch": results["tianping"]["torch"],
        "threads": results["tianping"]["threads"],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    }
    print(json.dumps(summary, indent=2))
    print(
        "\n| side | samples/s | seconds | peak RSS MiB |\n|---|---|---|---|\n"
        + "\n".join(
            f"| {s} | {rate[s]:.2f} | {results[s]['seconds']:.1f} | {results[s]['peak_rss_mib']:.0f} |" for s in results
        )
        + f"\n\nratio tianping/lm_eval: {summary['ratio']:.2f}x; max |logprob diff| {max_diff:.2e}; "
        f"greedy flags equal: {greedy_equal}"
    )


if __name__ == "__main__":
    main()
