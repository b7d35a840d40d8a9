"""CircularEval as a run's own aggregate: a ``circular: true`` dataset run end to end reports, beside the
per-rotation accuracy, ``circular accuracy`` (a question counts only when every rotation of its options is
answered right), overall and per category, in the stored aggregates and in the summary it prints."""

from __future__ import annotations

import json
import re
from pathlib import Path

from engine_helpers import cli
from fake_openai import FakeOpenAIServer, in_background
from test_multimodal_formats import b64, png, write_tsv
from tianping.store import Store

RIGHT = {"q1": "blue", "q2": "triangle", "q3": "no", "q4": "seven"}


def _answer(body: dict) -> str:
    """Right on every rotation, except q2 whenever its right option is shown as A (a letter bias)."""
    content = body["messages"][-1]["content"]
    text = "\n".join(p["text"] for p in content if p.get("type") == "text") if isinstance(content, list) else content
    question = re.search(r"\bq\d\b", text).group(0)
    options = dict(re.findall(r"^([A-D])\. (.+)$", text, flags=re.M))
    right = next(letter for letter, option in options.items() if option.strip() == RIGHT[question])
    if question == "q2" and right == "A":
        return "The answer is B."
    return f"The answer is {right}."


def test_a_circular_dataset_run_reports_circular_accuracy(tmp_path: Path) -> None:
    write_tsv(
        tmp_path / "mm.tsv",
        f"1\tq1\t\tblue\tgreen\tred\tgrey\tA\tcolour\t{b64(png(1))}\tx",
        f"2\tq2\t\tsquare\tcircle\ttriangle\t\tC\tshape\t{b64(png(2))}\tx",
        f"3\tq3\t\tyes\tno\t\t\tB\tshape\t{b64(png(3))}\tx",
        f"4\tq4\t\tsix\tseven\t\t\tB\tcolour\t{b64(png(4))}\tx",
    )
    (tmp_path / "mm.yaml").write_text(
        'name: mm_circular\nversion: "1"\n'
        "dataset: {loader: vlm_tsv, path: mm.tsv, options: {circular: true}}\n"
        'prompt: {question: "{{ prompt }}"}\n'
        "scoring: {extractor: choice, breakdowns: [category]}\n",
        encoding="utf-8",
    )
    summary = tmp_path / "summary.json"
    with in_background(FakeOpenAIServer(answer_fn=_answer)) as server:
        done = cli(
            "run", "--benchmark", str(tmp_path / "mm.yaml"), "--model", "openai/x", "--base-url", server.base_url,
            "--data-dir", str(tmp_path), "--results-dir", str(tmp_path / "results"), "--run-id", "c",
            "--json", str(summary),
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    store = Store.open(tmp_path / "results", readonly=True)
    try:
        rows = {(a["group_kind"], a["group_name"], a["metric"]): a for a in store.aggregates("c")}
    finally:
        store.close()
    # 11 samples (4 + 3 + 2 + 2 rotations); q2 is wrong on the one rotation that shows its answer as A
    assert rows[("all", "", "accuracy")]["score"] == 10 / 11
    circular = rows[("all", "", "circular accuracy")]
    assert (circular["score"], circular["n"]) == (3 / 4, 4)
    assert circular["ci_low"] < 3 / 4 < circular["ci_high"]
    assert rows[("category", "shape", "circular accuracy")]["score"] == 1 / 2
    assert rows[("category", "colour", "circular accuracy")]["score"] == 1.0
    assert "circular accuracy" in done.stdout
    printed = json.loads(summary.read_text(encoding="utf-8"))
    assert "circular accuracy" in json.dumps(printed)
