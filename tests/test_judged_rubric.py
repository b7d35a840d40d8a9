"""Custom rubrics: the schema, its errors (each naming the file and the line or field) and the task it builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tianping.core.errors import TaskConfigError
from tianping.core.task import TaskSettings
from tianping.judging.kind import KIND
from tianping.judging.rubric import load_rubric_task

GOOD = "name: helpdesk\nquestions: q.jsonl\ncriteria: Solves the problem.\n"


def _write(folder: Path, rubric: str, rows: list[dict] | str) -> Path:
    text = rows if isinstance(rows, str) else "\n".join(json.dumps(r) for r in rows) + "\n"
    (folder / "q.jsonl").write_text(text, encoding="utf-8")
    path = folder / "rubric.yaml"
    path.write_text(rubric, encoding="utf-8")
    return path


def _load(path: Path):
    return load_rubric_task(f"rubric:{path}", path.read_text(encoding="utf-8"), str(path), path.parent)


@pytest.mark.parametrize(
    ("rubric", "rows", "message"),
    [
        ("name: [unclosed\n", [{"question": "q"}], r"rubric.yaml:2: not valid YAML"),
        ("- a list\n", [{"question": "q"}], "a rubric is a YAML mapping"),
        ("name: helpdesk\nquestions: q.jsonl\n", [{"question": "q"}], "field 'criteria'"),
        (GOOD + "critera: typo\n", [{"question": "q"}], "field 'critera': unknown field; did you mean criteria?"),
        (GOOD + "scale: {min: 5, max: 5}\n", [{"question": "q"}], "field 'scale'.*min \\(5\\) must be below max"),
        ("name: Help Desk\nquestions: q.jsonl\ncriteria: x\n", [{"question": "q"}], "field 'name'"),
        (GOOD, [{"question": "ok"}, {"prompt": "no question field"}], "q.jsonl:2: field 'question'"),
        (GOOD + "fields: {reference: gold}\n", [{"question": "q", "gold": ""}], "q.jsonl:1: field 'gold'"),
        (GOOD + "fields: {id: k}\n", [{"question": "a", "k": 1}, {"question": "b", "k": 1}], "q.jsonl:2: field 'k'"),
        (GOOD, '{"question": "a"}\n{broken\n', "q.jsonl:2: not valid JSON"),
        (GOOD, "", "no questions"),
    ],
)
def test_a_bad_rubric_or_question_file_names_where(tmp_path: Path, rubric: str, rows, message: str) -> None:
    path = _write(tmp_path, rubric, rows)
    with pytest.raises(TaskConfigError, match=message):
        _load(path)


def test_a_rubric_builds_a_graded_task_with_its_scale_fields_and_breakdown(tmp_path: Path) -> None:
    rows = [{"k": f"id{i}", "ask": f"question {i}", "gold": f"answer {i}", "topic": "a" if i < 2 else "b"}
            for i in range(3)]  # fmt: skip
    rubric = GOOD.replace("q.jsonl", "q.jsonl\nfields: {question: ask, reference: gold, id: k, category: topic}")
    path = _write(tmp_path, rubric + "scale: {min: 0, max: 4}\nsystem: Be brief.\nmax_tokens: 64\n", rows)
    task = _load(path)
    assert task.name == "helpdesk" and [s.id for s in task.samples] == ["id0", "id1", "id2"]
    assert (task.scale.low, task.scale.high) == (0, 4) and task.breakdowns == ("category",)
    assert task.samples[2].fields == {"question": "question 2", "reference": "answer 2"}
    assert task.samples[2].meta["category"] == "b" and task.generation.max_tokens == 64
    request = task.build_request(task.samples[0], "m", task.generation)
    assert [(m.role, m.content) for m in request.messages] == [("system", "Be brief."), ("user", "question 0")]
    # the questions are part of the checksum: a resumed run refuses an edited file
    before = task.checksum
    (tmp_path / "q.jsonl").write_text(json.dumps({**rows[0], "ask": "changed"}) + "\n", encoding="utf-8")
    assert _load(path).checksum != before


def test_the_kind_loads_a_rubric_reference_and_keeps_its_text_for_a_resume(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD, [{"question": "q1"}, {"question": "q2"}])
    name = f"rubric:{path}"
    stored = KIND.inputs(name)
    assert stored[name]["rubric"] == GOOD
    path.write_text("name: changed\nquestions: q.jsonl\ncriteria: x\n", encoding="utf-8")
    settings = TaskSettings(data_dir=tmp_path, spec={"judge": {"id": "openai/j"}}, stored_inputs=stored, limit=1)
    (task,) = KIND.load(name, settings)
    assert task.name == "helpdesk" and len(task.samples) == 1  # the stored text, not the edited file
    with pytest.raises(TaskConfigError, match="no rubric file"):
        KIND.inputs(f"rubric:{tmp_path / 'missing.yaml'}")


def test_the_rubric_in_the_docs_is_a_valid_rubric() -> None:
    from tianping.judging.rubric import parse_rubric

    doc = (Path(__file__).resolve().parents[1] / "docs" / "subjective.md").read_text(encoding="utf-8")
    block = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    rubric = parse_rubric(block, "docs/subjective.md")
    assert rubric.name == "support_replies" and (rubric.scale.min, rubric.scale.max) == (1, 5)
    assert rubric.fields.question == "question" and rubric.fields.reference is None
