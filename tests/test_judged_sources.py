"""The judged benchmarks' data: the shared files read whole, and malformed copies refused naming file, line, field."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from tianping.benchmarks.errors import DatasetError
from tianping.core.task import TaskSettings
from tianping.judging import sources
from tianping.judging.kind import ABOUT, KIND


def test_the_shared_data_loads_whole_with_baselines_and_references(data_dir: Path) -> None:
    mt = sources.mt_bench_samples(data_dir).samples
    assert len(mt) == ABOUT["mt_bench"].items and Counter(s.meta["category"] for s in mt) == Counter(
        {c: 10 for c in ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")}
    )
    with_reference = [s for s in mt if s.fields["references"]]
    assert len(with_reference) == 30 and {s.meta["category"] for s in with_reference} == {"math", "reasoning", "coding"}
    assert all(len(s.fields["turns"]) == 2 for s in mt)
    for task, baseline in (("arena_hard", "o3-mini-2025-01-31"), ("arena_hard_v0_1", "gpt-4-0314")):
        loaded = sources.arena_hard_samples(data_dir, task).samples
        assert len(loaded) == ABOUT[task].items and {s.meta["baseline"] for s in loaded} == {baseline}
        answers = sources.ARENA_HARD[task].folder
        first = json.loads(
            (data_dir / "arena-hard-auto/data" / answers / "model_answer" / f"{baseline}.jsonl")
            .read_text(encoding="utf-8")
            .split("\n")[0]
        )
        mine = next(s for s in loaded if s.id == first["uid"])
        assert mine.fields["baseline"] == first["messages"][-1]["content"]["answer"] == mine.target
    v2 = sources.arena_hard_samples(data_dir, "arena_hard").samples
    assert Counter(s.meta["category"] for s in v2) == {"hard_prompt": 500, "creative_writing": 250}
    assert all(s.fields["baseline_style"]["tokens"] > 0 for s in v2)  # upstream's style metadata, kept
    alpaca = sources.alpaca_eval_samples(data_dir).samples
    assert len(alpaca) == ABOUT["alpaca_eval"].items and alpaca[0].meta["baseline"] == "gpt4_1106_preview"
    assert Counter(s.meta["dataset"] for s in alpaca)["selfinstruct"] == 252


def test_a_small_limit_spreads_over_categories(data_dir: Path) -> None:
    spec = {"judge": {"id": "openai/j"}}
    (task,) = KIND.load("mt_bench", TaskSettings(data_dir=data_dir, limit=8, spec=spec))
    assert len({s.meta["category"] for s in task.samples}) == 8
    (task,) = KIND.load("mt_bench", TaskSettings(data_dir=data_dir, limit=3, limit_mode="first", spec=spec))
    assert [s.id for s in task.samples] == ["81", "82", "83"]


def _copy(data_dir: Path, tmp_path: Path, folder: str) -> Path:
    shutil.copytree(data_dir / folder, tmp_path / folder)
    return tmp_path


def _rewrite_line(path: Path, number: int, change) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    row = json.loads(lines[number - 1])
    change(row)
    lines[number - 1] = json.dumps(row)
    path.write_text("\n".join(lines), encoding="utf-8")


def test_malformed_rows_are_refused_naming_file_line_and_field(data_dir: Path, tmp_path: Path) -> None:
    root = _copy(data_dir, tmp_path, "mt-bench")
    _rewrite_line(root / "mt-bench/question.jsonl", 3, lambda r: r.update(turns=["only one"]))
    with pytest.raises(DatasetError, match=r"question.jsonl:3: field 'turns' must be a list of 2 strings"):
        sources.mt_bench_samples(root)
    root = _copy(data_dir, tmp_path / "a", "arena-hard-auto")
    answers = root / "arena-hard-auto/data/arena-hard-v0.1/model_answer/gpt-4-0314.jsonl"
    _rewrite_line(answers, 5, lambda r: r["messages"][-1].update(content="plain text is fine"))
    _rewrite_line(answers, 7, lambda r: r["messages"][-1].update(content={"text": "no answer key"}))
    with pytest.raises(DatasetError, match=r"gpt-4-0314.jsonl:7: field 'messages\[-1\].content.answer'"):
        sources.arena_hard_samples(root, "arena_hard_v0_1")
    with pytest.raises(DatasetError, match="not found"):
        sources.alpaca_eval_samples(tmp_path / "nowhere")
