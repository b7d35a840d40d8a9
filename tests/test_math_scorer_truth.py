"""Scorer truth for ``scoring: {scorer: math}``: a fake model answers a small math set, through the real engine
and a user's definition file, in many equivalent surface forms (right) and in known-wrong look-alikes; the
measured accuracy must equal the known truth exactly, sample by sample.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from engine_helpers import make_spec, run_engine
from fake_openai import last_user_text, running_server
from tianping.store import Store

PMAT = r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}"

# (gold as the dataset writes it, the model's response, whether it is right)
RIGHT: list[tuple[str, str]] = [
    ("(-1,6)", r"Solving both equations, the point is $\boxed{(-1, 6)}$."),  # boxed, spaces
    ("(-1,6)", r"The answer is $\left( -1, 6 \right)$."),  # "The answer is", \left( \right)
    ("(3,4]", r"Answer: $(3, 4]$"),  # "Answer:"
    ("(3,4]", r"Thus the condition holds exactly when $\boxed{3 < \lambda \le 4}$."),  # interval as a relation
    (r"[5,\infty)", r"The final answer is $x \geq 5$."),  # relation with an infinite end
    (r"6\sqrt{2}", r"所以答案是 $6\sqrt{2}$。"),  # 答案是
    (r"6\sqrt{2}", r"The diagonal is $\boxed{\sqrt{72}}$."),  # unsimplified radical
    (r"\frac{3}{4}", "Working it out...\nSo the probability is $0.75$."),  # final line, decimal for a fraction
    ("2.5", r"Hence the ratio is $\boxed{\dfrac{5}{2}}$."),  # \dfrac for a decimal
    (r"3\frac{1}{2}", r"\boxed{\frac{7}{2}}"),  # mixed number gold
    ("3.5", r"She needs $\boxed{3\frac{1}{2}}$ cups."),  # mixed number response
    (r"17\text{ meters}", r"The rope is $\boxed{17\text{ m}}$ long."),  # units on both sides
    (r"156^\circ", "The largest angle measures 156°."),  # degrees, final line
    (r"25\%", "Answer: 25%"),  # percent
    (r"11,\! 111,\! 111,\! 100", r"\boxed{11111111100}"),  # thousands separators in the gold
    ("-2, 3", r"The roots are $\boxed{3, -2}$."),  # reordered list of solutions
    (r"\{1, 4, 9\}", r"\boxed{\{9, 1, 4\}}"),  # reordered set
    ("6+9i", r"\boxed{9i + 6}"),  # complex number, reordered
    (PMAT, r"\boxed{\begin{bmatrix} 1 & 2 \\ 3 & 4 \end{bmatrix}}"),  # matrix, other brackets
    ("52_8", r"In base eight: $\boxed{52_{8}}$."),  # base subscript in braces
    (r"\text{(C)}", "Comparing the options, the answer is (C)."),  # multiple-choice letter
    (r"\$18.90", "The answer is \\$18.90."),  # money
    (".0000672", r"\boxed{6.72 \times 10^{-5}}"),  # scientific notation for a small decimal
    (r"\frac{\sqrt{3}}{2}", "**Final Answer:** $\\frac{\\sqrt3}{2}$"),  # markdown, \sqrt3
    (r"(-\infty, 2) \cup (3, \infty)", "We get\n\n$(-\\infty,2)\\cup(3,\\infty)$"),  # union, final display line
    (r"\frac{\pi}{3}", r"\boxed{\pi/3}"),  # slash for \frac
]
WRONG: list[tuple[str, str]] = [
    (r"(5,\infty)", r"\boxed{[5, \infty)}"),  # wrong openness
    (r"[5,\infty)", r"The final answer is $x > 5$."),  # relation with the wrong openness
    ("(-1,6)", r"\boxed{(6, -1)}"),  # tuple order swapped
    (r"6\sqrt{2}", r"\boxed{6}"),  # 6 for 6\sqrt2
    (r"6\sqrt{2}", r"\boxed{6\sqrt{3}}"),  # wrong radicand
    ("52_8", r"\boxed{52}"),  # base dropped
    ("52_8", r"\boxed{42}"),  # its decimal value: refused, see math_equiv's docstring
    (r"\pi", r"\boxed{3.14}"),  # rounded too coarsely
    (".0000672", r"\boxed{.00006721}"),  # a different small decimal
    (PMAT, r"\boxed{\begin{pmatrix} 1 & 2 \\ 3 & 5 \end{pmatrix}}"),  # one matrix entry wrong
    (r"-\frac{1}{2}", r"\boxed{\frac{1}{2}}"),  # sign error
    ("6+9i", r"\boxed{6-9i}"),  # conjugate
    ("15.5", r"\boxed{3\frac{1}{2}}"),  # a mixed number is not 31/2
    ("-2, 3", r"\boxed{3}"),  # one solution missing
    (r"30^\circ", r"\boxed{\frac{\pi}{6}}"),  # degrees are not converted
    (r"0.1\%", r"\boxed{10\%}"),  # two percentages compare as they are
    (r"11,\! 111,\! 111,\! 100", r"\boxed{11,111,111,000}"),  # thousands separators, wrong digits
    ("7", r"First \boxed{7}. Wait, that is wrong: \boxed{8}."),  # the last boxed answer counts
    ("12", "I could not solve this problem."),  # no answer at all
]
CASES = [(gold, response, True) for gold, response in RIGHT] + [(gold, response, False) for gold, response in WRONG]

DEFINITION = """
name: math_truth
version: "1"
description: free-form math answers scored by mathematical equivalence
dataset: {loader: math_jsonl, path: truth.jsonl}
prompt:
  question: "{{ question }}"
generation: {max_tokens: 512}
scoring: {scorer: math}
"""


def answer_fn(body: dict[str, Any]) -> str:
    number = re.search(r"Problem (\d+)\.", last_user_text(body))
    assert number is not None
    return CASES[int(number.group(1))][1]


def test_math_scorer_accuracy_equals_the_known_truth(tmp_path: Path) -> None:
    assert len(RIGHT) >= 15 and len(WRONG) >= 15
    data = tmp_path / "data"
    data.mkdir()
    rows = [{"problem": f"Problem {i}. Solve it.", "answer": gold} for i, (gold, _r, _ok) in enumerate(CASES)]
    (data / "truth.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    definition = data / "math_truth.yaml"
    definition.write_text(DEFINITION, encoding="utf-8")

    with running_server(answer_fn=answer_fn) as server:
        store = Store.open(tmp_path / "results")
        result = run_engine(store, make_spec(server.base_url, data, [str(definition)], limit=None))
    assert result.status == "completed", result.message

    rows_out = {int(r["sample_id"]): r for r in store.sample_rows(result.run_id)}
    assert sorted(rows_out) == list(range(len(CASES)))
    got = {i: r["score"] for i, r in rows_out.items()}
    expected = {i: 1.0 if ok else 0.0 for i, (_g, _r, ok) in enumerate(CASES)}
    mismatches = [(CASES[i][0], CASES[i][1], got[i]) for i in expected if got[i] != expected[i]]
    assert not mismatches, mismatches
    assert [i for i, r in rows_out.items() if r["extraction_failed"]] == [len(CASES) - 1]

    (overall,) = [a for a in store.aggregates(result.run_id) if a["group_kind"] == "all"]
    assert overall["n"] == len(CASES)
    assert overall["score"] == len(RIGHT) / len(CASES)
