"""Scorer truth for multiple choice beyond A-D: a fake model answers 5- to 10-option questions in the forms
real models use, some right and some wrong by construction, and the real engine must score exactly that.

Two user definitions in a temporary folder run through the engine: ``mc_csv`` files with option columns
``A``-``E`` up to ``A``-``J`` (lettered), and an ARC-format file with ``labels: as_written`` whose options
are numbered ``1``-``n``.  The fake server finds the question id in the prompt and returns the planned
response; the plan says which label the ``choice`` extractor must read (None: no answer), so the run's
accuracy, its extraction failures and every sample's extracted label are known beforehand.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import make_spec, run_engine
from fake_openai import last_user_text, running_server
from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import load_dataset
from tianping.store import Store

LETTERS = "ABCDEFGHIJ"
WORDS = ["amber", "basalt", "cobalt", "dolomite", "emerald", "feldspar", "garnet", "hematite", "ilmenite", "jasper"]


@dataclass(frozen=True)
class Item:
    qid: str
    n: int  # number of options
    gold: int  # index of the right option
    response: str
    read: int | None  # index the extractor must read; None: no answer


def _right(label: str, text: str, form: int) -> str:
    """A response choosing option ``label`` (whose text is ``text``), in one of many surface forms."""
    forms = [
        f"Let's think. Each option has been checked. The answer is ({label})",
        f"Answer: {label}",
        f"**{label}**",
        f"答案是 {label}",
        f"I choose {label}.",
        f"The options differ in hardness, so the answer is $\\boxed{{{label}}}$.",
        text,  # the option's text only
        label.lower(),  # a lone lower-case letter (a number has no case)
        f"Option {label} is correct.",
        f"{label}. {text}\n\nIt is the only mineral that fits.",
        f"正确答案是（{label}）。",
        f"Considering all of them carefully.\n\n{label}",
        f"After comparing each choice, the final answer is **{label}. {text}**",
        f"The answer is {label}. Wait, let me check again... yes, the answer is {label}.",
    ]
    return forms[form % len(forms)]


def _wrong(label: str, other: str, outside: str, form: int) -> tuple[str, bool]:
    """A response that does not choose ``label``: (text, whether it still names a valid other option)."""
    forms = [
        (f"The answer is ({other})", True),  # another option
        (f"Answer: {other}", True),
        (f"The answer is {outside}.", False),  # a label past the last option
        ("I'm sorry, but I can't help with that.", False),
        (f"The answer is not {label}.", False),
        (f"It could be {label} or {other}.", False),
        (f"答案是{other}", True),
    ]
    return forms[form % len(forms)]


def plan(numbered: bool, count: int) -> list[Item]:
    """``count`` items with 5-10 options (cycling), answered right in two rounds of three and wrong in the third."""
    items = []
    for k in range(count):
        n = 5 + k % 6
        gold = (11 * k + 3 * (k // 6)) % n  # every label A-J is the right answer somewhere
        labels = [str(i + 1) for i in range(n)] if numbered else list(LETTERS[:n])
        label, other = labels[gold], labels[(gold + 1 + k % (n - 1)) % n]
        outside = str(n + 1) if numbered else "ABCDEFGHIJK"[n]
        if (k // 6) % 3 != 2:
            response, read = _right(label, WORDS[gold], k), gold
        else:
            response, valid = _wrong(label, other, outside, k)
            read = labels.index(other) if valid else None
        items.append(Item(f"q{k}", n, gold, response, read))
    return items


def answer_fn(items: list[Item]):
    by_id = {item.qid: item for item in items}

    def answer(body: dict[str, Any]) -> str:
        found = re.search(r"\[(q\d+)\]", last_user_text(body))
        assert found, "the prompt carries the question id"
        return by_id[found.group(1)].response

    return answer


def write_lettered(root: Path, items: list[Item]) -> dict[str, str]:
    """One ``mc_csv`` subject file per option count, with columns A.. as far as it needs; sample id -> qid."""
    folder = root / "mc"
    folder.mkdir()
    ids = {}
    for n in sorted({item.n for item in items}):
        with (folder / f"opt{n}_test.csv").open("w", encoding="utf-8", newline="") as f:
            out = csv.writer(f)
            out.writerow(["question", *LETTERS[:n], "answer"])
            for offset, item in enumerate(i for i in items if i.n == n):
                out.writerow([f"[{item.qid}] Which mineral?", *WORDS[:n], LETTERS[item.gold]])
                ids[f"opt{n}/{offset}"] = item.qid
    return ids


def write_numbered(root: Path, items: list[Item]) -> dict[str, str]:
    rows = [
        {
            "id": item.qid,
            "question": {
                "stem": f"[{item.qid}] Which mineral?",
                "choices": [{"text": WORDS[i], "label": str(i + 1)} for i in range(item.n)],
            },
            "answerKey": str(item.gold + 1),
        }
        for item in items
    ]
    (root / "numbered.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return {item.qid: item.qid for item in items}


LETTERED_YAML = """
name: mc_wide
version: "1"
dataset: {loader: mc_csv, path: mc, options: {suffix: _test}}
prompt:
  format: chat
  question: |-
    {{ question }}
    {% for c in choices %}{{ "ABCDEFGHIJ"[loop.index0] }}. {{ c }}
    {% endfor %}Answer:
scoring: {extractor: choice, metric: exact_match}
"""

NUMBERED_YAML = """
name: mc_numbered
version: "1"
dataset: {loader: arc_jsonl, path: numbered.jsonl, options: {labels: as_written}}
prompt:
  format: chat
  question: |-
    {{ question }}
    {% for label in letters %}{{ label }}. {{ choices[loop.index0] }}
    {% endfor %}Answer with the number of the correct option.
scoring: {extractor: choice, metric: exact_match}
"""


@pytest.mark.parametrize("numbered", [False, True], ids=["lettered", "numbered"])
def test_engine_scores_wide_multiple_choice_exactly(tmp_path: Path, numbered: bool) -> None:
    items = plan(numbered, 84)  # every option count, every right form and every wrong form, several times
    data = tmp_path / "data"
    data.mkdir()
    qid_of = (write_numbered if numbered else write_lettered)(data, items)
    definition = data / ("numbered.yaml" if numbered else "lettered.yaml")
    definition.write_text(NUMBERED_YAML if numbered else LETTERED_YAML, encoding="utf-8")

    with running_server(answer_fn=answer_fn(items)) as server:
        store = Store.open(tmp_path / "results")
        result = run_engine(store, make_spec(server.base_url, data, [str(definition)], limit=None))
    assert result.status == "completed", result.message

    label = (lambda i: str(i + 1)) if numbered else (lambda i: LETTERS[i])
    rows = {qid_of[r["sample_id"]]: r for r in store.sample_rows(result.run_id)}
    assert len(rows) == len(items)
    for item in items:
        row = rows[item.qid]
        expected = None if item.read is None else label(item.read)
        assert row["extracted"] == expected, (item, row["output"])
        assert row["score"] == float(item.read == item.gold), item
        assert row["extraction_failed"] == (item.read is None), item

    right = sum(item.read == item.gold for item in items)
    failed = sum(item.read is None for item in items)
    assert right == 60 and 0 < failed < len(items) - right  # the plan has right, wrong and unreadable answers
    (overall,) = [a for a in store.aggregates(result.run_id) if a["group_kind"] == "all" and a["metric"] == "accuracy"]
    assert overall["n"] == len(items)
    assert overall["score"] == pytest.approx(right / len(items), abs=1e-12)
    assert overall["extraction_failures"] == failed


def test_arc_numbered_rows_keep_their_numbers_when_asked(data_dir: Path) -> None:
    path = data_dir / "arc" / "ARC-Easy" / "ARC-Easy-Test.jsonl"
    by_position = {s.id: s for s in load_dataset("arc_jsonl", path, {}).samples}
    as_written = load_dataset("arc_jsonl", path, {"labels": "as_written"}).samples
    numeric = [s for s in as_written if s.fields["labels"][0] == "1"]
    assert len(numeric) == 97
    for sample in as_written:
        assert sample.fields["letters"] == sample.fields["labels"]
        assert sample.target in sample.fields["labels"]
        same = by_position[sample.id]
        assert same.fields["letters"].index(same.target) == sample.fields["letters"].index(sample.target)
    first = numeric[0]
    assert first.fields["options"].startswith("1. ")


def test_arc_label_option_is_checked(tmp_path: Path) -> None:
    row = {"id": "q", "question": {"stem": "?", "choices": [{"text": "a", "label": "a1"}, {"text": "b", "label": "b"}]}}
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({**row, "answerKey": "b"}) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="labels: as_written"):
        load_dataset("arc_jsonl", path, {"labels": "as_written"})
    with pytest.raises(DatasetError, match="option 'labels'"):
        load_dataset("arc_jsonl", path, {"labels": "numbers"})
    assert load_dataset("arc_jsonl", path, {}).samples[0].target == "B"


def test_mc_csv_reads_as_many_option_columns_as_the_header_names(tmp_path: Path) -> None:
    folder = tmp_path / "mc"
    folder.mkdir()
    (folder / "wide_test.csv").write_text(
        "question,A,B,C,D,E,F,G,answer\nq1,a,b,c,d,e,f,g,G\nq2,a,b,c,d,e,f,g,4\n", encoding="utf-8"
    )
    (folder / "four_test.csv").write_text("question,choice0,choice1,choice2,choice3,answer\nq,a,b,c,d,2\n")
    samples = {s.id: s for s in load_dataset("mc_csv", folder, {"suffix": "_test"}).samples}
    wide = samples["wide/0"]
    assert wide.fields["choices"] == list("abcdefg") and wide.target == "G" and wide.fields["G"] == "g"
    assert samples["wide/1"].target == "E"  # a 0-based index answer
    assert samples["four/0"].fields["choices"] == list("abcd") and samples["four/0"].target == "C"
    assert "E" not in samples["four/0"].fields

    (folder / "wide_test.csv").write_text("question,A,B,C,D,E,answer\nq1,a,b,c,d,e,F\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"wide_test.csv:2: answer 'F' is not one of A-E or 0-4"):
        load_dataset("mc_csv", folder, {"suffix": "_test"})
