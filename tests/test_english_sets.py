"""PIQA, NQ-open, SVAMP, GSM-Plus and AIME: loaders on the shared files, scoring, and equality with lm-eval 0.4.13.

lm-eval's own task objects are built from its installed task YAMLs with the dataset swapped for the shared
copies (in the Hugging Face layout each YAML reads), as tests/test_loglikelihood_lmeval_parity.py does; for the
same documents our requests must carry its prompts and generation settings, and our scores must equal its
process_results after its filters. The SQuAD metrics are checked against hand-worked cases and against the
v1.1 evaluation script's definition, re-implemented here step for step as the reference.
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import random
import re
import string
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import make_spec, run_engine
from fake_openai import last_user_text, running_server
from tianping.benchmarks import registry
from tianping.benchmarks.benchmark import Benchmark
from tianping.benchmarks.english_scorers import lmeval_nq_exact_match, says_unanswerable
from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import load_dataset
from tianping.benchmarks.scorers import ScoringContext
from tianping.core import Completion, GenerationParams, LogLikelihood, Response, Sample
from tianping.scoring.passk import pass_at_k
from tianping.scoring.squad_f1 import best_exact_match, best_f1, normalize_answer
from tianping.store import Store

OURS = [
    "piqa",
    "nq_open",
    "nq_open_chat",
    "svamp",
    "gsm_plus",
    "gsm_plus_lmeval",
    "aime24",
    "aime25",
    "aime24_pass16",
    "aime25_pass16",
]
logging.getLogger("lm_eval").setLevel(logging.ERROR)  # it warns that a custom dataset is in use

_loaded: dict[tuple[str, str], Benchmark] = {}


def bench(name: str, data_dir: Path, mode: str | None = None) -> Benchmark:
    key = (name, mode or "")
    if key not in _loaded:
        (built,) = registry.build(name, data_dir, mode=mode)  # type: ignore[arg-type]
        _loaded[key] = built.load()
    return _loaded[key]


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def score(b: Benchmark, sample: Sample, *outputs: str | Completion) -> Any:
    completions = tuple(o if isinstance(o, Completion) else Completion(text=o) for o in outputs)
    return asyncio.run(b.ascore(sample, Response(completions, 0.0), ScoringContext()))


def by_id(b: Benchmark, sample_id: str) -> Sample:
    return next(s for s in b.samples if s.id == sample_id)


# --- the loaders on the shared files (counts from each SOURCE.md) -------------------------------------------


def test_piqa_rows_carry_their_line_aligned_labels(data_dir: Path) -> None:
    b = bench("piqa", data_dir)
    assert len(b.samples) == 1838
    assert Counter(s.target for s in b.samples) == {"A": 910, "B": 928}
    rows = jsonl(data_dir / "piqa" / "valid.jsonl")
    labels = (data_dir / "piqa" / "valid-labels.lst").read_text().split()
    for i in (0, 1, 917, 1837):
        s = b.samples[i]
        assert s.id == str(i) and s.meta["line"] == i + 1
        assert (s.fields["sol1"], s.fields["sol2"]) == (rows[i]["sol1"], rows[i]["sol2"])
        assert s.fields["label"] == int(labels[i]) and s.target == "AB"[int(labels[i])]
    # the solutions as written keep their surrounding spaces (lm-eval's continuations); the options are trimmed
    spaced = [s for s in b.samples if s.fields["choices_raw"] != s.fields["choices"]]
    assert len(spaced) > 50 and all(s.fields["choices"] == [c.strip() for c in s.fields["choices_raw"]] for s in spaced)


def test_nq_open_rows(data_dir: Path) -> None:
    b = bench("nq_open", data_dir)
    assert len(b.samples) == 3610
    counts = Counter(min(len(s.fields["answer"]), 5) for s in b.samples)
    assert counts == {1: 2076, 2: 953, 3: 306, 4: 118, 5: 157}
    first = b.samples[0]
    assert (
        first.fields["answer"] == ["14 December 1972 UTC", "December 1972"] and first.target == "14 December 1972 UTC"
    )


def test_svamp_rows(data_dir: Path) -> None:
    b = bench("svamp", data_dir)
    assert len(b.samples) == 1000
    assert Counter(s.meta["Type"] for s in b.samples) == {
        "Subtraction": 531,
        "Addition": 195,
        "Common-Division": 165,
        "Multiplication": 108,
        "Common-Divison": 1,  # upstream's spelling, kept
    }
    raw = {r["ID"]: r["Answer"] for r in json.loads((data_dir / "svamp" / "SVAMP.json").read_text(encoding="utf-8"))}
    assert all(re.fullmatch(r"\d+", s.target) and float(s.target) == raw[s.id] for s in b.samples)
    assert by_id(b, "chal-1").target == "51"


def test_gsm_plus_rows(data_dir: Path) -> None:
    b = bench("gsm_plus", data_dir)
    assert len(b.samples) == 2400
    types = Counter(s.meta["perturbation_type"] for s in b.samples)
    assert len(types) == 8 and set(types.values()) == {300}
    unanswerable = [s for s in b.samples if s.target == "None"]
    assert len(unanswerable) == 300 and {s.meta["perturbation_type"] for s in unanswerable} == {"critical thinking"}
    lmeval = bench("gsm_plus_lmeval", data_dir)
    assert [s.id for s in lmeval.samples] == [s.id for s in b.samples]
    assert all(len(s.fields["shots"]) == 5 and s.fields not in s.fields["shots"] for s in lmeval.samples)


def test_aime_problems_and_integer_answers(data_dir: Path) -> None:
    for name, year in (("aime24", "2024"), ("aime25", "2025")):
        b = bench(name, data_dir)
        assert len(b.samples) == 30
        assert Counter(s.meta["contest"] for s in b.samples) == {f"aime_{year}_I": 15, f"aime_{year}_II": 15}
        for contest in (f"aime_{year}_I", f"aime_{year}_II"):
            with (data_dir / "aime" / contest / "answers.csv").open(encoding="utf-8") as handle:
                written = {row["id"]: row["answer"] for row in csv.DictReader(handle)}
            for number, answer in written.items():
                s = by_id(b, f"{contest}/{number}")
                assert s.target == str(int(answer))
                tex = (data_dir / "aime" / contest / "problems" / f"{number}.tex").read_text(encoding="utf-8")
                assert s.fields["problem"] == tex.strip()
    assert by_id(bench("aime24", data_dir), "aime_2024_I/2").target == "25"  # written 025


@pytest.mark.parametrize("name", OURS)
def test_about_items_equal_the_loaded_samples(name: str, data_dir: Path) -> None:
    b = bench(name, data_dir)
    about = b.definition.about
    assert about.items == len(b.samples)
    assert about.languages == ["en"] and about.task_type


# --- bad input is named -------------------------------------------------------------------------------------


def test_piqa_label_problems_name_the_file_and_line(tmp_path: Path) -> None:
    rows = tmp_path / "valid.jsonl"
    rows.write_text('{"goal": "g", "sol1": "a", "sol2": "b"}\n{"goal": "h", "sol1": "c", "sol2": "d"}\n')
    with pytest.raises(DatasetError, match=r"valid-labels\.lst: not found"):
        load_dataset("piqa_jsonl", rows, {})
    (tmp_path / "valid-labels.lst").write_text("0\n")
    with pytest.raises(DatasetError, match=r"valid-labels\.lst: 1 labels for the 2 rows of valid\.jsonl"):
        load_dataset("piqa_jsonl", rows, {})
    (tmp_path / "valid-labels.lst").write_text("0\n2\n")
    with pytest.raises(DatasetError, match=r"valid-labels\.lst:2: label '2' is not 0 or 1"):
        load_dataset("piqa_jsonl", rows, {})
    (tmp_path / "valid-labels.lst").write_text("1\n0\n\n")
    assert [s.target for s in load_dataset("piqa_jsonl", rows, {}).samples] == ["B", "A"]
    with pytest.raises(DatasetError, match="unknown option"):
        load_dataset("piqa_jsonl", rows, {"labels": "x"})


def test_piqa_labels_linked_from_elsewhere_are_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "elsewhere.lst").write_text("0\n")
    rows = tmp_path / "data" / "valid.jsonl"
    rows.write_text('{"goal": "g", "sol1": "a", "sol2": "b"}\n')
    (tmp_path / "data" / "valid-labels.lst").symlink_to(tmp_path / "elsewhere.lst")
    with pytest.raises(DatasetError, match="a link out of"):
        load_dataset("piqa_jsonl", rows, {})


def _contest(root: Path, name: str, answers: str, problems: dict[str, str]) -> Path:
    folder = root / name
    (folder / "problems").mkdir(parents=True)
    (folder / "answers.csv").write_text(answers, encoding="utf-8")
    for file, text in problems.items():
        (folder / "problems" / file).write_text(text, encoding="utf-8")
    return folder


def test_aime_layout_problems_are_named(tmp_path: Path) -> None:
    one = _contest(tmp_path, "c1", "id,answer\n1,007\n2,12\n", {"1.tex": "P one\n", "2.tex": "P two"})
    loaded = load_dataset("aime_tex", one, {})
    assert [(s.id, s.target, s.fields["problem"]) for s in loaded.samples] == [
        ("c1/1", "7", "P one"),
        ("c1/2", "12", "P two"),
    ]
    assert [s.id for s in load_dataset("aime_tex", tmp_path, {"contests": ["c1"]}).samples] == ["c1/1", "c1/2"]
    with pytest.raises(DatasetError, match=r"'\.\./x' is not a folder name"):
        load_dataset("aime_tex", tmp_path, {"contests": ["../x"]})
    with pytest.raises(DatasetError, match="no such contest folder"):
        load_dataset("aime_tex", tmp_path, {"contests": ["c9"]})
    bad = _contest(tmp_path / "b", "c2", "id,answer\n1,12.5\n", {"1.tex": "P"})
    with pytest.raises(DatasetError, match=r"c2/answers\.csv:2: answer '12\.5' is not an integer"):
        load_dataset("aime_tex", bad, {})
    gap = _contest(tmp_path / "g", "c3", "id,answer\n1,1\n", {"1.tex": "P", "2.tex": "Q"})
    with pytest.raises(DatasetError, match=r"c3/answers\.csv: no answer for problem\(s\) 2"):
        load_dataset("aime_tex", gap, {})
    header = _contest(tmp_path / "h", "c4", "problem,solution\n1,1\n", {"1.tex": "P"})
    with pytest.raises(DatasetError, match=r"answers\.csv:1: expected the header 'id,answer'"):
        load_dataset("aime_tex", header, {})


def test_lmeval_shot_options_are_checked(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"question": f"q{i}", "answer": str(i)}) + "\n" for i in range(4)))
    with pytest.raises(DatasetError, match="'lmeval_shots' must be a whole number"):
        load_dataset("jsonl_lmeval_shots", rows, {})
    with pytest.raises(DatasetError, match="asks 4 shots of a file of 4 rows"):
        load_dataset("jsonl_lmeval_shots", rows, {"lmeval_shots": 4})
    with pytest.raises(DatasetError, match="unknown option"):
        load_dataset("jsonl_lmeval_shots", rows, {"lmeval_shots": 2, "shots": 3})
    loaded = load_dataset("jsonl_lmeval_shots", rows, {"lmeval_shots": 3})
    for s in loaded.samples:  # three shots, none of them the question itself
        assert sorted(shot["question"] for shot in s.fields["shots"]) == sorted(
            {f"q{i}" for i in range(4)} - {s.fields["question"]}
        )


# --- SQuAD v1.1 exact match and F1 ---------------------------------------------------------------------------

# (prediction, acceptable answers, EM, F1), each worked out by hand from the v1.1 script's steps
HAND_CHECKED = [
    ("The Beatles", ["Beatles"], 1.0, 1.0),
    ("the cat sat", ["a cat sat down"], 0.0, 0.8),  # [cat sat] vs [cat sat down]: P 1, R 2/3
    ("Bobby Scott and Bob Russell", ["Bobby Scott", "Bob Russell"], 0.0, 4 / 7),  # P 2/5, R 1
    ("14 December 1972", ["14 December 1972 UTC", "December 1972"], 0.0, 6 / 7),  # best: P 1, R 3/4
    ("U.S.", ["US"], 1.0, 1.0),
    ("New  Orleans,\tLouisiana", ["new orleans"], 0.0, 0.8),  # P 2/3, R 1
    ("the the cat", ["cat cat"], 0.0, 2 / 3),  # [cat] vs [cat cat]: one shared token, P 1, R 1/2
    ("An apple a day", ["apple day"], 1.0, 1.0),
    ("a-ha", ["aha"], 1.0, 1.0),  # the hyphen goes before articles are looked for: "aha" has none
    ("the-end", ["end"], 0.0, 0.0),  # "theend": the article is glued on, not removed
    ("theatre", ["the atre"], 0.0, 0.0),  # "theatre" vs "atre"
    ("Don\u2019t", ["dont"], 0.0, 0.0),  # a curly apostrophe is not ASCII punctuation
    ("", ["anything"], 0.0, 0.0),
    ("", [""], 1.0, 0.0),  # v1.1: equal empty strings match exactly but share no token (v2.0 would give F1 1)
]


@pytest.mark.parametrize(("prediction", "answers", "em", "f1"), HAND_CHECKED)
def test_squad_metrics_on_hand_checked_cases(prediction: str, answers: list[str], em: float, f1: float) -> None:
    assert best_exact_match(prediction, answers) == em
    assert best_f1(prediction, answers) == pytest.approx(f1, abs=1e-12)


def reference_normalize(s: str) -> str:
    """The v1.1 script's normalize_answer: lower, remove_punc, remove_articles, white_space_fix, in that order."""
    lowered = s.lower()
    no_punctuation = "".join(ch for ch in lowered if ch not in set(string.punctuation))
    no_articles = re.sub(r"\b(a|an|the)\b", " ", no_punctuation)
    return " ".join(no_articles.split())


def reference_f1(prediction: str, truth: str) -> float:
    p, g = reference_normalize(prediction).split(), reference_normalize(truth).split()
    same = sum((Counter(p) & Counter(g)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def test_squad_metrics_equal_the_v11_definition_on_random_answers() -> None:
    rng = random.Random(11)
    words = [
        "the",
        "The",
        "a",
        "an",
        "An",
        "cat",
        "cat's",
        "U.S.",
        "1972",
        "New",
        "york",
        "theatre",
        "and",
        "-",
        "“",
        "’s",
    ]
    glue = [" ", "  ", "\t", ", ", ".", "-", "", "\n"]

    def phrase() -> str:
        return "".join(rng.choice(words) + rng.choice(glue) for _ in range(rng.randint(0, 6)))

    for _ in range(2000):
        prediction, answers = phrase(), [phrase() for _ in range(rng.randint(1, 3))]
        assert normalize_answer(prediction) == reference_normalize(prediction)
        assert best_exact_match(prediction, answers) == max(
            float(reference_normalize(prediction) == reference_normalize(a)) for a in answers
        )
        assert best_f1(prediction, answers) == pytest.approx(max(reference_f1(prediction, a) for a in answers))
    with pytest.raises(ValueError):
        best_f1("x", [])


# --- lm-eval's task objects over the shared data --------------------------------------------------------------


def lm_eval_task(yaml_name: str, splits: dict[str, list[dict[str, Any]]]) -> Any:
    lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed: nothing to compare with")
    datasets = pytest.importorskip("datasets", reason="lm-eval's task objects need the datasets package")
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks._yaml_loader import load_yaml

    config = load_yaml(Path(lm_eval.__file__).parent / "tasks" / yaml_name)
    dataset = datasets.DatasetDict({name: datasets.Dataset.from_list(docs) for name, docs in splits.items()})
    config["custom_dataset"] = lambda **_: dataset
    return ConfigurableTask(config=config)


def lm_eval_scores(task: Any, doc: dict[str, Any], output: str, shots: int = 0) -> dict[str, float]:
    """lm-eval's per-filter metrics for one generated output, through its filters and process_results."""
    instance = task.construct_requests(doc, task.fewshot_context(doc, shots))
    instance = instance[0] if isinstance(instance, list) else instance
    instance.resps = [output]
    out = {}
    for ensemble in task._filters:
        ensemble.apply([instance])
        out[ensemble.name] = task.process_results(doc, [instance.filtered_resps[ensemble.name]])["exact_match"]
    return out


def lm_eval_gen_kwargs(task: Any, doc: dict[str, Any]) -> dict[str, Any]:
    instance = task.construct_requests(doc, task.fewshot_context(doc, 0))
    return (instance[0] if isinstance(instance, list) else instance).arguments[1]


def piqa_docs(data_dir: Path) -> list[dict[str, Any]]:
    labels = (data_dir / "piqa" / "valid-labels.lst").read_text().split()
    return [
        {**row, "label": int(label)}
        for row, label in zip(jsonl(data_dir / "piqa" / "valid.jsonl"), labels, strict=True)
    ]


def test_piqa_loglikelihood_requests_and_scores_equal_lm_evals(data_dir: Path) -> None:
    docs = piqa_docs(data_dir)
    task = lm_eval_task("piqa/piqa.yaml", {"train": docs[:5], "validation": docs})
    b = bench("piqa", data_dir, "loglikelihood")
    for sample, doc in zip(b.samples, docs, strict=True):
        context = task.fewshot_context(doc, 0)
        expected = (context, tuple(i.arguments[1] for i in task.construct_requests(doc, context)))
        request = b.build_request(sample, "x/y", GenerationParams())
        assert (request.prompt, request.continuations) == expected, sample.id
    rng = random.Random(5)
    differs = 0
    for sample, doc in list(zip(b.samples, docs, strict=True))[:300]:
        pool = [-1.0, -2.0, -4.0, round(-rng.uniform(0.1, 40), 2)]  # frequent ties, raw and per character
        logprobs = [rng.choice(pool), rng.choice(pool)]
        expected = task.process_results(doc, [(lp, False) for lp in logprobs])
        lls = tuple(LogLikelihood(logprob=lp, greedy=False, tokens=1) for lp in logprobs)
        got = b.score(sample, Response((), 0.0, loglikelihoods=lls))
        assert got.metrics == {"acc": expected["acc"], "acc_norm": expected["acc_norm"]}, (sample.id, logprobs)
        differs += expected["acc"] != expected["acc_norm"]
    assert differs > 10  # length normalisation changes the pick in many of the cases exercised


def test_nq_open_prompts_and_settings_equal_lm_evals(data_dir: Path) -> None:
    docs = jsonl(data_dir / "nq-open" / "NQ-open.dev.jsonl")
    task = lm_eval_task("nq_open/nq_open.yaml", {"train": docs[:5], "validation": docs})
    b = bench("nq_open", data_dir)
    # every third question (lm-eval renders each in ~2.5 ms); the template has no branch a row could take
    for sample, doc in list(zip(b.samples, docs, strict=True))[::3]:
        assert b.build_request(sample, "x/y", b.generation).prompt == task.fewshot_context(doc, 0), sample.id
    settings = lm_eval_gen_kwargs(task, docs[0])
    assert list(b.generation.stop) == settings["until"] and b.generation.temperature == settings["temperature"] == 0
    from lm_eval.models.huggingface import HFLM

    # nq_open names no max_gen_toks: lm-eval's model default applies
    assert "max_gen_toks" not in settings and b.generation.max_tokens == HFLM.max_gen_toks.fget(None) == 256


def nq_outputs(answers: list[str], rng: random.Random) -> list[str]:
    """Outputs a model gives: the answer as is, re-cased, with articles, punctuation, spaces, or wrong."""
    gold = rng.choice(answers)
    return [
        gold,
        f" {gold}",
        gold.upper(),
        gold.lower(),
        f"the {gold}",
        f"The {gold}",
        f"THE {gold}",
        f"a {gold}",
        f"{gold}!",
        f"{gold} ",
        f"{gold} (approximately)",
        gold.replace(" ", "  "),
        gold.replace(" ", "-"),
        "Paris",
        "",
    ]


def test_nq_open_exact_match_equals_lm_evals_on_the_same_outputs(data_dir: Path) -> None:
    docs = jsonl(data_dir / "nq-open" / "NQ-open.dev.jsonl")
    task = lm_eval_task("nq_open/nq_open.yaml", {"train": docs[:5], "validation": docs})
    b = bench("nq_open", data_dir)
    rng = random.Random(3)
    picked = (
        list(range(60))
        + [i for i, d in enumerate(docs) if any(re.search(r"[^\w\s]|^(?:The|A|An) ", a) for a in d["answer"])][:60]
    )
    verdicts = Counter()
    for i in picked:
        for output in nq_outputs(docs[i]["answer"], rng):
            expected = lm_eval_scores(task, docs[i], output)["remove_whitespace"]
            got = score(b, b.samples[i], output)
            assert got.value == expected == lmeval_nq_exact_match(output, docs[i]["answer"]), (i, output)
            verdicts[expected] += 1
    assert verdicts[0.0] > 300 and verdicts[1.0] > 300


def test_gsm_plus_lmeval_prompts_equal_lm_evals_in_run_order(data_dir: Path) -> None:
    docs = jsonl(data_dir / "gsm-plus" / "gsmplus_testmini.jsonl")
    task = lm_eval_task("gsm_plus/gsm_plus_mini.yaml", {"testmini": docs})
    task.set_fewshot_seed(1234)  # what lm-eval's evaluator does once per task (--fewshot_random_seed)
    b = bench("gsm_plus_lmeval", data_dir)
    # each question's shots depend on the draws before it: compare in file order, as lm-eval builds them
    for sample, doc in list(zip(b.samples, docs, strict=True))[:300]:
        assert b.build_request(sample, "x/y", b.generation).prompt == task.fewshot_context(doc, 5), sample.id
    settings = lm_eval_gen_kwargs(task, docs[0])
    assert list(b.generation.stop) == settings["until"] and b.generation.temperature == settings["temperature"] == 0
    assert b.generation.max_tokens == 256 and "max_gen_toks" not in settings


def test_gsm_plus_lmeval_metrics_equal_lm_evals_filters(data_dir: Path) -> None:
    docs = jsonl(data_dir / "gsm-plus" / "gsmplus_testmini.jsonl")
    task = lm_eval_task("gsm_plus/gsm_plus_mini.yaml", {"testmini": docs})
    task.set_fewshot_seed(1234)
    b = bench("gsm_plus_lmeval", data_dir)
    seen = Counter()
    for i in [*range(0, 40), 1200, 1207]:
        answer = docs[i]["answer"]
        outputs = [
            f" Some steps.\n#### {answer}\n\n",
            f" Some steps.\n#### ${answer}.\n\n",
            f" First 3 apples, then the total is {answer}.",
            f" #### {answer}0\nThe answer is {answer}",
            f" It costs ${answer}, and 1,000 more.",
            " #### -1,234.5",
            " We don't know.\n#### None",
            "",
        ]
        for output in outputs:
            expected = lm_eval_scores(task, docs[i], output, shots=5)
            got = score(b, b.samples[i], output).metrics
            assert got["lmeval_strict_match"] == expected["strict-match"], (i, output)
            assert got["lmeval_flexible_extract"] == expected["flexible-extract"], (i, output)
            seen[(expected["strict-match"], expected["flexible-extract"])] += 1
    assert len(seen) >= 3  # right by both, by one of the two, and by neither


@pytest.mark.parametrize(("name", "yaml_name", "split", "problem", "answer"), [
    ("aime24", "aime/aime24.yaml", "train", "Problem", "Answer"),
    ("aime25", "aime/aime25.yaml", "test", "problem", "answer"),
])  # fmt: skip
def test_aime_prompts_equal_lm_evals(
    data_dir: Path, name: str, yaml_name: str, split: str, problem: str, answer: str
) -> None:
    b = bench(name, data_dir)
    docs = [{problem: s.fields["problem"], answer: int(s.target)} for s in b.samples]
    task = lm_eval_task(yaml_name, {split: docs})
    for sample, doc in zip(b.samples, docs, strict=True):
        messages = [
            {"role": m.role, "content": m.content} for m in b.build_request(sample, "x/y", b.generation).messages
        ]
        plain = task.fewshot_context(doc, 0)
        # lm-eval --apply_chat_template: the messages its chat template is given
        chat = task.fewshot_context(doc, 0, apply_chat_template=True, chat_template=lambda m, **_: m)
        assert messages == [{"role": "user", "content": plain}] == chat, sample.id
    settings = lm_eval_gen_kwargs(task, docs[0])
    assert list(b.generation.stop) == settings["until"]
    assert (b.generation.temperature, b.generation.max_tokens) == (settings["temperature"], settings["max_gen_toks"])


# --- scoring ------------------------------------------------------------------------------------------------


def test_critical_thinking_phrases() -> None:
    assert says_unanswerable("The problem does not specify the price.") == "does not specify"
    assert says_unanswerable("We DON’T know how many grandchildren she has.") == "don't know"
    assert says_unanswerable("The total cannot be determined from the information given.") == "cannot be determined"
    assert says_unanswerable("The answer is None.") == "none"
    assert says_unanswerable("Nonetheless, the answer is 12.") is None  # "none" only as a word
    assert says_unanswerable("She has 3 + 4 = 7 apples. The answer is 7.") is None


def test_gsm_plus_scores_numbers_and_unanswerable_questions(data_dir: Path) -> None:
    b = bench("gsm_plus", data_dir)
    numeric, missing = b.samples[0], b.samples[7]
    assert (numeric.target, missing.target) == ("4.33", "None")
    assert score(b, numeric, "26 / 6 = 4.33\nThe answer is 4.33.").value == 1.0
    assert score(b, numeric, "The answer is $\\boxed{4.33}$ inches.").value == 1.0
    assert score(b, numeric, "The answer is 4.3.").value == 0.0
    said = score(b, missing, "The question doesn't specify the other heel height, so it cannot be answered.")
    assert (said.value, said.extracted) == (1.0, "doesn't specify")
    assumed = score(b, missing, "Assuming the other heels are 2 inches, the average is 3.\nThe answer is 3.")
    assert (assumed.value, assumed.extracted) == (0.0, "3")
    cut = score(b, missing, Completion(text="", reasoning="The height of the other heels", incomplete=True))
    assert cut.status == "incomplete"


def test_aime_answers_compare_as_integers(data_dir: Path) -> None:
    b = bench("aime24", data_dir)
    sample = by_id(b, "aime_2024_I/2")  # answers.csv writes 025
    cases = [
        ("So xy = 25.\n\n\\boxed{025}", 1.0, "25"),
        ("\\boxed{25}", 1.0, "25"),
        ("The answer is 25.0.", 1.0, "25"),
        ("Therefore $m + n = 25$.", 1.0, "25"),
        ("\\boxed{\\frac{50}{2}}", 1.0, "25"),
        ("\\boxed{24.99}", 0.0, "24.99"),  # a near miss is not the integer
        ("\\boxed{26}", 0.0, "26"),
        ("\\boxed{5^2}", 1.0, "5^2"),  # an expression: mathematical equivalence
        ("I cannot solve this problem.", 0.0, None),
    ]
    for text, value, extracted in cases:
        got = score(b, sample, text)
        assert (got.value, got.extracted) == (value, extracted), text
        assert got.extraction_failed == (extracted is None), text


def test_aime_sampled_answers_give_pass_at_k(data_dir: Path) -> None:
    b = bench("aime24_pass16", data_dir)
    sample = by_id(b, "aime_2024_I/1")  # 204
    outputs = ["\\boxed{204}"] * 3 + ["\\boxed{200}"] * 10 + ["no idea"] * 2
    outputs.append(Completion(text="", reasoning="Let s be the speed", incomplete=True))  # cut off: not right
    got = score(b, sample, *outputs)
    assert got.value == 3 / 16 and got.extracted == "3/16 right"
    assert got.metrics == pytest.approx({f"pass@{k}": pass_at_k(16, 3, k) for k in (1, 2, 4, 8, 16)})
    assert got.metrics["pass@1"] == 3 / 16 and got.metrics["pass@16"] == 1.0
    none_finished = score(b, sample, *[Completion(text="", incomplete=True)] * 16)
    assert none_finished.status == "incomplete" and none_finished.value is None
    assert b.metric_name == "pass@1" and b.generation.n == 16 and b.generation.temperature == 0.6


# --- the real engine against a fake server --------------------------------------------------------------------


def test_engine_breaks_gsm_plus_down_by_perturbation_and_reports_aime_pass_at_k(tmp_path: Path, data_dir: Path) -> None:
    gsm = bench("gsm_plus", data_dir).samples[:48]  # six seed problems, each under all eight perturbations
    by_question = {s.fields["question"]: s for s in gsm}
    assert len(by_question) == 48
    right = {s.id: i % 3 != 0 for i, s in enumerate(gsm)}
    aime = bench("aime24_pass16", data_dir).samples  # all 30: fewer than the limit
    aime_right = {s.fields["problem"]: int(s.id.split("/")[1]) % 2 == 1 for s in aime}
    sampling = []

    def answer(body: dict[str, Any]) -> str:
        text = last_user_text(body)
        if text.startswith("Question: ") and text.endswith("\nAnswer:"):  # AIME, lm-eval's prompt
            sampling.append((body.get("n"), body.get("temperature"), body.get("top_p")))
            problem = text.removeprefix("Question: ").removesuffix("\nAnswer:")
            target = next(s.target for s in aime if s.fields["problem"] == problem)
            return f"\\boxed{{{target if aime_right[problem] else int(target) + 1}}}"
        sample = by_question[text.split("Question: ", 1)[1]]
        ok = right[sample.id]
        if sample.target == "None":
            return "The question does not specify a needed quantity." if ok else "The answer is 12."
        return f"The answer is {sample.target if ok else sample.target + '1'}."

    with running_server(answer_fn=answer) as server:
        store = Store.open(tmp_path / "results")
        result = run_engine(store, make_spec(server.base_url, data_dir, ["gsm_plus", "aime24_pass16"], limit=48))
    assert result.status == "completed", result.message
    assert sampling == [(16, 0.6, 0.95)] * 30
    rows = store.aggregates(result.run_id)
    per_type = {
        r["group_name"]: r for r in rows if r["benchmark"] == "gsm_plus" and r["group_kind"] == "perturbation_type"
    }
    assert len(per_type) == 8
    for name, row in per_type.items():
        members = [s for s in gsm if s.meta["perturbation_type"] == name]
        assert row["n"] == 6 and row["score"] == pytest.approx(sum(right[s.id] for s in members) / 6), name
    overall = {r["metric"]: r["score"] for r in rows if r["benchmark"] == "aime24_pass16" and r["group_kind"] == "all"}
    expected = sum(aime_right.values()) / 30  # the fake server returns one answer 16 times
    for metric in ("pass@1", "pass@2", "pass@4", "pass@8", "pass@16"):
        assert overall[metric] == pytest.approx(expected), metric
    sent = [r for r in store.sample_rows(result.run_id) if r["benchmark"] == "aime24_pass16"]
    assert len(sent) == 30 and {r["extracted"] for r in sent} == {"16/16 right", "0/16 right"}
