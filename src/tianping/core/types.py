"""The records that flow through an evaluation: Sample -> Request -> Response -> Score.

They are frozen dataclasses with JSON-friendly fields so that they can be hashed, stored and
re-read without a schema of their own.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from tianping.core.media import ImagePart, MediaPart, content_payload, images_of

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    """An assistant turn's calls through the tools API, sent as its ``tool_calls``; () for a text turn."""
    tool_call_id: str | None = None
    """A ``tool`` message: the id of the call whose result it holds."""
    parts: tuple[MediaPart, ...] = ()
    """Images, video frames and interleaved text beside ``content`` (``tianping.core.media``); () for text only,
    whose payload (and key) is then what it was before images existed."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One item of a benchmark: its inputs, its reference answer and where it came from."""

    id: str
    """Stable within a benchmark (e.g. ``"abstract_algebra/17"``); the unit of resume and pairing."""
    fields: dict[str, Any]
    """Values the prompt template can use (question, choices, ...)."""
    target: str
    """The reference answer in the form the extractor produces (``"18"``, ``"B"``)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Grouping keys for breakdowns (subject, category) and provenance (file, line)."""
    media: tuple[MediaPart, ...] = ()
    """Images (or video frames) the question is about: they go with the question's user message."""


@dataclass(frozen=True, slots=True)
class GenerationParams:
    temperature: float | None = 0.0
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    n: int = 1

    def to_payload(self) -> dict[str, Any]:
        """The OpenAI-style request fields these parameters set; unset ones are left out."""
        out: dict[str, Any] = {}
        for name in ("temperature", "top_p", "max_tokens", "seed"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.stop:
            out["stop"] = list(self.stop)
        if self.n != 1:
            out["n"] = self.n
        return out


# made once: json.dumps with any option builds a new encoder per call, and a request is encoded twice
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
_PLAIN = json.JSONEncoder(ensure_ascii=False)
"""The key's encoding (sorted, compact) and the stored payload's (``json.dumps(x, ensure_ascii=False)``)."""


@dataclass(frozen=True, slots=True)
class Request:
    """What is sent to a model."""

    model: str
    messages: tuple[Message, ...] | None = None
    prompt: str | None = None
    params: GenerationParams = field(default_factory=GenerationParams)
    continuations: tuple[str, ...] | None = None
    """A log-likelihood request: score each continuation after ``prompt`` instead of generating; after
    ``messages``, the chat rendered by the model's chat template with the generation prompt appended.
    Generation parameters do not apply and are left out of the payload (and so of the key)."""
    tools: str | None = None
    """OpenAI function specs (``[{"type": "function", "function": {...}}, ...]``) as JSON text (hashable, and
    byte-for-byte what is keyed); chat only. Sent as the payload's ``tools`` and keyed only when set."""
    tool_choice: str | None = None
    """``auto``, ``none``, ``required``, or a JSON object naming one function; keyed only when set."""

    @property
    def kind(self) -> Literal["chat", "completion", "loglikelihood"]:
        if self.continuations is not None:
            return "loglikelihood"
        return "chat" if self.messages is not None else "completion"

    key: str = field(init=False, repr=False, compare=False, default="")
    """SHA-256 of the model id and the payload: the content address used by the journal and the cache."""
    payload_json: str = field(init=False, repr=False, compare=False, default="")
    """The payload as JSON, as stored with the sample."""
    _payload: dict[str, Any] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("a Request has either messages (chat) or a prompt (completion)")
        body: dict[str, Any] = {}
        if self.messages is not None:
            body["messages"] = [_message_payload(m) for m in self.messages]
        else:
            body["prompt"] = self.prompt
        if self.continuations is not None:
            body["continuations"] = list(self.continuations)
        else:
            body.update(self.params.to_payload())
        if self.tools is not None or self.tool_choice is not None:
            _add_tools(body, self)
        canonical = _CANONICAL.encode({"model": self.model, "payload": body})
        # computed once: the key, the stored prompt and the body sent all derive from the same payload
        object.__setattr__(self, "_payload", body)
        object.__setattr__(self, "payload_json", _PLAIN.encode(body))
        object.__setattr__(self, "key", hashlib.sha256(canonical.encode("utf-8")).hexdigest())

    def payload(self) -> dict[str, Any]:
        """The content of the request without the model id (a fresh dict the caller may extend)."""
        return dict(self._payload)

    def images(self) -> dict[str, ImagePart]:
        """The images its messages carry (video frames included) by SHA-256; {} for a text request."""
        found: dict[str, ImagePart] = {}
        for message in self.messages or ():
            for image in images_of(message.parts):
                if image.data:
                    found.setdefault(image.sha256, image)
        return found


def _message_payload(m: Message) -> dict[str, Any]:
    """A message as the chat API takes it; the tool fields are keyed only when set, so that a text conversation's
    payload (and key) is what it was before they existed."""
    if m.parts:
        # images by content hash, never their bytes: the backend puts the bytes in as its API wants them
        return {"role": m.role, "content": content_payload(m.content, m.parts)}
    if not m.tool_calls and m.tool_call_id is None:
        return {"role": m.role, "content": m.content}
    # an assistant turn that only calls tools has null content, as the API documents it
    out: dict[str, Any] = {"role": m.role, "content": m.content if m.content or not m.tool_calls else None}
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    if m.tool_call_id is not None:
        out["tool_call_id"] = m.tool_call_id
    return out


def _add_tools(body: dict[str, Any], request: Request) -> None:
    if request.messages is None or request.continuations is not None:
        raise ValueError("tools and tool_choice go with a chat generation request (messages, no continuations)")
    if request.tools is not None:
        tools = json.loads(request.tools)
        if type(tools) is not list:
            raise ValueError("Request.tools must be the JSON text of a list of tool specs")
        body["tools"] = tools
    if request.tool_choice is not None:
        choice = request.tool_choice
        body["tool_choice"] = json.loads(choice) if choice.lstrip().startswith("{") else choice


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call a model made through the tools API, as the server sent it."""

    name: str
    arguments: str
    """The arguments as the JSON text the server sent (not parsed: a scorer reads it, and may find it broken)."""
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    """One generated choice, with the reasoning kept apart from the answer."""

    text: str
    """The answer part only: reasoning fields and ``<think>`` blocks removed."""
    reasoning: str | None = None
    finish_reason: str | None = None
    incomplete: bool = False
    """True when the model's thinking never ended (no answer part exists to extract from)."""
    raw: str | None = None
    """The content exactly as the server sent it, when it differs from ``text``."""
    tool_calls: tuple[ToolCall, ...] = ()
    """Calls made through the tools API (``message.tool_calls``); () when the answer is text only."""


@dataclass(frozen=True, slots=True)
class LogLikelihood:
    """The log-likelihood of one continuation given a context, as lm-eval computes it."""

    logprob: float
    """Sum of the natural-log probabilities of the continuation's tokens."""
    greedy: bool
    """Every continuation token is the model's most likely next token."""
    tokens: int
    """Length of the continuation in tokens."""
    chars: int = 0
    """Length of the continuation in characters (length normalisation)."""
    bytes: int = 0
    """Length of the continuation in UTF-8 bytes (lm-eval's ``acc_bytes``; its ``acc_norm`` uses characters)."""
    truncated: int = 0
    """Context tokens dropped from the left so that context + continuation fit the model's window."""


@dataclass(frozen=True, slots=True)
class Response:
    """A successful answer from a backend. Failures are raised as ``tianping.models.errors`` types."""

    completions: tuple[Completion, ...]
    latency_s: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    attempts: int = 1
    loglikelihoods: tuple[LogLikelihood, ...] = ()
    """One per continuation of a log-likelihood request (``completions`` is then empty)."""

    @property
    def first(self) -> Completion:
        return self.completions[0]

    def to_json(self) -> str:
        # by hand: dataclasses.asdict deep-copies, and this runs once per answer on the hot path
        completions = [
            {
                "text": c.text,
                "reasoning": c.reasoning,
                "finish_reason": c.finish_reason,
                "incomplete": c.incomplete,
                "raw": c.raw,
                **({"tool_calls": [_call_dict(t) for t in c.tool_calls]} if c.tool_calls else {}),
            }
            for c in self.completions
        ]
        return json.dumps(
            {
                "completions": completions,
                "latency_s": self.latency_s,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "reasoning_tokens": self.reasoning_tokens,
                "attempts": self.attempts,
                **({"loglikelihoods": [_ll_dict(x) for x in self.loglikelihoods]} if self.loglikelihoods else {}),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Response:
        data = json.loads(text)
        data["completions"] = tuple(_completion(c) for c in data["completions"])
        data["loglikelihoods"] = tuple(LogLikelihood(**x) for x in data.get("loglikelihoods", ()))
        return cls(**data)


def _call_dict(call: ToolCall) -> dict[str, Any]:
    return {"name": call.name, "arguments": call.arguments, "id": call.id}


def _completion(data: dict[str, Any]) -> Completion:
    calls = data.pop("tool_calls", None)  # answers stored before tool calls existed have none
    if calls:
        data["tool_calls"] = tuple(ToolCall(**c) for c in calls)
    return Completion(**data)


def _ll_dict(x: LogLikelihood) -> dict[str, Any]:
    return {
        "logprob": x.logprob,
        "greedy": x.greedy,
        "tokens": x.tokens,
        "chars": x.chars,
        "bytes": x.bytes,
        "truncated": x.truncated,
    }


ScoreStatus = Literal["scored", "incomplete", "unscorable", "skipped", "error"]


@dataclass(frozen=True, slots=True)
class Score:
    """The verdict of a scorer on one sample.

    ``value`` is None unless ``status == "scored"``: incomplete reasoning and transport errors are
    not wrong answers and are counted apart.
    """

    value: float | None
    status: ScoreStatus = "scored"
    extracted: str | None = None
    extraction_failed: bool = False
    reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    """Further per-sample metrics in [0, 1] besides ``value`` (e.g. ``pass@5``, ``inst_loose``)."""
    weights: dict[str, float] = field(default_factory=dict)
    """Weight of a metric of ``metrics`` in its mean over samples (default 1): IFEval's instruction-level
    accuracy weights each prompt's fraction by its number of instructions, making the mean a ratio of sums."""
    trajectory: dict[str, Any] | None = None
    """An episode's steps as JSON-able data (an agent task's model turns, tool calls, results and timings),
    stored with the sample and shown in the report; None for a sample answered in one request."""
