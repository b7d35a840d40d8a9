"""Rebuild both reference models from nothing but the Debian archive and the benchmark data: one command.

    python tools/refmodels/build_all.py --data-dir /work/shared/datasets --work /tmp/tp-refmodels \\
        --out src/tianping/refmodels

Runs, in order: build_corpus (download, unpack, 13-gram check, manifest), train_tokenizer, train (both phases),
evaluate (per-group loss of both models), cards (MODEL_CARD.md), and copies the corpus manifest next to the
models. Each step can also be run alone with the same arguments; see README.md.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import build_corpus  # noqa: E402
import cards  # noqa: E402
import evaluate  # noqa: E402
import train  # noqa: E402
import train_tokenizer  # noqa: E402
from recipe import Recipe  # noqa: E402

COMMAND = (
    "python tools/refmodels/build_all.py --data-dir /work/shared/datasets --work /tmp/tp-refmodels "
    "--out src/tianping/refmodels"
)
# the same run as separate steps (how the shipped weights were made: the steps were run one by one)
STEP_COMMANDS = (
    "python tools/refmodels/build_corpus.py --work /tmp/tp-refmodels --data-dir /work/shared/datasets",
    "python tools/refmodels/train_tokenizer.py --corpus /tmp/tp-refmodels/corpus.jsonl "
    "--out /tmp/tp-refmodels/tokenizer --vocab-size 4096",
    "cd tools/refmodels && python train.py --work /tmp/tp-refmodels --data-dir /work/shared/datasets "
    "--out /tmp/tp-refmodels/models --log /tmp/tp-refmodels/train.log",
    "python tools/refmodels/build_all.py --finish-only --data-dir /work/shared/datasets --work /tmp/tp-refmodels "
    "--out /tmp/tp-refmodels/models   # then the two directories and corpus_manifest.json copied into "
    "src/tianping/refmodels",
)


def finish(out: Path, work: Path, data_dir: Path, per_group: int) -> None:
    """The steps after training: loss check, model cards, manifest copy."""
    evaluation = evaluate.evaluate(out, data_dir, per_group)
    (work / "exposure_eval.json").write_text(json.dumps(evaluation, indent=1) + "\n", "utf-8")
    record = json.loads((work / "train_record.json").read_text("utf-8"))
    manifest = json.loads((work / "corpus_manifest.json").read_text("utf-8"))
    shutil.copyfile(work / "corpus_manifest.json", out / "corpus_manifest.json")
    cards.write_cards(out, record, manifest, evaluation, COMMAND, STEP_COMMANDS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-group", type=int, default=120, help="items per exposure group in the loss check")
    parser.add_argument(
        "--finish-only",
        action="store_true",
        help="only the loss check and model cards (models already trained into --out)",
    )
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if not args.finish_only:
        build_corpus.build(args.work, args.data_dir)
        tok = train_tokenizer.train_tokenizer(
            train_tokenizer.iter_texts(args.work / "corpus.jsonl"), Recipe().vocab_size
        )
        train_tokenizer.save_pretrained(tok, args.work / "tokenizer", Recipe().shape.max_position_embeddings)
        train.train(
            train.parse_args(
                [
                    "--work",
                    str(args.work),
                    "--data-dir",
                    str(args.data_dir),
                    "--out",
                    str(args.out),
                    "--log",
                    str(args.work / "train.log"),
                ]
            )
        )
    finish(args.out, args.work, args.data_dir, args.per_group)


if __name__ == "__main__":
    main(sys.argv[1:])
