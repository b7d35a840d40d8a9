"""Log-likelihood mode of a benchmark with pictures: the choices are scored on a chat context whose question
turn carries the item's images; a plain-text context, which cannot carry them, is refused before any request
(scoring the choices without the pictures would score another question)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine_helpers import cli
from test_multimodal_formats import b64, png, sha, write_tsv
from tianping.core.task import TaskSettings
from tianping.engine.tasks import load_tasks

DEFINITION = """\
name: mm_ll
version: "1"
dataset: {loader: vlm_tsv, path: mm.tsv}
prompt: {question: "{{ prompt }}"}
scoring: {extractor: choice}
loglikelihood:
  question: "{{ question }}\\nAnswer:"
  choices_field: choices
  gold: "{{ 'ABCD'.index(target) }}"
  metrics: [acc]
"""


@pytest.fixture
def definition(tmp_path: Path) -> Path:
    write_tsv(
        tmp_path / "mm.tsv",
        f"1\tWhat colour?\t\tblue\tgreen\t\t\tA\tc\t{b64(png(1))}\tx",
        f"2\tWhat shape?\t\tsquare\tcircle\t\t\tB\tc\t{b64(png(2))}\tx",
    )
    (tmp_path / "mm.yaml").write_text(DEFINITION, encoding="utf-8")
    return tmp_path / "mm.yaml"


def _tasks(definition: Path, **spec: object):
    settings = TaskSettings(data_dir=definition.parent, mode="loglikelihood", spec={"mode": "loglikelihood", **spec})
    return load_tasks([str(definition)], lambda name: settings)


def test_a_chat_context_carries_the_items_pictures_with_its_question(definition: Path) -> None:
    task = _tasks(definition, apply_chat_template=True)[0]
    requests = [task.build_request(s, "hf/vlm", None) for s in task.samples]
    assert [r.continuations for r in requests] == [("blue", "green"), ("square", "circle")]
    assert [list(r.images()) for r in requests] == [[sha(png(1))], [sha(png(2))]]
    assert requests[0].messages[-1].role == "user" and requests[0].messages[-1].parts


def test_a_plain_text_context_with_pictures_is_refused_before_any_request(definition: Path, tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"mm.tsv.*an item with images .* --apply-chat-template"):
        _tasks(definition)
    done = cli("run", "--benchmark", str(definition), "--model", "openai/x", "--base-url", "http://127.0.0.1:9/v1",
               "--mode", "loglikelihood", "--completions-logprobs", "--data-dir", str(definition.parent),
               "--results-dir", str(tmp_path / "results"), env={"OPENAI_API_KEY": "x"})  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--apply-chat-template" in done.stderr and "mm.tsv" in done.stderr
