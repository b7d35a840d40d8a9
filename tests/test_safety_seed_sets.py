"""Results comparable with published ones: every sample names its seed set and the set's own categories, the
aggregates give the attack success rate per set and per set category, and HarmBench's copyright behaviours
(judged upstream by overlap with a text tianping does not have) are left out unless asked for, and then
never scored as ordinary harmful prompts."""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict

import pytest

from engine_helpers import cli
from fake_openai import last_user_text, running_server
from tianping.core import Completion, Response
from tianping.core.task import ScoringContext
from tianping.safety.seeds import SHARED_SOURCES, load_seeds
from tianping.safety.suite import BENIGN_BREAKDOWNS, HARMFUL_BREAKDOWNS, build_suite
from tianping.spec import SafetyOptions
from tianping.store import Store

COPYRIGHT_LEAF = "data.memorized.copyrighted_text"
HARMBENCH_SEMANTIC = {
    "chemical_biological",
    "cybercrime_intrusion",
    "harassment_bullying",
    "harmful",
    "illegal",
    "misinformation_disinformation",
}


def test_seeds_record_their_set_and_the_sets_own_category(data_dir) -> None:
    seeds = load_seeds(data_dir, sources=SHARED_SOURCES)
    by_source = defaultdict(list)
    for seed in seeds:
        by_source[seed.source].append(seed)
    assert set(by_source) == {
        "advbench", "harmbench", "strongreject", "jailbreakbench", "donotanswer", "xstest", "jailbench",
        "flames-1k-zh", "cvalues", "jade-db",
    }  # fmt: skip
    harmbench = by_source["harmbench"]
    assert {s.meta["set_category"] for s in harmbench} == HARMBENCH_SEMANTIC | {"copyright"}
    assert {s.meta["functional_category"] for s in harmbench} == {"standard", "contextual", "copyright"}
    assert len({s.meta["set_category"] for s in by_source["jailbreakbench"]}) == 10
    assert "Malware/Hacking" in {s.meta["set_category"] for s in by_source["jailbreakbench"]}
    assert {s.meta["set_category"] for s in by_source["strongreject"]} == {
        "Disinformation and deception", "Hate, harassment and discrimination", "Illegal goods and services",
        "Non-violent crimes", "Sexual content", "Violence",
    }  # fmt: skip
    assert {s.meta["set_category"] for s in by_source["donotanswer"]} == {
        "discrimination_exclusion_toxicity_hateful_offensive", "human_chatbox", "information_hazard",
        "malicious_uses", "misinformation_harms",
    }  # fmt: skip
    assert "advbench" in by_source and all("set_category" not in s.meta for s in by_source["advbench"])
    assert {s.meta["set_category"] for s in by_source["cvalues"]} >= {"environmental_science", "law"}


def test_breakdowns_cover_seed_set_and_set_category_in_both_tasks() -> None:
    for breakdowns in (HARMFUL_BREAKDOWNS, BENIGN_BREAKDOWNS):
        assert {"source", "source_category"} <= set(breakdowns)
    assert "source_functional" in HARMFUL_BREAKDOWNS


def test_sample_meta_names_set_category_and_functional_category(data_dir) -> None:
    task = build_suite("safety", data_dir, SafetyOptions(budget=3000, attacks=["none"])).load()
    metas = [s.meta for s in task.samples]
    harmbench = [m for m in metas if m["source"] == "harmbench"]
    assert harmbench
    for meta in harmbench:
        assert meta["source_category"] == f"harmbench|{meta['set_category']}"
        assert meta["set_category"] in HARMBENCH_SEMANTIC
        assert meta["source_functional"] == f"harmbench|{meta['functional_category']}"
    advbench = [m for m in metas if m["source"] == "advbench"]
    assert advbench and all(m["source_category"] == "advbench|-" and m["source_functional"] == "advbench"
                            for m in advbench)  # fmt: skip


# -- HarmBench copyright behaviours ----------------------------------------------------------------------------


def test_copyright_behaviours_are_not_planned_by_default_and_the_plan_says_why(data_dir) -> None:
    options = SafetyOptions(budget=500, attacks=["none"], categories=[COPYRIGHT_LEAF])
    task = build_suite("safety", data_dir, options).load()
    assert not [s for s in task.samples if s.meta.get("functional_category") == "copyright"]
    assert any("copyright" in w and "100" in w and "--include-copyright" in w for w in task.warnings), task.warnings
    # the default plan over every category leaves them out too
    default = build_suite("safety", data_dir, SafetyOptions(budget=20000, attacks=["none"])).load()
    assert not [s for s in default.samples if s.meta.get("functional_category") == "copyright"]
    assert any("copyright" in w for w in default.warnings)


def test_copyright_behaviours_asked_for_are_planned_and_unscorable(data_dir) -> None:
    options = SafetyOptions(budget=500, attacks=["none"], categories=[COPYRIGHT_LEAF], include_copyright=True)
    task = build_suite("safety", data_dir, options).load()
    copyright_samples = [s for s in task.samples if s.meta.get("functional_category") == "copyright"]
    assert len(copyright_samples) == 100
    assert any("unscorable" in w for w in task.warnings)
    sample = copyright_samples[0]
    answer = Response(completions=(Completion(text="Sure, here is the full text: ..."),), latency_s=0.0)
    score = asyncio.run(task.ascore(sample, answer, ScoringContext(judge=None)))
    assert score.status == "unscorable" and "overlap" in score.reason


# -- aggregates per seed set through the engine ----------------------------------------------------------------

COMPLY = "Sure, here is how. Step 1: get the materials. Step 2: follow the procedure. Step 3: carry it out."
REFUSE = "I'm sorry, but I can't help with that request."
REFUSE_ZH = "抱歉，我无法提供这方面的帮助。"


@pytest.fixture(scope="module")
def harmbench_texts(data_dir) -> set[str]:
    """HarmBench prompts that no other set shares (JailbreakBench took some of its behaviours verbatim)."""
    seeds = load_seeds(data_dir)
    return {s.text for s in seeds if s.source == "harmbench"} - {s.text for s in seeds if s.source != "harmbench"}


def test_engine_run_gives_asr_per_seed_set_and_per_set_category(data_dir, tmp_path, harmbench_texts) -> None:
    """The fake model complies with HarmBench prompts only and refuses the rest: the per-set rate must then be
    1 for HarmBench and 0 for every other set, and each per-category rate that of its own rows."""
    results = tmp_path / "results"

    def answer(body: dict) -> str:
        text = last_user_text(body)
        if text in harmbench_texts:
            return COMPLY
        return REFUSE_ZH if re.search(r"[\u4e00-\u9fff]", text) else REFUSE

    with running_server(answer_fn=answer) as model:
        done = cli(
            "run", "--model", "openai/fake", "--base-url", model.base_url, "--suite", "safety",
            "--attacks", "none", "--budget", "400", "--overrefusal-budget", "30",
            "--results-dir", str(results), "--run-id", "sets", env={"OPENAI_API_KEY": "x"},
        )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    store = Store.open(results)
    rows = [r for r in store.sample_rows("sets") if r["status"] == "scored"]
    aggregates = store.aggregates("sets")

    def groups(benchmark: str, kind: str) -> dict[str, dict]:
        return {
            a["group_name"]: a
            for a in aggregates
            if a["benchmark"] == benchmark
            and a["group_kind"] == kind
            and a["metric"] in ("attack_success", "over_refusal")
        }

    per_set = groups("safety", "source")
    assert per_set["harmbench"]["score"] == 1.0 and per_set["harmbench"]["n"] > 0
    assert len(per_set) >= 5 and all(a["score"] == 0.0 for name, a in per_set.items() if name != "harmbench")
    per_category = groups("safety", "source_category")
    harmful = [r for r in rows if r["benchmark"] == "safety"]
    expected: dict[str, list[float]] = defaultdict(list)
    for r in harmful:
        expected[r["meta"]["source_category"]].append(r["score"])
    assert set(expected) <= set(per_category)
    for name, scores in expected.items():
        assert per_category[name]["score"] == pytest.approx(sum(scores) / len(scores)), name
        assert per_category[name]["n"] == len(scores)
    harmbench_categories = {name.split("|", 1)[1] for name in per_category if name.startswith("harmbench|")}
    assert harmbench_categories and harmbench_categories <= HARMBENCH_SEMANTIC
    assert {"harmbench|standard", "harmbench|contextual"} & set(groups("safety", "source_functional"))
    benign_sets = groups("safety_overrefusal", "source")
    assert benign_sets and set(groups("safety_overrefusal", "source_category"))
