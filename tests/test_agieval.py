"""AGIEval: the loaders over the real files, its scoring on real items, and its log-likelihood prompts against
lm-evaluation-harness 0.4.13's own ``agieval_*`` tasks.

lm-eval reads the hails/agieval-* datasets (``query``, ``choices``, ``gold``), which hold the authors' zero-shot
prompt of each row (AGIEval's ``convert_zero_shot``: the passage, ``Q: `` / ``问题：``, the question, the options as
written joined by spaces, then ``A: Among A through E, the answer is`` / ``答案：从A到D, 我们应选择``). Those
datasets are not in the shared data, so the test builds that layout from the shared files here, independently of
the definition's templates, and lets lm-eval's task objects, built from its installed YAMLs, make the requests and
score them. Every row of every multiple-choice task is compared, zero-shot (lm-eval's agieval has no shots).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from pathlib import Path
from typing import Any

import pytest

from tianping.benchmarks import registry
from tianping.benchmarks.benchmark import Benchmark
from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import load_dataset
from tianping.benchmarks.registry import builtin_definitions
from tianping.benchmarks.scorers import ScoringContext
from tianping.core import Completion, GenerationParams, LogLikelihood, Response

ENGLISH_MC = ["aqua-rat", "gaokao-english", "logiqa-en", "lsat-ar", "lsat-lr", "lsat-rc", "sat-en", "sat-math"]
CHINESE_MC = [
    "gaokao-biology",
    "gaokao-chemistry",
    "gaokao-chinese",
    "gaokao-geography",
    "gaokao-history",
    "gaokao-mathqa",
    "gaokao-physics",
    "jec-qa-ca",
    "jec-qa-kd",
    "logiqa-zh",
]
CLOZE = ["gaokao-mathcloze", "math"]
OFFICIAL = ENGLISH_MC + CHINESE_MC + CLOZE  # the 20 tasks of the paper
EXTRA = "sat-en-without-passage"  # lm-eval's agieval group has it; the paper does not
# the authors' exemplars per task (few_shot_prompts.csv leaves the other cells empty)
EXEMPLARS = {t: 5 for t in OFFICIAL} | {
    "lsat-ar": 3,
    "lsat-lr": 3,
    "lsat-rc": 3,
    "logiqa-en": 3,
    "logiqa-zh": 3,
    "sat-en": 3,
    "gaokao-chinese": 3,
    "gaokao-english": 3,
    "math": 4,
    EXTRA: 3,
}


def bench_name(task: str) -> str:
    return "agieval_" + task.replace("-", "_")


def _load(name: str, data_dir: Path, mode: str | None = None, num_fewshot: int | None = None) -> Benchmark:
    (bench,) = registry.build(name, data_dir, mode)  # type: ignore[arg-type]
    return bench.configure(num_fewshot=num_fewshot).load()


@pytest.fixture(scope="module")
def ll_benches(data_dir: Path) -> dict[str, Benchmark]:
    return {t: _load(bench_name(t), data_dir, "loglikelihood") for t in [*ENGLISH_MC, *CHINESE_MC, EXTRA]}


def raw_rows(data_dir: Path, task: str) -> list[dict[str, Any]]:
    path = data_dir / "agieval" / "data" / "v1" / f"{task}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --- the definitions and the loaders over the real files ---------------------------------------------------------


def _source_row_counts(data_dir: Path) -> dict[str, int]:
    """The row counts of the table in agieval/SOURCE.md (``| task | rows | | task | rows |``)."""
    text = (data_dir / "agieval" / "SOURCE.md").read_text(encoding="utf-8")
    counts = {}
    for line in text.splitlines():
        for name, rows in re.findall(r"\|\s*([a-z][a-z-]+)\s*\|\s*(\d+)\s*(?=\|)", line):
            counts[name] = int(rows)
    return counts


def test_every_task_is_defined_once_with_a_fewshot_variant():
    names = {n for n in builtin_definitions() if n.startswith("agieval_")}
    tasks = [*OFFICIAL, EXTRA]
    assert names == {bench_name(t) for t in tasks} | {bench_name(t) + "_fewshot" for t in tasks}


@pytest.mark.parametrize("task", [*OFFICIAL, EXTRA])
def test_row_counts_are_source_mds_and_items_what_a_run_scores(task, data_dir):
    expected = _source_row_counts(data_dir)
    assert len(expected) == 21
    rows = raw_rows(data_dir, task)
    assert len(rows) == expected[task]
    bench = _load(bench_name(task), data_dir)
    # jec-qa-kd row 211 names no right option: no answer can be scored against it
    assert len(bench.samples) == expected[task] - (task == "jec-qa-kd")
    definition = builtin_definitions()[bench_name(task)][0]
    assert definition.about.items == len(bench.samples)
    assert definition.about.languages == (["zh"] if task in CHINESE_MC or task == "gaokao-mathcloze" else ["en"])


def test_the_twenty_tasks_hold_the_papers_8062_questions(data_dir):
    assert sum(builtin_definitions()[bench_name(t)][0].about.items or 0 for t in OFFICIAL) == 8062


@pytest.mark.parametrize("task", [*OFFICIAL, EXTRA])
def test_definitions_pair_each_file_with_its_exemplars_and_language(task):
    zero, _ = builtin_definitions()[bench_name(task)]
    few, _ = builtin_definitions()[bench_name(task) + "_fewshot"]
    for d in (zero, few):
        assert d.dataset.path == f"agieval/data/v1/{task}.jsonl"
        assert d.fewshot.dataset is not None
        assert d.fewshot.dataset.options["task"] == ("sat-en" if task == EXTRA else task)
        assert d.about == zero.about
        assert d.prompt is not None and d.prompt.instruction is not None
        chinese = bool(re.search(r"[\u4e00-\u9fff]", d.prompt.instruction))
        assert chinese == (zero.about.languages == ["zh"]), d.name
        assert (d.loglikelihood is None) == (task in CLOZE)
    assert zero.fewshot.k == 0 and few.fewshot.k == EXEMPLARS[task]


def test_rows_keep_their_text_as_written_beside_the_cleaned_one(data_dir):
    bench = _load("agieval_gaokao_history", data_dir)
    rows = raw_rows(data_dir, "gaokao-history")
    sample = bench.samples[78]  # options padded with spaces, and "(C)" written where "(D)" is meant
    assert sample.fields["choices_raw"] == rows[78]["options"]
    assert rows[78]["options"][3].startswith("(C)")
    assert sample.fields["options"].splitlines()[3] == "(D) 外资工业享有免税特权"
    logiqa = _load("agieval_logiqa_en", data_dir).samples[2]  # options labelled "A No dangshen"
    assert logiqa.fields["choices"][:2] == ["No dangshen", "No Shouwu"]
    biology = _load("agieval_gaokao_biology", data_dir)
    padded = next(
        i for i, r in enumerate(raw_rows(data_dir, "gaokao-biology")) if r["question"] != r["question"].strip()
    )
    assert biology.samples[padded].fields["question_raw"] != biology.samples[padded].fields["question"]


def test_multi_answer_labels_become_letter_sets(data_dir):
    physics = _load("agieval_gaokao_physics", data_dir)
    rows = raw_rows(data_dir, "gaokao-physics")
    multi = [i for i, r in enumerate(rows) if isinstance(r["label"], list)]
    assert len(multi) == 35
    for i in multi:
        assert physics.samples[i].target == ",".join(sorted(set(rows[i]["label"])))
        assert physics.samples[i].meta["answers"] == ("multiple" if len(set(rows[i]["label"])) > 1 else "single")
    # Gaokao math writes its few multi-select answers "A B D" / "AC"; one JEC-QA label ends in a stray "。"
    mathqa = {s.id: s.target for s in _load("agieval_gaokao_mathqa", data_dir).samples}
    assert raw_rows(data_dir, "gaokao-mathqa")[245]["label"] == "A B D" and mathqa["gaokao-mathqa/245"] == "A,B,D"
    assert sum("," in t for t in mathqa.values()) == 7
    ca = {s.id: s.target for s in _load("agieval_jec_qa_ca", data_dir).samples}
    assert raw_rows(data_dir, "jec-qa-ca")[48]["label"][-1] == "。" and ca["jec-qa-ca/48"] == "A,C,D"


def test_fewshot_variants_use_the_authors_exemplars_in_order(data_dir):
    geography = _load("agieval_gaokao_geography_fewshot", data_dir)
    shots = geography.shots_for(geography.samples[0])
    assert [s.id for s in shots] == [f"gaokao-geography/shot{i}" for i in range(1, 6)]
    # the exemplars write the four options in one cell, "A. 阳台\tB. 客厅\tC. 卧室\tD. 厨房"
    assert shots[0].fields["choices"] == ["阳台", "客厅", "卧室", "厨房"] and shots[0].target == "A"
    request = geography.build_request(geography.samples[0], "m", geography.generation)
    assert request.messages is not None and len(request.messages) == 11
    assert request.messages[1].content == "答案是A"
    without = _load("agieval_sat_en_without_passage_fewshot", data_dir)
    with_passage = _load("agieval_sat_en_fewshot", data_dir)
    a, b = without.shots_for(without.samples[0]), with_passage.shots_for(with_passage.samples[0])
    assert [s.fields["question"] for s in a] == [s.fields["question"] for s in b]
    assert all(s.fields["passage"] == "" for s in a) and all(s.fields["passage"] for s in b)
    math = _load("agieval_math_fewshot", data_dir)
    first = math.build_request(math.samples[0], "m", math.generation).messages
    assert first is not None and first[1].content == "The answer is $\\boxed{[2,5)}$."


def test_num_fewshot_takes_the_first_exemplars_and_no_more_than_there_are(data_dir):
    three = _load("agieval_lsat_ar", data_dir, num_fewshot=3)
    assert [s.id for s in three.shots_for(three.samples[0])] == [f"lsat-ar/shot{i}" for i in (1, 2, 3)]
    with pytest.raises(DatasetError, match="has 3 rows, need 5"):
        _load("agieval_lsat_ar", data_dir, num_fewshot=5)


def test_bad_rows_are_errors_naming_file_and_line(tmp_path):
    path = tmp_path / "lsat-ar.jsonl"
    good = {"passage": None, "question": "Q?", "options": ["(A)x", "(B)y"], "label": "A"}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "label": "F"}) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"lsat-ar.jsonl:2: label 'F' names F, but there are 2 options"):
        load_dataset("agieval_jsonl", path, {})
    path.write_text(json.dumps({**good, "label": []}) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"lsat-ar.jsonl:1: field 'label' is empty"):
        load_dataset("agieval_jsonl", path, {})
    path.write_text(json.dumps({**good, "label": ["。"]}) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"lsat-ar.jsonl:1: field 'label' \['。'\] names no option"):
        load_dataset("agieval_jsonl", path, {"skip_unlabelled": True})
    csv_path = tmp_path / "few_shot_prompts.csv"
    csv_path.write_text(",lsat-ar\nsample 1,\"{'question': 'Q?',\"\nexplanation 1,x\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"few_shot_prompts.csv:2: column 'lsat-ar', sample 1: not a Python dict"):
        load_dataset("agieval_fewshot_csv", csv_path, {"task": "lsat-ar"})
    with pytest.raises(DatasetError, match=r"few_shot_prompts.csv:1: no column 'math' \(columns: lsat-ar\)"):
        load_dataset("agieval_fewshot_csv", csv_path, {"task": "math"})


# --- scoring real items -----------------------------------------------------------------------------------------


def _reply(text: str) -> Response:
    return Response(completions=(Completion(text=text),), latency_s=0.0)


def test_multi_answer_tasks_score_exact_letter_sets(data_dir):
    physics = _load("agieval_gaokao_physics", data_dir)
    jec = _load("agieval_jec_qa_kd", data_dir)
    for bench, rule_credit in ((physics, True), (jec, False)):
        multi = [s for s in bench.samples if s.meta["answers"] == "multiple"][:20]
        assert len(multi) == 20
        for sample in multi:
            golds = sample.fields["golds"]
            wrong = next(x for x in sample.fields["letters"] if x not in golds) if len(golds) < 4 else None
            cases = {
                f"答案是{''.join(reversed(golds))}": 1.0,  # any order
                f"正确选项为{'、'.join(golds)}。": 1.0,
                f"答案是{golds[0]}": 0.0,  # a proper subset is not the set
            }
            if wrong:
                cases[f"答案是{''.join(sorted([*golds, wrong]))}"] = 0.0
            for text, value in cases.items():
                score = bench.score(sample, _reply(text))
                assert score.value == value, (sample.id, text, score)
                if rule_credit:  # the Gaokao's rule: half for a right proper subset, nothing with a wrong letter
                    expected = 0.5 if text == f"答案是{golds[0]}" else value
                    assert score.metrics["partial_credit"] == expected, (sample.id, text)


def test_single_answer_tasks_read_one_letter(data_dir):
    bench = _load("agieval_lsat_ar", data_dir)
    sample = bench.samples[0]
    assert bench.score(sample, _reply(f"Among A through E, the answer is ({sample.target}).")).value == 1.0
    assert bench.score(sample, _reply("The answer is A or B.")).value == 0.0


def test_cloze_tasks_score_by_mathematical_equivalence(data_dir):
    cases = {
        "gaokao-mathcloze": [
            ("$\\frac{1}{2}$", "答案为 $\\boxed{0.5}$", 1.0),
            ("$5$;$10$", "所以 $a_1=5$，另一空为 10，故答案为 \\boxed{5, 10}", 1.0),
            ("$5$;$10$", "答案为 \\boxed{5}", 0.0),
            ("$y=2x$", "The answer is $y = 2x$.", 1.0),
            ("$(0,1)$", "答案：$\\boxed{(0,1]}$", 0.0),
        ],
        "math": [("(3,4]", "So $\\lambda \\in \\boxed{(3,4]}$.", 1.0), ("(3,4]", "\\boxed{[3,4]}", 0.0)],
    }
    for task, items in cases.items():
        bench = _load(bench_name(task), data_dir)
        by_gold: dict[str, Any] = {}
        for sample in bench.samples:
            by_gold.setdefault(sample.target, sample)
        for gold, text, value in items:
            score = asyncio.run(bench.ascore(by_gold[gold], _reply(text), ScoringContext()))
            assert score.value == value, (task, gold, text, score)


# --- log-likelihood prompts: lm-eval's own tasks --------------------------------------------------------------


@pytest.fixture(scope="module")
def lm_eval_task() -> Any:
    """lm-eval's task of an AGIEval file as its installed YAML defines it, reading the given documents instead of
    the hub."""
    lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed: nothing to compare the prompts with")
    datasets = pytest.importorskip("datasets", reason="lm-eval's task objects need the datasets package")
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks._yaml_loader import load_yaml

    logging.getLogger("lm_eval").setLevel(logging.ERROR)  # it warns that a custom dataset is in use
    yamls = Path(lm_eval.__file__).parent / "tasks" / "agieval"

    def build(task: str, docs: list[dict[str, Any]]) -> Any:
        config = load_yaml(yamls / f"{task}.yaml")
        dataset = datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})
        config["custom_dataset"] = lambda **_: dataset
        return ConfigurableTask(config=config)

    return build


def hails_doc(row: dict[str, Any], chinese: bool) -> dict[str, Any]:
    """A row in the hails/agieval-* layout: the authors' zero-shot prompt as ``query``, the options as written as
    ``choices``, the indices of the right letters as ``gold``."""
    options = row["options"]
    last = "ABCDEFG"[len(options) - 1]
    passage = row["passage"] or ""
    if chinese:
        query = f"{passage}问题：{row['question']} 选项：{' '.join(options)}\n答案：从A到{last}, 我们应选择"
    else:
        query = f"{passage}Q: {row['question']} Answer Choices: {' '.join(options)}\n"
        query += f"A: Among A through {last}, the answer is"
    label = row["label"] if isinstance(row["label"], list) else list(row["label"])
    gold = sorted({ord(x) - ord("A") for x in label if "A" <= x <= "Z"})
    return {"query": query, "choices": list(options), "gold": gold}


def _compared(data_dir: Path, task: str) -> tuple[list[int], list[dict[str, Any]]]:
    """The row indices our benchmark scores and, for them, lm-eval's documents."""
    rows = raw_rows(data_dir, task)
    kept = [i for i, r in enumerate(rows) if r["label"]]
    return kept, [hails_doc(rows[i], task in CHINESE_MC) for i in kept]


@pytest.mark.parametrize("task", [*ENGLISH_MC, *CHINESE_MC, EXTRA])
def test_every_request_and_gold_equals_lm_evals(task, data_dir, ll_benches, lm_eval_task):
    bench = ll_benches[task]
    kept, docs = _compared(data_dir, task)
    lm_task = lm_eval_task(task, docs)
    assert lm_task.config.task == bench.name and lm_task.OUTPUT_TYPE == "multiple_choice"
    by_id = {s.id: s for s in bench.samples}
    assert sorted(by_id) == sorted(f"{task}/{i}" for i in kept)
    assert len(docs) == len(bench.samples)
    for i, doc in zip(kept, docs, strict=True):
        sample = by_id[f"{task}/{i}"]
        context = lm_task.fewshot_context(doc, num_fewshot=0)
        instances = lm_task.construct_requests(doc, context)
        request = bench.build_request(sample, "m", GenerationParams())
        assert request.prompt == context, sample.id
        assert request.continuations == tuple(inst.arguments[1] for inst in instances), sample.id
        assert {inst.arguments[0] for inst in instances} == {context}
        assert bench.loglikelihood is not None
        choices = bench.loglikelihood.choices(sample)
        assert list(bench.loglikelihood.golds(sample, choices)) == lm_task.doc_to_target(doc), sample.id


@pytest.mark.parametrize("task", ["gaokao-physics", "jec-qa-ca", "gaokao-mathqa", "lsat-ar", "logiqa-zh"])
def test_acc_and_acc_norm_equal_lm_evals_process_results(task, data_dir, ll_benches, lm_eval_task):
    """utils.process_results_mcqa: acc when the most likely choice is any right one; acc_norm over character
    lengths. Random log-likelihoods with ties, on rows with one and with several right options."""
    bench = ll_benches[task]
    kept, docs = _compared(data_dir, task)
    lm_task = lm_eval_task(task, docs)
    by_id = {s.id: s for s in bench.samples}
    rng = random.Random(11)
    differs = 0
    for i, doc in list(zip(kept, docs, strict=True))[:150]:
        for _ in range(3):
            pool = [-1.0, -2.0, -4.0, round(-rng.uniform(0.1, 40), 2)]
            logprobs = [rng.choice(pool) for _ in doc["choices"]]
            expected = lm_task.process_results(doc, [(lp, False) for lp in logprobs])
            lls = tuple(LogLikelihood(logprob=lp, greedy=False, tokens=1) for lp in logprobs)
            score = bench.score(by_id[f"{task}/{i}"], Response((), 0.0, loglikelihoods=lls))
            assert score.metrics == {"acc": expected["acc"], "acc_norm": expected["acc_norm"]}, (i, logprobs)
            differs += expected["acc"] != expected["acc_norm"]
    assert differs > 10
