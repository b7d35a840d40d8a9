"""Log-likelihood runs through the engine with a test double of a model: aggregates, storage, cache, resume.

The double scores a continuation by its length alone (log-likelihood = -len(continuation)), so the
expected picks follow from the data: ``acc`` takes the shortest choice and ``acc_norm`` (divided by
the choice's length, one less than the continuation's) the longest; ties go to the first.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tianping.core import LogLikelihood, Request, Response
from tianping.engine import runner
from tianping.engine.runner import Runner, load_benchmarks, start_run
from tianping.models.errors import ServerError
from tianping.spec import ModelSpec, RunSpec
from tianping.store import Store


class LengthModel:
    """Answers log-likelihood requests only; can be told to fail some requests (by continuation set)."""

    def __init__(self, model_id: str, fail_when: set[str] | None = None):
        self.model_id = model_id
        self.calls: list[Request] = []
        self.fail_when = fail_when or set()

    async def generate(self, request: Request) -> Response:
        assert request.kind == "loglikelihood" and request.continuations is not None
        self.calls.append(request)
        if request.continuations[0] in self.fail_when:
            raise ServerError("HTTP 500 after retries")
        lls = tuple(
            LogLikelihood(logprob=-float(len(c)), greedy=False, tokens=len(c), chars=len(c), bytes=len(c.encode()))
            for c in request.continuations
        )
        return Response(completions=(), latency_s=0.01, prompt_tokens=len(request.prompt or ""), loglikelihoods=lls)

    async def aclose(self) -> None:
        return None


@pytest.fixture
def model(monkeypatch):
    double = LengthModel("ref/length-double")
    monkeypatch.setattr(runner, "create_backend", lambda spec: double)
    return double


def make_spec(data_dir, benchmarks, limit=60, use_cache=True) -> RunSpec:
    return RunSpec(
        models=[ModelSpec(id="ref/length-double", concurrency=4)],
        benchmarks=benchmarks,
        data_dir=str(data_dir),
        limit=limit,
        use_cache=use_cache,
        mode="loglikelihood",
    )


def run(store: Store, spec: RunSpec, run_id: str | None = None):
    run_id = start_run(store, spec, run_id)
    return asyncio.run(Runner(spec, store, run_id).execute())


def first_index(values: list[int], target: int) -> int:
    return values.index(target)


def test_an_arc_run_reports_acc_and_acc_norm_with_intervals(tmp_path, data_dir, model):
    spec = make_spec(data_dir, ["arc_challenge"], limit=80)
    store = Store.open(tmp_path)
    result = run(store, spec)
    assert result.status == "completed" and result.sent == 80 and len(model.calls) == 80

    (bench,) = load_benchmarks(spec)
    expected_acc = expected_norm = 0
    for s in bench.samples:
        lengths = [len(c) for c in s.fields["choices"]]
        gold = s.fields["letters"].index(s.target)
        expected_acc += first_index(lengths, min(lengths)) == gold
        expected_norm += first_index(lengths, max(lengths)) == gold
    rows = {a["metric"]: a for a in store.aggregates(result.run_id) if a["group_kind"] == "all"}
    assert set(rows) == {"acc", "acc_norm"}
    assert rows["acc"]["score"] == pytest.approx(expected_acc / 80) and rows["acc"]["n"] == 80
    assert rows["acc_norm"]["score"] == pytest.approx(expected_norm / 80) and rows["acc_norm"]["n"] == 80
    assert expected_acc != expected_norm  # the two metrics measured different things here
    for row in rows.values():
        assert row["ci_low"] <= row["score"] <= row["ci_high"] and row["ci_high"] - row["ci_low"] > 0.05

    assert store.get_run(result.run_id)["benchmark_versions"] == {"arc_challenge": "1.0+loglikelihood"}
    stored = list(store.sample_rows(result.run_id))
    first = stored[0]
    assert first["prompt"]["prompt"].startswith("Question: ") and first["prompt"]["continuations"][0].startswith(" ")
    # the output column keeps the per-choice log-likelihoods readable; the score says what each metric chose
    assert json.loads(first["output"]) == [-float(len(c)) for c in first["prompt"]["continuations"]]
    assert first["extracted"] in "ABCDE" and first["reason"].startswith("acc chose ")
    assert {r["score"] for r in stored} <= {0.0, 1.0} and all(set(r["metrics"]) == {"acc", "acc_norm"} for r in stored)


def test_mmlu_breakdowns_and_identical_letter_scores(tmp_path, data_dir, model):
    store = Store.open(tmp_path)
    result = run(store, make_spec(data_dir, ["mmlu_5shot"], limit=114))
    aggregates = store.aggregates(result.run_id)
    rows = {a["metric"]: a for a in aggregates if a["group_kind"] == "all"}
    # one-letter choices: every continuation has the same length, so both metrics pick A (the first)
    expected = sum(1 for r in store.sample_rows(result.run_id) if r["target"] == "A") / 114
    assert rows["acc"]["score"] == pytest.approx(expected) == rows["acc_norm"]["score"]
    subjects = [a for a in aggregates if a["group_kind"] == "subject"]
    assert len(subjects) == 57 and all(a["n"] == 2 and a["metric"] == "acc" for a in subjects)
    assert model.calls[0].prompt.startswith("The following are multiple choice questions (with answers) about ")
    assert model.calls[0].prompt.count("\nAnswer:") == 6


def test_log_likelihood_requests_are_cached_by_context_and_continuations(tmp_path, data_dir, model):
    store = Store.open(tmp_path)
    first = run(store, make_spec(data_dir, ["arc_easy"], limit=20))
    second = run(store, make_spec(data_dir, ["arc_easy"], limit=20))
    assert (first.sent, second.sent, second.from_cache, len(model.calls)) == (20, 0, 20, 20)
    third = run(store, make_spec(data_dir, ["arc_easy"], limit=20, use_cache=False))
    assert third.sent == 20 and len(model.calls) == 40

    def outcome(run_id):
        return [(r["sample_id"], r["output"], r["extracted"], r["score"]) for r in store.sample_rows(run_id)]

    assert outcome(first.run_id) == outcome(second.run_id) == outcome(third.run_id)
    base = Request(model="ref/length-double", prompt="Question: q\nAnswer:", continuations=(" a", " b"))
    assert base.key != Request(model="ref/length-double", prompt="Question: q\nAnswer:", continuations=(" a", " c")).key
    assert base.key != Request(model="ref/length-double", prompt="Question: q\nAnswer:").key


def test_resume_sends_only_the_requests_that_failed(tmp_path, data_dir, monkeypatch):
    spec = make_spec(data_dir, ["arc_easy"], limit=30)
    (bench,) = load_benchmarks(spec)
    failing = {" " + s.fields["choices"][0] for s in bench.samples[::5]}  # 6 samples fail the first time
    flaky = LengthModel("ref/length-double", fail_when=failing)
    monkeypatch.setattr(runner, "create_backend", lambda _: flaky)
    store = Store.open(tmp_path)
    first = run(store, spec)
    assert first.status == "incomplete" and first.errors == 6 and first.sent == 24

    healthy = LengthModel("ref/length-double")
    monkeypatch.setattr(runner, "create_backend", lambda _: healthy)
    resumed = run(store, spec, first.run_id)
    assert resumed.status == "completed" and len(healthy.calls) == 6
    assert {r.continuations[0] for r in healthy.calls} == failing
    (acc,) = [a for a in store.aggregates(first.run_id) if a["group_kind"] == "all" and a["metric"] == "acc"]
    assert acc["n"] == 30 and acc["errors"] == 0
