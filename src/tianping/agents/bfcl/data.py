"""BFCL v4 single-turn data: the 13 categories' questions and possible answers, read from ``<data>/bfcl``.

Every file is JSON Lines despite its ``.json`` name (as upstream). A question line holds ``id``, ``question`` (a
list of turns, each a list of chat messages; single-turn categories have one turn) and ``function`` (the function
docs); a possible-answer line holds ``id`` and ``ground_truth``. Answers pair with questions by line, as BFCL's
runner pairs them (by index), and a pair whose ids differ is refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tianping.benchmarks.errors import DatasetError

CATEGORIES = (
    "simple_python",
    "simple_java",
    "simple_javascript",
    "multiple",
    "parallel",
    "parallel_multiple",
    "irrelevance",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
    "live_irrelevance",
    "live_relevance",
)
"""The v4 single-turn categories, in BFCL's leaderboard order."""
FOLDER = "bfcl"
ROLES = frozenset({"system", "user", "assistant"})


def language_of(category: str) -> str:
    """``python``, ``java`` or ``javascript``: how a category's answers are typed and parsed (BFCL's
    ``is_java`` / ``is_js`` read the category name the same way)."""
    if "javascript" in category:
        return "javascript"
    return "java" if "java" in category else "python"


def is_relevance(category: str) -> bool:
    """Scored by whether a call is made at all (``irrelevance``: none should be; ``live_relevance``: one)."""
    return "relevance" in category


@dataclass(frozen=True)
class BfclItem:
    id: str
    category: str
    messages: tuple[tuple[str, str], ...]
    """The single turn's chat messages as (role, content)."""
    functions: tuple[dict[str, Any], ...]
    """The function docs as the file has them (the checker reads these; requests get copies with BFCL's hints)."""
    ground_truth: tuple[dict[str, Any], ...] | None
    """One ``{function name: {parameter: [accepted values]}}`` per expected call; None for (ir)relevance."""
    line: int


def question_path(data_dir: Path, category: str) -> Path:
    return data_dir / FOLDER / f"BFCL_v4_{category}.json"


def answer_path(data_dir: Path, category: str) -> Path:
    return data_dir / FOLDER / "possible_answer" / f"BFCL_v4_{category}.json"


def _lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise DatasetError(f"{path}: missing (BFCL data: see {path.parent}/SOURCE.md or `tianping data`)")
    rows = []
    with path.open(encoding="utf-8") as f:
        for number, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except ValueError as exc:
                raise DatasetError(f"{path}:{number}: not JSON ({exc})") from None
            if type(row) is not dict:
                raise DatasetError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            rows.append((number, row))
    return rows


def _field(path: Path, number: int, row: dict[str, Any], name: str, kind: type) -> Any:
    value = row.get(name)
    if type(value) is not kind:
        raise DatasetError(f"{path}:{number}: field {name!r} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def _messages(path: Path, number: int, question: list[Any]) -> tuple[tuple[str, str], ...]:
    if len(question) != 1 or type(question[0]) is not list or not question[0]:
        raise DatasetError(f"{path}:{number}: field 'question' must hold one turn (a non-empty list of messages)")
    out = []
    for k, message in enumerate(question[0]):
        if type(message) is not dict or message.get("role") not in ROLES or type(message.get("content")) is not str:
            raise DatasetError(f"{path}:{number}: field 'question[0][{k}]' must be a message with role and content")
        out.append((message["role"], message["content"]))
    return tuple(out)


def _functions(path: Path, number: int, functions: list[Any]) -> tuple[dict[str, Any], ...]:
    for k, doc in enumerate(functions):
        params = doc.get("parameters") if type(doc) is dict else None
        if (
            type(doc) is not dict
            or type(doc.get("name")) is not str
            or type(params) is not dict
            or type(params.get("properties")) is not dict
        ):
            raise DatasetError(f"{path}:{number}: field 'function[{k}]' must have a name and parameters.properties")
    return tuple(functions)


def _ground_truth(path: Path, number: int, truth: list[Any]) -> tuple[dict[str, Any], ...]:
    for k, call in enumerate(truth):
        if type(call) is not dict or len(call) != 1 or type(next(iter(call.values()))) is not dict:
            raise DatasetError(f"{path}:{number}: field 'ground_truth[{k}]' must be {{function: {{param: [values]}}}}")
    return tuple(truth)


def load_category(data_dir: Path, category: str) -> tuple[list[BfclItem], str]:
    """The items of ``category`` and a digest of the files they came from."""
    if category not in CATEGORIES:
        raise DatasetError(f"unknown BFCL category {category!r}; known: {', '.join(CATEGORIES)}")
    qpath = question_path(data_dir, category)
    questions = _lines(qpath)
    digest = hashlib.sha256(qpath.read_bytes())
    answers: list[tuple[int, dict[str, Any]]] | None = None
    apath = answer_path(data_dir, category)
    if not is_relevance(category):
        answers = _lines(apath)
        digest.update(apath.read_bytes())
        if len(answers) != len(questions):
            raise DatasetError(f"{apath}: {len(answers)} answers for {len(questions)} questions in {qpath.name}")
    items = []
    seen: set[str] = set()
    for k, (number, row) in enumerate(questions):
        ident = _field(qpath, number, row, "id", str)
        if ident in seen:
            raise DatasetError(f"{qpath}:{number}: duplicate id {ident!r}")
        seen.add(ident)
        truth = None
        if answers is not None:
            anumber, answer = answers[k]
            if answer.get("id") != ident:
                raise DatasetError(f"{apath}:{anumber}: id {answer.get('id')!r} where {qpath.name} has {ident!r}")
            truth = _ground_truth(apath, anumber, _field(apath, anumber, answer, "ground_truth", list))
        items.append(
            BfclItem(
                id=ident,
                category=category,
                messages=_messages(qpath, number, _field(qpath, number, row, "question", list)),
                functions=_functions(qpath, number, _field(qpath, number, row, "function", list)),
                ground_truth=truth,
                line=number,
            )
        )
    return items, digest.hexdigest()
