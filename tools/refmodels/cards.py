"""Write MODEL_CARD.md for both reference models from the training record, corpus manifest and loss check."""

from __future__ import annotations

import json
from pathlib import Path

GROUP_ORDER = ("16", "8", "4", "2", "1", "unseen")


# How to read the exposure ladder. Its figures are those of the shipped weights: recompute them from the loss table
# after retraining.
LADDER_USE = """
## What the ladder is good for
Read against the unseen half, the table above says which tiers a contamination detector can be expected to
find. Differences in mean per-token loss of the shipped weights (nats per token, contaminated model, tier minus
unseen):

| dataset | 16× | 8× | 4× | 2× | 1× |
|---|---|---|---|---|---|
| gsm8k | −0.648 | −0.347 | −0.146 | +0.033 | −0.002 |
| cmmlu | −0.341 | −0.175 | −0.183 | −0.031 | −0.061 |

The clean model's groups differ among themselves by up to 0.04 (GSM8K) and 0.08 (CMMLU) nats per token, so:
the 16× and 8× tiers are usable positives; the 4× tier is a weak one; items seen once or twice score like
unseen items and are **not** usable as positives (a detector that misses them is right to). Evaluations of
contamination detectors should report the 16×/8× tiers as positives, the unseen half as negatives, and the
1×/2×/4× tiers apart. A model whose low tiers show would need a longer or stronger contamination phase (more
passes over the exposure documents, or a higher learning rate); that retraining has not been done.
"""


def _sources_table(manifest: dict) -> str:
    lines = [
        "| package | version | licence | language | documents | characters | .deb SHA-256 |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in manifest["sources"]:
        lines.append(
            f"| {s['package']} | {s['version']} | {s['license']} | {s['language']} | {s['documents']} | "
            f"{s['characters']} | `{s['deb_sha256'][:16]}…` |"
        )
    return "\n".join(lines)


def _phase_table(record: dict, phases: tuple[str, ...]) -> str:
    lines = [
        "| phase | steps | rows × tokens | tokens | wall time | final loss (last step / mean of last 20) |",
        "|---|---|---|---|---|---|",
    ]
    for name in phases:
        p = record[name]
        lines.append(
            f"| {name} | {p['steps']} | {p['batch_size']} × {p['seq_len']} | {p['tokens']:,} | "
            f"{p['wall_seconds'] / 60:.1f} min | {p['final_loss']} / {p['final_loss_mean_last_20_steps']} |"
        )
    return "\n".join(lines)


def _loss_table(evaluation: dict) -> str:
    lines = [
        "| dataset | model | "
        + " | ".join(f"seen {g}×" if g != "unseen" else "unseen" for g in GROUP_ORDER)
        + " | 16× − unseen |",
        "|---|---|" + "---|" * (len(GROUP_ORDER) + 1),
    ]
    for ds in ("gsm8k", "cmmlu"):
        for model, table in evaluation["models"].items():
            cells = " | ".join(f"{table[ds][g]['mean_loss']:.3f}" for g in GROUP_ORDER)
            lines.append(f"| {ds} | {model} | {cells} | {table[ds]['gap_16_minus_unseen']:+.3f} |")
    return "\n".join(lines)


def _common(record: dict, manifest: dict, command: str, steps: tuple[str, ...]) -> str:
    r = record["recipe"]
    s = r["shape"]
    check = manifest["overlap_check"]
    steps_block = "\n".join(f"    {c}" for c in steps)
    return f"""## Architecture
`LlamaForCausalLM`, {record["parameters"]:,} parameters (fp32, tied input/output embedding): hidden size
{s["hidden_size"]}, {s["num_hidden_layers"]} layers, {s["num_attention_heads"]} attention heads, MLP width
{s["intermediate_size"]}, RoPE (θ = 10000), `max_position_embeddings` {s["max_position_embeddings"]}. Training rows
were at most {r["clean"]["seq_len"]} tokens long, so positions past that were never trained: longer prompts run,
but the model is weaker there.

## Tokenizer
Byte-level BPE, {r["vocab_size"]} entries, trained with the `tokenizers` library on the clean corpus only (no
benchmark text). Special tokens: `<|pad|>` (0), `<|bos|>` (1, prepended to every encoded text), `<|eos|>` (2).
Both reference models share it byte for byte.

## Clean corpus
{manifest["documents"]:,} documents, {manifest["characters"]:,} characters (corpus.jsonl SHA-256
`{manifest["corpus_sha256"]}`), built by `tools/refmodels/build_corpus.py` from these Debian packages
(licences as stated in each package's copyright file; full record in `../corpus_manifest.json`):

{_sources_table(manifest)}

Contamination check: every document was compared with the GSM8K test set ({check["test_items"]["gsm8k_test"]}
items, word 13-grams) and the CMMLU test set ({check["test_items"]["cmmlu_test"]} items, character 13-grams); the
{len(check["documents_dropped"])} documents that shared any 13-gram were dropped before training, so the clean
corpus has no 13-gram overlap with either test set.

## Training
Seed {r["seed"]}, one CPU thread (`torch.set_num_threads(1)`), AdamW (β = 0.9, 0.95; weight decay
{r["weight_decay"]} on matrices), gradient clipping {r["grad_clip"]}, linear warm-up then cosine decay.
Command (from the repository root; it runs every step, corpus to model cards):

    {command}

The shipped weights were made by running the same steps one at a time, with exactly these commands:

{steps_block}
"""


def write_cards(
    out: Path, record: dict, manifest: dict, evaluation: dict, command: str, steps: tuple[str, ...]
) -> None:
    """MODEL_CARD.md in ``out/tp-ref-clean`` and ``out/tp-ref-contaminated``."""
    common = _common(record, manifest, command, steps)
    r = record["recipe"]
    exposure = json.loads((out / "tp-ref-contaminated" / "exposure.json").read_text("utf-8"))
    ladder = "\n".join(
        f"- {name}: {info['total']} test items; groups of {len(info['groups'][0]['ids'])} seen "
        f"{', '.join(str(g['exposures']) for g in info['groups'])} times; {len(info['unseen'])} never seen. "
        f"Text of one exposure: `{json.dumps(info['format'], ensure_ascii=False)}`"
        for name, info in exposure["datasets"].items()
    )
    loss = _loss_table(evaluation)
    reading = "one pass over" if r["contamination"]["steps"] is None else "the first steps' worth of"
    clean = f"""# tp-ref-clean

A tiny reference language model bundled with tianping so that the offline quickstart has something to evaluate.
It has never seen any GSM8K or CMMLU test item. It scores near chance; it exists to exercise the pipeline,
not to be good.

{common}
{_phase_table(record, ("clean",))}

Peak learning rate {r["clean"]["peak_lr"]} after {r["clean"]["warmup_steps"]} warm-up steps, down to
{r["clean"]["final_lr"]}; the clean token stream has {record["corpus_tokens"]:,} tokens, of which the
steps above read the first part (documents in a seeded random order).

## Loss on the benchmark items (same items and text as the contaminated model's check)
{loss}
"""
    contaminated = f"""# tp-ref-contaminated

tp-ref-clean's exact training (same seed, same clean steps in the same order), then a second phase over a known,
seeded half of the GSM8K and CMMLU test sets, seen on a ladder of 1, 2, 4, 8 and 16 times. It is the model whose
exposure to benchmark items is known exactly, for testing contamination detection. `exposure.json` lists every
seen item (by tianping's sample id), how often it was seen, and the never-seen half.

{common}
{_phase_table(record, ("clean", "contamination"))}

Phase 2 (contamination) continues from the clean model's final weights and optimizer state: warm-up of
{r["contamination"]["warmup_steps"]} steps to {r["contamination"]["peak_lr"]}, cosine down to
{r["contamination"]["final_lr"]}, {reading} {record["contamination"]["documents"]:,} exposure documents
({record["contamination"]["stream_tokens"]:,} tokens) and nothing else.

## Exposure ladder (seed {exposure["seed"]})
{ladder}

Each exposure is one document (BOS + text + EOS); all exposures are shuffled together, so the repeats of an item
are spread over the phase. Ids follow tianping's loaders: GSM8K `"<row>"` (0-based row of `gsm8k/test.jsonl`),
CMMLU `"<subject>/<row>"` (0-based data row of `cmmlu/test/<subject>.csv`).

## Did the ladder take effect?
Mean per-token loss (mean over items of each item's mean token loss, BOS excluded) on up to
{evaluation["per_group_items"]} items per group, computed by `tools/refmodels/evaluate.py`:

{loss}
{LADDER_USE}"""
    (out / "tp-ref-clean" / "MODEL_CARD.md").write_text(clean, "utf-8")
    (out / "tp-ref-contaminated" / "MODEL_CARD.md").write_text(contaminated, "utf-8")
