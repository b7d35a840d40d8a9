"""Train the shared byte-level BPE tokenizer on the clean corpus and save it as a transformers tokenizer.

    python tools/refmodels/train_tokenizer.py --corpus /tmp/tp-refmodels/corpus.jsonl --out /tmp/tp-refmodels/tok

Byte-level BPE can encode any text (unknown characters fall back to their UTF-8 bytes), so benchmark items
never hit an unknown token even though the tokenizer saw none of them.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # one core: the machine is shared

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

from recipe import Recipe
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
SPECIAL_TOKENS = [PAD, BOS, EOS]  # ids 0, 1, 2


def iter_texts(corpus: Path) -> Iterator[str]:
    """Document texts of a corpus.jsonl file; a malformed line is reported with its number."""
    with corpus.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            try:
                yield json.loads(line)["text"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{corpus}:{line_no}: not a corpus document: {exc}") from None


def train_tokenizer(texts: Iterator[str], vocab_size: int) -> Tokenizer:
    """A byte-level BPE of ``vocab_size`` entries (specials included) trained on ``texts``."""
    tok = Tokenizer(models.BPE())
    # no prefix space: a prompt's first word is encoded the same as it would be after a newline-free join
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    # prepend BOS to every encoded text, as Llama tokenizers do, so a prompt's first token has a context
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tok.token_to_id(BOS))]
    )
    return tok


def save_pretrained(tok: Tokenizer, out: Path, model_max_length: int) -> None:
    """Write ``tok`` as a ``PreTrainedTokenizerFast`` directory (tokenizer.json, tokenizer_config.json, ...)."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, model_max_length=model_max_length
    )
    fast.save_pretrained(str(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--vocab-size", type=int, default=Recipe().vocab_size)
    parser.add_argument("--model-max-length", type=int, default=Recipe().shape.max_position_embeddings)
    args = parser.parse_args()
    tok = train_tokenizer(iter_texts(args.corpus), args.vocab_size)
    args.out.mkdir(parents=True, exist_ok=True)
    save_pretrained(tok, args.out, args.model_max_length)
    print(f"vocab {tok.get_vocab_size()} -> {args.out}")


if __name__ == "__main__":
    main()
