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
"""

from __future__ import annotations

from tianping.core import Completion

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


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
