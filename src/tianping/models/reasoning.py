"""Keep a model's reasoning apart from its answer.

Servers return reasoning in one of three ways:

* a separate field of the message (``reasoning_content`` in vLLM / DeepSeek / SGLang, ``reasoning`` in some
  others), with the answer alone in ``content``;
* inline in ``content`` as ``<think>...</think>`` followed by the answer (possibly several blocks);
* inline with the opening ``<think>`` stripped by the chat template, so that the content starts with the
  reasoning and the first tag seen is ``</think>``.

``split_reasoning`` turns any of these into a ``Completion`` whose ``text`` is the answer part only. When
the thinking never ended (an opening tag without its closing tag, or reasoning in a separate field with an
empty answer cut off by the token limit) there is no answer to extract from: ``incomplete`` is set and
``text`` is "".

A stream is read with the same rules: :func:`reasoning_field` is how a message, a choice or a stream delta gives
its reasoning field, and :class:`ReasoningTracker` follows a stream's pieces as they come, telling when the
answer began (what a probe timing a stream needs before the whole text is there).
"""

from __future__ import annotations

from typing import Any

from tianping.core import Completion

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"
REASONING_FIELDS = ("reasoning_content", "reasoning")
"""The fields that carry reasoning apart from the answer, in the order they are read."""


def reasoning_field(obj: dict[str, Any]) -> tuple[Any, str]:
    """The reasoning of a message, choice or stream delta, and the name of the field it came from:
    ``reasoning_content`` when that is set (not empty), else ``reasoning`` (possibly None)."""
    value = obj.get("reasoning_content")
    if value:
        return value, "reasoning_content"
    return obj.get("reasoning"), "reasoning"


def split_reasoning(content: str | None, reasoning_field: str | None, finish_reason: str | None) -> Completion:
    """Split one choice into its answer and reasoning; see the module docstring."""
    # Fast path: no inline tags, the common case for plain models and for servers with a reasoning parser.
    if content is None or "think>" not in content:
        if not reasoning_field:
            return Completion(text=content or "", finish_reason=finish_reason)
        # Reasoning in its own field: the answer is the content, trimmed of the blank lines servers leave.
        text = content.strip() if content else ""
        incomplete = not text and finish_reason == "length"
        return Completion(
            text=text,
            reasoning=reasoning_field,
            finish_reason=finish_reason,
            incomplete=incomplete,
            raw=content if content and content != text else None,
        )

    thoughts: list[str] = [reasoning_field] if reasoning_field else []
    answer: list[str] = []
    incomplete = False
    rest = content

    # Leading "</think>" with no "<think>" before it: the server stripped the opening tag.
    close_at = rest.find(CLOSE_TAG)
    open_at = rest.find(OPEN_TAG)
    if close_at != -1 and (open_at == -1 or close_at < open_at):
        thoughts.append(rest[:close_at])
        rest = rest[close_at + len(CLOSE_TAG) :]

    while rest:
        open_at = rest.find(OPEN_TAG)
        if open_at == -1:
            answer.append(rest)
            break
        answer.append(rest[:open_at])
        rest = rest[open_at + len(OPEN_TAG) :]
        close_at = rest.find(CLOSE_TAG)
        if close_at == -1:
            thoughts.append(rest)
            incomplete = True
            break
        thoughts.append(rest[:close_at])
        rest = rest[close_at + len(CLOSE_TAG) :]

    # Stray closing tags left in the answer part (e.g. "a</think>b</think>c") are dropped.
    text = "" if incomplete else "".join(answer).replace(CLOSE_TAG, "").strip()
    if not incomplete and not text and reasoning_field and finish_reason == "length":
        incomplete = True
    reasoning = "\n\n".join(t.strip() for t in thoughts if t.strip()) or None
    return Completion(
        text=text,
        reasoning=reasoning,
        finish_reason=finish_reason,
        incomplete=incomplete,
        raw=content if content != text else None,
    )


class ReasoningTracker:
    """The streaming side of :func:`split_reasoning`: fed a stream's pieces as they come, it tells whether reasoning
    was seen and when the answer began (``answer_at``, the stamp of the piece that began it), for a caller that
    times a stream and cannot wait for the whole text.

    ``reasoning()`` is a piece of a reasoning field; ``content(at, text)`` a piece of content, which may hold an
    inline ``<think>`` block (leading whitespace allowed) or end one that the chat template opened (a
    ``</think>`` before any ``<think>``: all content before it is reasoning), with a tag split across pieces.
    The answer begins with its first non-blank piece after reasoning, or with the first piece when there was no
    reasoning; a content that merely starts like a tag (``<div>``) is answer from its first piece. Constant work
    per piece: only the last few characters are kept to find a tag split across pieces.
    """

    __slots__ = ("reasoning_seen", "answer_at", "_state", "_prefix", "_tail", "_pending_at")

    def __init__(self) -> None:
        self.reasoning_seen = False
        self.answer_at: float | None = None
        self._state: str | None = None  # None undecided, "in" inside <think>, "out" after it or without one
        self._prefix = ""  # while undecided: the start of the content, a prefix of <think> (blanks dropped)
        self._tail = ""  # the end of the content seen, to catch a </think> split across pieces
        self._pending_at: float | None = None  # the stamp of an undecided start, if it turns out to be answer

    def reasoning(self) -> None:
        """A piece of a reasoning field."""
        self.reasoning_seen = True

    def content(self, at: float, text: str) -> None:
        """A piece of content, stamped ``at``."""
        if self._state is None:
            stripped = (self._prefix + text).lstrip()  # never more than a tag's length: no growing re-scan
            if not stripped:
                return
            if stripped.startswith(OPEN_TAG):
                self._state = "in"
                self.reasoning_seen = True
                text = stripped[len(OPEN_TAG) :]
            elif OPEN_TAG.startswith(stripped):
                self._prefix = stripped
                if self._pending_at is None:
                    self._pending_at = at  # maybe a tag split across pieces, maybe an answer: undecided
                return
            else:
                self._state = "out"
                text = stripped
                if self._pending_at is not None:
                    at = self._pending_at
            self._prefix = ""
        if self._state == "in":
            joined = self._tail + text
            end = joined.find(CLOSE_TAG)
            if end < 0:
                self._tail = joined[-len(CLOSE_TAG) :]
                return
            self._state = "out"
            self._tail = ""
            if joined[end + len(CLOSE_TAG) :].strip():
                self.answer_at = at
            return
        # "out": a </think> without an opening tag (the template opened it) makes all before it reasoning
        if not self.reasoning_seen:
            joined = self._tail + text
            end = joined.find(CLOSE_TAG)
            if end >= 0:
                self.reasoning_seen = True
                self.answer_at = None
                self._tail = ""
                if joined[end + len(CLOSE_TAG) :].strip():
                    self.answer_at = at
                return
            self._tail = joined[-len(CLOSE_TAG) :]
        if self.answer_at is None and (text.strip() or not self.reasoning_seen):
            self.answer_at = at
