"""Request building renders only what depends on the sample (issue 23): a template of plain text is rendered
once when compiled, a few-shot example once per example. The prompts must not change by a byte: each is compared
with what a fresh strategy (nothing cached) and Jinja2 itself render."""

from __future__ import annotations

import jinja2
import pytest

from tianping.benchmarks import strategies
from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.registry import builtin_definitions
from tianping.benchmarks.strategies import GenerationStrategy
from tianping.benchmarks.templates import ENV, compile_template, render
from tianping.core import GenerationParams, Request, Sample

PARAMS = GenerationParams(temperature=0.0, max_tokens=64)


def _math(i: int, question: str | None = None) -> Sample:
    fields = {"question": question or f"What is {i} + {i}?", "rationale": f"{i} + {i} = {2 * i}", "answer": str(2 * i)}
    return Sample(id=str(i), fields=fields, target=str(2 * i))


def _gsm8k_cot8() -> GenerationStrategy:
    definition, source = builtin_definitions()["gsm8k_cot8"]
    return GenerationStrategy(definition, source)


def _texts(request: Request) -> list[tuple[str, str]]:
    assert request.messages is not None
    return [(m.role, m.content) for m in request.messages]


@pytest.mark.parametrize(
    "text",
    [
        "Solve the following math problem step by step.",
        "trailing newline kept\n",
        "{# a comment #}text",
        '{{ "a constant" }} and {{ 3 }}',
        "{% raw %}{{ not a variable }}{% endraw %}",
    ],
)
def test_a_plain_text_template_is_rendered_once_as_jinja_renders_it(text: str) -> None:
    t = compile_template(text, "probe.yaml", "prompt.instruction")
    assert t.static == ENV.from_string(text).render()
    assert render(t, _math(1)) == t.static


@pytest.mark.parametrize(
    "text",
    [
        "Question: {{ question }}",
        "{{ lipsum(1) }}",  # reads no variable, yet differs from one render to the next
        "{{ [1, 2, 3] | random }}",
        "{% if true %}x{% endif %}",
        "{{ range(3) | list }}",
    ],
)
def test_a_template_that_computes_is_rendered_per_sample(text: str) -> None:
    assert compile_template(text, "probe.yaml", "prompt.question").static is None


class _Shouting:
    def __str__(self) -> str:
        return "LOUD"


class _Broken:
    def __str__(self) -> str:
        raise ValueError("no text for this value")


VALUES = ["plain", "", "ünïcode 答案\n", None, 0, 1.5, True, [1, "a"], {"k": (1, 2)}, _Shouting(), "{{ not code }}"]


@pytest.mark.parametrize(
    "text", ["Question: {{ question }}", "{{ question }}{{ target }}\n", "A {# note #} {{ question }} B"]
)
@pytest.mark.parametrize("value", VALUES, ids=[type(v).__name__ for v in VALUES])
def test_a_template_of_bare_variables_renders_as_jinja_does(text: str, value: object) -> None:
    t = compile_template(text, "probe.yaml", "prompt.question")
    assert t.pieces is not None  # joined without Jinja2...
    sample = Sample(id="1", fields={"question": value, "target": "from the fields"}, target="42")
    # ...to exactly what Jinja2 renders, the sample's target winning over a field of that name
    assert render(t, sample) == ENV.from_string(text).render({**sample.fields, "target": sample.target})


def test_what_the_sample_lacks_is_left_to_jinja() -> None:
    # a global Jinja2 knows, and a name nobody knows: the second is the row's error, naming where it came from
    assert (
        render(compile_template("{{ range }}", "p.yaml", "prompt.question"), _math(1))
        == ENV.from_string("{{ range }}").render()
    )
    missing = compile_template("Q: {{ nowhere }}", "p.yaml", "prompt.question")
    sample = Sample(id="7", fields={}, target="1", meta={"file": "rows.jsonl", "line": 9})
    with pytest.raises(DatasetError, match=r"sample 7 \(rows.jsonl:9\).*'nowhere' is undefined"):
        render(missing, sample)
    broken = Sample(id="8", fields={"nowhere": _Broken()}, target="1", meta={"file": "rows.jsonl", "line": 10})
    with pytest.raises(DatasetError, match=r"sample 8 \(rows.jsonl:10\).*no text for this value"):
        render(missing, broken)


@pytest.mark.parametrize("text", ["{{ self }}", "{{ question | upper }}", "{{ question.strip() }}", "{% set x = 1 %}"])
def test_anything_beyond_bare_variables_is_rendered_by_jinja(text: str) -> None:
    assert compile_template(text, "probe.yaml", "prompt.question").pieces is None


def test_lipsum_still_varies_per_render() -> None:
    t = compile_template("{{ lipsum(1, html=False) }}", "probe.yaml", "prompt.instruction")
    assert len({render(t, _math(i)) for i in range(5)}) > 1


def test_fewshot_prompts_equal_those_of_a_fresh_strategy_and_of_jinja() -> None:
    shots = [_math(100 + k) for k in range(8)]
    cached = _gsm8k_cot8()
    for i in range(6):
        sample = _math(i)
        request = cached.build_request(sample, shots, "m", PARAMS)
        fresh = _gsm8k_cot8().build_request(sample, shots, "m", PARAMS)
        assert request.key == fresh.key and request.payload_json == fresh.payload_json
        # and, independent of our code, the turns Jinja2 renders from the definition's own templates
        prompt = cached.definition.prompt
        assert prompt is not None
        question, answer = jinja2.Template(prompt.question), jinja2.Template(prompt.answer)
        turns = _texts(request)
        assert turns[-1] == ("user", question.render(sample.fields))
        for k, shot in enumerate(shots):
            assert turns[2 * k + 1] == ("assistant", answer.render(shot.fields).strip())
        assert turns[0][1].startswith(prompt.instruction + prompt.separator + question.render(shots[0].fields))


def test_shots_are_told_apart_by_object_not_by_sample_id() -> None:
    # two few-shot pools (or a reloaded dataset) may reuse sample ids with other content
    strategy = _gsm8k_cot8()
    apples, pears = _math(1, "How many apples are there?"), _math(1, "How many pears are there?")
    strategy.build_request(_math(5), [apples], "m", PARAMS)
    turns = _texts(strategy.build_request(_math(5), [pears], "m", PARAMS))
    assert "pears" in turns[0][1] and "apples" not in turns[0][1]


def test_the_cache_is_bounded_and_stays_right_past_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(strategies, "_MAX_CACHED_SHOTS", 3)
    strategy = _gsm8k_cot8()
    pool = [_math(200 + k) for k in range(10)]
    for i in range(10):
        shots = [pool[(i + j) % 10] for j in range(4)]
        request = strategy.build_request(_math(i), shots, "m", PARAMS)
        assert request.key == _gsm8k_cot8().build_request(_math(i), shots, "m", PARAMS).key
        assert len(strategy._shots) <= 3
