"""What an OpenAI-compatible reply means: a response object (or the events of a stream) read into a ``Response``.

A reply is untrusted input: every field is type-checked before use, strings are made encodable, the number of
choices is bounded by ``ReplyLimits.max_choices``, and an HTTP 200 with nothing in it is an error rather than an
answer. What is refused here is a ``_Refused`` (or one of its kinds), raised by code that does not know the
endpoint; the backend (``tianping.models.openai_api``) words it as the ``ModelError`` it names. Also here: the
message in an error status's body, and the wait a ``Retry-After`` header asks for.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import time
from typing import TYPE_CHECKING, Any

from tianping.core import Completion, Response
from tianping.core.inflate import too_large_text
from tianping.core.limits import ReplyLimits
from tianping.core.types import ToolCall
from tianping.models.errors import EmptyReply, ModelError, ReplyTooLarge, ServerError
from tianping.models.reasoning import reasoning_field, split_reasoning

if TYPE_CHECKING:
    from tianping.models.sse import ChoiceDelta

_MAX_COUNT = 2**31
MAX_TOOL_CALLS = 128
"""Most tool calls read from one choice; more is a refused reply (no benchmark asks for that many)."""
MAX_TOOL_ARGUMENTS = 1 << 20
"""Most characters of one tool call's arguments (and of its name and id)."""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            if when is None:
                return None
            seconds = when.timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


class _Refused(Exception):
    """A reply refused by code that does not know the endpoint; the backend raises ``error`` instead, naming the
    endpoint and showing an excerpt of ``source`` (the start of the reply, or the offending event)."""

    error: type[ModelError] = ServerError

    def __init__(self, what: str, detail: str = "", source: bytes = b""):
        super().__init__(what)
        self.what = what
        self.detail = detail
        self.source = source


class _TooLarge(_Refused):
    error = ReplyTooLarge


class _Malformed(_Refused):
    def __init__(self, field: str, expected: str, value: Any):
        super().__init__("malformed response", f": field {field!r}: expected {expected}, got {type(value).__name__}")


class _Empty(_Refused):
    error = EmptyReply


def _too_large(limits: ReplyLimits, detail: str = "", source: bytes = b"") -> _TooLarge:
    return _TooLarge(too_large_text(limits.max_body_bytes), detail, source)


def _too_many_choices(max_choices: int, count: int | None = None, source: bytes = b"") -> _TooLarge:
    """Past ``max_choices``: ``count`` choices in one reply or stream event, or (None) an index past the bound."""
    what = f"reply with {count} choices, more than" if count is not None else "reply with more than"
    return _TooLarge(f"{what} {max_choices} choices (max_choices)", "", source)


def _server_message(body: bytes) -> str:
    """The error message a server put in its body, whatever shape the body has."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        return _message_of(json.loads(text))
    except (ValueError, TypeError, RecursionError):
        return text or "<empty body>"


def _message_of(data: Any) -> str:
    if isinstance(data, dict):
        for key in ("error", "message", "detail"):
            if key in data and data[key]:
                inner = data[key]
                if isinstance(inner, dict):
                    msg = inner.get("message") or inner.get("msg") or inner.get("detail")
                    if msg:
                        return str(msg)
                    return json.dumps(inner, ensure_ascii=False)
                if isinstance(inner, (list, tuple)):
                    return json.dumps(inner, ensure_ascii=False)
                return str(inner)
    return json.dumps(data, ensure_ascii=False) if not isinstance(data, str) else data


def _safe(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD, so that it encodes to UTF-8.

    JSON escapes (``"\\ud800"``) and UTF-8-encoded surrogates (json.loads decodes with "surrogatepass") both
    give str values that cannot be stored. Going through UTF-16 joins surrogate pairs that arrived apart (in
    two stream events) into their character and replaces each lone one with a single U+FFFD.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


_decode_json = json.JSONDecoder().decode


def _loads(raw: bytes) -> Any:
    """JSON from bytes, reading what is not UTF-8 as U+FFFD rather than refusing the whole reply.

    Raises ValueError for what is not JSON and RecursionError for JSON nested too deeply. (json.loads on bytes
    would also sniff UTF-16/32 and pass encoded surrogates through; this is faster, once per stream event.)"""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    return _decode_json(text)


def _count(value: Any) -> int | None:
    """A token count, or None for anything but an int in [0, 2**31) (floats, strings, booleans, NaN, 1e30)."""
    return value if type(value) is int and 0 <= value < _MAX_COUNT else None


def _index(value: Any, k: int, max_choices: int) -> int:
    if value is None:
        return k
    if type(value) is not int or value < 0:
        raise _Malformed(f"choices[{k}].index", "a non-negative integer", value)
    if value >= max_choices:
        raise _too_many_choices(max_choices)
    return value


def _checked_choices(choices: Any, max_choices: int) -> list[Any]:
    """A reply's (non-empty) ``choices``: a list of at most ``max_choices``."""
    if type(choices) is not list:
        raise _Malformed("choices", "a list", choices)
    if len(choices) > max_choices:
        raise _too_many_choices(max_choices, len(choices))
    return choices


def _choice_index(choice: Any, k: int, max_choices: int) -> int:
    """The index of ``choice``, the ``k``-th of its reply (an object, or malformed)."""
    if type(choice) is not dict:
        raise _Malformed(f"choices[{k}]", "an object", choice)
    return _index(choice.get("index"), k, max_choices)


def _part(choice: dict[str, Any], k: int, name: str) -> dict[str, Any]:
    """A choice's ``message`` or ``delta``: an object, or {} when missing."""
    part = choice.get(name)
    if part is None:
        return {}
    if type(part) is not dict:
        raise _Malformed(f"choices[{k}].{name}", "an object", part)
    return part


def _as_text(value: Any, k: int, name: str) -> str | None:
    """A content or reasoning field as a string: list-of-parts content is joined (parts without text, such as
    images, are skipped); anything else that is not a string is malformed."""
    if value is None:
        return None
    if type(value) is str:
        return _safe(value)
    if type(value) is not list:
        raise _Malformed(f"choices[{k}].{name}", "a string", value)
    out: list[str] = []
    for j, part in enumerate(value):
        if type(part) is str:
            out.append(part)
        elif type(part) is dict:
            text = part.get("text")
            if text is None:
                continue
            if type(text) is not str:
                raise _Malformed(f"choices[{k}].{name}[{j}].text", "a string", text)
            out.append(text)
        else:
            raise _Malformed(f"choices[{k}].{name}[{j}]", "a string or an object", part)
    return _safe("".join(out))


def _tool_calls(value: Any, k: int) -> tuple[ToolCall, ...]:
    """A message's ``tool_calls``, checked and bounded: each needs a ``function`` with a string ``name``;
    ``arguments`` are kept as the text sent (an object is written as JSON, as some servers send one)."""
    if value is None or value is True:  # True: a stream said a call was made (streams are not assembled into calls)
        return ()
    if type(value) is not list:
        raise _Malformed(f"choices[{k}].message.tool_calls", "a list", value)
    if len(value) > MAX_TOOL_CALLS:
        raise _TooLarge(f"reply with {len(value)} tool calls, more than {MAX_TOOL_CALLS}")
    calls = []
    for j, call in enumerate(value):
        where = f"choices[{k}].message.tool_calls[{j}]"
        function = call.get("function") if type(call) is dict else None
        if type(function) is not dict:
            raise _Malformed(where + ".function", "an object", function)
        name, arguments, ident = function.get("name"), function.get("arguments"), call.get("id")
        if type(name) is not str:
            raise _Malformed(where + ".function.name", "a string", name)
        if type(arguments) is dict:
            arguments = json.dumps(arguments, ensure_ascii=False)
        elif arguments is None:
            arguments = ""
        elif type(arguments) is not str:
            raise _Malformed(where + ".function.arguments", "a string", arguments)
        if ident is not None and type(ident) is not str:
            raise _Malformed(where + ".id", "a string", ident)
        if max(len(name), len(arguments), len(ident or "")) > MAX_TOOL_ARGUMENTS:
            raise _TooLarge(f"tool call {j} with more than {MAX_TOOL_ARGUMENTS} characters in a field")
        calls.append(ToolCall(name=_safe(name), arguments=_safe(arguments), id=_safe(ident) if ident else ident))
    return tuple(calls)


class _StreamChoices:
    """The choices of a stream, assembled event by event into a non-streaming-shaped response object."""

    __slots__ = ("chat", "contents", "reasonings", "finish", "tools", "usage")

    def __init__(self, chat: bool):
        self.chat = chat
        self.usage: Any = None
        """The last usage report the stream sent."""
        self.contents: dict[int, list[str]] = {}
        self.reasonings: dict[int, list[str]] = {}
        self.finish: dict[int, str | None] = {}
        self.tools: set[int] = set()

    def add(self, deltas: list[ChoiceDelta]) -> None:
        """The choices of one event, as read (and checked) by ``tianping.models.sse.read_delta``."""
        contents, reasonings, finish = self.contents, self.reasonings, self.finish
        for delta in deltas:
            i = delta.index
            if delta.content:
                contents.setdefault(i, []).append(delta.content)
            elif i not in contents:
                contents[i] = []
            if delta.reasoning:
                reasonings.setdefault(i, []).append(delta.reasoning)
            if delta.tool_call:
                self.tools.add(i)
            if delta.finish_reason:
                finish[i] = delta.finish_reason
            else:
                finish.setdefault(i, None)

    def finished(self) -> bool:
        """Whether every choice has had its finish_reason."""
        return bool(self.finish) and all(self.finish.values())

    def characters(self) -> int:
        return sum(len("".join(p)) for p in self.contents.values())

    def response(self) -> dict[str, Any]:
        """The response object the stream stands for."""
        out = []
        for i in sorted(self.contents.keys() | self.reasonings.keys()):
            reasoning = "".join(self.reasonings[i]) if i in self.reasonings else None
            content = "".join(self.contents.get(i, ()))
            if self.chat:
                message: dict[str, Any] = {"content": content, "reasoning_content": reasoning}
                if i in self.tools:
                    message["tool_calls"] = True
                out.append({"index": i, "message": message, "finish_reason": self.finish.get(i)})
            else:
                out.append(
                    {"index": i, "text": content, "reasoning_content": reasoning, "finish_reason": self.finish.get(i)}
                )
        return {"choices": out, "usage": self.usage}


def _build_response(
    data: dict[str, Any], latency: float, attempts: int, chat: bool, limits: ReplyLimits, tools: bool = False
) -> Response:
    """The Response of a reply; ``tools``: the request offered tools, so ``message.tool_calls`` are read (and a
    malformed one refuses the reply); without tools a server's stray ``tool_calls`` are not the answer."""
    choices = data.get("choices")
    if not choices:
        raise _Refused("response without choices")
    completions: list[tuple[int, Completion]] = []
    empty = True
    for k, choice in enumerate(_checked_choices(choices, limits.max_choices)):
        index = _choice_index(choice, k, limits.max_choices)
        calls: tuple[ToolCall, ...] = ()
        if chat:
            message = _part(choice, k, "message")
            content = _as_text(message.get("content"), k, "message.content")
            thought, name = reasoning_field(message)
            reasoning = _as_text(thought, k, "message." + name) if thought else None
            calls = _tool_calls(message.get("tool_calls"), k) if tools else ()
            if empty and (message.get("tool_calls") or message.get("function_call")):
                empty = False
        else:
            content = _as_text(choice.get("text"), k, "text")
            thought, name = reasoning_field(choice)
            reasoning = _as_text(thought, k, name) if thought else None
        reason = choice.get("finish_reason")
        if reason is not None:
            if type(reason) is not str:
                raise _Malformed(f"choices[{k}].finish_reason", "a string", reason)
            reason = _safe(reason)
        if content or reasoning:
            empty = False
        completion = split_reasoning(content, reasoning or None, reason)
        if calls:
            completion = dataclasses.replace(completion, tool_calls=calls)
        completions.append((index, completion))
    if empty:
        # An HTTP 200 with nothing in it is a failed transport, not a wrong answer: retried, never cached.
        raise _Empty("empty reply (no content, no reasoning)")
    if len(completions) > 1:
        completions.sort(key=lambda pair: pair[0])
    usage = data.get("usage")
    if type(usage) is dict:
        details = usage.get("completion_tokens_details")
        prompt_tokens = _count(usage.get("prompt_tokens"))
        completion_tokens = _count(usage.get("completion_tokens"))
        reasoning_tokens = _count(details.get("reasoning_tokens")) if type(details) is dict else None
    else:
        prompt_tokens = completion_tokens = reasoning_tokens = None
    return Response(
        completions=tuple(c for _, c in completions),
        latency_s=latency,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        reasoning_tokens=reasoning_tokens,
        attempts=attempts,
    )


_MAX_TOP_LOGPROBS = 64
"""Alternatives read per position of ``top_logprobs`` at most (1 is asked for)."""


def _logprob(value: Any, where: str) -> float:
    """A token's log-probability: a finite number, at most 0 (a little above is rounding)."""
    if type(value) not in (int, float):
        raise _Malformed(where, "a number", value)
    if not -1e30 < value <= 1e-3:
        raise _Refused("malformed response", f": field {where!r}: {value!r} is not a log-probability")
    return float(value)


def read_prompt_logprobs(data: dict[str, Any], start: int, end: int, limits: ReplyLimits) -> tuple[float, bool, int]:
    """(sum of log-probabilities, greedy, tokens) of the prompt's characters ``start:end`` in an echoed
    ``/completions`` reply (``echo``, ``logprobs``): its tokens are those whose ``text_offset`` lies in that
    range, the first of them at ``start`` exactly; greedy when each one's log-probability is the largest of its
    ``top_logprobs`` (lm-eval's ``is_greedy``). Tokens past ``end`` (generated ones) are not read.

    Refused: no ``logprobs``, lists of unequal length, offsets that are not integers or go back, no token that
    starts where the continuation starts (a token across the context's end), none inside it."""
    logprobs = _echo_logprobs(data, limits)
    offsets = logprobs.get("text_offset")
    values = logprobs.get("token_logprobs")
    tops = logprobs.get("top_logprobs")
    for name, field in (("text_offset", offsets), ("token_logprobs", values), ("top_logprobs", tops)):
        if type(field) is not list:
            raise _Malformed(f"choices[0].logprobs.{name}", "a list", field)
    assert isinstance(offsets, list) and isinstance(values, list) and isinstance(tops, list)
    if not len(offsets) == len(values) == len(tops):
        raise _Refused(
            "malformed response",
            f": logprobs lists of unequal length (text_offset {len(offsets)}, token_logprobs {len(values)}, "
            f"top_logprobs {len(tops)})",
        )
    total, greedy, count, previous = 0.0, True, 0, -1
    for k, offset in enumerate(offsets):
        if type(offset) is not int or offset < previous:
            raise _Refused(
                "malformed response",
                f": field 'text_offset[{k}]': {offset!r} is not an offset at or after the one before",
            )
        previous = offset
        if offset < start:
            continue
        if offset >= end:
            break
        if count == 0 and offset != start:
            raise _Refused(
                "unusable prompt log-probabilities",
                f": no token starts where the continuation starts (character {start}; the next starts at {offset})",
            )
        value = _logprob(values[k], f"token_logprobs[{k}]")
        top = tops[k]
        if type(top) is not dict or not top or len(top) > _MAX_TOP_LOGPROBS:
            raise _Malformed(f"top_logprobs[{k}]", f"an object of 1 to {_MAX_TOP_LOGPROBS} alternatives", top)
        best = max(_logprob(v, f"top_logprobs[{k}]") for v in top.values())
        greedy = greedy and value >= best
        total += value
        count += 1
    if count == 0:
        raise _Refused(
            "unusable prompt log-probabilities",
            f": no token offset falls in the continuation (characters {start} to {end} of the prompt)",
        )
    return total, greedy, count


def _echo_logprobs(data: dict[str, Any], limits: ReplyLimits) -> dict[str, Any]:
    """The ``logprobs`` object of an echoed ``/completions`` reply's first choice; refused when there is none."""
    choices = _checked_choices(data.get("choices"), limits.max_choices)
    if not choices:
        raise _Refused("response without choices")
    choice = choices[0]
    if type(choice) is not dict:
        raise _Malformed("choices[0]", "an object", choice)
    logprobs = choice.get("logprobs")
    if type(logprobs) is not dict:
        raise _Refused(
            "reply without prompt log-probabilities", " (choices[0].logprobs; is echo with logprobs served?)"
        )
    return logprobs


def read_token_logprobs(data: dict[str, Any], end: int, limits: ReplyLimits) -> list[float]:
    """The log-probability of each prompt token of an echoed ``/completions`` reply that has one (servers give
    the first token none), in order: the tokens whose ``text_offset`` is before ``end`` (the prompt's length;
    the generated token after it is not read). For per-token contamination scores (Min-K%, perplexity).

    Refused as ``read_prompt_logprobs`` refuses: no ``logprobs``, lists of unequal length, offsets that are not
    integers or go back; and a reply in which no prompt token has a log-probability."""
    logprobs = _echo_logprobs(data, limits)
    offsets, values = logprobs.get("text_offset"), logprobs.get("token_logprobs")
    for name, field in (("text_offset", offsets), ("token_logprobs", values)):
        if type(field) is not list:
            raise _Malformed(f"choices[0].logprobs.{name}", "a list", field)
    assert isinstance(offsets, list) and isinstance(values, list)
    if len(offsets) != len(values):
        raise _Refused(
            "malformed response",
            f": logprobs lists of unequal length (text_offset {len(offsets)}, token_logprobs {len(values)})",
        )
    out: list[float] = []
    previous = -1
    for k, offset in enumerate(offsets):
        if type(offset) is not int or offset < previous:
            raise _Refused(
                "malformed response",
                f": field 'text_offset[{k}]': {offset!r} is not an offset at or after the one before",
            )
        previous = offset
        if offset >= end:
            break
        if values[k] is not None:
            out.append(_logprob(values[k], f"token_logprobs[{k}]"))
    if not out:
        raise _Refused("unusable prompt log-probabilities", ": no prompt token has a log-probability")
    return out
