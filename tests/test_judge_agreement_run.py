"""``judge_llmbar`` and ``judge_autoj`` run end to end through the command line: the model under test is the judge,
played by a local fake OpenAI server (real HTTP on 127.0.0.1) that follows a script the test knows.

The scripted judge reads the request and both replies out of the prompt, finds the pair in the real data (so it
knows the gold label and which order it is shown) and, by a hash of the pair's texts:

* agrees with the gold label in both orders (about half the pairs), strongly or mildly;
* always prefers the reply shown first (its verdict flips with the order);
* says tie in one order and names the gold winner in the other;
* names the wrong output in both orders;
* answers without a readable verdict in one of the orders.

Every expected number (each sample's score, the accuracy, Cohen's kappa, position consistency) is derived here
from the script and the gold labels, never copied from a previous run.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import cli
from fake_openai import running_server
from test_judged_cli import _overall, _samples
from tianping.judging.agreement import GoldPair, agreement, load_autoj_pairwise, load_llmbar
from tianping.store import Store

MODEL = "openai/qwen-judge-test"
_PROMPT = re.compile(r"\A### Request\n(.*)\n\n### Reply A\n(.*)\n\n### Reply B\n(.*)\n\n### End of replies\Z", re.S)


def _unit(*texts: str) -> float:
    digest = hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()
    return int(digest[:12], 16) / 16**12


def _shown(text: str) -> str:
    """A reply as the prompt shows it: an empty one is a placeholder (the data has one empty Auto-J reply)."""
    return text if text.strip() else "(empty reply)"


def behaviour(pair: GoldPair) -> str:
    u = _unit(pair.instruction, pair.output_1, pair.output_2)
    if u < 0.5:
        return "agree"
    if u < 0.65:
        return "first-position"
    if u < 0.75:
        return "half-tie"
    if u < 0.88:
        return "wrong"
    return "unreadable"


def _says(winner: str | None, swapped: bool, strong: bool) -> str:
    """The verdict label naming ``winner`` (``"1"``, ``"2"`` or None for a tie) in a prompt's positions."""
    if winner is None:
        return "A=B"
    a_wins = (winner == "1") != swapped
    return ("A>>B" if strong else "A>B") if a_wins else ("B>>A" if strong else "B>A")


def scripted_verdict(pair: GoldPair, swapped: bool) -> str | None:
    """What the scripted judge says of ``pair`` (``swapped``: output 2 shown as A); None: no readable verdict."""
    gold = {"first": "1", "second": "2", "tie": None}[pair.label]
    strong = _unit(pair.output_2, pair.instruction) < 0.5
    kind = behaviour(pair)
    if kind == "agree":
        return _says(gold, swapped, strong)
    if kind == "first-position":
        return "A>B"
    if kind == "half-tie":
        return "A=B" if swapped else _says(gold or "1", swapped, strong)
    if kind == "wrong":
        return _says("2" if gold == "1" else "1", swapped, strong)
    unreadable_order = _unit(pair.item_id) < 0.5
    return None if swapped == unreadable_order else _says(gold, swapped, strong)


def _winner(label: str, swapped: bool) -> str | None:
    if label == "A=B":
        return None
    a_won = label.startswith("A>")
    return ("1" if a_won else "2") if not swapped else ("2" if a_won else "1")


def expected_prediction(pair: GoldPair) -> str | None:
    """The pair's prediction under the documented rule, from the script's two verdicts."""
    one, two = scripted_verdict(pair, False), scripted_verdict(pair, True)
    if one is None or two is None:
        return None
    w1, w2 = _winner(one, False), _winner(two, True)
    if w1 != w2:
        return "tie"
    return {"1": "first", "2": "second", None: "tie"}[w1]


class ScriptedJudge:
    """The answer function of the fake server; keeps which pair and order each request asked about."""

    def __init__(self, pairs: list[GoldPair]) -> None:
        self.by_prompt: dict[tuple[str, str, str], tuple[GoldPair, bool]] = {}
        for pair in pairs:
            one, two = _shown(pair.output_1), _shown(pair.output_2)
            for key, value in (
                ((pair.instruction, one, two), (pair, False)),
                ((pair.instruction, two, one), (pair, True)),
            ):
                # a pair shown the same in both orders (equal outputs) gives the same verdict rule either way
                self.by_prompt.setdefault(key, value)
        self.asked: list[tuple[str, bool]] = []
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> str:
        system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
        assert body["messages"][0]["role"] == "system" and system.startswith("You compare two replies")
        found = _PROMPT.match(user)
        assert found is not None, user[:300]
        pair, swapped = self.by_prompt[(found.group(1), found.group(2), found.group(3))]
        with self._lock:
            self.asked.append((pair.item_id, swapped))
        verdict = scripted_verdict(pair, swapped)
        if verdict is None:
            return "Both replies have merit; the first is somewhat better, I think."
        return f"Looking at both replies against the request.\n\n[[{verdict}]]"


def _run(results: Path, run_id: str, url: str, *args: str):
    return cli("run", "--model", MODEL, "--base-url", url, *args, "--results-dir", str(results), "--run-id", run_id,
               env={"OPENAI_API_KEY": "x"})  # fmt: skip


LIMIT = 30
"""Pairs per task: --limit spreads them over the subsets (LLMBar) and scenario groups (Auto-J)."""


@pytest.fixture(scope="module")
def gold(data_dir: Path) -> dict[str, dict[str, GoldPair]]:
    return {
        "judge_llmbar": {p.item_id: p for p in load_llmbar(data_dir / "llmbar")},
        "judge_autoj": {p.item_id: p for p in load_autoj_pairwise(data_dir / "autoj-pairwise")},
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, gold) -> tuple[Path, ScriptedJudge, list[dict[str, Any]], str]:
    results = tmp_path_factory.mktemp("agreement")
    judge = ScriptedJudge([p for pairs in gold.values() for p in pairs.values()])
    with running_server(answer_fn=judge) as server:
        done = _run(results, "agree", server.base_url, "--benchmark", "judge_llmbar", "--benchmark", "judge_autoj",
                    "--limit", str(LIMIT))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return results, judge, _samples(results, "agree"), done.stdout


def test_limit_spreads_the_pairs_over_the_subsets_and_groups(run, gold) -> None:
    _, _, rows, _ = run
    for bench, pairs in gold.items():
        mine = [r for r in rows if r["benchmark"] == bench]
        assert len(mine) == LIMIT, bench
        if bench == "judge_llmbar":
            assert {r["meta"]["subset"] for r in mine} == {p.subset for p in pairs.values()}  # all five
        else:
            assert len({r["meta"]["group"] for r in mine}) == 8  # --limit round-robins over Auto-J's groups


def test_each_pair_is_asked_once_in_each_order(run) -> None:
    _, judge, rows, _ = run
    assert len(judge.asked) == 2 * len(rows)
    assert sorted(judge.asked) == sorted((r["sample_id"], swapped) for r in rows for swapped in (False, True))


def test_each_samples_score_is_agreement_of_the_scripted_prediction_with_gold(run, gold) -> None:
    _, _, rows, _ = run
    kinds = set()
    for row in rows:
        pair = gold[row["benchmark"]][row["sample_id"]]
        predicted = expected_prediction(pair)
        kinds.add(behaviour(pair))
        assert row["status"] == "scored" and row["target"] == pair.label
        assert row["extracted"] == (predicted or "unparseable"), (row["sample_id"], behaviour(pair))
        assert row["score"] == (1.0 if predicted == pair.label else 0.0), row["sample_id"]
    assert kinds == {"agree", "first-position", "half-tie", "wrong", "unreadable"}  # the script's every branch ran
    autoj = [gold["judge_autoj"][r["sample_id"]] for r in rows if r["benchmark"] == "judge_autoj"]
    assert any(p.label == "tie" and expected_prediction(p) == "tie" for p in autoj)  # a right tie was scored


def test_the_accuracy_is_the_share_of_agreeing_pairs(run, gold) -> None:
    results, _, rows, _ = run
    overall = _overall(results, "agree")
    for bench in gold:
        pairs = [gold[bench][r["sample_id"]] for r in rows if r["benchmark"] == bench]
        right = sum(1 for p in pairs if expected_prediction(p) == p.label)
        accuracy = overall[(bench, "accuracy")]
        assert accuracy["n"] == len(pairs) and accuracy["score"] == pytest.approx(right / len(pairs), abs=1e-12)


def _sections(results: Path, run_id: str) -> dict[str, Any]:
    """The report tables of the run, as ``show`` and ``report`` get them."""
    from tianping.engine.tasks import report_sections
    from tianping.report.collect import metric_rows, run_info

    store = Store.open(results)
    try:
        found = report_sections(run_info(store, run_id), metric_rows(store, run_id))
    finally:
        store.close()
    return {s.id: s for s in found}


def test_the_agreement_table_holds_accuracy_kappa_and_consistency_as_the_script_implies(run, gold) -> None:
    results, _, rows, _ = run
    sections = _sections(results, "agree")
    table = {(r[1], r[2]): r[3:] for r in sections["judge-agreement"].rows}
    per_subset = {(r[1], r[2]): r[3:] for r in sections["judge-agreement-subsets"].rows}
    for bench in gold:
        pairs = [gold[bench][r["sample_id"]] for r in rows if r["benchmark"] == bench]
        n = len(pairs)
        report = agreement({p.item_id: expected_prediction(p) for p in pairs}, pairs)
        a, k = report.accuracy, report.kappa
        assert a.value == pytest.approx(sum(expected_prediction(p) == p.label for p in pairs) / n, abs=1e-12)
        assert table[(bench, "Accuracy")][:3] == (
            f"{100 * a.value:.1f}%",
            f"[{100 * a.ci_low:.1f}, {100 * a.ci_high:.1f}]",
            str(n),
        )
        assert k.value is not None
        assert table[(bench, "Cohen's kappa")][:3] == (f"{k.value:.3f}", f"[{k.ci_low:.3f}, {k.ci_high:.3f}]", str(n))
        read = [p for p in pairs if None not in (scripted_verdict(p, False), scripted_verdict(p, True))]
        kept = [
            p for p in read if _winner(scripted_verdict(p, False), False) == _winner(scripted_verdict(p, True), True)
        ]
        value, _, count, _ = table[(bench, "Position consistency")]
        assert (value, count) == (f"{100 * len(kept) / len(read):.1f}%", str(len(read)))
        assert 0 < len(kept) < len(read)  # the script both keeps and flips verdicts under the swap
        bad_calls = sum(1 for p in pairs for s in (False, True) if scripted_verdict(p, s) is None)
        assert table[(bench, "Unparseable verdicts")][:3] == (f"{bad_calls} of {2 * n} calls", "—", str(n - len(read)))
        said = report.predicted
        expected = f"first {said['first']}, second {said['second']}, tie {said['tie']}, missing {said['missing']}"
        assert table[(bench, "Predicted labels")][0] == expected and said["missing"] == n - len(read) > 0
        # per subset (LLMBar) and per scenario group (Auto-J)
        by = report.per_group if bench == "judge_autoj" else report.per_subset
        assert {name for b, name in per_subset if b == bench} == set(by)
        for name, e in by.items():
            assert per_subset[(bench, name)] == (
                f"{100 * e.value:.1f}%",
                f"[{100 * e.ci_low:.1f}, {100 * e.ci_high:.1f}]",
                str(e.n),
            )


def test_show_and_runs_summary_print_the_agreement_tables(run, gold) -> None:
    results, _, rows, run_stdout = run
    shown = cli("show", "agree", "--results-dir", str(results))
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    for expected in ("Agreement with human labels", "Agreement per subset", "Cohen's kappa", "Position consistency",
                     "Accuracy, decisive gold", "Adversarial/Neighbor", "General Communication"):  # fmt: skip
        assert expected in text, expected
    assert "Agreement with human labels" in " ".join(run_stdout.split())
    for bench in gold:
        pairs = [gold[bench][r["sample_id"]] for r in rows if r["benchmark"] == bench]
        k = agreement({p.item_id: expected_prediction(p) for p in pairs}, pairs).kappa
        assert f"{k.value:.3f} [{k.ci_low:.3f}, {k.ci_high:.3f}]" in text


def test_the_html_report_carries_the_agreement_tables(run, tmp_path: Path) -> None:
    results, _, _, _ = run
    out = tmp_path / "agree.html"
    done = cli("report", "agree", "--results-dir", str(results), "--output", str(out))
    assert done.returncode == 0, done.stderr
    html = out.read_text(encoding="utf-8")
    assert 'id="judge-agreement"' in html and 'id="judge-agreement-subsets"' in html
    assert "Position consistency" in html and "kappa" in html


def _refused(data: Path, results: Path) -> str:
    with running_server(answer_fn=lambda body: "[[A>B]]") as server:
        done = cli("run", "--model", MODEL, "--base-url", server.base_url, "--benchmark", "judge_autoj",
                   "--limit", "2", "--results-dir", str(results), "--data-dir", str(data), "--offline",
                   env={"OPENAI_API_KEY": "x"})  # fmt: skip
        assert done.returncode != 0 and server.requests_total == 0, done.stdout + done.stderr
    return " ".join((done.stdout + done.stderr).split())


def test_a_missing_data_folder_is_refused_before_any_request_naming_the_pull(tmp_path: Path) -> None:
    message = _refused(tmp_path / "none", tmp_path / "res")
    assert "tianping data pull autoj-pairwise" in message and "--judge-model" not in message


def test_a_bad_label_is_refused_naming_the_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "autoj-pairwise"
    folder.mkdir(parents=True)
    good = '{"prompt": "p", "response 1": "a", "response 2": "b", "label": 0, "scenario": "chitchat"}'
    (folder / "testdata_pairwise.jsonl").write_text(good + "\n" + good.replace('"label": 0', '"label": 5') + "\n")
    message = _refused(tmp_path / "data", tmp_path / "res")
    assert "testdata_pairwise.jsonl: line 2: field 'label' must be 0, 1 or 2, got 5" in message


def test_benchmarks_lists_both_tasks_with_their_facts_and_licenses(data_dir: Path) -> None:
    done = cli("benchmarks", "--json", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    listed = {t["name"]: t for t in json.loads(done.stdout)["tasks"]}
    llmbar, autoj = listed["judge_llmbar"], listed["judge_autoj"]
    assert (llmbar["items"], llmbar["metric"], llmbar["dataset"], llmbar["data"]) == (
        419,
        "accuracy",
        "llmbar",
        "present",
    )
    assert (autoj["items"], autoj["metric"], autoj["dataset"]) == (1392, "accuracy", "autoj-pairwise")
    assert llmbar["license_flag"] == "" and autoj["license_flag"] == "no license stated"  # Auto-J states none
    assert llmbar["languages"] == ["en"] and "pairwise" in autoj["task_type"]
    from tianping.judging.agreement_tasks import load_agreement_task

    for name in ("judge_llmbar", "judge_autoj"):  # the listed size is what a full run scores
        assert len(load_agreement_task(name, data_dir).samples) == listed[name]["items"]
