"""The ladder table of docs/contamination.md: its headline figures recomputed on a subset by the script's own code.

``tools/contamination_ladder.py`` scores every item (1,319 GSM8K, 11,582 CMMLU) and takes several minutes. Here
the same code runs on a seeded subset of ``SUBSET`` items of each group (each exposure tier and the unseen
half, drawn by ``limit_per_group``), white-box and n-gram only, in well under a minute. Its figures are pinned
(they repeat to the third decimal on CPU), and each must lie within sampling distance of the full table's.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SUBSET = 50
FULL = json.loads((REPO / "docs" / "contamination_ladder.json").read_text("utf-8"))

# (dataset, table, method, exposures): AUC on the subset, as this computation measured it (CPU, float32)
PINNED: dict[tuple[str, str, str, str], float] = {
    ("gsm8k", "white_box", "ref_ratio", "1"): 0.4448,
    ("gsm8k", "white_box", "ref_ratio", "4"): 0.5296,
    ("gsm8k", "white_box", "ref_ratio", "16"): 0.8660,
    ("gsm8k", "white_box", "loss", "16"): 0.8308,
    ("gsm8k", "white_box", "min_k", "16"): 0.8916,
    ("gsm8k", "white_box", "ref_min_k", "4"): 0.6348,
    ("gsm8k", "white_box", "ref_min_k", "16"): 0.9432,
    ("cmmlu", "white_box", "ref_ratio", "1"): 0.5736,
    ("cmmlu", "white_box", "ref_ratio", "4"): 0.5520,
    ("cmmlu", "white_box", "ref_ratio", "16"): 0.6136,
    ("cmmlu", "white_box", "loss", "16"): 0.6096,
    ("cmmlu", "white_box", "min_k", "16"): 0.7676,
    ("cmmlu", "white_box", "ref_min_k", "4"): 0.5936,
    ("cmmlu", "white_box", "ref_min_k", "16"): 0.7764,
}
SAMPLING = 0.16
"""How far a subset AUC may lie from the full table's: with 50 items a side an AUC's standard error is about
0.055, so this is three of them."""


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("contamination_ladder", REPO / "tools" / "contamination_ladder.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["contamination_ladder"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> Any:
    return _script()


@pytest.fixture(scope="module")
def subset(script: Any, data_dir: Path) -> dict[str, Any]:
    from tianping.models.hf_load import REFMODELS_DIR

    args = argparse.Namespace(
        data_dir=data_dir,
        model="ref/tp-ref-contaminated",
        reference="ref/tp-ref-clean",
        exposure=str(REFMODELS_DIR / "tp-ref-contaminated" / "exposure.json"),
        datasets=["gsm8k", "cmmlu"],
        limit=SUBSET,
        black_box_limit=0,
        seed=0,
    )
    return asyncio.run(script.measure(args))


def _auc(figures: dict[str, Any], dataset: str, table: str, method: str, tier: str) -> float:
    return figures["datasets"][dataset][table][method][tier]["auc"]


def test_subset_figures_are_pinned(subset: dict[str, Any]) -> None:
    for (dataset, table, method, tier), expected in PINNED.items():
        assert _auc(subset, dataset, table, method, tier) == pytest.approx(expected, abs=0.005), (dataset, method, tier)


@pytest.mark.parametrize("dataset", ["gsm8k", "cmmlu"])
def test_subset_agrees_with_the_full_table(subset: dict[str, Any], dataset: str) -> None:
    for table in ("white_box", "control", "ngram"):
        for method, tiers in FULL["datasets"][dataset][table].items():
            for tier, cell in tiers.items():
                got = _auc(subset, dataset, table, method, tier)
                assert abs(got - cell["auc"]) <= SAMPLING, (dataset, table, method, tier, got, cell["auc"])


def test_the_control_model_detects_nothing() -> None:
    """tp-ref-clean saw no item: any method that separates its tiers measures something other than exposure."""
    for dataset in ("gsm8k", "cmmlu"):
        for method, tiers in FULL["datasets"][dataset]["control"].items():
            for tier, cell in tiers.items():
                assert 0.4 <= cell["auc"] <= 0.6, (dataset, method, tier, cell["auc"])


def test_the_docs_show_the_figures_of_the_json(script: Any) -> None:
    doc = (REPO / "docs" / "contamination.md").read_text("utf-8")
    block = doc.split(script.BEGIN, 1)[1].split(script.END, 1)[0]
    assert script.markdown(FULL, FULL["exposures"]) in block
    assert script.header(FULL) in block


def test_items_are_the_text_the_reference_model_was_trained_on(data_dir: Path) -> None:
    sys.path.insert(0, str(REPO / "tools" / "refmodels"))
    try:
        from exposure import DATASETS, load_items
    finally:
        sys.path.remove(str(REPO / "tools" / "refmodels"))
    from tianping.contamination.items import Source

    for spec in DATASETS:
        trained = load_items(spec, data_dir)
        ours = {i.id: i.text for i in Source(spec.name, data_dir).items()}
        assert ours == trained, spec.name


@pytest.mark.xfail(strict=True, reason="the bundled ladder does not reach the issue's goal; see docs/contamination.md")
def test_goal_reference_ratio_separates_four_exposures_and_finds_one() -> None:
    """The issue's goal for the reference ratio: AUC >= 0.95 from 4 exposures, dataset-level p < 0.01 at 1."""
    for dataset in ("gsm8k", "cmmlu"):
        tiers = FULL["datasets"][dataset]["white_box"]["ref_ratio"]
        assert all(tiers[t]["auc"] >= 0.95 for t in ("4", "8", "16")), dataset
        assert tiers["1"]["p"] < 0.01, dataset
