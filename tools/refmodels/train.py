"""Train tp-ref-clean and tp-ref-contaminated with one fixed recipe, on one CPU thread.

    python tools/refmodels/train.py --work /tmp/tp-refmodels --data-dir /work/shared/datasets \\
        --out src/tianping/refmodels
    python tools/refmodels/train.py --smoke --work /tmp/x --data-dir /work/shared/datasets --out /tmp/x/models

Phase 1 trains a fresh Llama model on the clean corpus and saves it as ``tp-ref-clean``. Phase 2 continues
from exactly that state (weights and optimizer) over the contamination stream (the exposure plan of
``exposure.py``) and saves ``tp-ref-contaminated`` with its ``exposure.json``. So the contaminated model has
seen the same clean steps, in the same order, with the same seed, plus the benchmark items.

``--smoke`` runs the same code end to end on a built-in corpus of a few sentences, a tiny model and twenty
the first ten items of each test set, in seconds: it is how the tests check that the recipe still works.
"""

from __future__ import annotations

import os

# one thread everywhere: the tokenizer's Rayon pool and torch's intra-op pool would otherwise take every core
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from exposure import build_plan  # noqa: E402
from recipe import SMOKE, Phase, Recipe, read_corpus, rows, token_stream  # noqa: E402

SMOKE_TEXTS = [
    "The quick brown fox jumps over the lazy dog. A manual page explains each option of a command.",
    "Use ls -l to list files in the long format, and man ls to read its manual page.",
    "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。",
    "床前明月光，疑是地上霜。举头望明月，低头思故乡。",
    "A fortune cookie says: the best way to predict the future is to invent it.",
    "命令行工具的手册页说明了每个选项的用法。",
] * 4


def log(message: str, log_file: Path | None) -> None:
    """Print a progress line (and append it to the log file, flushed, so a tail shows it at once)."""
    line = f"{time.strftime('%H:%M:%S')} {message}"
    print(line, flush=True)
    if log_file:
        with log_file.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def make_model(recipe: Recipe, tokenizer):
    """A freshly initialised LlamaForCausalLM of the recipe's shape (seeded by the caller)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    s = recipe.shape
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=s.hidden_size,
        intermediate_size=s.intermediate_size,
        num_hidden_layers=s.num_hidden_layers,
        num_attention_heads=s.num_attention_heads,
        num_key_value_heads=s.num_attention_heads,
        max_position_embeddings=s.max_position_embeddings,
        rope_theta=10000.0,
        tie_word_embeddings=True,  # the embedding is the largest matrix: sharing it keeps the file small
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="float32",
    )
    return LlamaForCausalLM(config)


def make_optimizer(model, recipe: Recipe) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only (norm gains and the embedding's rows are not decayed)."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embed" not in n)]
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=recipe.clean.peak_lr, betas=(0.9, 0.95), eps=1e-8)


def run_phase(model, optimizer, phase: Phase, data: np.ndarray, recipe: Recipe, log_file: Path | None) -> dict:
    """Train over ``data`` ([steps, batch, seq]); returns steps, tokens, wall time and the final losses."""
    model.train()
    total = data.shape[0]
    started = time.time()
    recent: list[float] = []
    for step in range(total):
        lr = phase.lr(step, total)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = torch.from_numpy(data[step].astype(np.int64))
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        recent = (recent + [loss.item()])[-20:]
        if step % 10 == 0 or step == total - 1:
            elapsed = time.time() - started
            log(
                f"{phase.name} step {step + 1}/{total} loss {loss.item():.4f} lr {lr:.2e} "
                f"{(step + 1) * data.shape[1] * data.shape[2] / max(elapsed, 1e-9):.0f} tok/s "
                f"eta {elapsed / (step + 1) * (total - step - 1) / 60:.1f} min",
                log_file,
            )
    return {
        "steps": total,
        "tokens": int(data.size),
        "seq_len": int(data.shape[2]),
        "batch_size": int(data.shape[1]),
        "wall_seconds": round(time.time() - started, 1),
        "final_loss": round(recent[-1], 4),
        "final_loss_mean_last_20_steps": round(sum(recent) / len(recent), 4),
    }


def save(model, tokenizer, directory: Path) -> None:
    """Write the model (fp32 safetensors), its generation config and the shared tokenizer to ``directory``."""
    from transformers import GenerationConfig

    directory.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
        max_new_tokens=256,
    )
    model.save_pretrained(str(directory), safe_serialization=True)
    tokenizer.save_pretrained(str(directory))
    for file in directory.iterdir():
        file.chmod(0o644)  # safetensors writes 0600; shipped files must be readable by every user


def train(args: argparse.Namespace) -> dict:
    """Both phases, both saves; returns the training record that the model cards are written from."""
    from transformers import AutoTokenizer

    torch.set_num_threads(1)
    recipe = SMOKE if args.smoke else Recipe()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    log_file = args.log
    if args.smoke:
        from train_tokenizer import save_pretrained, train_tokenizer

        texts = SMOKE_TEXTS
        save_pretrained(train_tokenizer(iter(texts), recipe.vocab_size), work / "tokenizer", 128)
        tok_dir = work / "tokenizer"
    else:
        texts = read_corpus(args.corpus)
        tok_dir = args.tokenizer
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)

    torch.manual_seed(recipe.seed)
    model = make_model(recipe, tokenizer)
    optimizer = make_optimizer(model, recipe)
    params = sum(p.numel() for p in model.parameters())
    log(f"model {params} parameters; recipe {json.dumps(recipe.to_json())}", log_file)

    clean_stream = token_stream(tokenizer, texts, np.random.default_rng(recipe.seed))
    clean_rows, _ = rows(clean_stream, recipe.clean.seq_len, recipe.clean.batch_size, recipe.clean.steps)
    record: dict = {"recipe": recipe.to_json(), "parameters": params, "corpus_tokens": int(len(clean_stream))}
    record["clean"] = run_phase(model, optimizer, recipe.clean, clean_rows, recipe, log_file)
    save(model, tokenizer, args.out / "tp-ref-clean")
    log(f"saved tp-ref-clean: {record['clean']}", log_file)

    exposure, docs = build_plan(args.data_dir, recipe.seed, limit=10 if args.smoke else None)
    # every exposure is its own document; all of them are shuffled together so repeats are spread out
    contamination_texts = [text for _, text, times in docs for _ in range(times)]
    contam_stream = token_stream(tokenizer, contamination_texts, np.random.default_rng(recipe.seed + 1))
    phase = recipe.contamination
    contam_rows, _ = rows(contam_stream, phase.seq_len, phase.batch_size, phase.steps)
    record["contamination"] = run_phase(model, optimizer, phase, contam_rows, recipe, log_file)
    record["contamination"]["stream_tokens"] = int(len(contam_stream))
    record["contamination"]["documents"] = len(contamination_texts)
    out_dir = args.out / "tp-ref-contaminated"
    save(model, tokenizer, out_dir)
    exposure["training"] = {
        "phase": "contamination (phase 2), after the full clean phase",
        "documents": len(contamination_texts),
        "stream_tokens": int(len(contam_stream)),
        "order": f"all exposure documents shuffled together with numpy default_rng({recipe.seed + 1})",
        "document_tokens": "BOS + exposure text + EOS, packed back to back into rows (a document can straddle two "
        "consecutive rows, as in ordinary pre-training)",
    }
    (out_dir / "exposure.json").write_text(json.dumps(exposure, ensure_ascii=False, indent=1) + "\n", "utf-8")
    log(f"saved tp-ref-contaminated: {record['contamination']}", log_file)
    (work / ("train_record_smoke.json" if args.smoke else "train_record.json")).write_text(
        json.dumps(record, indent=1) + "\n", "utf-8"
    )
    return record


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="work directory (logs, training record)")
    parser.add_argument("--data-dir", type=Path, required=True, help="benchmark data (gsm8k/, cmmlu/)")
    parser.add_argument("--out", type=Path, required=True, help="where tp-ref-clean/ and tp-ref-contaminated/ go")
    parser.add_argument("--corpus", type=Path, help="corpus.jsonl (default <work>/corpus.jsonl)")
    parser.add_argument("--tokenizer", type=Path, help="tokenizer directory (default <work>/tokenizer)")
    parser.add_argument("--log", type=Path, help="append progress lines to this file")
    parser.add_argument("--smoke", action="store_true", help="tiny end-to-end run on built-in text")
    args = parser.parse_args(argv)
    args.corpus = args.corpus or args.work / "corpus.jsonl"
    args.tokenizer = args.tokenizer or args.work / "tokenizer"
    if not args.smoke:
        for path in (args.corpus, args.tokenizer):
            if not path.exists():
                parser.error(f"{path} does not exist: run build_corpus.py and train_tokenizer.py first")
    return args


if __name__ == "__main__":
    train(parse_args(sys.argv[1:]))
