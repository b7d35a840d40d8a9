"""The engine against a real local server: every sample scored once, cache, errors, reasoning."""

from __future__ import annotations

from engine_helpers import make_spec, outcomes, run_engine
from fake_openai import oracle_answer_fn, running_server
from tianping.store import Store


def test_gsm8k_run_scores_every_sample_with_intervals(tmp_path, data_dir):
    with running_server(answer_fn=oracle_answer_fn(accuracy=0.7)) as server:
        store = Store.open(tmp_path)
        result = run_engine(store, make_spec(server.base_url, data_dir, ["gsm8k"], limit=100))
    assert result.status == "completed" and result.sent == 100
    (overall,) = [a for a in store.aggregates(result.run_id) if a["group_kind"] == "all"]
    assert overall["n"] == 100 and overall["extraction_failures"] == 0
    # the oracle is right on a hash-chosen 70%: the measured score must be near it, inside its interval
    assert 0.55 <= overall["score"] <= 0.85
    assert overall["ci_low"] < overall["score"] < overall["ci_high"]


def test_five_percent_429_and_500_still_scores_every_sample_exactly_once(tmp_path, data_dir):
    answer = oracle_answer_fn(accuracy=0.7)
    with running_server(answer_fn=answer) as clean:
        reference = Store.open(tmp_path / "clean")
        ref = run_engine(reference, make_spec(clean.base_url, data_dir, ["gsm8k", "mmlu"], limit=150))
    with running_server(answer_fn=answer, error_rate=0.05, error_statuses=(429, 500)) as flaky:
        store = Store.open(tmp_path / "flaky")
        spec = make_spec(flaky.base_url, data_dir, ["gsm8k", "mmlu"], limit=150, concurrency=16)
        result = run_engine(store, spec)
        assert flaky.requests_total > 300  # some attempts failed and were retried
        assert sum(flaky.answers_by_key.values()) == 300  # each request answered once
    assert result.status == "completed" and result.errors == 0
    rows = list(store.sample_rows(result.run_id))
    assert len(rows) == 300 and len({(r["benchmark"], r["sample_id"]) for r in rows}) == 300
    assert outcomes(store, result.run_id) == outcomes(reference, ref.run_id)
    assert store.aggregates(result.run_id) == [dict(a, run_id=result.run_id) for a in reference.aggregates(ref.run_id)]


def test_identical_requests_are_answered_from_the_cache_unless_disabled(tmp_path, data_dir):
    with running_server(answer_fn=oracle_answer_fn()) as server:
        store = Store.open(tmp_path)
        first = run_engine(store, make_spec(server.base_url, data_dir, ["gsm8k"], limit=20))
        sent = server.requests_total
        second = run_engine(store, make_spec(server.base_url, data_dir, ["gsm8k"], limit=20))
        assert server.requests_total == sent and second.from_cache == 20
        third = run_engine(store, make_spec(server.base_url, data_dir, ["gsm8k"], limit=20, use_cache=False))
        assert server.requests_total == sent + 20 and third.sent == 20
    assert outcomes(store, first.run_id) == outcomes(store, second.run_id) == outcomes(store, third.run_id)


def test_unfinished_thinking_is_incomplete_and_counts_as_not_correct(tmp_path, data_dir):
    with running_server(answer_fn=oracle_answer_fn(), reasoning="unterminated") as server:
        store = Store.open(tmp_path)
        result = run_engine(store, make_spec(server.base_url, data_dir, ["gsm8k"], limit=10))
    overall = {a["metric"]: a for a in store.aggregates(result.run_id) if a["group_kind"] == "all"}
    headline, completed = overall["accuracy"], overall["accuracy over completed"]
    assert headline["incomplete"] == 10 and headline["n"] == 10 and headline["score"] == 0.0
    assert completed["n"] == 0 and completed["score"] is None
    assert {r["status"] for r in store.sample_rows(result.run_id)} == {"incomplete"}


def test_reasoning_is_kept_apart_and_answers_come_from_the_answer_part(tmp_path, data_dir):
    for mode in ("field", "reasoning_field", "think_tag"):
        with running_server(answer_fn=oracle_answer_fn(accuracy=1.0), reasoning=mode) as server:
            store = Store.open(tmp_path / mode)
            result = run_engine(store, make_spec(server.base_url, data_dir, ["gsm8k"], limit=10, stream=True))
        rows = list(store.sample_rows(result.run_id))
        assert all(r["reasoning"] and "<think>" not in r["output"] for r in rows), mode
        assert all(r["score"] == 1.0 for r in rows), mode


def test_persistent_errors_are_recorded_and_resume_retries_only_them(tmp_path, data_dir):
    with running_server(answer_fn=oracle_answer_fn(), error_rate=1.0, error_statuses=(500,)) as server:
        store = Store.open(tmp_path)
        spec = make_spec(server.base_url, data_dir, ["gsm8k"], limit=10, max_retries=1)
        first = run_engine(store, spec)
        assert first.status == "incomplete" and first.errors == 10
        assert "ServerError" in (first.message or "")
        server.error_rate = 0.0
        server.reset_counters()
        again = run_engine(store, spec, run_id=first.run_id)
        assert again.status == "completed" and server.requests_total == 10
    assert {r["status"] for r in store.sample_rows(first.run_id)} == {"scored"}
    assert store.get_run(first.run_id)["status"] == "completed"


def test_401_stops_the_run_and_keeps_nothing_secret(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-value")
    with running_server(fail_mode="401") as server:
        store = Store.open(tmp_path)
        result = run_engine(store, make_spec(server.base_url, data_dir, ["gsm8k"], limit=5))
    assert result.status == "failed" and "AuthError" in result.message
    assert "sk-very-secret-value" not in result.message
    assert b"sk-very-secret-value" not in (tmp_path / "tianping.sqlite").read_bytes()


COMPLETION_BENCH = """
name: gsm8k_base
version: "1"
dataset: {loader: gsm8k_jsonl, path: gsm8k/test.jsonl}
fewshot:
  k: 2
  dataset: {loader: gsm8k_jsonl, path: gsm8k/train.jsonl}
prompt:
  format: completion
  question: "Question: {{ question }}\\nAnswer:"
  answer: " {{ rationale }} The answer is {{ answer }}."
generation: {max_tokens: 256, stop: ["Question:"]}
scoring: {extractor: final_number, metric: numeric_match}
"""


def test_a_completion_format_benchmark_uses_the_completions_endpoint(tmp_path, data_dir):
    path = tmp_path / "gsm8k_base.yaml"
    path.write_text(COMPLETION_BENCH, encoding="utf-8")
    with running_server(answer_fn=oracle_answer_fn(accuracy=1.0)) as server:
        store = Store.open(tmp_path)
        result = run_engine(store, make_spec(server.base_url, data_dir, [str(path)], limit=5))
        body = server.last_body
    assert result.status == "completed"
    assert "messages" not in body and body["prompt"].count("Question:") == 3 and body["stop"] == ["Question:"]
    assert body["prompt"].endswith("Answer:")
    assert [r["score"] for r in store.sample_rows(result.run_id)] == [1.0] * 5


def test_compare_pairs_incomplete_answers_as_not_correct(tmp_path, data_dir):
    """The paired comparison counts what the headline counts: a model that ran out of budget on every item is
    paired with one that answered, not left out of the pairing."""
    from tianping.report.compare import compare_runs

    store = Store.open(tmp_path)
    with running_server(answer_fn=oracle_answer_fn(accuracy=1.0)) as server:
        good = run_engine(store, make_spec(server.base_url, data_dir, ["gsm8k"], limit=10, use_cache=False))
    with running_server(answer_fn=oracle_answer_fn(), reasoning="unterminated") as server:
        cut = run_engine(store, make_spec(server.base_url, data_dir, ["gsm8k"], limit=10, use_cache=False))
    (row,) = compare_runs(store, good.run_id, cut.run_id)
    assert row.result.n == 10 and row.only_a == row.only_b == 0
    assert row.result.diff == -1.0 and row.result.a_better == 10
