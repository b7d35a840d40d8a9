"""BIG-Bench Hard and ARC: loaders on the real files, prompts, answer extraction and malformed rows."""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import pytest

import tianping.benchmarks.reasoning as reasoning  # registers the loaders and extractors first
from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import load_dataset
from tianping.benchmarks.registry import build
from tianping.benchmarks.scorers import EXTRACTORS, METRICS
from tianping.core import Completion, GenerationParams, Response, Sample

BBH_SIZES = {task: 250 for task in reasoning.BBH_FAMILIES} | {
    "causal_judgement": 187,
    "penguins_in_a_table": 146,
    "snarks": 178,
}


@pytest.fixture(scope="module")
def bbh(data_dir):
    (bench,) = build("bbh", data_dir)
    return bench.load()


@pytest.fixture(scope="module")
def first_of(bbh):
    out: dict[str, Sample] = {}
    for sample in bbh.samples:
        out.setdefault(sample.meta["subject"], sample)
    return out


def response(text: str) -> Response:
    return Response(completions=(Completion(text=text),), latency_s=0.1)


# --------------------------------------------------------------------------------------------------
# BBH data and prompts
# --------------------------------------------------------------------------------------------------


def test_bbh_has_its_published_size(bbh):
    assert len(bbh.samples) == 6511
    assert len({s.id for s in bbh.samples}) == 6511
    assert collections.Counter(s.meta["subject"] for s in bbh.samples) == BBH_SIZES
    assert len(BBH_SIZES) == 27
    assert bbh.checksum and len(bbh.checksum) == 64
    first = bbh.samples[0]
    assert first.id == "boolean_expressions/0"
    assert first.fields["input"] == "not ( True ) and ( True ) is"
    assert first.target == "False"
    assert first.meta == {
        "subject": "boolean_expressions",
        "category": "binary",
        "file": "boolean_expressions.json",
        "index": 0,
    }


def test_bbh_reads_every_task_file_and_prompt(data_dir):
    loaded = load_dataset("bbh_json", data_dir / "bbh", {})
    names = sorted(p.relative_to(data_dir / "bbh").as_posix() for p in loaded.files)
    assert len(names) == 54
    assert names[:27] == sorted(f"bbh/{task}.json" for task in BBH_SIZES)
    assert names[27:] == sorted(f"cot-prompts/{task}.txt" for task in BBH_SIZES)
    # the inner bbh/ folder works as the path too
    assert len(load_dataset("bbh_json", data_dir / "bbh" / "bbh", {}).samples) == 6511


def test_bbh_categories_are_answer_families(bbh):
    families = collections.Counter(s.meta["category"] for s in bbh.samples)
    assert families == {
        "multiple_choice": 4074,
        "binary": 1437,
        "numeric": 500,
        "word_sorting": 250,
        "dyck_languages": 250,
    }
    formats = collections.Counter(s.fields["answer_format"] for s in bbh.samples)
    assert formats["free_text"] == 3  # upstream targets that are an option text split at a comma
    free = sorted(s.id for s in bbh.samples if s.fields["answer_format"] == "free_text")
    assert free == ["movie_recommendation/163", "ruin_names/144", "ruin_names/99"]


def test_every_task_has_a_three_shot_cot_prompt_without_the_canary(bbh, first_of):
    for task, sample in first_of.items():
        prompt = sample.fields["cot_prompt"]
        assert "canary" not in prompt.lower() and "-----" not in prompt, task
        assert not prompt.startswith("Q:"), task  # the task's instruction line comes first
        assert len(re.findall(r"^Q: ", prompt, re.M)) == 3, task
        assert prompt.count("A: Let's think step by step.") == 3, task
        assert len(re.findall(r"So the answer is .*\.$", prompt, re.M)) == 3, task
        assert all(s.fields["cot_prompt"] is prompt for s in bbh.samples if s.meta["subject"] == task)


def test_strip_cot_header_keeps_a_file_without_header():
    text = "Instruction.\n\nQ: x\nA: Let's think step by step.\ny. So the answer is (A).\n"
    assert reasoning.strip_cot_header(text) == text.strip()
    assert reasoning.strip_cot_header("BENCHMARK canary\n-----\n" + text) == text.strip()


def test_each_cot_exemplar_scores_its_own_answer(first_of):
    """The worked exemplars of every prompt, read as model outputs, give their own final answers."""
    extract = EXTRACTORS["bbh_answer"]
    checked = 0
    for task, sample in first_of.items():
        shots = sample.fields["cot_prompt"].split("\n\nQ: ")[1:]
        assert len(shots) == 3
        for shot in shots:
            # sports_understanding's exemplars continue on the same line as "Let's think step by step."
            question, _, worked = shot.partition("\nA: Let's think step by step.")
            answer = re.search(r"So the answer is (.*)\.$", worked, re.M).group(1)
            fields = reasoning.bbh_fields(task, {"input": question, "target": answer})
            gold = reasoning.normalize_bbh(answer, fields)
            assert gold is not None, (task, answer)
            shot_sample = Sample(id="shot", fields=fields, target=gold)
            assert extract(worked, shot_sample) == gold, (task, worked[-200:])
            checked += 1
    assert checked == 81


def test_bbh_prompt_is_the_standard_cot_format(data_dir):
    (bench,) = build("bbh", data_dir)
    bench.load(27)
    assert len({s.meta["subject"] for s in bench.samples}) == 27  # a limit spreads over the tasks
    for sample in bench.samples:
        request = bench.build_request(sample, "openai/m", bench.generation)
        assert request.prompt is None
        (message,) = request.messages
        assert message.role == "user"
        expected = f"{sample.fields['cot_prompt']}\n\nQ: {sample.fields['input']}\nA: Let's think step by step."
        assert message.content == expected
    assert bench.generation.temperature == 0.0
    assert bench.generation.max_tokens == 1024
    assert bench.breakdowns == ["category", "subject"]
    assert bench.version == "1.0"


# --------------------------------------------------------------------------------------------------
# BBH answer extraction
# --------------------------------------------------------------------------------------------------

COT = "Let's think step by step.\nFirst, we look at the question carefully.\n"

EXTRACTION_CASES = [
    # multiple choice (first rows: date_understanding (A)-(F); tracking 3 objects: Ulysses/Frankenstein/Lolita;
    # geometric_shapes (A) circle ... (D) kite ... (J) triangle)
    ("date_understanding", COT + "So the answer is (B).", "(B)"),
    ("date_understanding", COT + "So the answer is: **(C)**", "(C)"),
    ("date_understanding", COT + "So the answer is B.", "(B)"),
    ("date_understanding", COT + "So the answer is (b).", "(B)"),
    ("date_understanding", COT + "So the answer is (F) 07/25/1937.", "(F)"),
    ("date_understanding", COT + "So the answer is (A). Hmm, recheck.\nSo the answer is (D).", "(D)"),
    ("date_understanding", COT + "So the answer is (A).\n\nQ: Another question?\nA: So the answer is (E).", "(A)"),
    ("date_understanding", COT + "Therefore the correct answer is \\boxed{(E)}.", "(E)"),
    ("date_understanding", COT + "The date is 12/25/1937.\n(B)", "(B)"),
    ("date_understanding", COT + "So the answer is (Z).", None),
    ("date_understanding", "I am not sure.", None),
    ("tracking_shuffled_objects_three_objects", COT + "So the answer is Frankenstein.", "(B)"),
    ("geometric_shapes", COT + "So the answer is a kite.", "(D)"),
    # binary: True/False, Yes/No, yes/no, valid/invalid, spelled as the task's targets
    ("boolean_expressions", COT + "So the answer is False.", "False"),
    ("boolean_expressions", COT + "So the answer is true", "True"),
    ("causal_judgement", COT + "So the answer is **Yes**.", "Yes"),
    ("web_of_lies", COT + "Elanor lies. So the answer is No.", "No"),
    ("sports_understanding", COT + "So the answer is Yes.", "yes"),
    ("formal_fallacies", COT + "So the answer is invalid.", "invalid"),
    ("formal_fallacies", COT + "So the answer is: the argument is valid.", "valid"),
    ("navigate", COT + "So the answer is maybe.", None),
    # numbers
    ("object_counting", COT + "1 + 2 + 4 = 12. So the answer is 12.", "12"),
    ("object_counting", COT + "So the answer is eight.", "8"),
    ("object_counting", COT + "So the answer is twenty-one.", "21"),
    ("object_counting", COT + "So the answer is 12 musical instruments.", "12"),
    ("multistep_arithmetic_two", COT + "So the answer is -219.", "-219"),
    ("multistep_arithmetic_two", COT + "So the answer is \u221250.", "-50"),
    ("multistep_arithmetic_two", COT + "So the answer is (-1 + 2) * 3 - 5 = 3 - 5 = -2.", "-2"),
    ("multistep_arithmetic_two", COT + "So the answer is 1,024.", "1024"),
    ("multistep_arithmetic_two", COT + "So the answer is undefined.", None),
    # word sorting
    ("word_sorting", COT + "So the answer is costume counterpart oven.", "costume counterpart oven"),
    ("word_sorting", COT + "So the answer is: costume, counterpart, oven", "costume counterpart oven"),
    (
        "word_sorting",
        COT + "So the answer is:\n1. costume\n2. counterpart\n3. oven\n\nDone.",
        "costume counterpart oven",
    ),
    ("word_sorting", COT + "So the answer is it&t o'connor you'd. They are sorted.", "it&t o'connor you'd"),
    ("word_sorting", COT + "So the answer is costume counterpart oven, which is sorted", "costume counterpart oven"),
    ("word_sorting", COT + "So the answer is oven costume counterpart oven.", "oven costume counterpart oven"),
    ("word_sorting", COT + "So the answer is costume oven.", "costume oven"),
    ("dyck_languages", COT + "So the answer is: ] ) ) (closing all brackets)", "] ) )"),
    # Dyck languages
    ("dyck_languages", COT + 'So, we need "]", "}", "]". So the answer is ] } ].', "] } ]"),
    ("dyck_languages", COT + "So the answer is ]}]", "] } ]"),
    ("dyck_languages", COT + "So the answer is `> ) }`.", "> ) }"),
    ("dyck_languages", COT + "So the answer is: nothing to close.", None),
    # no answer at all
    ("boolean_expressions", "", None),
    ("word_sorting", "   \n  ", None),
]


def test_there_are_enough_extraction_cases():
    assert len(EXTRACTION_CASES) >= 25
    assert {reasoning.BBH_FAMILIES[task] for task, _, _ in EXTRACTION_CASES} == set(reasoning.BBH_FAMILIES.values())


WORDS = "Sort the following words alphabetically: List: you'd oven it&t counterpart o'connor costume"


@pytest.mark.parametrize(("task", "text", "expected"), EXTRACTION_CASES)
def test_bbh_extractor_on_realistic_outputs(first_of, task, text, expected):
    if task == "word_sorting":
        fields = reasoning.bbh_fields(task, {"input": WORDS, "target": "costume"})
        sample = Sample(id="words", fields=fields, target="")
    else:
        sample = first_of[task]
    assert EXTRACTORS["bbh_answer"](text, sample) == expected


def test_free_text_targets_compare_as_text(bbh):
    (sample,) = [s for s in bbh.samples if s.id == "movie_recommendation/163"]
    assert sample.fields["target_raw"] == "Monsters, Inc"
    assert sample.target == "monsters, inc"
    assert bbh.score(sample, response(COT + "So the answer is Monsters, Inc.")).value == 1.0
    assert bbh.score(sample, response(COT + "So the answer is (A).")).value == 0.0


def test_every_gold_target_passes_its_own_metric(bbh):
    """All 6,511 targets, answered in the exemplars' format, are extracted and scored correct."""
    assert bbh.definition.scoring.metric == "bbh_match"
    failures = []
    for sample in bbh.samples:
        score = bbh.score(sample, response(COT + f"So the answer is {sample.fields['target_raw']}."))
        if score.value != 1.0:
            failures.append((sample.id, sample.target, score.extracted))
    assert failures == []


def test_gold_targets_survive_markdown_and_case(bbh):
    extract, metric = EXTRACTORS["bbh_answer"], METRICS["bbh_match"]
    for sample in bbh.samples:
        raw = sample.fields["target_raw"]
        assert metric(extract(f"{COT}So the answer is: **{raw}**", sample), sample.target) == 1.0, sample.id
        if sample.fields["answer_format"] in ("binary", "word_sorting", "free_text"):
            assert metric(extract(f"{COT}so the answer is {raw.upper()}.", sample), sample.target) == 1.0, sample.id


def test_normalised_targets_are_fixed_points(bbh):
    for sample in bbh.samples:
        assert reasoning.normalize_bbh(sample.target, sample.fields) == sample.target, sample.id
        if sample.fields["answer_format"] != "free_text":
            assert sample.target == sample.fields["target_raw"], sample.id


def test_a_different_option_scores_zero(bbh):
    """The extractor reads the response, not the target: another valid letter is wrong."""
    single = [
        s.id for s in bbh.samples if s.fields["answer_format"] == "multiple_choice" and len(s.fields["letters"]) < 2
    ]
    assert single == ["snarks/88"]  # upstream row truncated to "(A) The NB"
    for sample in bbh.samples:
        if sample.fields["answer_format"] == "multiple_choice" and sample.id not in single:
            wrong = next(letter for letter in sample.fields["letters"] if f"({letter})" != sample.target)
            assert bbh.score(sample, response(f"{COT}So the answer is ({wrong}).")).value == 0.0
        elif sample.fields["answer_format"] == "binary":
            (wrong,) = [w for w in sample.fields["words"] if w != sample.target]
            assert bbh.score(sample, response(f"{COT}So the answer is {wrong}.")).value == 0.0


def test_missing_answer_is_an_extraction_failure(bbh, first_of):
    score = bbh.score(first_of["dyck_languages"], response("I cannot determine this."))
    assert score.value == 0.0 and score.extraction_failed


# --------------------------------------------------------------------------------------------------
# ARC
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rows"),
    [("arc_challenge", 1172), ("arc_easy", 2376)],
)
def test_arc_test_sets_have_their_published_sizes(data_dir, name, rows):
    (bench,) = build(name, data_dir)
    bench.load()
    assert len(bench.samples) == rows
    assert len({s.id for s in bench.samples}) == rows
    assert {s.target for s in bench.samples} <= set("ABCDE")
    assert bench.generation.max_tokens == 256
    assert bench.definition.fewshot.k == 0


@pytest.mark.parametrize(
    ("path", "rows"),
    [("ARC-Challenge/ARC-Challenge-Dev.jsonl", 299), ("ARC-Easy/ARC-Easy-Dev.jsonl", 570)],
)
def test_arc_dev_files_load(data_dir, path, rows):
    assert len(load_dataset("arc_jsonl", data_dir / "arc" / path, {}).samples) == rows


def test_arc_numeric_labels_map_to_letters_by_position(data_dir):
    path = data_dir / "arc" / "ARC-Easy" / "ARC-Easy-Test.jsonl"
    samples = load_dataset("arc_jsonl", path, {}).samples
    numeric = [s for s in samples if s.fields["labels"][0] == "1"]
    assert len(numeric) == 97
    lines = path.read_text(encoding="utf-8").splitlines()
    for sample in numeric:
        row = json.loads(lines[sample.meta["line"] - 1])
        assert row["id"] == sample.id
        position = int(row["answerKey"]) - 1
        assert sample.target == "ABCDE"[position]
        assert sample.fields["letters"] == list("ABCDE"[: len(sample.fields["choices"])])
        assert sample.fields["choices"][position] == row["question"]["choices"][position]["text"].strip()
    five = [s for s in samples if len(s.fields["choices"]) == 5]
    three = [s for s in samples if len(s.fields["choices"]) == 3]
    assert len(five) == 4 and len(three) == 7


def test_arc_prompt_lists_the_options(data_dir):
    (bench,) = build("arc_challenge", data_dir)
    bench.load(2)
    sample = bench.samples[0]
    assert sample.id == "Mercury_7175875" and sample.target == "C"
    assert sample.meta == {"file": "ARC-Challenge-Test.jsonl", "line": 1}
    (message,) = bench.build_request(sample, "openai/m", GenerationParams()).messages
    assert message.content == (
        "The following is a multiple choice science question. Answer with the letter of the correct option.\n\n"
        "An astronomer observes that a planet rotates faster after a meteorite impact. "
        "Which is the most likely effect of this increase in rotation?\n"
        "A. Planetary density will decrease.\n"
        "B. Planetary years will become longer.\n"
        "C. Planetary days will become shorter.\n"
        "D. Planetary gravity will become stronger.\n"
        "Answer:"
    )
    assert sample.fields["options"] in message.content


def test_arc_choice_extractor(data_dir):
    def sample(n: int) -> Sample:
        choices = [f"option {i}" for i in range(n)]
        return Sample(id="x", fields={"choices": choices}, target="A")

    extract = EXTRACTORS["arc_choice"]
    assert extract("The answer is C.", sample(4)) == "C"
    assert extract("The answer is (E).", sample(5)) == "E"
    assert extract("The answer is D.", sample(3)) is None
    assert extract("Answer: B", sample(3)) == "B"
    assert extract("I do not know.", sample(4)) is None
    (bench,) = build("arc_easy", data_dir)
    bench.load(1)
    first = bench.samples[0]
    assert bench.score(first, response(f"The correct option is {first.target}.")).value == 1.0


# --------------------------------------------------------------------------------------------------
# Malformed data
# --------------------------------------------------------------------------------------------------

ARC_ROW = {
    "id": "q1",
    "question": {"stem": "Which?", "choices": [{"text": "a", "label": "1"}, {"text": "b", "label": "2"}]},
    "answerKey": "2",
}


def write_jsonl(path: Path, rows: list[object | str]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "not valid JSON"),
        ({**ARC_ROW, "id": "q2", "answerKey": "3"}, "answerKey '3' is not one of the labels"),
        ({**ARC_ROW, "id": "q2", "question": {"stem": "", "choices": ARC_ROW["question"]["choices"]}}, "stem"),
        ({**ARC_ROW, "id": "q2", "question": {"stem": "x", "choices": [{"text": "a", "label": "A"}]}}, "choices"),
        ({**ARC_ROW, "question": ARC_ROW["question"]}, "id 'q1' already used on line 1"),
        ({"id": "q2", "answerKey": "A"}, "field 'question'"),
    ],
)
def test_malformed_arc_rows_name_file_and_line(tmp_path, bad, message):
    path = write_jsonl(tmp_path / "arc.jsonl", [ARC_ROW, "", bad])
    with pytest.raises(DatasetError) as err:
        load_dataset("arc_jsonl", path, {})
    assert f"{path}:3:" in str(err.value)
    assert message in str(err.value)


def test_arc_single_row_target(tmp_path):
    (sample,) = load_dataset("arc_jsonl", write_jsonl(tmp_path / "a.jsonl", [ARC_ROW]), {}).samples
    assert sample.target == "B" and sample.fields["labels"] == ["1", "2"]
    assert sample.fields["options"] == "A. a\nB. b"


def make_bbh(root: Path, task: str, examples: object, prompt: str | None = None) -> Path:
    (root / "bbh").mkdir(parents=True, exist_ok=True)
    (root / "cot-prompts").mkdir(exist_ok=True)
    body = examples if isinstance(examples, str) else json.dumps({"canary": "x", "examples": examples})
    (root / "bbh" / f"{task}.json").write_text(body, encoding="utf-8")
    if prompt is not None:
        (root / "cot-prompts" / f"{task}.txt").write_text(prompt, encoding="utf-8")
    return root


PROMPT = "canary GUID x\n-----\nDo it.\n\nQ: a\nA: Let's think step by step.\nSo the answer is True.\n"


@pytest.mark.parametrize(
    ("task", "examples", "message"),
    [
        ("boolean_expressions", [{"input": "True is", "target": "True"}, {"input": "x", "target": "Maybe"}],
         "examples[1]: target 'Maybe' is not a binary answer"),
        ("boolean_expressions", [{"input": "True is"}], "examples[0]: field 'target' is missing or empty"),
        ("snarks", [{"input": "Which?\nOptions:\n(B) x\n(C) y", "target": "(B)"}], "examples[0]: options are not"),
        ("snarks", [{"input": "Which?\nOptions:\n(A) x\n(B) y", "target": "(C)"}], "examples[0]: target '(C)'"),
        ("dyck_languages", [{"input": "Input: [", "target": "none"}], "examples[0]: target 'none'"),
        ("word_sorting", ["not an object"], "examples[0]: expected an object"),
        ("word_sorting", [], "expected an object with a non-empty 'examples' list"),
        ("word_sorting", [{"input": "Sort: b a", "target": "a b"}], "examples[0]: input has no 'List:' of words"),
    ],
)  # fmt: skip
def test_malformed_bbh_examples_are_named(tmp_path, task, examples, message):
    root = make_bbh(tmp_path / "bbh", task, examples, PROMPT)
    with pytest.raises(DatasetError) as err:
        load_dataset("bbh_json", root, {})
    assert str(root / "bbh" / f"{task}.json") in str(err.value)
    assert message in str(err.value)


def test_bbh_invalid_json_and_missing_prompt_are_named(tmp_path):
    root = make_bbh(tmp_path / "a", "navigate", '{"examples": [\n{"input": "x", "target": "Yes"},\n]}', PROMPT)
    with pytest.raises(DatasetError, match=r"navigate\.json:3: not valid JSON"):
        load_dataset("bbh_json", root, {})
    root = make_bbh(tmp_path / "b", "navigate", [{"input": "x", "target": "Yes"}])
    with pytest.raises(DatasetError, match=r"cot-prompts/navigate\.txt: cannot read"):
        load_dataset("bbh_json", root, {})
    root = make_bbh(tmp_path / "c", "navigate", [{"input": "x", "target": "Yes"}], "canary\n-----\nno shots here")
    with pytest.raises(DatasetError, match="no 'Q:' exemplar"):
        load_dataset("bbh_json", root, {})
    with pytest.raises(DatasetError, match="expected the BBH folder"):
        load_dataset("bbh_json", tmp_path / "c" / "cot-prompts" / "navigate.txt", {})


def test_bbh_tiny_folder_loads(tmp_path):
    root = make_bbh(tmp_path / "ok", "navigate", [{"input": "Go.\nOptions:\n- Yes\n- No", "target": "Yes"}], PROMPT)
    (sample,) = load_dataset("bbh_json", root, {}).samples
    assert sample.id == "navigate/0" and sample.target == "Yes"
    assert sample.fields["cot_prompt"] == "Do it.\n\nQ: a\nA: Let's think step by step.\nSo the answer is True."
    assert sample.meta["category"] == "binary"
