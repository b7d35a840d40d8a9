"""Where a load test's prompts come from: synthetic text of one length, lengths drawn from real conversations,
or the prompts of a benchmark.

One fixed prompt length measures one point. Real traffic mixes short questions with long pasted documents and
asks for replies of every length, which is what a server's batching and prefill actually face; the bundled
``chat`` profile holds the (prompt, reply) lengths of 1,305 real conversations (``tools/length_profile.py``
builds it from Arena-Hard and AlpacaEval), and ``benchmark:NAME`` sends the exact messages an evaluation of
NAME would send.

Every source is a function of the seed: each stage of a run, and each rerun, sends the same prompts in the
same order, so that two endpoints or two settings are compared on the same load.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from tianping.serving.load import TOKENS_PER_WORD, PromptFactory, nonce_tag, shared_prefix, synthetic_prompt

BUNDLED_PROFILES = ("chat",)
MAX_PROFILE_BYTES = 64 << 20


class PromptSetError(ValueError):
    """A prompt source that cannot be used; the message names the flag, file or field."""


@dataclass(frozen=True)
class Prompt:
    messages: list[dict[str, str]]
    max_tokens: int | None = None
    """The reply length this prompt asks for (a profile's real reply length), or None for the run's own."""


class PromptSource(Protocol):
    description: str

    def stream(self, seed: int) -> Iterator[Prompt]: ...


def _tag(nonce: bool, rng: random.Random, count: int) -> str:
    # the same tag as PromptFactory's, so caches see the same kind of unique first tokens
    return f"[{nonce_tag(count, rng)}] " if nonce else ""


@dataclass(frozen=True)
class SyntheticPrompts:
    """Synthetic words, ``words`` of them in every prompt."""

    words: int = 128
    nonce: bool = True
    shared_prefix_words: int = 0

    @property
    def description(self) -> str:
        return f"synthetic ({self.words} words)"

    def stream(self, seed: int) -> Iterator[Prompt]:
        factory = PromptFactory(self.words, self.nonce, seed, self.shared_prefix_words)
        while True:
            yield Prompt([{"role": "user", "content": factory.next()}])


@dataclass(frozen=True)
class LengthProfile:
    name: str
    pairs: tuple[tuple[int, int], ...]
    """(prompt words, reply words) of each conversation."""

    def quantiles(self) -> dict[str, dict[str, float]]:
        """Median, p90 and maximum of each side, for the run's record."""
        out: dict[str, dict[str, float]] = {}
        for side, values in (("prompt_words", [p for p, _ in self.pairs]), ("reply_words", [r for _, r in self.pairs])):
            ordered = sorted(values)
            out[side] = {
                "p50": float(ordered[len(ordered) // 2]),
                "p90": float(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]),
                "max": float(ordered[-1]),
            }
        return out


@dataclass(frozen=True)
class ProfilePrompts:
    """Synthetic words at lengths drawn (seeded, with replacement) from a profile's real conversations; with
    ``replies``, each request also asks for its conversation's reply length as ``max_tokens``."""

    profile: LengthProfile
    nonce: bool = True
    shared_prefix_words: int = 0
    replies: bool = True

    @property
    def description(self) -> str:
        return f"profile:{self.profile.name} ({len(self.profile.pairs)} conversations)"

    def stream(self, seed: int) -> Iterator[Prompt]:
        rng = random.Random(f"profile-{seed}")
        prefix = shared_prefix(self.shared_prefix_words, seed)
        count = 0
        while True:
            count += 1
            prompt_words, reply_words = rng.choice(self.profile.pairs)
            text = prefix + _tag(self.nonce, rng, count) + synthetic_prompt(max(1, prompt_words), rng)
            max_tokens = max(1, round(reply_words * TOKENS_PER_WORD)) if self.replies else None
            yield Prompt([{"role": "user", "content": text}], max_tokens)


@dataclass(frozen=True)
class FixedPrompts:
    """Given chat prompts (a benchmark's), in a seeded order, each used once before any repeats."""

    name: str
    prompts: tuple[tuple[tuple[str, str], ...], ...]
    """Each prompt's messages as (role, content) pairs."""
    nonce: bool = True
    shared_prefix_words: int = 0

    @property
    def description(self) -> str:
        return f"{self.name} ({len(self.prompts)} prompts)"

    def stream(self, seed: int) -> Iterator[Prompt]:
        rng = random.Random(f"prompts-{seed}")
        prefix = shared_prefix(self.shared_prefix_words, seed)
        order = list(range(len(self.prompts)))
        count = 0
        while True:
            rng.shuffle(order)
            for i in order:
                count += 1
                messages = [{"role": role, "content": content} for role, content in self.prompts[i]]
                # the tag and the shared block go where a cache would look first: the first message
                messages[0]["content"] = prefix + _tag(self.nonce, rng, count) + messages[0]["content"]
                yield Prompt(messages)


def load_profile(ref: str) -> LengthProfile:
    """A bundled profile by name (``chat``) or a JSON file ``{"pairs": [[prompt_words, reply_words], ...]}``."""
    if ref in BUNDLED_PROFILES:
        text = resources.files("tianping.serving").joinpath("profiles", f"{ref}.json").read_text("utf-8")
        where = f"bundled profile {ref!r}"
    else:
        path = Path(ref).expanduser()
        if not path.is_file():
            raise PromptSetError(
                f"--prompts profile:{ref}: no such file, and not a bundled profile ({', '.join(BUNDLED_PROFILES)})"
            )
        if path.stat().st_size > MAX_PROFILE_BYTES:
            raise PromptSetError(f"{path}: larger than {MAX_PROFILE_BYTES >> 20} MiB")
        text, where = path.read_text("utf-8"), str(path)
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PromptSetError(f"{where}: not JSON (line {exc.lineno}: {exc.msg})") from None
    pairs = data.get("pairs") if isinstance(data, dict) else None
    if not isinstance(pairs, list) or not pairs:
        raise PromptSetError(f"{where}: field 'pairs' must be a non-empty list of [prompt_words, reply_words]")
    checked = []
    for i, pair in enumerate(pairs):
        ok = isinstance(pair, list) and len(pair) == 2
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1_000_000 for v in pair)
        if not ok:
            raise PromptSetError(f"{where}: pairs[{i}] must be two whole numbers of words from 0 to 1000000")
        checked.append((pair[0], pair[1]))
    name = data.get("name") if isinstance(data.get("name"), str) else Path(ref).stem
    return LengthProfile(name, tuple(checked))


def benchmark_prompts(name: str, data_dir: Path, *, limit: int | None = None) -> FixedPrompts:
    """The chat messages an evaluation of ``name`` sends (few-shot examples and templates included)."""
    from tianping.benchmarks import registry
    from tianping.benchmarks.errors import BenchmarkDefinitionError, DatasetError, UnknownBenchmark

    prompts: list[tuple[tuple[str, str], ...]] = []
    try:
        for bench in registry.build(name, data_dir):
            bench.load(limit)
            params = bench.generation
            for sample in bench.samples:
                request = bench.build_request(sample, "loadtest", params)
                if request.messages is not None:
                    prompts.append(tuple((m.role, m.content) for m in request.messages))
                elif request.prompt is not None:
                    prompts.append((("user", request.prompt),))
    except (BenchmarkDefinitionError, DatasetError, UnknownBenchmark) as exc:
        raise PromptSetError(f"--prompts benchmark:{name}: {exc}") from None
    if not prompts:
        raise PromptSetError(f"--prompts benchmark:{name}: the benchmark has no prompts")
    return FixedPrompts(f"benchmark:{name}", tuple(prompts))


def prompt_source(
    spec: str,
    *,
    words: int,
    nonce: bool,
    shared_prefix_words: int,
    data_dir: Path | None = None,
    limit: int | None = None,
    replies: bool = True,
) -> PromptSource:
    """``synthetic``, ``profile:NAME|FILE`` or ``benchmark:NAME`` (from ``data_dir``)."""
    kind, _, value = spec.partition(":")
    if kind == "synthetic" and not value:
        return SyntheticPrompts(words, nonce, shared_prefix_words)
    if kind == "profile" and value:
        return ProfilePrompts(load_profile(value), nonce, shared_prefix_words, replies)
    if kind == "benchmark" and value:
        if data_dir is None:
            raise PromptSetError("--prompts benchmark:NAME needs a data folder (--data-dir or TIANPING_DATA_DIR)")
        fixed = benchmark_prompts(value, data_dir, limit=limit)
        return FixedPrompts(fixed.name, fixed.prompts, nonce, shared_prefix_words)
    raise PromptSetError(f"--prompts must be synthetic, profile:NAME|FILE or benchmark:NAME, got {spec!r}")


def prompt_lengths(prompts: Sequence[Prompt]) -> list[int]:
    """Words in each prompt's messages, for checking a source against its profile."""
    return [sum(len(m["content"].split()) for m in p.messages) for p in prompts]
