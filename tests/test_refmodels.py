"""The bundled reference models: they load offline, are small, share a tokenizer, and their exposure record
matches both the benchmark data and the seeded recipe that produced it; the training recipe still runs."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REF = REPO / "src" / "tianping" / "refmodels"
TOOLS = REPO / "tools" / "refmodels"
MODELS = ("tp-ref-clean", "tp-ref-contaminated")
sys.path.insert(0, str(TOOLS))

TEXTS = ["The quick brown fox reads the manual page of ls.", "床前明月光，疑是地上霜。", "题目：1+1=?\nA. 2\n答案：A"]


@pytest.fixture(scope="module")
def exposure() -> dict:
    return json.loads((REF / "tp-ref-contaminated" / "exposure.json").read_text("utf-8"))


@pytest.mark.parametrize("name", MODELS)
def test_model_loads_offline_and_gives_finite_logits(name: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(REF / name), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(REF / name), local_files_only=True)
    assert type(model).__name__ == "LlamaForCausalLM"
    batch = tok(TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape[:2] == batch["input_ids"].shape and logits.shape[-1] == model.config.vocab_size
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", MODELS)
def test_model_files_are_small_and_weights_are_fp32(name: str) -> None:
    directory = REF / name
    for file in directory.iterdir():
        assert file.stat().st_size < 20_000_000, file
    weights = directory / "model.safetensors"
    assert weights.stat().st_size < 12_000_000
    raw = weights.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    dtypes = {v["dtype"] for k, v in header.items() if k != "__metadata__"}
    assert dtypes == {"F32"}


@pytest.mark.parametrize("name", MODELS)
def test_model_directory_is_complete(name: str) -> None:
    for file in (
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "MODEL_CARD.md",
    ):
        assert (REF / name / file).is_file(), f"{name}/{file}"
    card = (REF / name / "MODEL_CARD.md").read_text("utf-8")
    assert "final loss" in card and "Seed" in card


def test_both_models_share_one_tokenizer() -> None:
    a, b = ((REF / m / "tokenizer.json").read_bytes() for m in MODELS)
    assert a == b


def test_tokenizer_round_trips_chinese_and_english_with_special_tokens() -> None:
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    tok = AutoTokenizer.from_pretrained(str(REF / "tp-ref-clean"), local_files_only=True)
    assert isinstance(tok, PreTrainedTokenizerFast)
    assert None not in (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id)
    assert len({tok.bos_token_id, tok.eos_token_id, tok.pad_token_id}) == 3
    for text in [*TEXTS, "mixed 中英文 text ✓ — 𝔘nicode"]:
        ids = tok(text)["input_ids"]
        assert ids[0] == tok.bos_token_id
        assert tok.decode(ids, skip_special_tokens=True) == text


def test_exposure_halves_are_disjoint_complete_and_laddered(exposure: dict, data_dir: Path) -> None:
    from exposure import DATASETS, load_items

    assert exposure["exposure_counts"] == [1, 2, 4, 8, 16]
    assert set(exposure["datasets"]) == {"gsm8k", "cmmlu"}
    for spec in DATASETS:
        entry = exposure["datasets"][spec.name]
        all_ids = set(load_items(spec, data_dir))  # the ids tianping's own loader gives the test set
        groups = entry["groups"]
        assert [g["exposures"] for g in groups] == [1, 2, 4, 8, 16]
        sizes = {len(g["ids"]) for g in groups}
        assert len(sizes) == 1 and sizes.pop() == len(all_ids) // 10
        seen = [i for g in groups for i in g["ids"]]
        assert len(seen) == len(set(seen)), "an item is in two exposure groups"
        assert not set(seen) & set(entry["unseen"]), "an item is both seen and unseen"
        assert set(seen) | set(entry["unseen"]) == all_ids and entry["total"] == len(all_ids)
        assert abs(len(seen) - len(entry["unseen"])) <= 10  # two halves


def test_exposure_record_is_what_the_seeded_plan_gives(exposure: dict, data_dir: Path) -> None:
    from exposure import build_plan

    record, docs = build_plan(data_dir, exposure["seed"])
    for name, entry in record["datasets"].items():
        assert entry["groups"] == exposure["datasets"][name]["groups"]
        assert entry["unseen"] == exposure["datasets"][name]["unseen"]
        assert entry["content_sha256"] == exposure["datasets"][name]["content_sha256"]
    assert exposure["training"]["documents"] == sum(times for _, _, times in docs)


def test_corpus_manifest_names_sources_licenses_hashes_and_a_clean_overlap_check() -> None:
    manifest = json.loads((REF / "corpus_manifest.json").read_text("utf-8"))
    for source in manifest["sources"]:
        assert source["version"] and source["license"] and len(source["deb_sha256"]) == 64
    assert {s["language"] for s in manifest["sources"]} == {"en", "zh"}
    check = manifest["overlap_check"]
    assert check["test_items"] == {"gsm8k_test": 1319, "cmmlu_test": 11582}
    assert check["overlapping_documents_in_corpus"] == 0


def test_overlap_index_flags_a_document_quoting_a_test_item(data_dir: Path) -> None:
    from overlap import OverlapIndex, char_ngrams, word_ngrams

    gsm = (data_dir / "gsm8k" / "test.jsonl").read_text("utf-8").splitlines()[0]
    question = json.loads(gsm)["question"]
    index = OverlapIndex(word_grams=word_ngrams(question), char_grams=char_ngrams("女性生殖腺是卵巢前庭大腺还是别的"))
    assert index.hits(f"Some preface. {question} And more.") > 0
    assert index.hits("前言：女性生殖腺是卵巢前庭大腺还是别的。") > 0
    assert index.hits(" ".join(question.split()[:9]) + " and then something else entirely") == 0
    assert index.hits("春眠不觉晓，处处闻啼鸟。") == 0


def test_roff_markup_becomes_plain_text() -> None:
    from sources import roff_to_text

    page = '.\\" comment\n.TH LS 1\n.SH NAME\nls \\- list\n.B \\-\\-all\n.BR ls (1)\n.PP\n\\fBbold\\fP and \\fIit\\fR\n'
    assert roff_to_text(page) == "LS\nNAME\nls - list\n--all\nls(1)\nbold and it"


def test_smoke_training_runs_end_to_end(tmp_path: Path, data_dir: Path) -> None:
    # a subprocess: the recipe pins torch to one thread, which must not leak into this test process
    out = tmp_path / "models"
    result = subprocess.run(
        [
            sys.executable,
            str(TOOLS / "train.py"),
            "--smoke",
            "--work",
            str(tmp_path),
            "--data-dir",
            str(data_dir),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((tmp_path / "train_record_smoke.json").read_text("utf-8"))
    assert record["clean"]["steps"] == 4 and record["contamination"]["steps"] == 4
    exposure = json.loads((out / "tp-ref-contaminated" / "exposure.json").read_text("utf-8"))
    assert [len(g["ids"]) for g in exposure["datasets"]["gsm8k"]["groups"]] == [1] * 5
    import torch
    from transformers import AutoModelForCausalLM

    for name in MODELS:
        model = AutoModelForCausalLM.from_pretrained(str(out / name), local_files_only=True)
        assert torch.isfinite(model(input_ids=torch.tensor([[1, 5, 6]])).logits).all()


def test_the_ladder_reading_agrees_with_the_card_s_loss_table() -> None:
    """The model card's "what the ladder is good for" differences are the loss table's tier minus unseen."""
    import re

    card = (REF / "tp-ref-contaminated" / "MODEL_CARD.md").read_text("utf-8")
    loss = {
        m.group(1): [float(x) for x in m.group(2).split("|")]
        for m in re.finditer(r"^\| (\w+) \| tp-ref-contaminated \| ([-\d.| ]+?) \|[^|]*\|$", card, re.MULTILINE)
    }
    reading = card[card.index("## What the ladder is good for") :]
    for dataset, values in loss.items():
        *tiers, unseen = values  # 16x, 8x, 4x, 2x, 1x, unseen
        row = re.search(rf"^\| {dataset} \| (.+) \|$", reading, re.MULTILINE)
        assert row is not None, dataset
        stated = [float(x.strip().replace("−", "-")) for x in row.group(1).split("|")]
        assert stated == [round(t - unseen, 3) for t in tiers], dataset
    assert set(loss) == {"gsm8k", "cmmlu"}
