"""A tiny random-initialised Llama and a byte-level BPE tokenizer, built offline for the hf backend tests.

Nothing is downloaded: the tokenizer is trained on a few KB of benchmark text, the model is seeded and
random. Tests build it once per session (``tiny_model_dir``) and derive variants (no pad token, a chat
template) by re-saving only the tokenizer next to the same weights.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
"""A minimal template whose output is easy to recognise in a test."""


def _corpus(data_dir: Path) -> list[str]:
    texts = []
    mmlu = data_dir / "mmlu" / "dev"
    for path in sorted(mmlu.glob("*_dev.csv"))[:20]:
        texts.append(path.read_text(encoding="utf-8"))
    arc = data_dir / "arc" / "ARC-Easy" / "ARC-Easy-Dev.jsonl"
    texts.append(arc.read_text(encoding="utf-8")[:40000])
    texts.append("Answer: A B C D\nQuestion: The following are multiple choice questions (with answers) about")
    return texts


def build_tokenizer(data_dir: Path, vocab_size: int = 600) -> object:
    """A GPT-2-style byte-level BPE with BOS/EOS (``<s>``/``</s>``) and a pad token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_corpus(data_dir), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def build_tiny_model(out: Path, data_dir: Path, *, max_positions: int = 256, seed: int = 0) -> Path:
    """Save a ~100k-parameter Llama and its tokenizer to ``out``; returns ``out``."""
    import torch

    tokenizer = build_tokenizer(data_dir)
    torch.manual_seed(seed)
    model = tiny_llama(tokenizer, max_positions=max_positions, pad_token_id=tokenizer.pad_token_id)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def tiny_llama(tokenizer: Any, *, max_positions: int = 256, **config: Any) -> Any:
    """A randomly initialised ~100k-parameter Llama over ``tokenizer``'s vocabulary (seed torch first)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=max_positions,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            tie_word_embeddings=False,
            **config,
        )
    )
    with torch.no_grad():  # larger logits than the default init, so greedy choices differ between tokens
        model.lm_head.weight.mul_(8.0)
    return model


def tokenizer_variant(base: Path, out: Path, *, pad: bool = True, chat_template: str | None = None) -> Path:
    """A copy of ``base`` whose tokenizer lacks a pad token and/or has a chat template."""
    out.mkdir(parents=True, exist_ok=True)
    for path in base.iterdir():
        shutil.copy(path, out / path.name)
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    if not pad:
        config.pop("pad_token", None)
    if chat_template is not None:
        config["chat_template"] = chat_template
    config_path.write_text(json.dumps(config))
    model_config = json.loads((out / "config.json").read_text())
    if not pad:
        model_config.pop("pad_token_id", None)
    (out / "config.json").write_text(json.dumps(model_config))
    return out


_BUILT: dict[str, Path] = {}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """The tiny model, built once per test process however many test modules import this fixture."""
    if "base" not in _BUILT:
        _BUILT["base"] = build_tiny_model(tmp_path_factory.mktemp("hf_tiny"), data_dir)
    return _BUILT["base"]
