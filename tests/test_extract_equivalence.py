"""The faster answer extraction (issue 23) gives exactly the answers of the implementation it replaced.

The reference is ``src/tianping/scoring/extract.py`` as of commit ``REFERENCE`` (the last version before the
fast paths: ASCII text skips NFKC, the mapped characters are found by one character-class scan, LaTeX rewrites
are skipped when their marker is absent, answer statements are looked for only where "answer" or 答 occurs),
read from git and imported beside the current module. Both are run over every recorded golden output and over
a few thousand generated strings built from the fragments the extractor reacts to.
"""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tianping.scoring import extract as current

REFERENCE = "78e9a635551a4a055911c83822c48d2e9f278fdb"
REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"

# What the extractor looks for, and what NFKC and the case-insensitive patterns treat specially.
FRAGMENTS = [
    *"0123456789", " ", "  ", "\n", "\n\n", ".", ",", ":", "=", "-", "+", "*", "/", "%", "$", "(", ")", "[", "]",
    "{", "}", "^", "_", "`", "#", "####", "#### ", "**", "__", "<<", ">>", "≈", "×", "÷",
    "The answer is ", "the final answer is ", "Answer: ", "ANSWER:", "Final Answer", "answer would be ",
    "is not ", "answer (in dollars): ", "So ", "in total ", "therefore ", "step 3", "(step 2)", "Step 1.",
    "1. ", "2) ", "[1]", "3rd", "dollars", "%",
    "\\boxed{", "\\fbox{", "\\frac{", "\\dfrac", "\\frac12", "\\text{", "\\cdot", "\\times", "\\left(", "\\right)",
    "\\,", "\\;", "\\quad", "\\%", "\\$", "{,}", "^{2}", "\\(", "\\)", "\\[", "\\]",
    "答案是", "答案：", "答：", "最终答案为", "所以", "共", "第3步", "。", "！", "；", "，",
    "½", "¾", "⅓", "²", "³", "\u2212", "\u2044", "４２", "Ｂ", "：", "（", "）", "ſ", "İ", "ı", "ﬁ", "K",
    "1,234", "3.50", ".5", "2 1/2", "3/4", "1.5e3", "-7", "$18.00", "18元", "0.0",
]  # fmt: skip


def _reference() -> ModuleType:
    try:
        source = subprocess.run(
            ["git", "show", f"{REFERENCE}:src/tianping/scoring/extract.py"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:  # no git, or a checkout without that history
        pytest.skip(f"reference extract.py at {REFERENCE[:10]} unavailable: {exc}")
    spec = importlib.util.spec_from_loader("tianping_extract_reference", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{REFERENCE[:10]}:extract.py", "exec"), module.__dict__)
    return module


_REFERENCE: list[ModuleType] = []


def _cached_reference() -> ModuleType:
    # loaded once for the module: hypothesis's test below cannot take a fixture
    if not _REFERENCE:
        _REFERENCE.append(_reference())
    return _REFERENCE[0]


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    return _cached_reference()


def _same(reference: ModuleType, text: str) -> None:
    assert current.extract_final_number(text) == reference.extract_final_number(text), text
    assert current.prepare_text(text) == reference.prepare_text(text), text
    assert current.normalize_number(text) == reference.normalize_number(text), text


def _golden_outputs() -> list[str]:
    found: list[str] = []
    for path in sorted(GOLDEN.glob("*.json")):
        for sample in json.loads(path.read_text(encoding="utf-8"))["samples"]:
            for output in sample["outputs"]:
                text = output if isinstance(output, str) else output.get("text")
                if isinstance(text, str):
                    found.append(text)
    return found


def test_every_golden_output_extracts_as_before(reference: ModuleType) -> None:
    outputs = _golden_outputs()
    assert len(outputs) > 500  # the corpus is the recorded outputs of every bundled benchmark
    for text in outputs:
        _same(reference, text)
        # and its last lines alone, where the answer statements and bold numbers sit
        _same(reference, "\n".join(text.splitlines()[-2:]))


def test_seeded_fragment_strings_extract_as_before(reference: ModuleType) -> None:
    rng = random.Random(23)
    for _ in range(3000):
        text = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 40)))
        _same(reference, text)


def test_the_reference_is_really_the_old_code(reference: ModuleType) -> None:
    # the comparison means something only if the two differ in how they compute
    assert not hasattr(reference, "_LATEX_STEPS") and hasattr(current, "_LATEX_STEPS")


_fragment_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=30).map("".join)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(_fragment_text, st.text(max_size=200)))
def test_generated_strings_extract_as_before(text: str) -> None:
    _same(_cached_reference(), text)
