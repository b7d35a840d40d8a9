"""split_reasoning: answer text apart from reasoning fields and <think> blocks."""

from __future__ import annotations

import pytest

from tianping.models.reasoning import split_reasoning


def test_plain_content_unchanged():
    c = split_reasoning("  The answer is 18.\n", None, "stop")
    assert c.text == "  The answer is 18.\n"
    assert c.reasoning is None
    assert c.raw is None
    assert c.finish_reason == "stop"
    assert not c.incomplete


def test_none_content():
    c = split_reasoning(None, None, "stop")
    assert c.text == "" and c.reasoning is None and c.raw is None and not c.incomplete


@pytest.mark.parametrize("field_value", ["I add 3 and 4.", "step 1\nstep 2"])
def test_reasoning_field_kept_apart(field_value):
    c = split_reasoning("\n\nThe answer is 7.", field_value, "stop")
    assert c.text == "The answer is 7."
    assert c.reasoning == field_value
    assert c.raw == "\n\nThe answer is 7."
    assert not c.incomplete


def test_reasoning_field_content_exact_has_no_raw():
    c = split_reasoning("The answer is 7.", "thinking", "stop")
    assert c.text == "The answer is 7." and c.raw is None


def test_think_block():
    content = "<think>\nFirst, 16 - 3 - 4 = 9.\n</think>\n\nThe answer is 18."
    c = split_reasoning(content, None, "stop")
    assert c.text == "The answer is 18."
    assert c.reasoning == "First, 16 - 3 - 4 = 9."
    assert c.raw == content
    assert not c.incomplete


def test_leading_close_only():
    content = "The opening tag was stripped by the template.\n</think>\n\nB"
    c = split_reasoning(content, None, "stop")
    assert c.text == "B"
    assert c.reasoning == "The opening tag was stripped by the template."
    assert not c.incomplete


def test_multiple_think_blocks():
    content = "<think>a</think>Part one. <think>b</think>Part two."
    c = split_reasoning(content, None, "stop")
    assert c.text == "Part one. Part two."
    assert c.reasoning == "a\n\nb"


def test_leading_close_then_more_blocks():
    c = split_reasoning("x</think>ans<think>y</think> wer", None, "stop")
    assert c.text == "ans wer"
    assert c.reasoning == "x\n\ny"


def test_unterminated_think_is_incomplete():
    content = "<think>\nLet me think... 16 - 3 = 13, then"
    c = split_reasoning(content, None, "length")
    assert c.incomplete
    assert c.text == ""
    assert c.reasoning == "Let me think... 16 - 3 = 13, then"
    assert c.raw == content


def test_unterminated_think_even_with_stop_is_incomplete():
    c = split_reasoning("Sure. <think> still going", None, "stop")
    assert c.incomplete and c.text == ""


def test_field_reasoning_with_empty_content_cut_by_length_is_incomplete():
    c = split_reasoning("", "I was still thinking when", "length")
    assert c.incomplete and c.text == "" and c.reasoning == "I was still thinking when"
    c = split_reasoning(None, "I was still thinking when", "length")
    assert c.incomplete and c.text == ""


def test_field_reasoning_with_empty_content_stopped_is_not_incomplete():
    c = split_reasoning("", "thought", "stop")
    assert not c.incomplete and c.text == ""


def test_empty_content_without_reasoning_cut_by_length_is_not_incomplete():
    c = split_reasoning("", None, "length")
    assert not c.incomplete and c.text == ""


def test_field_and_inline_tags_combined():
    c = split_reasoning("<think>inline</think>\nC", "field", "stop")
    assert c.text == "C"
    assert c.reasoning == "field\n\ninline"


def test_empty_think_block():
    c = split_reasoning("<think></think>\n\nThe answer is 3.", None, "stop")
    assert c.text == "The answer is 3." and c.reasoning is None and not c.incomplete


def test_closed_thinking_and_no_answer_with_field_length_is_incomplete():
    c = split_reasoning("<think>x</think>  ", "more", "length")
    assert c.incomplete and c.text == ""
