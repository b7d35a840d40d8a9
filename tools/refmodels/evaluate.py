"""Mean per-token loss of each exposure group, for both reference models: does the ladder show?

    python tools/refmodels/evaluate.py --models src/tianping/refmodels --data-dir /work/shared/datasets \\
        --out /tmp/tp-refmodels/exposure_eval.json

For every dataset and group (seen 1, 2, 4, 8, 16 times, and never seen) it scores up to ``--per-group`` items
(a seeded sample; all of them when the group is smaller) in exactly the text the contaminated model was
trained on, and reports the mean over items of each item's mean token loss (BOS excluded, EOS included).
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from exposure import texts_by_group  # noqa: E402

MODELS = ("tp-ref-clean", "tp-ref-contaminated")


@torch.no_grad()
def item_losses(model, tokenizer, texts: list[str], batch_size: int = 16) -> list[float]:
    """Mean token loss of each text (BOS + text + EOS, the loss taken on every token after BOS)."""
    model.eval()
    out: list[float] = []
    for start in range(0, len(texts), batch_size):
        encoded = [ids + [tokenizer.eos_token_id] for ids in tokenizer(texts[start : start + batch_size])["input_ids"]]
        width = max(len(ids) for ids in encoded)
        ids = torch.full((len(encoded), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, seq in enumerate(encoded):
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        targets = ids[:, 1:]
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        valid = mask[:, 1:].float()
        out.extend(((nll * valid).sum(1) / valid.sum(1)).tolist())
    return out


def evaluate(models_dir: Path, data_dir: Path, per_group: int, seed: int = 0) -> dict:
    """``{model: {dataset: {group: {"items", "mean_loss"}}}}`` plus the seen-16 minus unseen gaps."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    record = json.loads((models_dir / "tp-ref-contaminated" / "exposure.json").read_text("utf-8"))
    groups = texts_by_group(data_dir, record)
    rng = np.random.default_rng(seed)
    sampled = {
        ds: {g: [texts[i] for i in sorted(rng.permutation(len(texts))[:per_group])] for g, texts in by_group.items()}
        for ds, by_group in groups.items()
    }
    result: dict = {"per_group_items": per_group, "sample_seed": seed, "models": {}}
    for name in MODELS:
        path = str(models_dir / name)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
        table: dict = {}
        for ds, by_group in sampled.items():
            table[ds] = {}
            for g, texts in by_group.items():
                losses = item_losses(model, tokenizer, texts)
                table[ds][g] = {"items": len(losses), "mean_loss": round(float(np.mean(losses)), 4)}
            table[ds]["gap_16_minus_unseen"] = round(table[ds]["16"]["mean_loss"] - table[ds]["unseen"]["mean_loss"], 4)
        result["models"][name] = table
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, required=True, help="directory holding both model directories")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--per-group", type=int, default=120)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = evaluate(args.models, args.data_dir, args.per_group)
    args.out.write_text(json.dumps(result, indent=1) + "\n", "utf-8")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
