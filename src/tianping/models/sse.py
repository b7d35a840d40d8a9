"""The OpenAI streaming protocol, read once for every caller: server-sent events out of body bytes, then each
event's JSON as a typed delta.

Both the evaluation backend (``tianping.models.openai_api``, streamed replies) and the serving probe
(``tianping.serving.probe``, which times every token) read streams with these two parts:

* :class:`SSEDecoder` is fed the body as it arrives, one chunk at a time with the time the chunk arrived, and
  returns the events the chunk completed, each stamped with that time (so a probe's TTFT and inter-token times
  are the arrival times of the bytes that completed each event, not the time a task got round to it). Framing
  follows the WHATWG ``text/event-stream`` rules: lines end with CRLF, LF or CR (a CRLF split across chunks
  included); a blank line ends an event; a line starting with ``:`` is a comment (keep-alive); ``field: value``
  drops one space after the colon; several ``data`` lines are joined with LF; ``event`` and ``id`` are kept; an
  event without data is not an event. ``data: [DONE]`` ends the stream: the decoder marks that event ``done``
  and reads nothing after it. When the body ends, :meth:`SSEDecoder.close` gives an event left without its
  blank line as it is (a server that closes early is judged on what it sent).

  Work per chunk is linear in the chunk: a line not yet ended is held as a list of pieces and joined once. An
  event (its lines, comments and line ends included) longer than ``max_event`` bytes, or a line longer than
  ``max_line``, raises :class:`SSETooLarge` as soon as it is known, so what is held stays bounded whatever the
  server sends. With ``strict`` a line with a field name SSE does not have raises :class:`SSEError`.

* :func:`read_delta` turns one event's JSON object into a :class:`StreamDelta`: an error the server put in the
  stream (its message), the usage report (as sent; callers judge its counts), and per choice a
  :class:`ChoiceDelta` with content, reasoning (``reasoning_content`` or ``reasoning``, see
  :func:`tianping.models.reasoning.reasoning_field`), finish reason and whether it was a tool call. Every field
  is type-checked: a field of the wrong type raises :class:`DeltaRefused` naming it, more choices than
  ``max_choices`` (or an index past it) :class:`DeltaTooLarge`. ``<think>`` blocks inline in content are left
  in the content; :mod:`tianping.models.reasoning` splits them (whole, or piece by piece while streaming).

How the JSON is decoded, and what an event that is not a JSON object means, stays with each caller: the backend
reads text that is not UTF-8 as U+FFFD and skips what is not an object; the probe refuses both. So does the
bound on an event: the backend's is the whole reply's (``max_body_bytes``), the probe's a sixteenth of it.
``DeltaRefused`` and ``DeltaTooLarge`` are the reply refusals of :mod:`tianping.models.openai_reply`, which the
backend words as the ``ModelError`` they name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tianping.models.openai_reply import (
    _as_text,
    _checked_choices,
    _index,
    _Malformed,
    _message_of,
)
from tianping.models.openai_reply import _Refused as DeltaRefused
from tianping.models.openai_reply import _TooLarge as DeltaTooLarge
from tianping.models.reasoning import REASONING_FIELDS, reasoning_field

__all__ = [
    "ChoiceDelta",
    "DeltaRefused",
    "DeltaTooLarge",
    "SSEDecoder",
    "SSEError",
    "SSEEvent",
    "SSETooLarge",
    "StreamDelta",
    "read_delta",
]

_FIELDS = (b"data", b"event", b"id", b"retry")
_REASONING, _REASONING_ALT = REASONING_FIELDS
_EXCERPT = 80


class SSEError(ValueError):
    """The bytes are not a server-sent event stream (a line no SSE field explains, with ``strict``)."""


class SSETooLarge(SSEError):
    """One event (or one line) is past its bound; ``what`` is ``"event"`` or ``"line"``, ``limit`` the bound."""

    def __init__(self, what: str, limit: int):
        super().__init__(f"SSE {what} longer than {limit} bytes")
        self.what = what
        self.limit = limit


@dataclass(slots=True)
class SSEEvent:
    """One event: its ``data`` (the data lines joined with LF), the arrival time ``t`` of the chunk that completed
    it, its ``event`` type and the last ``id`` if the server sent them, and ``done`` for ``data: [DONE]``."""

    data: bytes
    t: float
    event: str | None = None
    id: str | None = None
    done: bool = False


class SSEDecoder:
    """Body bytes in, events out; see the module's docstring. ``feed(t, chunk)`` has the signature of a body sink
    (``tianping.serving.h1.BodySink``) but returns the events, for the caller to read in order."""

    __slots__ = (
        "max_event",
        "max_line",
        "strict",
        "done",
        "_data",
        "_size",
        "_part",
        "_part_len",
        "_cr",
        "_type",
        "_id",
        "_one_line",
    )

    def __init__(self, *, max_event: int, max_line: int | None = None, strict: bool = False):
        if max_event < 1 or (max_line is not None and max_line < 1):
            raise ValueError("max_event and max_line must be positive")
        self.max_event = max_event
        self.max_line = max_event if max_line is None else min(max_line, max_event)
        self._one_line = min(self.max_line, max_event - 1)  # the longest line of a one-line event (line + LF)
        self.strict = strict
        self.done = False
        """Set once ``data: [DONE]`` has come: nothing after it is read."""
        self._data: list[bytes] = []  # the data lines of the event in progress
        self._size = 0  # its bytes so far (every line and line end, comments included)
        self._part: list[bytes] = []  # a line not yet ended, as it arrived
        self._part_len = 0
        self._cr = False  # the last chunk ended with CR: a LF that starts the next one ends nothing more
        self._type: str | None = None
        self._id: str | None = None

    def feed(self, t: float, chunk: bytes) -> list[SSEEvent]:
        """The events ``chunk`` (arrived at time ``t``) completes, in order, each stamped ``t``."""
        if self.done or not chunk:
            return []
        if not self._size and not self._part and not self._cr and chunk[:6] == b"data: ":
            # the usual chunk from a server that sends a token a chunk: one whole event of one data line, nothing
            # held before it (the general path below gives the same event, with more work)
            end = len(chunk) - 2
            if chunk.find(b"\n") == end and chunk[-1] == 10 and 13 not in chunk and end <= self._one_line:
                payload = chunk[6:end]
                if payload.strip() == b"[DONE]":
                    self.done = True
                    return [SSEEvent(payload, t, None, self._id, True)]
                return [SSEEvent(payload, t, None, self._id, False)]
        if self._cr:
            self._cr = False
            if chunk[0] == 10:  # the LF of a CRLF split across chunks
                chunk = chunk[1:]
                if not chunk:
                    return []
        if 13 in chunk:  # CR: CRLF and a lone CR end a line like LF
            self._cr = chunk[-1] == 13
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = chunk.split(b"\n")
        rest = lines.pop()  # what follows the last line end: the start of a line still to come
        out: list[SSEEvent] = []
        if lines:
            if self._part:
                self._part.append(lines[0])
                lines[0] = b"".join(self._part)
                self._part = []
                self._part_len = 0
            data = self._data
            size = self._size
            max_line = self.max_line
            for line in lines:
                if line:
                    n = len(line)
                    if n > max_line:
                        raise SSETooLarge("line", max_line)
                    size += n + 1
                    if line[:6] == b"data: ":  # the usual line, first
                        data.append(line[6:])
                    elif line[0] != 58:  # b":" starts a comment (a keep-alive), skipped
                        self._field(line)
                    continue
                # a blank line ends the event
                if size > self.max_event:
                    raise SSETooLarge("event", self.max_event)
                size = 0
                if data:
                    payload = data[0] if len(data) == 1 else b"\n".join(data)
                    data.clear()
                    event = SSEEvent(payload, t, self._type, self._id, False)
                    self._type = None
                    out.append(event)
                    if payload.strip() == b"[DONE]":
                        event.done = self.done = True
                        self._part = []
                        self._size = 0
                        return out
                elif self._type is not None:
                    self._type = None
            self._size = size
        if rest:
            if len(rest) + self._part_len > self.max_line:
                raise SSETooLarge("line", self.max_line)
            self._part.append(rest)
            self._part_len += len(rest)
        if self._size + self._part_len > self.max_event:
            raise SSETooLarge("event", self.max_event)
        return out

    def _field(self, line: bytes) -> None:
        """A line other than ``data: ...`` and comments (``data:x``, ``event:``, ``id:``, ``retry:``, others)."""
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._type = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
        elif self.strict and name not in _FIELDS:
            raise SSEError(f"malformed SSE line: {line[:_EXCERPT]!r}")

    def close(self, t: float) -> list[SSEEvent]:
        """The body ended at time ``t``: the events still held (an event without its blank line, a last line
        without its end), as they are. Trailing whitespace after the last event is not a line."""
        if self.done:
            return []
        if self._part and not b"".join(self._part).strip():
            self._part = []
            self._part_len = 0
        events = self.feed(t, b"\n\n")
        self._data.clear()
        self._size = 0
        return events


@dataclass(slots=True)
class ChoiceDelta:
    """What one choice of a stream event adds: ``content`` and ``reasoning`` (None when empty), its
    ``finish_reason`` (None until it finishes), and ``tool_call`` for a delta that calls a tool instead."""

    index: int
    content: str | None
    reasoning: str | None
    finish_reason: str | None
    tool_call: bool


@dataclass(slots=True)
class StreamDelta:
    """One stream event read: its ``choices``, its ``usage`` report as sent (None when absent or empty) and the
    message of an ``error`` the server put in the stream (None when there is none; then there are no choices)."""

    choices: list[ChoiceDelta]
    usage: Any
    error: str | None


_NO_CHOICES: list[ChoiceDelta] = []  # shared by events without choices: never appended to
_EMPTY: dict[str, Any] = {}  # a choice without a delta: never written to


def read_delta(obj: dict[str, Any], max_choices: int, *, chat: bool = True) -> StreamDelta:
    """One event's JSON object as a :class:`StreamDelta`: ``chat`` for ``/chat/completions`` (the choice's
    ``delta`` holds ``content``), else ``/completions`` (the choice holds ``text``).

    Content and reasoning given as a list of parts are joined (parts without text skipped); a string is passed
    on as it is (a surrogate pair split across events is joined by whoever assembles the text). Raises
    :class:`DeltaTooLarge` for more than ``max_choices`` choices or an index at or past it, and
    :class:`DeltaRefused` for a field of the wrong type (its ``what`` is "malformed stream event", its
    ``detail`` names the field)."""
    usage = obj.get("usage") or None
    if obj.get("error"):
        return StreamDelta(_NO_CHOICES, usage, _message_of(obj))
    choices = obj.get("choices")
    if not choices:
        return StreamDelta(_NO_CHOICES, usage, None)
    out = []
    k = 0
    try:
        if choices.__class__ is not list or len(choices) > max_choices:
            _checked_choices(choices, max_choices)  # raises
        for choice in choices:  # per token: kept inline, with the helpers for what is refused
            if choice.__class__ is not dict:
                raise _Malformed(f"choices[{k}]", "an object", choice)
            index = choice.get("index")
            if index is None:
                index = k
            elif index.__class__ is not int or not 0 <= index < max_choices:
                _index(index, k, max_choices)  # raises
            if chat:
                delta = choice.get("delta")
                if delta is None:
                    delta = _EMPTY
                elif delta.__class__ is not dict:
                    raise _Malformed(f"choices[{k}].delta", "an object", delta)
                content = delta.get("content")
            else:
                delta = choice
                content = choice.get("text")
            reasoning = delta.get(_REASONING) or delta.get(_REASONING_ALT)  # reasoning_field(), inline
            tool = (
                chat and not content and not reasoning and bool(delta.get("tool_calls") or delta.get("function_call"))
            )
            if not content:
                content = None
            elif content.__class__ is not str:
                content = _as_text(content, k, "delta.content" if chat else "text")
            if not reasoning:
                reasoning = None
            elif reasoning.__class__ is not str:
                name = reasoning_field(delta)[1]
                reasoning = _as_text(reasoning, k, "delta." + name if chat else name)
            finish = choice.get("finish_reason")
            if not finish:
                finish = None
            elif finish.__class__ is not str:
                raise _Malformed(f"choices[{k}].finish_reason", "a string", finish)
            out.append(ChoiceDelta(index, content, reasoning, finish, tool))
            k += 1
    except _Malformed as exc:
        exc.what = "malformed stream event"
        raise
    return StreamDelta(out, usage, None)
