"""Log-likelihood mode sends what lm-evaluation-harness 0.4.13 sends, and scores as it scores.

lm-eval's own task objects are built from its installed task YAMLs; only the dataset is swapped for the
shared copies (read here with the csv/json modules, cells as written, into the Hugging Face layout the
YAMLs expect), so nothing is downloaded. For the same documents, our request must carry the same
context and continuations as lm-eval's ``construct_requests``, and our acc/acc_norm must equal its
``process_results``.
"""

from __future__ import annotations

import csv
import json
import logging
import random
from pathlib import Path
from typing import Any

import pytest

from tianping.benchmarks import registry
from tianping.benchmarks.benchmark import Benchmark
from tianping.core import GenerationParams, LogLikelihood, Response

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed: nothing to compare the prompts with")
datasets = pytest.importorskip("datasets", reason="lm-eval's task objects need the datasets package")
from lm_eval.api.task import ConfigurableTask  # noqa: E402
from lm_eval.tasks._yaml_loader import load_yaml  # noqa: E402

TASKS = Path(lm_eval.__file__).parent / "tasks"
logging.getLogger("lm_eval").setLevel(logging.ERROR)  # it warns that a custom dataset is in use


# --- the shared data in the layout of the Hugging Face datasets lm-eval reads -----------------------------


def _csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def mmlu_docs(path: Path, subject: str) -> list[dict[str, Any]]:
    """cais/mmlu: question, subject, choices (list), answer (int)."""
    _, rows = _csv_rows(path)
    return [{"question": r[0], "subject": subject, "choices": r[1:5], "answer": int(r[5])} for r in rows]


def cmmlu_docs(path: Path) -> list[dict[str, Any]]:
    """haonan-li/cmmlu: Question, A, B, C, D, Answer (letter)."""
    header, rows = _csv_rows(path)
    return [{name: r[header.index(name)] for name in ("Question", "A", "B", "C", "D", "Answer")} for r in rows]


def ceval_docs(path: Path) -> list[dict[str, Any]]:
    """ceval/ceval-exam: id, question, A, B, C, D, answer, explanation."""
    header, rows = _csv_rows(path)
    docs = [dict(zip(header, r, strict=True)) for r in rows]
    return [{**d, "explanation": d.get("explanation", "")} for d in docs]


def arc_docs(path: Path) -> list[dict[str, Any]]:
    """allenai/ai2_arc: id, question (the stem), choices {text, label}, answerKey."""
    docs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        choices = row["question"]["choices"]
        docs.append(
            {
                "id": row["id"],
                "question": row["question"]["stem"],
                "choices": {"text": [c["text"] for c in choices], "label": [c["label"] for c in choices]},
                "answerKey": row["answerKey"],
            }
        )
    return docs


def lm_eval_task(yaml_path: Path, splits: dict[str, list[dict[str, Any]]]) -> ConfigurableTask:
    """lm-eval's task as its YAML defines it, reading ``splits`` instead of the hub."""
    config = load_yaml(yaml_path)
    dataset = datasets.DatasetDict({name: datasets.Dataset.from_list(docs) for name, docs in splits.items()})
    config["custom_dataset"] = lambda **_: dataset
    return ConfigurableTask(config=config)


def lm_eval_arc(name: str, folder: str, test: list[dict[str, Any]], data_dir: Path) -> ConfigurableTask:
    """ARC's task; its (unused, zero-shot) train split is stood in for by the dev rows, the copy lacking train."""
    dev = arc_docs(data_dir / "arc" / folder / f"{folder}-Dev.jsonl")[:5]
    return lm_eval_task(TASKS / "arc" / f"{name}.yaml", {"train": dev, "validation": dev, "test": test})


def lm_eval_requests(task: ConfigurableTask, doc: dict[str, Any], shots: int) -> tuple[str, tuple[str, ...]]:
    context = task.fewshot_context(doc, num_fewshot=shots)
    instances = task.construct_requests(doc, context)
    contexts = {i.arguments[0] for i in instances}
    assert contexts == {context}
    return context, tuple(i.arguments[1] for i in instances)


# --- our side ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def benches(data_dir: Path) -> dict[str, Benchmark]:
    names = ["mmlu", "mmlu_5shot", "cmmlu", "cmmlu_5shot", "ceval", "ceval_5shot", "arc_easy", "arc_challenge"]
    out = {}
    for name in names:
        (bench,) = registry.build(name, data_dir, mode="loglikelihood")
        out[name] = bench.load()
    return out


def ours(bench: Benchmark, sample_id: str) -> tuple[str, tuple[str, ...]]:
    sample = next(s for s in bench.samples if s.id == sample_id)
    request = bench.build_request(sample, "fake/model", GenerationParams())
    assert request.kind == "loglikelihood" and request.continuations is not None and request.prompt is not None
    return request.prompt, request.continuations


def our_gold(bench: Benchmark, sample_id: str, choices: int) -> int:
    """The choice our scorer counts as right: the one whose being most likely scores acc 1."""
    sample = next(s for s in bench.samples if s.id == sample_id)
    for i in range(choices):
        lls = tuple(LogLikelihood(logprob=-1.0 if j == i else -2.0, greedy=False, tokens=1) for j in range(choices))
        if bench.score(sample, Response((), 0.0, loglikelihoods=lls)).metrics["acc"] == 1.0:
            return i
    raise AssertionError(f"no choice of {sample_id} scores as right")


def _picked(docs: list[dict[str, Any]], has_space: Any, first: int = 6) -> list[int]:
    """The first few rows plus every row whose question or options carry surrounding whitespace."""
    return sorted(set(range(min(first, len(docs)))) | {i for i, d in enumerate(docs) if has_space(d)})


def _spaced(*texts: str) -> bool:
    return any(t != t.strip() for t in texts)


# MMLU: subjects where options (college_mathematics, computer_security) or dev shots (professional_law)
# have leading/trailing spaces, which lm-eval prints as they are
MMLU_SUBJECTS = ["abstract_algebra", "college_mathematics", "computer_security", "professional_law"]


@pytest.mark.parametrize("subject", MMLU_SUBJECTS)
def test_mmlu_requests_equal_lm_evals_zero_and_five_shot(benches, data_dir, subject):
    test = mmlu_docs(data_dir / "mmlu" / "test" / f"{subject}_test.csv", subject)
    dev = mmlu_docs(data_dir / "mmlu" / "dev" / f"{subject}_dev.csv", subject)
    task = lm_eval_task(TASKS / "mmlu" / "default" / f"mmlu_{subject}.yaml", {"test": test, "dev": dev})
    picked = _picked(test, lambda d: _spaced(*d["choices"]))[:40]
    assert len(picked) >= 6
    for i in picked:
        for name, shots in (("mmlu", 0), ("mmlu_5shot", 5)):
            assert ours(benches[name], f"{subject}/{i}") == lm_eval_requests(task, test[i], shots), (name, i)
        assert our_gold(benches["mmlu"], f"{subject}/{i}", 4) == task.doc_to_target(test[i]), i


@pytest.mark.parametrize("subject", ["agronomy", "anatomy", "computer_science"])
def test_cmmlu_requests_equal_lm_evals_zero_and_five_shot(benches, data_dir, subject):
    test = cmmlu_docs(data_dir / "cmmlu" / "test" / f"{subject}.csv")
    dev = cmmlu_docs(data_dir / "cmmlu" / "dev" / f"{subject}.csv")
    task = lm_eval_task(TASKS / "cmmlu" / f"cmmlu_{subject}.yaml", {"test": test, "dev": dev})
    picked = _picked(test, lambda d: _spaced(d["Question"], d["A"], d["B"], d["C"], d["D"]))[:40]
    for i in picked:
        for name, shots in (("cmmlu", 0), ("cmmlu_5shot", 5)):
            assert ours(benches[name], f"{subject}/{i}") == lm_eval_requests(task, test[i], shots), (name, i)
        assert our_gold(benches["cmmlu"], f"{subject}/{i}", 4) == task.doc_to_target(test[i]), i


@pytest.mark.parametrize("subject", ["accountant", "high_school_biology", "logic"])
def test_ceval_val_requests_equal_lm_evals_zero_and_five_shot(benches, data_dir, subject):
    val = ceval_docs(data_dir / "ceval" / "val" / f"{subject}_val.csv")
    dev = ceval_docs(data_dir / "ceval" / "dev" / f"{subject}_dev.csv")
    task = lm_eval_task(TASKS / "ceval" / f"ceval-valid_{subject}.yaml", {"val": val, "dev": dev})
    for i in _picked(val, lambda d: _spaced(d["A"], d["B"], d["C"], d["D"])):
        for name, shots in (("ceval", 0), ("ceval_5shot", 5)):
            assert ours(benches[name], f"{subject}/{i}") == lm_eval_requests(task, val[i], shots), (name, i)
        assert our_gold(benches["ceval"], f"{subject}/{i}", 4) == task.doc_to_target(val[i]), i


@pytest.mark.parametrize(("name", "folder"), [("arc_easy", "ARC-Easy"), ("arc_challenge", "ARC-Challenge")])
def test_arc_requests_equal_lm_evals(benches, data_dir, name, folder):
    docs = arc_docs(data_dir / "arc" / folder / f"{folder}-Test.jsonl")
    # the first rows, rows labelled 1-4 and rows with 3 or 5 options
    odd = [d for d in docs if d["choices"]["label"][0] == "1" or len(d["choices"]["label"]) != 4][:12]
    picked = docs[:8] + odd
    assert any(len(d["choices"]["label"]) != 4 for d in odd) and any(d["choices"]["label"][0] == "1" for d in odd)
    task = lm_eval_arc(name, folder, picked, data_dir)
    for doc in picked:
        assert ours(benches[name], doc["id"]) == lm_eval_requests(task, doc, 0), doc["id"]
        assert our_gold(benches[name], doc["id"], len(doc["choices"]["label"])) == task.doc_to_target(doc), doc["id"]


def test_every_subject_description_is_lm_evals(benches):
    """The per-subject description of all 57 + 67 + 52 subjects, against each subject's lm-eval YAML."""
    cases = [
        ("mmlu", sorted((TASKS / "mmlu" / "default").glob("mmlu_*.yaml"))),
        ("cmmlu", sorted(TASKS.joinpath("cmmlu").glob("cmmlu_*.yaml"))),
        ("ceval", sorted(TASKS.joinpath("ceval").glob("ceval-valid_*.yaml"))),
    ]
    for name, files in cases:
        bench = benches[name]
        first_of = {}
        for sample in bench.samples:
            first_of.setdefault(sample.meta["subject"], sample)
        assert len(files) == len(first_of), name
        for path in files:
            config = load_yaml(path)
            context, _ = ours(bench, first_of[config["dataset_name"]].id)
            assert context.startswith(config["description"]), (name, path.name)


# --- scoring -----------------------------------------------------------------------------------------------


def _random_logprobs(rng: random.Random, n: int) -> list[float]:
    """Log-likelihoods with frequent exact ties, both raw and after division by length."""
    pool = [-1.0, -2.0, -4.0, -0.5, round(-rng.uniform(0.1, 30), 2)]
    return [rng.choice(pool) for _ in range(n)]


@pytest.mark.parametrize(("name", "folder"), [("arc_challenge", "ARC-Challenge"), ("arc_easy", "ARC-Easy")])
def test_acc_and_acc_norm_equal_lm_evals_process_results(benches, data_dir, name, folder):
    docs = arc_docs(data_dir / "arc" / folder / f"{folder}-Test.jsonl")[:80]
    task = lm_eval_arc(name, folder, docs, data_dir)
    bench = benches[name]
    by_id = {s.id: s for s in bench.samples}
    rng = random.Random(7)
    differs = 0
    for doc in docs:
        for _ in range(3):
            logprobs = _random_logprobs(rng, len(doc["choices"]["text"]))
            expected = task.process_results(doc, [(lp, False) for lp in logprobs])
            response = Response(
                completions=(),
                latency_s=0.0,
                loglikelihoods=tuple(LogLikelihood(logprob=lp, greedy=False, tokens=1) for lp in logprobs),
            )
            score = bench.score(by_id[doc["id"]], response)
            assert score.metrics == {"acc": expected["acc"], "acc_norm": expected["acc_norm"]}, (doc["id"], logprobs)
            assert score.value == expected["acc"]
            differs += expected["acc"] != expected["acc_norm"]
    assert differs > 10  # the cases exercised include many where the length normalisation changes the pick


def test_cmmlu_letter_choices_score_like_lm_eval(benches, data_dir):
    test = cmmlu_docs(data_dir / "cmmlu" / "test" / "anatomy.csv")[:60]
    dev = cmmlu_docs(data_dir / "cmmlu" / "dev" / "anatomy.csv")
    task = lm_eval_task(TASKS / "cmmlu" / "cmmlu_anatomy.yaml", {"test": test, "dev": dev})
    bench = benches["cmmlu"]
    rng = random.Random(3)
    for i, doc in enumerate(test):
        logprobs = _random_logprobs(rng, 4)
        expected = task.process_results(doc, [(lp, False) for lp in logprobs])
        lls = tuple(LogLikelihood(logprob=lp, greedy=False, tokens=1) for lp in logprobs)
        score = bench.score(
            next(s for s in bench.samples if s.id == f"anatomy/{i}"), Response((), 0.0, loglikelihoods=lls)
        )
        assert score.metrics == {"acc": expected["acc"], "acc_norm": expected["acc_norm"]}, (i, logprobs)
