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

Variant recipes (pilots; without these options the run is the shipped recipe, unchanged):

    python tools/refmodels/train.py --work /tmp/tp-pilot --data-dir /work/shared/datasets --out /tmp/tp-pilot/models \
        --tokenizer src/tianping/refmodels/tp-ref-clean --shape 192,6,6,512 \
        --phase2-lr 8e-3,8e-4 --phase2-datasets gsm8k --whole-docs --save-phase1-optimizer

``--shape`` sets hidden size, layers, heads and MLP width; ``--phase2-lr`` the contamination phase's peak and
final learning rate; ``--phase2-batch`` its rows a step; ``--phase2-datasets`` which test sets are exposed
(each keeps its own groups);
``--whole-docs [ROW]`` packs phase 2 into rows of ROW tokens (512 unless given; two CMMLU exposures need
1024) that never split an exposure (padding the rest, which is not trained on); ``--skip-phase1 DIR``
starts phase 2 from a clean model already trained (with the optimizer state of ``--phase1-optimizer FILE``
if given, written by an earlier ``--save-phase1-optimizer`` run; else a fresh optimizer); ``--phase1-only``
stops after the clean model. ``--tokenizer`` can name any directory
with the tokenizer files, such as a bundled model's, so no tokenizer is retrained.
"""

from __future__ import annotations

import os

# one thread everywhere: the tokenizer's Rayon pool and torch's intra-op pool would otherwise take every core
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from exposure import build_plan  # noqa: E402
from recipe import (  # noqa: E402
    SMOKE,
    ModelShape,
    Phase,
    Recipe,
    read_corpus,
    rows,
    token_stream,
    whole_document_rows,
)

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


def run_phase(
    model,
    optimizer,
    phase: Phase,
    data: np.ndarray,
    recipe: Recipe,
    log_file: Path | None,
    pad_id: int | None = None,
) -> dict:
    """Train over ``data`` ([steps, batch, seq]); returns steps, tokens, wall time and the final losses.

    With ``pad_id`` the rows are padded (whole-document packing): pad positions are neither attended to nor
    predicted. Without it every position is a real token, as in the shipped recipe.
    """
    model.train()
    total = data.shape[0]
    started = time.time()
    recent: list[float] = []
    for step in range(total):
        lr = phase.lr(step, total)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = batch_loss(model, torch.from_numpy(data[step].astype(np.int64)), pad_id)
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


def batch_loss(model, batch: torch.Tensor, pad_id: int | None) -> torch.Tensor:
    """Mean next-token loss of a ``[batch, seq]`` tensor; with ``pad_id``, pad positions count for nothing."""
    if pad_id is None:
        return model(input_ids=batch, labels=batch).loss
    real = batch != pad_id
    return model(input_ids=batch, attention_mask=real.long(), labels=batch.masked_fill(~real, -100)).loss


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
    recipe = SMOKE if args.smoke else variant_recipe(args)
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    log_file = args.log
    if args.smoke:
        from train_tokenizer import save_pretrained, train_tokenizer

        texts = SMOKE_TEXTS
        save_pretrained(train_tokenizer(iter(texts), recipe.vocab_size), work / "tokenizer", 128)
        tok_dir = work / "tokenizer"
    else:
        texts = read_corpus(args.corpus) if args.skip_phase1 is None else []
        tok_dir = args.tokenizer
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)

    if args.skip_phase1 is None:
        torch.manual_seed(recipe.seed)
        model = make_model(recipe, tokenizer)
        optimizer = make_optimizer(model, recipe)
    else:
        model, optimizer, recipe = resume_clean(args, recipe, log_file)
    params = sum(p.numel() for p in model.parameters())
    log(f"model {params} parameters; recipe {json.dumps(recipe.to_json())}", log_file)

    record: dict = {"recipe": recipe.to_json(), "parameters": params}
    if variant_options(args):
        record["variant"] = variant_options(args)
    if args.skip_phase1 is None:
        clean_stream = token_stream(tokenizer, texts, np.random.default_rng(recipe.seed))
        clean_rows, _ = rows(clean_stream, recipe.clean.seq_len, recipe.clean.batch_size, recipe.clean.steps)
        record["corpus_tokens"] = int(len(clean_stream))
        record["clean"] = run_phase(model, optimizer, recipe.clean, clean_rows, recipe, log_file)
        save(model, tokenizer, args.out / "tp-ref-clean")
        log(f"saved tp-ref-clean: {record['clean']}", log_file)
        if args.save_phase1_optimizer:
            torch.save(optimizer.state_dict(), work / "phase1_optimizer.pt")
            log(f"saved the optimizer state to {work / 'phase1_optimizer.pt'}", log_file)
    else:
        record["clean"] = {"skipped": True, "from": str(args.skip_phase1)}
    if args.phase1_only:
        write_record(work, args, record)
        return record

    exposure, docs = build_plan(args.data_dir, recipe.seed, limit=10 if args.smoke else None, only=args.phase2_datasets)
    # every exposure is its own document; all of them are shuffled together so repeats are spread out
    contamination_texts = [text for _, text, times in docs for _ in range(times)]
    contam_stream = token_stream(tokenizer, contamination_texts, np.random.default_rng(recipe.seed + 1))
    phase = recipe.contamination
    pad_id = None
    if args.whole_docs:
        pad_id = tokenizer.pad_token_id
        contam_rows, _, n_rows = whole_document_rows(
            split_documents(contam_stream, tokenizer.eos_token_id), phase.seq_len, phase.batch_size, pad_id
        )
        log(f"whole documents: {len(contamination_texts)} documents in {n_rows} rows of {phase.seq_len}", log_file)
    else:
        contam_rows, _ = rows(contam_stream, phase.seq_len, phase.batch_size, phase.steps)
    record["contamination"] = run_phase(model, optimizer, phase, contam_rows, recipe, log_file, pad_id)
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
    if args.whole_docs:
        exposure["training"]["document_tokens"] = (
            f"BOS + exposure text + EOS, packed whole into {phase.seq_len}-token rows (none split), the rest of a "
            "row padded and not trained on"
        )
    if args.skip_phase1 is not None:
        exposure["training"]["phase"] = f"contamination (phase 2), from the clean model in {args.skip_phase1}"
    (out_dir / "exposure.json").write_text(json.dumps(exposure, ensure_ascii=False, indent=1) + "\n", "utf-8")
    log(f"saved tp-ref-contaminated: {record['contamination']}", log_file)
    write_record(work, args, record)
    return record


def write_record(work: Path, args: argparse.Namespace, record: dict) -> None:
    (work / ("train_record_smoke.json" if args.smoke else "train_record.json")).write_text(
        json.dumps(record, indent=1) + "\n", "utf-8"
    )


def split_documents(stream: np.ndarray, eos_id: int) -> list[list[int]]:
    """The token stream back into its documents (each ends with EOS, as ``token_stream`` wrote it)."""
    ends = np.flatnonzero(stream == eos_id) + 1
    return [chunk.tolist() for chunk in np.split(stream, ends) if len(chunk)]


def variant_options(args: argparse.Namespace) -> dict:
    """The variant options given on the command line (empty for the shipped recipe)."""
    names = ("shape", "phase2_lr", "phase2_batch", "phase2_datasets", "whole_docs", "skip_phase1", "phase1_optimizer")
    return {n: (str(v) if isinstance(v, Path) else v) for n in names if (v := getattr(args, n)) is not None}


def variant_recipe(args: argparse.Namespace) -> Recipe:
    """The shipped recipe with the command line's changes: model shape, phase-2 learning rate and rows."""
    recipe = Recipe()
    if args.shape is not None:
        hidden, layers, heads, mlp = args.shape
        recipe = dataclasses.replace(
            recipe,
            shape=dataclasses.replace(
                recipe.shape,
                hidden_size=hidden,
                num_hidden_layers=layers,
                num_attention_heads=heads,
                intermediate_size=mlp,
            ),
        )
    phase = recipe.contamination
    if args.phase2_lr is not None:
        phase = dataclasses.replace(phase, peak_lr=args.phase2_lr[0], final_lr=args.phase2_lr[1])
    if args.whole_docs:
        # the same tokens a step as the shipped 16 x 256, in rows long enough for the exposures
        per_step = phase.seq_len * phase.batch_size
        if args.whole_docs > per_step or per_step % args.whole_docs:
            raise SystemExit(f"--whole-docs {args.whole_docs}: a row length must divide {per_step}")
        phase = dataclasses.replace(phase, seq_len=args.whole_docs, batch_size=per_step // args.whole_docs)
    if args.phase2_batch is not None:
        phase = dataclasses.replace(phase, batch_size=args.phase2_batch)
    return dataclasses.replace(recipe, contamination=phase)


def resume_clean(args: argparse.Namespace, recipe: Recipe, log_file: Path | None):
    """The trained clean model of ``--skip-phase1`` (its shape replaces the recipe's) and an optimizer."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        str(args.skip_phase1), local_files_only=True, torch_dtype=torch.float32
    )
    c = model.config
    shape = ModelShape(
        hidden_size=c.hidden_size,
        num_hidden_layers=c.num_hidden_layers,
        num_attention_heads=c.num_attention_heads,
        intermediate_size=c.intermediate_size,
        max_position_embeddings=c.max_position_embeddings,
    )
    if args.shape is not None and shape != recipe.shape:
        raise SystemExit(f"--shape {args.shape} does not match the model in {args.skip_phase1}: {shape}")
    recipe = dataclasses.replace(recipe, shape=shape)
    optimizer = make_optimizer(model, recipe)
    if args.phase1_optimizer is not None:
        optimizer.load_state_dict(torch.load(args.phase1_optimizer))
        log(f"phase 1 skipped: model from {args.skip_phase1}, optimizer state from {args.phase1_optimizer}", log_file)
    else:
        log(f"phase 1 skipped: model from {args.skip_phase1}, fresh optimizer", log_file)
    return model, optimizer, recipe


def number_list(kind, count: int):
    """An argparse type: ``count`` comma-separated numbers of type ``kind``."""

    def parse(text: str):
        try:
            values = tuple(kind(x) for x in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {count} comma-separated numbers") from None
        if len(values) != count:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {count} comma-separated numbers, got {len(values)}")
        return values

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="work directory (logs, training record)")
    parser.add_argument("--data-dir", type=Path, required=True, help="benchmark data (gsm8k/, cmmlu/)")
    parser.add_argument("--out", type=Path, required=True, help="where tp-ref-clean/ and tp-ref-contaminated/ go")
    parser.add_argument("--corpus", type=Path, help="corpus.jsonl (default <work>/corpus.jsonl)")
    parser.add_argument("--tokenizer", type=Path, help="tokenizer directory (default <work>/tokenizer)")
    parser.add_argument("--log", type=Path, help="append progress lines to this file")
    parser.add_argument("--smoke", action="store_true", help="tiny end-to-end run on built-in text")
    variant = parser.add_argument_group("variant recipes (without these: the shipped recipe)")
    variant.add_argument("--shape", type=number_list(int, 4), metavar="HIDDEN,LAYERS,HEADS,MLP")
    variant.add_argument("--phase2-lr", type=number_list(float, 2), metavar="PEAK,FINAL")
    variant.add_argument("--phase2-batch", type=int, metavar="ROWS", help="phase 2: rows a step (fewer: more steps)")
    variant.add_argument("--phase2-datasets", nargs="+", metavar="NAME", help="expose only these (gsm8k, cmmlu)")
    variant.add_argument(
        "--whole-docs",
        type=int,
        nargs="?",
        const=512,
        metavar="ROW",
        help="phase 2: rows of ROW tokens (default 512; 1024 when CMMLU is exposed), no exposure split",
    )
    variant.add_argument("--skip-phase1", type=Path, metavar="DIR", help="start phase 2 from this clean model")
    variant.add_argument("--phase1-optimizer", type=Path, metavar="FILE", help="with --skip-phase1: optimizer state")
    variant.add_argument("--save-phase1-optimizer", action="store_true", help="write <work>/phase1_optimizer.pt")
    variant.add_argument("--phase1-only", action="store_true", help="stop after the clean model")
    args = parser.parse_args(argv)
    if args.phase2_datasets is not None:
        args.phase2_datasets = tuple(args.phase2_datasets)
    if args.phase1_optimizer is not None and args.skip_phase1 is None:
        parser.error("--phase1-optimizer goes with --skip-phase1")
    if args.smoke and (args.shape or args.phase2_lr or args.whole_docs):
        parser.error("--smoke has its own tiny recipe; --shape, --phase2-lr and --whole-docs do not apply")
    args.corpus = args.corpus or args.work / "corpus.jsonl"
    args.tokenizer = args.tokenizer or args.work / "tokenizer"
    if not args.smoke:
        for path in (args.tokenizer,) if args.skip_phase1 else (args.corpus, args.tokenizer):
            if not path.exists():
                parser.error(f"{path} does not exist: run build_corpus.py and train_tokenizer.py first")
    return args


if __name__ == "__main__":
    train(parse_args(sys.argv[1:]))
