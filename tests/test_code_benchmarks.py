"""HumanEval and MBPP: loaders, code extraction, program assembly and execution scoring in the sandbox.

The reference solutions must score 1.0 through the same path as a model's answer (so that a scoring
bug cannot hide behind a model's mistakes), and known-wrong programs must score 0 with the right reason.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import math
from pathlib import Path

import pytest

import tianping.benchmarks.code as code
from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import load_dataset
from tianping.benchmarks.registry import build
from tianping.benchmarks.scorers import ScoringContext
from tianping.core import Completion, Response, Sample, Score
from tianping.scoring.code_extract import extract_code, strip_top_level_calls
from tianping.scoring.sandbox import Limits, Sandbox, SandboxUnavailable

# --------------------------------------------------------------------------------------------------
# fixtures and helpers


def make_sandbox(**limits: float) -> Sandbox:
    chosen = Limits(**limits) if limits else Limits(cpu_s=10.0, wall_s=20.0)
    try:
        return Sandbox(chosen)
    except SandboxUnavailable:  # no isolation on this machine: the reference programs are trusted
        return Sandbox(chosen, allow_unsafe=True)


@pytest.fixture(scope="module")
def humaneval(data_dir: Path) -> dict[str, Sample]:
    loaded = load_dataset("humaneval_jsonl_gz", data_dir / "humaneval" / "HumanEval.jsonl.gz", {})
    return {s.id: s for s in loaded.samples}


@pytest.fixture(scope="module")
def mbpp(data_dir: Path) -> dict[str, Sample]:
    loaded = load_dataset("mbpp_jsonl", data_dir / "mbpp" / "mbpp.jsonl", {})
    return {s.id: s for s in loaded.samples}


@pytest.fixture(scope="module")
def mbpp_sanitized(data_dir: Path) -> dict[str, Sample]:
    loaded = load_dataset("mbpp_sanitized_json", data_dir / "mbpp" / "sanitized-mbpp.json", {})
    return {s.id: s for s in loaded.samples}


def response(*texts: str, incomplete: tuple[bool, ...] = ()) -> Response:
    flags = incomplete or (False,) * len(texts)
    return Response(
        completions=tuple(Completion(text=t, incomplete=f) for t, f in zip(texts, flags, strict=True)),
        latency_s=0.1,
    )


def score_all(pairs: list[tuple[Sample, Response]], sandbox: Sandbox | None = None) -> list[Score]:
    ctx = ScoringContext(sandbox=sandbox or make_sandbox())

    async def run() -> list[Score]:
        return await asyncio.gather(*(code.score_code(s, r, ctx) for s, r in pairs))

    return asyncio.run(run())


def chat_answer(body: str) -> str:
    return f"Here is the implementation:\n\n```python\n{body}\n```\n\nIt runs in linear time."


# --------------------------------------------------------------------------------------------------
# loaders and definitions


def test_loaders_give_the_published_sizes(data_dir, humaneval, mbpp, mbpp_sanitized):
    assert len(humaneval) == 164
    assert list(humaneval)[:2] == ["HumanEval/0", "HumanEval/1"]
    first = humaneval["HumanEval/0"]
    assert first.target == first.fields["entry_point"] == "has_close_elements"
    assert set(first.fields) >= {"prompt", "entry_point", "test", "canonical_solution"}
    assert first.meta == {"file": "HumanEval.jsonl.gz", "line": 1}

    assert len(mbpp) == 974
    test_split = load_dataset("mbpp_jsonl", data_dir / "mbpp" / "mbpp.jsonl", {"task_ids": [11, 510]}).samples
    assert len(test_split) == 500
    assert {s.fields["task_id"] for s in test_split} == set(range(11, 511))

    assert len(mbpp_sanitized) == 427
    sanitized_test = load_dataset(
        "mbpp_sanitized_json", data_dir / "mbpp" / "sanitized-mbpp.json", {"task_ids": [11, 510]}
    ).samples
    assert len(sanitized_test) == 257
    assert all(11 <= s.fields["task_id"] <= 510 for s in sanitized_test)


def test_mbpp_fields(mbpp, mbpp_sanitized):
    row = mbpp["11"]
    assert row.fields["entry_point"] == "remove_Occ" == row.target
    assert row.fields["text"].startswith("Write a python function to remove first and last occurrence")
    assert len(row.fields["tests"]) == 3 and row.fields["tests"][0].startswith("assert remove_Occ(")
    assert "\r" not in row.fields["code"]
    assert row.meta["file"] == "mbpp.jsonl" and row.meta["line"] == 11
    # every task has a function to call, found in its first assert
    assert all(s.fields["entry_point"] for s in [*mbpp.values(), *mbpp_sanitized.values()])
    # "assert set(similar_elements(...)) == ...": the builtin is not the function under test
    assert mbpp_sanitized["2"].fields["entry_point"] == "similar_elements"
    assert mbpp_sanitized["82"].fields["test_imports"] == ["import math"]
    assert mbpp["367"].fields["test_setup_code"].startswith("root = Node(1)")


def test_loader_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "HumanEval.jsonl.gz"
    good_row = {
        "task_id": "T/0",
        "prompt": "def f():\n",
        "entry_point": "f",
        "test": "def check(c): pass",
        "canonical_solution": "",
    }
    rows = [json.dumps(good_row), json.dumps({**good_row, "task_id": "T/1", "entry_point": ""})]
    with gzip.open(bad, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match=r"HumanEval\.jsonl\.gz:2: field 'entry_point'"):
        load_dataset("humaneval_jsonl_gz", bad, {})

    mbpp_file = tmp_path / "mbpp.jsonl"
    mbpp_file.write_text(
        '{"task_id": 1, "text": "x", "code": "def f(): pass", "test_list": ["assert f() is None"], '
        '"test_setup_code": "", "challenge_test_list": []}\n{"task_id": 2, "text": "y"}\n'
    )
    with pytest.raises(DatasetError, match=r"mbpp\.jsonl:2: field 'code'"):
        load_dataset("mbpp_jsonl", mbpp_file, {})
    with pytest.raises(DatasetError, match="task_ids"):
        load_dataset("mbpp_jsonl", mbpp_file, {"task_ids": [11]})

    array = tmp_path / "sanitized.json"
    array.write_text(
        '[\n  {"task_id": 5, "prompt": "p", "code": "def f(): pass", "test_imports": [],\n'
        '   "test_list": ["assert f() is None"]},\n  {"task_id": 6, "prompt": "q"}\n]'
    )
    with pytest.raises(DatasetError, match=r"sanitized\.json:4 \(item 1\): field 'code'"):
        load_dataset("mbpp_sanitized_json", array, {})


def test_definitions_build_and_load(data_dir):
    expected = {
        "humaneval": (164, 1),
        "humaneval_pass10": (164, 10),
        "humaneval_completion": (164, 1),
        "mbpp": (500, 1),
        "mbpp_sanitized": (257, 1),
        "mbpp_3shot": (500, 1),
    }
    for name, (rows, n) in expected.items():
        (bench,) = build(name, data_dir)
        bench.load()
        assert len(bench.samples) == rows, name
        assert bench.generation.n == n, name
        assert bench.definition.scoring.scorer == "code_exec"
        request = bench.build_request(bench.samples[0], "model", bench.generation)
        if name == "humaneval_completion":
            assert request.prompt == bench.samples[0].fields["prompt"]
        else:
            assert request.messages is not None and "```python" in request.messages[0].content
    (three_shot,) = build("mbpp_3shot", data_dir)
    three_shot.load()
    messages = three_shot.build_request(three_shot.samples[0], "m", three_shot.generation).messages
    assert [m.role for m in messages] == ["user", "assistant"] * 3 + ["user"]
    assert "similar_elements" in messages[1].content and "remove_Occ" in messages[-1].content


# --------------------------------------------------------------------------------------------------
# code extraction (no sandbox)

EXTRACT_CASES = [
    ("fenced python", "Sure:\n```python\ndef f(x):\n    return x\n```\nDone.", "f", "def f(x):\n    return x"),
    ("fenced py", "```py\ndef f():\n    return 1\n```", "f", "def f():\n    return 1"),
    ("untagged fence", "```\ndef f():\n    return 2\n```", "f", "def f():\n    return 2"),
    ("python3 tag", "```Python3\nx = 1\n```", None, "x = 1"),
    (
        "entry point in the second block",
        "```python\nprint(g(2))\n```\nThe function:\n```python\ndef g(x):\n    return x * 2\n```",
        "g",
        "def g(x):\n    return x * 2",
    ),
    (
        "helper from another block pulled in",
        "```python\nimport math\n\ndef helper(y):\n    return math.sqrt(y)\n```\n"
        "```python\ndef f(x):\n    return helper(x)\n```",
        "f",
        "import math\n\ndef helper(y):\n    return math.sqrt(y)\n\ndef f(x):\n    return helper(x)",
    ),
    ("first python block without entry point", "```python\na = 1\n```\n```python\nb = 2\n```", None, "a = 1"),
    ("tagged block preferred to output block", "```\n$ run\n3\n```\n```python\nz = 3\n```", "f", "z = 3"),
    ("no block, bare code", "def f(x):\n    return x + 1\n", "f", "def f(x):\n    return x + 1"),
    ("prose only", "I think the answer is to iterate over the list and sum it.", "f", None),
    ("single word", "Hello", None, None),
    ("empty", "", "f", None),
    ("other language only", "```bash\npip install numpy\n```", "f", None),
    (
        "indented fence in a list item",
        "1. Define it:\n   ```python\n   def f():\n       return 1\n   ```",
        "f",
        "def f():\n    return 1",
    ),
    ("unclosed fence (cut off)", "```python\ndef f():\n    return 1", "f", "def f():\n    return 1"),
    ("indented bare body", "    for i in x:\n        return i\n", None, "for i in x:\n    return i"),
    (
        "code inside prose without fences",
        "Here is the solution:\ndef f(x):\n    return -x\nThis negates x.",
        "f",
        "def f(x):\n    return -x",
    ),
    ("tilde fence", "~~~python\ny = 2\n~~~", None, "y = 2"),
    ("CRLF line breaks", "```python\r\ndef f():\r\n    return 1\r\n```", "f", "def f():\n    return 1"),
    ("four-backtick fence", "````python\ns = '```'\n````", None, "s = '```'"),
]


@pytest.mark.parametrize(
    ("text", "entry_point", "expected"), [c[1:] for c in EXTRACT_CASES], ids=[c[0] for c in EXTRACT_CASES]
)
def test_extract_code(text, entry_point, expected):
    assert extract_code(text, entry_point) == expected


def test_extract_code_never_raises_on_odd_input():
    broken = b"```python\ndef f():\n    return '\xff\xfe\xfd'\n```".decode("utf-8", errors="replace")
    assert extract_code(broken, "f") == "def f():\n    return '\ufffd\ufffd\ufffd'"
    for text in ["\x00\x00", "```", "``````", "(" * 500, "```python\n" + "(" * 300 + "\n```", "\ufffd" * 50, "def"]:
        extract_code(text, "f")  # no exception whatever comes back
    assert extract_code("```python\n\n```", "f") is None


def test_strip_top_level_calls():
    source = (
        "import os\nimport sys\n\nsys.setrecursionlimit(10000)\n\n\ndef f():\n    print('kept')\n    return 1\n\n\n"
        "print(f())\nassert f() == 2\nf()\nf() == 1\nx = f()\nif __name__ == '__main__':\n    f()\n    input()\n"
        "sys.exit(0)\n"
    )
    assert strip_top_level_calls(source) == (
        "import os\nimport sys\n\nsys.setrecursionlimit(10000)\n\n\ndef f():\n    print('kept')\n    return 1\n\n\n"
        "x = f()\n"
    )
    assert strip_top_level_calls("def broken(:\n") == "def broken(:\n"
    assert strip_top_level_calls('"""doc"""\ndef f(): pass\n') == '"""doc"""\ndef f(): pass\n'
    assert strip_top_level_calls("x = 1; print(x)\n") == "x = 1; print(x)\n"  # shared line: left alone


# --------------------------------------------------------------------------------------------------
# program assembly (no sandbox)


def test_humaneval_program_keeps_the_prompt_helpers(humaneval):
    sample = humaneval["HumanEval/38"]  # decode_cyclic: the test calls encode_cyclic from the prompt
    answer = chat_answer("def decode_cyclic(s: str):\n    return encode_cyclic(encode_cyclic(s))")
    program, why = code.assemble_program(sample, answer)
    assert why is None and program is not None
    assert program.index("def encode_cyclic") < program.index("def decode_cyclic")
    assert program.count("def decode_cyclic") == 1  # the prompt's stub is replaced, not repeated
    assert program.rstrip().endswith("check(decode_cyclic)")


def test_humaneval_program_forms(humaneval):
    sample = humaneval["HumanEval/0"]
    prompt = sample.fields["prompt"]
    # a completion model's continuation is appended to the prompt as it is
    raw, _ = code.assemble_program(sample, sample.fields["canonical_solution"])
    assert raw is not None and raw.startswith(prompt + sample.fields["canonical_solution"])
    # a fenced body (dedented by the fence) is indented back under the signature
    body_only = "```python\nfor i in range(len(numbers)):\n    pass\nreturn False\n```"
    fenced, _ = code.assemble_program(sample, body_only)
    assert fenced is not None and fenced.startswith(prompt + "    for i in range(len(numbers)):\n        pass")
    # prose is no program at all
    assert code.assemble_program(sample, "I cannot help with that.") == (None, "no code block")
    assert code.assemble_program(sample, "  \n") == (None, "no code block")


def test_mbpp_program_order(mbpp, mbpp_sanitized):
    program, _ = code.assemble_program(mbpp["367"], chat_answer(mbpp["367"].fields["code"]))
    assert program is not None
    # the setup code builds trees from the solution's Node class, so it follows the solution
    assert program.index("class Node") < program.index("root = Node(1)") < program.index("assert ")
    program, _ = code.assemble_program(mbpp_sanitized["82"], "```python\ndef volume_sphere(r):\n    return 0\n```")
    assert program is not None and program.startswith("import math\n")


# --------------------------------------------------------------------------------------------------
# execution scoring (real sandbox)


HUMANEVAL_SUBSET = [0, 2, 10, 12, 22, 32, 38, 50, 53, 64, 75, 91, 100, 108, 120, 129, 137, 145, 151, 163]


def test_canonical_humaneval_solutions_score_one_in_both_answer_forms(humaneval):
    """20 tasks through the whole scorer, one sandbox run per answer: a chat answer and a raw completion."""
    pairs = []
    for i in HUMANEVAL_SUBSET:
        sample = humaneval[f"HumanEval/{i}"]
        f = sample.fields
        pairs.append((sample, response(chat_answer(f["prompt"] + f["canonical_solution"]), f["canonical_solution"])))
    scores = score_all(pairs)
    failures = {s.id: sc.reason for (s, _), sc in zip(pairs, scores, strict=True) if sc.value != 1.0}
    assert failures == {}
    assert all(sc.extracted == "2/2 passed" and sc.metrics == {"pass@1": 1.0} and sc.reason is None for sc in scores)


def test_all_164_canonical_programs_pass(humaneval):
    """Every task's assembled program, in both answer forms, run in one sandboxed process.

    One process per program would take a minute on two cores; the programs are independent, so a
    driver ``exec``s each in a fresh namespace and reports the ones that raise.
    """
    programs = {}
    for sample in humaneval.values():
        f = sample.fields
        for form, text in (
            ("chat", chat_answer(f["prompt"] + f["canonical_solution"])),
            ("raw", f["canonical_solution"]),
        ):
            program, why = code.assemble_program(sample, text)
            assert program is not None, (sample.id, form, why)
            programs[f"{sample.id} {form}"] = program
    assert len(programs) == 328
    driver = (
        "import json, sys\n"
        f"programs = json.loads({json.dumps(json.dumps(programs))})\n"
        "failed = {}\n"
        "for name, source in programs.items():\n"
        "    try:\n"
        "        exec(compile(source, name, 'exec'), {'__name__': '__main__'})\n"
        "    except BaseException as exc:\n"
        "        failed[name] = f'{type(exc).__name__}: {exc}'\n"
        "print(json.dumps(failed))\n"
    )
    result = make_sandbox(cpu_s=60.0, wall_s=90.0).run_python_sync(driver)
    assert result.status == "ok", result.reason
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {}


MBPP_FULL_IDS = [11, 12, 17, 20, 56, 77, 99, 150, 200, 230, 256, 300, 367, 400, 450, 510, 2, 3, 4]
MBPP_SANITIZED_IDS = [11, 17, 19, 82, 85, 101, 160, 222, 257, 290, 412, 475]


def test_mbpp_reference_solutions_pass(mbpp, mbpp_sanitized):
    pairs = [(mbpp[str(i)], response(chat_answer(mbpp[str(i)].fields["code"]))) for i in MBPP_FULL_IDS]
    pairs += [(mbpp_sanitized[str(i)], response(mbpp_sanitized[str(i)].fields["code"])) for i in MBPP_SANITIZED_IDS]
    assert len(pairs) >= 30
    scores = score_all(pairs)
    failures = {
        f"{s.meta['file']}:{s.id}": sc.reason for (s, _), sc in zip(pairs, scores, strict=True) if sc.value != 1.0
    }
    assert failures == {}


def test_wrong_programs_fail_with_the_reason(humaneval, mbpp):
    he = humaneval["HumanEval/2"]  # truncate_number
    mb = mbpp["11"]  # remove_Occ
    cases = [
        (he, chat_answer("def truncate_number(number: float) -> float:\n    return None"), "AssertionError"),
        (he, chat_answer("def truncate_number(number: float) -> float:\n    return number +"), "SyntaxError"),
        (he, chat_answer("def something_else(x):\n    return x % 1.0"), None),  # wrong name: nested, returns None
        (he, "    return undefined_name\n", "NameError"),
        (
            he,
            chat_answer("import sys\ndef truncate_number(number):\n    sys.exit(0)"),
            "exited before the tests finished",
        ),
        (he, chat_answer("def truncate_number(number):\n    raise ValueError('nope')"), "ValueError: nope"),
        (mb, chat_answer("def remove_Occ(s, ch):\n    return s"), "AssertionError"),
        (mb, chat_answer("def other(s, ch):\n    return s"), "NameError"),
        (mb, "Remove the first and last occurrence with str.find and str.rfind.", "no code block"),
    ]
    scores = score_all([(s, response(text)) for s, text, _ in cases])
    for (_, text, reason), sc in zip(cases, scores, strict=True):
        assert sc.status == "scored" and sc.value == 0.0, text
        assert sc.extracted == "0/1 passed"
        if reason is not None:
            assert sc.reason is not None and sc.reason.startswith(reason), (text, sc.reason)
    assert scores[-1].extraction_failed and not scores[0].extraction_failed


def test_infinite_loop_times_out(humaneval, mbpp):
    sample = humaneval["HumanEval/2"]
    looping = chat_answer("def truncate_number(number):\n    while True:\n        pass")
    (sc,) = score_all([(sample, response(looping))], make_sandbox(cpu_s=1.0, wall_s=3.0))
    assert sc.value == 0.0 and sc.reason is not None and sc.reason.startswith("timeout")
    # the scorer's own option overrides the sandbox's limits
    ctx = ScoringContext(sandbox=make_sandbox(), options={"timeout_s": 1})
    sc = asyncio.run(code.score_code(sample, response(looping), ctx))
    assert sc.value == 0.0 and sc.reason is not None and sc.reason.startswith("timeout"), sc.reason


def test_demonstration_code_in_an_answer_does_not_count(mbpp):
    sample = mbpp["11"]
    answer = (
        "Here you go:\n```python\n" + sample.fields["code"] + "\n\nprint(remove_Occ('hello', 'l'))\n"
        "assert remove_Occ('x', 'x') == 'wrong'\nif __name__ == '__main__':\n    s = input()\n```\n"
        "Example output:\n```\nheo\n```"
    )
    (sc,) = score_all([(sample, response(answer))])
    assert sc.value == 1.0, sc.reason


def test_pass_at_k_over_several_completions(humaneval):
    sample = humaneval["HumanEval/2"]
    good = chat_answer("def truncate_number(number: float) -> float:\n    return number % 1.0")
    bad = chat_answer("def truncate_number(number: float) -> float:\n    return 0.0")
    (five,) = score_all([(sample, response(good, bad, bad, good, bad))])
    assert five.value == pytest.approx(0.4)
    assert five.extracted == "2/5 passed"
    assert five.reason == "AssertionError"
    assert five.metrics["pass@1"] == pytest.approx(0.4)
    assert five.metrics["pass@5"] == 1.0  # 1 - C(3, 5) / C(5, 5): every draw of 5 holds a pass
    assert "pass@10" not in five.metrics

    (ten,) = score_all([(sample, response(*([good] * 3 + [bad] * 7)))])
    assert ten.value == pytest.approx(0.3)
    assert ten.metrics["pass@5"] == pytest.approx(1 - math.comb(7, 5) / math.comb(10, 5))
    assert ten.metrics["pass@10"] == 1.0


def test_incomplete_completions(humaneval):
    sample = humaneval["HumanEval/2"]
    good = chat_answer("def truncate_number(number: float) -> float:\n    return number % 1.0")
    (mixed,) = score_all([(sample, response("", good, incomplete=(True, False)))])
    assert mixed.value == 0.5 and mixed.reason is not None and "reasoning" in mixed.reason
    (cut,) = score_all([(sample, response("", "", incomplete=(True, True)))])
    assert cut.status == "incomplete" and cut.value is None


def test_scorer_is_registered_and_needs_a_sandbox(humaneval):
    from tianping.benchmarks.scorers import SCORERS

    assert SCORERS["code_exec"] is code.score_code
    with pytest.raises(RuntimeError, match="sandbox"):
        asyncio.run(code.score_code(humaneval["HumanEval/0"], response("x"), ScoringContext()))
