"""Variant recipes of the reference-model tools: the command-line options leave the shipped recipe as it is,
change only what they name, and whole-document packing neither splits nor trains on padding."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
REF = REPO / "src" / "tianping" / "refmodels"
sys.path.insert(0, str(REPO / "tools" / "refmodels"))

import train  # noqa: E402
from recipe import Recipe, whole_document_rows  # noqa: E402

BASE = ["--work", "/nonexistent", "--data-dir", "/nonexistent", "--out", "/nonexistent"]
TOKENIZER = ["--tokenizer", str(REF / "tp-ref-clean"), "--corpus", str(REF / "corpus_manifest.json")]


def test_no_variant_option_gives_the_shipped_recipe() -> None:
    args = train.parse_args(BASE + TOKENIZER)
    assert train.variant_recipe(args) == Recipe()
    assert train.variant_options(args) == {}


def test_variant_options_change_only_what_they_name() -> None:
    args = train.parse_args(
        BASE + TOKENIZER + ["--shape", "192,6,6,512", "--phase2-lr", "8e-3,8e-4", "--phase2-datasets", "gsm8k"]
    )
    recipe, shipped = train.variant_recipe(args), Recipe()
    assert (recipe.shape.hidden_size, recipe.shape.num_hidden_layers) == (192, 6)
    assert (recipe.shape.num_attention_heads, recipe.shape.intermediate_size) == (6, 512)
    assert recipe.shape.max_position_embeddings == shipped.shape.max_position_embeddings
    assert (recipe.contamination.peak_lr, recipe.contamination.final_lr) == (8e-3, 8e-4)
    assert recipe.contamination.seq_len == shipped.contamination.seq_len  # no --whole-docs: rows unchanged
    assert recipe.clean == shipped.clean and recipe.seed == shipped.seed
    assert train.variant_options(args)["phase2_datasets"] == ("gsm8k",)
    per_step = shipped.contamination.seq_len * shipped.contamination.batch_size
    for option, row in ((["--whole-docs"], 512), (["--whole-docs", "1024"], 1024)):
        whole = train.variant_recipe(train.parse_args(BASE + TOKENIZER + option)).contamination
        # the same tokens a step as the shipped rows
        assert (whole.seq_len, whole.seq_len * whole.batch_size) == (row, per_step)
    small = train.variant_recipe(train.parse_args(BASE + TOKENIZER + ["--whole-docs", "--phase2-batch", "2"]))
    assert (small.contamination.seq_len, small.contamination.batch_size) == (512, 2)
    with pytest.raises(SystemExit, match="must divide"):
        train.variant_recipe(train.parse_args(BASE + TOKENIZER + ["--whole-docs", "1000"]))


@pytest.mark.parametrize(
    "bad", [["--shape", "192,6,6"], ["--shape", "192,six,6,512"], ["--phase2-lr", "8e-3"], ["--phase1-optimizer", "x"]]
)
def test_malformed_variant_options_are_refused(bad: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        train.parse_args(BASE + TOKENIZER + bad)
    assert bad[0] in capsys.readouterr().err


def test_whole_document_rows_keep_every_document_in_one_row() -> None:
    rng = np.random.default_rng(0)
    docs = [[1, *rng.integers(3, 50, size=int(n)).tolist(), 2] for n in rng.integers(1, 30, size=40)]
    data, steps, n_rows = whole_document_rows(docs, seq_len=32, batch_size=3, pad_id=0)
    assert data.shape == (steps, 3, 32) and steps == -(-n_rows // 3)
    found = []
    for row in data.reshape(-1, 32)[:n_rows]:
        tokens = row.tolist()
        while tokens and tokens[-1] == 0:
            tokens.pop()
        assert 0 not in tokens, "padding inside a row"
        ends = [i for i, t in enumerate(tokens) if t == 2]
        assert ends and ends[-1] == len(tokens) - 1, "a row ends inside a document"
        start = 0
        for end in ends:
            found.append(tokens[start : end + 1])
            start = end + 1
    assert found == docs
    # the last step is completed with the first rows, as the shipped stream wraps
    assert (data.reshape(-1, 32)[n_rows:] == data.reshape(-1, 32)[: steps * 3 - n_rows]).all()


def test_a_document_longer_than_a_row_is_an_error() -> None:
    with pytest.raises(ValueError, match="document 1 has 9 tokens"):
        whole_document_rows([[1, 2], list(range(9))], seq_len=8, batch_size=1, pad_id=0)


def test_split_documents_undoes_the_stream() -> None:
    stream = np.array([1, 5, 6, 2, 1, 7, 2, 1, 2], dtype=np.int32)
    assert train.split_documents(stream, eos_id=2) == [[1, 5, 6, 2], [1, 7, 2], [1, 2]]


def test_padding_changes_neither_the_loss_nor_what_is_learned() -> None:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(REF / "tp-ref-clean"), local_files_only=True)
    doc = torch.tensor([[1, 300, 301, 302, 303, 2]])
    padded = torch.cat([doc, torch.zeros((1, 5), dtype=torch.long)], dim=1)
    with torch.no_grad():
        plain = train.batch_loss(model, doc, None)
        masked = train.batch_loss(model, padded, 0)
        unmasked = train.batch_loss(model, padded, None)
    assert abs(plain.item() - masked.item()) < 1e-5
    assert abs(plain.item() - unmasked.item()) > 1e-3  # without the mask the padding would be trained on


def test_only_keeps_a_test_set_s_shipped_groups(data_dir: Path) -> None:
    from exposure import build_plan

    shipped = json.loads((REF / "tp-ref-contaminated" / "exposure.json").read_text("utf-8"))
    record, docs = build_plan(data_dir, shipped["seed"], only=("gsm8k",))
    assert set(record["datasets"]) == {"gsm8k"}
    assert record["datasets"]["gsm8k"]["groups"] == shipped["datasets"]["gsm8k"]["groups"]
    assert {name for name, _, _ in docs} == {"gsm8k"}
    with pytest.raises(ValueError, match="unknown test set"):
        build_plan(data_dir, shipped["seed"], only=("gsm9k",))
