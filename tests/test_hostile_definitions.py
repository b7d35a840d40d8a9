"""A benchmark file is shared like data, so it is untrusted: it may not run code, read files outside the data,
or fail only at the first request; and a dataset with no rows is an error, never an empty benchmark."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from tianping.benchmarks import benchmark as benchmark_module
from tianping.benchmarks.benchmark import Benchmark
from tianping.benchmarks.definition import BenchmarkDef
from tianping.benchmarks.errors import BenchmarkDefinitionError, DatasetError
from tianping.benchmarks.registry import build
from tianping.core import GenerationParams

MC_HEADER = "question,A,B,C,D,answer\n"


def gsm8k_rows(*questions: str) -> str:
    return "".join(json.dumps({"question": q, "answer": f"So.\n#### {i + 1}"}) + "\n" for i, q in enumerate(questions))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """``data/`` (the data root), ``defs/`` (user definition files) and ``outside/`` (neither) under tmp_path."""
    data = tmp_path / "data"
    (data / "gsm8k").mkdir(parents=True)
    (data / "gsm8k" / "test.jsonl").write_text(gsm8k_rows("One?", "Two?", "Three?"), encoding="utf-8")
    (data / "gsm8k" / "train.jsonl").write_text(gsm8k_rows("Shot one?", "Shot two?"), encoding="utf-8")
    for split in ("test", "dev"):
        folder = data / "mc" / split
        folder.mkdir(parents=True)
        for subject in ("algebra", "biology"):
            rows = "".join(f"{subject} {split} {i}?,w,x,y,z,{'ABCD'[i % 4]}\n" for i in range(3))
            (folder / f"{subject}_{split}.csv").write_text(MC_HEADER + rows, encoding="utf-8")
    (tmp_path / "defs").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jsonl").write_text(gsm8k_rows("SECRET CONTENT?"), encoding="utf-8")
    (outside / "mapping.json").write_text(json.dumps({"algebra": ["A", "A", "STEM"]}), encoding="utf-8")
    return tmp_path


def gsm8k_def(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": "tiny",
        "version": "1",
        "dataset": {"loader": "gsm8k_jsonl", "path": "gsm8k/test.jsonl"},
        "prompt": {"question": "Q: {{ question }}"},
        "scoring": {"extractor": "final_number", "metric": "numeric_match"},
    }
    return _merge(raw, overrides)


def mc_def(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": "tiny_mc",
        "version": "1",
        "dataset": {"loader": "mc_csv", "path": "mc/test", "options": {"suffix": "_test"}},
        "fewshot": {"k": 0, "dataset": {"loader": "mc_csv", "path": "mc/dev", "options": {"suffix": "_dev"}}},
        "prompt": {"question": "{{ question }}\nA. {{ A }}\nAnswer:", "answer": " {{ target }}"},
        "scoring": {"extractor": "choice", "metric": "exact_match"},
        "loglikelihood": {"question": "{{ question }}\nAnswer:", "choices": ["A", "B", "C", "D"]},
    }
    return _merge(raw, overrides)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def write_def(root: Path, raw: dict[str, Any], name: str = "my.yaml") -> Path:
    path = root / "defs" / name
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def bench(root: Path, raw: dict[str, Any], mode: str | None = None, **kwargs: Any) -> Benchmark:
    """The benchmark of a user's definition file, as ``tianping run --benchmark defs/my.yaml`` builds it."""
    (built,) = build(str(write_def(root, raw)), root / "data", mode=mode, **kwargs)
    return built


def first_prompt(b: Benchmark) -> str:
    request = b.build_request(b.samples[0], "m", GenerationParams())
    return request.prompt if request.prompt is not None else "\n".join(m.content for m in request.messages)


def test_a_plain_definition_still_loads(root):
    b = bench(root, gsm8k_def()).load()
    assert [s.fields["question"] for s in b.samples] == ["One?", "Two?", "Three?"]
    assert first_prompt(b) == "Q: One?"


# --------------------------------------------------------------------------------------------------
# 1. templates cannot run code
# --------------------------------------------------------------------------------------------------

POPEN = "{{{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}}}"
# the same escape spelled through the attr filter, so that only the sandbox at render time can stop it
POPEN_VIA_FILTER = "{{{{ ((cycler|attr('__init__')|attr('__globals__'))['os']).popen('touch {marker}').read() }}}}"


@pytest.mark.parametrize("payload", [POPEN, POPEN_VIA_FILTER], ids=["attribute", "attr-filter"])
def test_a_template_cannot_run_a_shell_command(root, payload):
    marker = root / "pwned"
    template = payload.format(marker=marker)
    # the payload is real: a plain Jinja2 environment runs it
    jinja2.Environment().from_string(template).render()
    assert marker.exists()
    marker.unlink()
    with pytest.raises(BenchmarkDefinitionError) as info:
        bench(root, gsm8k_def(prompt={"question": template})).load()
    assert not marker.exists()
    message = str(info.value)
    assert message.startswith(f"{root / 'defs' / 'my.yaml'}: field 'prompt.question': template not allowed: ")
    assert "\n" not in message


ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ self._TemplateReference__context }}",
    "{{ lipsum.__globals__ }}",
    "{{ lipsum|attr('__globals__') }}",
    "{{ question|attr('__class__') }}",
    "{{ question|attr('_' ~ '_class__') }}",
    "{{ [question]|map(attribute='__class__')|list }}",
    "{{ ''['__class__'] }}",
    "{{ '{0.__class__}'.format(question) }}",
    "{% set grow = [].append %}{{ grow(1) }}",
    "{{ choices.append('E') }}",  # the shared sample data itself
    "{% set fields = {} %}{{ fields.update(a=1) }}",
    "{{ namespace.__init__ }}",
]


@pytest.mark.parametrize("payload", ESCAPES)
def test_well_known_escapes_are_refused_in_generation_templates(root, payload):
    for where, prompt, fewshot in [
        ("prompt.question", {"question": "{{ question }}" + payload}, {}),
        ("prompt.instruction", {"instruction": payload}, {}),
        ("prompt.answer", {"answer": payload}, {"k": 1}),
    ]:
        with pytest.raises(BenchmarkDefinitionError, match=rf"my\.yaml: field '{where}': template not allowed: "):
            bench(root, mc_def(prompt=prompt, fewshot=fewshot)).load()


@pytest.mark.parametrize("payload", ESCAPES)
def test_well_known_escapes_are_refused_in_loglikelihood_templates(root, payload):
    for field, section in [
        ("description", {"description": payload}),
        ("question", {"question": payload}),
        ("gold", {"gold": payload}),
        ("choices.1", {"choices": ["A", payload]}),
    ]:
        with pytest.raises(
            BenchmarkDefinitionError, match=rf"my\.yaml: field 'loglikelihood\.{field}': template not allowed: "
        ):
            bench(root, mc_def(loglikelihood=section), mode="loglikelihood").load()


def test_shared_sample_data_is_not_mutated_by_a_refused_template(root):
    b = bench(root, mc_def(prompt={"question": "{{ choices.append('E') }}"}))
    with pytest.raises(BenchmarkDefinitionError):
        b.load()
    b = bench(root, mc_def()).load()
    assert all(len(s.fields["choices"]) == 4 for s in b.samples)


def test_an_escape_reached_only_by_a_later_row_is_refused_when_that_row_renders(root):
    # an attribute named by the data: only the sandbox can stop it, when the second row renders at request time
    (root / "data" / "gsm8k" / "tricky.jsonl").write_text(gsm8k_rows("One?", "__class__"), encoding="utf-8")
    question = "{% if question.startswith('_') %}{{ question|attr(question) }}{% endif %}{{ question }}"
    b = bench(root, gsm8k_def(dataset={"path": "gsm8k/tricky.jsonl"}, prompt={"question": question})).load()
    assert first_prompt(b) == "One?"
    with pytest.raises(BenchmarkDefinitionError, match=r"my\.yaml: field 'prompt\.question': template not allowed"):
        b.build_request(b.samples[1], "m", GenerationParams())


def test_what_bundled_templates_use_is_still_allowed(root):
    template = (
        "{{ question | trim | lower }} {{ choices | join(', ') }} {{ choices.index('x') }} {{ choices[0] }}"
        " {% for c in choices %}{{ loop.index0 }}{{ c }}{% endfor %}{{ subject | replace('_', ' ') }}"
        " {% set ns = namespace(n=0) %}{% for c in choices %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}"
        " {{ range(2) | list }} {{ '%s-%s' | format(A, B) }} {{ question.split(' ')[0] }}"
    )
    b = bench(root, mc_def(prompt={"question": template})).load()
    assert first_prompt(b) == "algebra test 0? w, x, y, z 1 w 0w1x2y3zalgebra 4 [0, 1] w-x algebra"


# --------------------------------------------------------------------------------------------------
# 2. paths stay inside the data root (or the definition's folder)
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def no_reading(monkeypatch):
    """Fail the test if a dataset loader is called: a refused path must be refused before anything is read."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"a dataset was read: {args}")

    monkeypatch.setattr(benchmark_module, "load_dataset", refuse)


def outside_message(root: Path, field: str, value: str) -> str:
    data = (root / "data").resolve()
    return (
        f"{root / 'defs' / 'my.yaml'}: field '{field}': '{value}' resolves outside the data directory {data}"
        f" and the definition's folder {(root / 'defs').resolve()}; pass --allow-outside-data to read it anyway"
    )


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "../outside/secret.jsonl", "gsm8k/../../x"])
def test_a_dataset_path_outside_the_data_root_is_refused(root, no_reading, path):
    with pytest.raises(BenchmarkDefinitionError) as info:
        bench(root, gsm8k_def(dataset={"path": path})).load()
    assert str(info.value) == outside_message(root, "dataset.path", path)


def test_a_fewshot_path_outside_the_data_root_is_refused(root, no_reading):
    raw = gsm8k_def(fewshot={"k": 1, "dataset": {"loader": "gsm8k_jsonl", "path": str(root / "outside/secret.jsonl")}})
    with pytest.raises(BenchmarkDefinitionError) as info:
        bench(root, raw).load()
    assert str(info.value) == outside_message(root, "fewshot.dataset.path", str(root / "outside/secret.jsonl"))


def test_a_symlink_inside_the_data_root_pointing_outside_is_refused(root, no_reading):
    os.symlink(root / "outside" / "secret.jsonl", root / "data" / "gsm8k" / "link.jsonl")
    with pytest.raises(BenchmarkDefinitionError, match=r"field 'dataset\.path': 'gsm8k/link\.jsonl' resolves outside"):
        bench(root, gsm8k_def(dataset={"path": "gsm8k/link.jsonl"})).load()
    os.symlink(root / "outside", root / "data" / "elsewhere")
    with pytest.raises(BenchmarkDefinitionError, match=r"'elsewhere/secret\.jsonl' resolves outside"):
        bench(root, gsm8k_def(dataset={"path": "elsewhere/secret.jsonl"})).load()


def test_a_symlinked_file_inside_a_dataset_folder_is_refused(root, no_reading):
    os.symlink(root / "outside" / "secret.jsonl", root / "data" / "mc" / "test" / "zoology_test.csv")
    with pytest.raises(BenchmarkDefinitionError, match=r"field 'dataset\.path': 'mc/test/zoology_test\.csv' resolves"):
        bench(root, mc_def()).load()


def test_a_path_option_outside_the_data_root_is_refused(root, no_reading):
    options = {"suffix": "_test", "subject_mapping": "../../outside/mapping.json"}
    with pytest.raises(BenchmarkDefinitionError) as info:
        bench(root, mc_def(dataset={"options": options})).load()
    assert str(info.value) == outside_message(root, "dataset.options.subject_mapping", "../../outside/mapping.json")


def test_bbh_folder_options_outside_the_data_root_are_refused(root, no_reading):
    (root / "data" / "bbh" / "bbh").mkdir(parents=True)
    raw = {
        "name": "tiny_bbh",
        "version": "1",
        "dataset": {"loader": "bbh_json", "path": "bbh", "options": {"prompts": "../../outside"}},
        "prompt": {"question": "{{ input }}"},
        "scoring": {"extractor": "bbh_answer", "metric": "bbh_match"},
    }
    with pytest.raises(BenchmarkDefinitionError, match=r"field 'dataset\.options\.prompts': '\.\./\.\./outside'"):
        bench(root, raw).load()
    raw["dataset"]["options"] = {"tasks": "../../outside"}
    with pytest.raises(BenchmarkDefinitionError, match=r"field 'dataset\.options\.tasks': '\.\./\.\./outside'"):
        bench(root, raw).load()


@pytest.mark.parametrize("name", ["../../../../../../etc/passwd", "/etc/passwd", "../defs/mmlu.yaml", "nope.json"])
def test_a_subject_table_must_be_a_bundled_one(root, no_reading, name):
    with pytest.raises(BenchmarkDefinitionError, match=r"field 'dataset\.options\.categories': .*mmlu_categories"):
        bench(root, mc_def(dataset={"options": {"categories": name}})).load()


def test_the_opt_in_reads_outside_the_data_root(root):
    raw = gsm8k_def(dataset={"path": "../outside/secret.jsonl"})
    b = bench(root, raw, allow_outside_data=True).load()
    assert first_prompt(b) == "Q: SECRET CONTENT?"
    definition = BenchmarkDef.model_validate(raw)
    direct = Benchmark(definition=definition, source="my.yaml", data_dir=root / "data", allow_outside_data=True)
    assert direct.load().samples[0].fields["question"] == "SECRET CONTENT?"
    os.symlink(root / "outside", root / "data" / "elsewhere")
    linked = gsm8k_def(dataset={"path": "elsewhere/secret.jsonl"})
    assert bench(root, linked, allow_outside_data=True).load().samples[0].fields["question"] == "SECRET CONTENT?"


def test_files_beside_a_users_definition_may_be_read(root):
    (root / "defs" / "mine").mkdir()
    (root / "defs" / "mine" / "rows.jsonl").write_text(gsm8k_rows("Mine?"), encoding="utf-8")
    for path in [str(root / "defs" / "mine" / "rows.jsonl"), "../defs/mine/rows.jsonl"]:
        b = bench(root, gsm8k_def(dataset={"path": path})).load()
        assert b.samples[0].fields["question"] == "Mine?"
    # ... but not through a link from there to elsewhere
    os.symlink(root / "outside" / "secret.jsonl", root / "defs" / "secret.jsonl")
    with pytest.raises(BenchmarkDefinitionError, match="resolves outside"):
        bench(root, gsm8k_def(dataset={"path": str(root / "defs" / "secret.jsonl")})).load()


def test_a_definition_not_given_by_path_only_gets_the_data_root(root, no_reading):
    (root / "defs" / "rows.jsonl").write_text(gsm8k_rows("Mine?"), encoding="utf-8")
    definition = BenchmarkDef.model_validate(gsm8k_def(dataset={"path": str(root / "defs" / "rows.jsonl")}))
    b = Benchmark(definition=definition, source="tianping/benchmarks/defs/x.yaml", data_dir=root / "data")
    with pytest.raises(BenchmarkDefinitionError) as info:
        b.load()
    assert str(info.value) == (
        f"tianping/benchmarks/defs/x.yaml: field 'dataset.path': '{root / 'defs' / 'rows.jsonl'}' resolves outside"
        f" the data directory {(root / 'data').resolve()}; pass --allow-outside-data to read it anyway"
    )


def test_paths_that_wander_but_stay_inside_are_fine(root):
    b = bench(root, gsm8k_def(dataset={"path": "gsm8k/../gsm8k/./test.jsonl"})).load()
    assert len(b.samples) == 3
    os.symlink(root / "data" / "gsm8k", root / "data" / "alias")
    assert len(bench(root, gsm8k_def(dataset={"path": "alias/test.jsonl"})).load().samples) == 3


def test_a_data_root_given_through_a_symlink_is_fine(root):
    os.symlink(root / "data", root / "data-link")
    (b,) = build(str(write_def(root, gsm8k_def())), root / "data-link")
    assert len(b.load().samples) == 3


# --------------------------------------------------------------------------------------------------
# 3. templates are checked against the data before the first request
# --------------------------------------------------------------------------------------------------


def test_a_misspelt_variable_is_named_at_load_time(root):
    b = bench(root, gsm8k_def(prompt={"question": "Q: {{ questoin }}"}))
    with pytest.raises(BenchmarkDefinitionError) as info:
        b.load()
    assert str(info.value) == (
        f"{root / 'defs' / 'my.yaml'}: field 'prompt.question': undefined variable 'questoin'"
        " (the dataset's fields: answer, question, rationale, target)"
    )


@pytest.mark.parametrize(
    ("mode", "overrides", "field"),
    [
        ("generate", {"prompt": {"instruction": "About {{ subjcet }}."}}, "prompt.instruction"),
        ("generate", {"prompt": {"answer": "{{ taget }}"}, "fewshot": {"k": 2}}, "prompt.answer"),
        ("generate", {"prompt": {"question": "{{ B }}{{ E }}"}, "fewshot": {"k": 2}}, "prompt.question"),
        ("loglikelihood", {"loglikelihood": {"description": "{{ subjcet }}"}}, "loglikelihood.description"),
        ("loglikelihood", {"loglikelihood": {"question": "{{ E }}"}, "fewshot": {"k": 1}}, "loglikelihood.question"),
        ("loglikelihood", {"loglikelihood": {"gold": "{{ answr }}"}}, "loglikelihood.gold"),
        ("loglikelihood", {"loglikelihood": {"choices": ["{{ A }}", "{{ F }}"]}}, "loglikelihood.choices.1"),
    ],
)
def test_every_template_of_the_mode_is_checked(root, mode, overrides, field):
    with pytest.raises(
        BenchmarkDefinitionError, match=rf"field '{field}': undefined variable '\w+' \(the (few-shot )?dataset's"
    ):
        bench(root, mc_def(**overrides), mode=mode).load()


def test_templates_of_the_other_mode_or_never_rendered_are_not_checked(root):
    # no shots: the answer template is never rendered
    bench(root, gsm8k_def(prompt={"answer": "{{ nothing }}"})).load()
    # generation does not render the log-likelihood templates, and the reverse
    bench(root, mc_def(loglikelihood={"question": "{{ nothing }}"}), mode="generate").load()
    bench(root, mc_def(prompt={"question": "{{ nothing }}"}), mode="loglikelihood").load()


def test_a_variable_used_only_under_is_defined_is_not_reported(root):
    question = "{{ question }}{% if explanation is defined %} ({{ explanation }}){% endif %}"
    b = bench(root, mc_def(prompt={"question": question})).load()
    assert first_prompt(b).startswith("algebra test 0?")


def test_a_variable_some_rows_lack_names_the_first_such_row(root):
    # biology's file has an explanation column, algebra's does not: a row problem, not a typo
    folder = root / "data" / "mc" / "test"
    (folder / "biology_test.csv").write_text(
        "question,A,B,C,D,answer,explanation\nWhy?,w,x,y,z,A,because\n", encoding="utf-8"
    )
    with pytest.raises(DatasetError) as info:
        bench(root, mc_def(prompt={"question": "{{ question }} {{ explanation }}"})).load()
    assert str(info.value) == (
        "sample algebra/0 (algebra_test.csv:2): template 'prompt.question': 'explanation' is undefined"
    )
    (folder / "algebra_test.csv").unlink()
    b = bench(root, mc_def(prompt={"question": "{{ question }} {{ explanation }}"})).load()
    assert first_prompt(b) == "Why? because"


def test_a_later_row_lacking_a_variable_is_found_without_a_request(root):
    # the first row renders: only the check of the rows that lack a variable finds biology's
    (root / "data" / "mc" / "test" / "algebra_test.csv").write_text(
        "question,A,B,C,D,answer,explanation\nWhy?,w,x,y,z,A,because\n", encoding="utf-8"
    )
    with pytest.raises(DatasetError) as info:
        bench(root, mc_def(prompt={"question": "{{ explanation }}"})).load()
    assert (
        str(info.value)
        == "sample biology/0 (biology_test.csv:2): template 'prompt.question': 'explanation' is undefined"
    )


def test_a_row_problem_in_a_shot_is_found_at_load_time(root):
    (root / "data" / "mc" / "dev" / "algebra_dev.csv").write_text(
        "question,A,B,C,D,answer,explanation\nWhy?,w,x,y,z,A,because\n", encoding="utf-8"
    )
    raw = mc_def(prompt={"answer": "{{ explanation }}"}, fewshot={"k": 1, "match": "subject"})
    with pytest.raises(DatasetError, match=r"^sample biology/0 \(biology_dev\.csv:2\): template 'prompt\.answer'"):
        bench(root, raw).load()


# --------------------------------------------------------------------------------------------------
# 4. no rows is an error
# --------------------------------------------------------------------------------------------------


def test_an_empty_dataset_file_is_an_error(root):
    empty = root / "data" / "gsm8k" / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        bench(root, gsm8k_def(dataset={"path": "gsm8k/empty.jsonl"})).load()
    assert str(info.value) == f"{root / 'data' / 'gsm8k' / 'empty.jsonl'}: no samples"


def test_a_folder_of_header_only_files_is_an_error(root):
    for file in (root / "data" / "mc" / "test").iterdir():
        file.write_text(MC_HEADER, encoding="utf-8")
    with pytest.raises(DatasetError, match=r"mc/test: no samples$"):
        bench(root, mc_def()).load()


def test_an_empty_fewshot_pool_is_an_error(root):
    (root / "data" / "gsm8k" / "train.jsonl").write_text("", encoding="utf-8")
    raw = gsm8k_def(fewshot={"k": 1, "dataset": {"loader": "gsm8k_jsonl", "path": "gsm8k/train.jsonl"}})
    with pytest.raises(DatasetError, match=r"gsm8k/train\.jsonl: no samples$"):
        bench(root, raw).load()


def test_a_subject_without_shots_is_found_at_load_time(root):
    (root / "data" / "mc" / "dev" / "biology_dev.csv").unlink()
    with pytest.raises(DatasetError, match=r"^sample biology/0 \(biology_test\.csv:2\): no few-shot rows for subject"):
        bench(root, mc_def(fewshot={"k": 1, "match": "subject"})).load()
