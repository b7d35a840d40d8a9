"""Black-box contamination scores: only the model's generated text is read, so any endpoint will do.

- ``guided`` (guided completion; Golchin and Surdeanu 2024): the item is cut in two near its middle (at a
  space; CJK text at a character) and the model is asked for the second piece. Score: ROUGE-L F1 between
  the continuation (cut to the true piece's length) and the true piece, over lower-cased words, or over
  characters for CJK text.
- ``ts_guess`` (TS-guessing; Deng et al. 2024): a multiple-choice item loses one *wrong* option (the last
  one, so that a completion prompt sees most of the item) and the model must supply it; score: ROUGE-L F1
  of its guess against the hidden option (exact match beside it). Other items lose a key word of the
  question (its longest word of at least four letters, the later one on a tie); score: 1 for the exact
  word, else 0. Nobody can guess a wrong option or an incidental word from the item's logic, only from
  having seen it.
- ``perturb`` (performance drop): the model answers the item and a perturbed copy with a known answer
  (``perturb``: options reordered; numbers of a math problem changed and its answer recomputed). Score:
  correct on the original minus correct on the copy (1, 0 or -1).

Two prompt styles: ``completion`` (a base model: the item's own text is the prompt and the model continues
it) and ``chat`` (an instruction model: the task is explained, as the papers do; ``perturb`` then asks with
the benchmark's own prompt). Items a method cannot handle get no score for it (``None``), never a guess.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tianping.contamination.items import Item, Source
from tianping.contamination.ngram import _is_cjk, significant_chars
from tianping.contamination.perturb import Perturbed, perturb_numbers, raw_rows, shuffle_options
from tianping.contamination.results import ItemResult
from tianping.core import GenerationParams, Message, Request, Sample

METHODS = ("guided", "ts_guess", "perturb")
STYLES = ("completion", "chat")

GUIDED_CHAT = (
    "You are given the first piece of an item from the test split of the {benchmark} benchmark. Complete the "
    "second piece exactly as it appears in the benchmark; rely only on your memory of the original item.\n\n"
    "First piece:\n{first}\n\nSecond piece:"
)
TS_OPTION_CHAT = (
    "One option of this {benchmark} test question is hidden as [MASK]. Reply with the text of option "
    "{letter} only, exactly as it appears in the benchmark.\n\n{masked}"
)
TS_WORD_CHAT = "One word of this {benchmark} test item is hidden as [MASK]. Reply with that one word only.\n\n{masked}"


@dataclass(frozen=True)
class Settings:
    style: str = "completion"
    max_tokens: int = 128
    """Tokens generated for a guided completion or a guess."""
    answer_max_tokens: int = 384
    """Tokens generated for an answer (``perturb``; a worked math solution needs a few hundred)."""
    seed: int = 0
    in_flight: int = 64
    """Requests in flight at once."""


def units(text: str) -> list[str]:
    """What ROUGE-L compares: characters (letters and digits) for CJK text, lower-cased words otherwise."""
    if any(_is_cjk(c) for c in text):
        return list(significant_chars(text))
    return re.findall(r"\w+", text.lower())


def rouge_l(candidate: Sequence[str], reference: Sequence[str]) -> float:
    """ROUGE-L F1: the longest common subsequence's share of both sequences, harmonic mean."""
    if not candidate or not reference:
        return 0.0
    previous = [0] * (len(reference) + 1)
    for c in candidate:
        current = [0]
        for j, r in enumerate(reference):
            current.append(previous[j] + 1 if c == r else max(previous[j + 1], current[j]))
        previous = current
    lcs = previous[-1]
    if not lcs:
        return 0.0
    precision, recall = lcs / len(candidate), lcs / len(reference)
    return 2 * precision * recall / (precision + recall)


def split_item(text: str) -> tuple[str, str] | None:
    """(first piece, second piece), cut near the middle: at a space, or at a character in CJK text."""
    middle = len(text) // 2
    if any(_is_cjk(c) for c in text):
        return (text[:middle], text[middle:]) if 0 < middle < len(text) else None
    spaces = [m.start() for m in re.finditer(r"\s", text)]
    if not spaces:
        return None
    cut = min(spaces, key=lambda i: abs(i - middle))
    first, second = text[:cut], text[cut:]
    return (first, second) if first.strip() and second.strip() else None


def item_seed(item: Item, seed: int) -> int:
    """A seed per item that does not depend on the order or the subset of items checked."""
    digest = hashlib.blake2b(f"{seed}:{item.origin}:{item.id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass
class _Ask:
    """The requests one method makes for one item, and how their answers become a score."""

    method: str
    requests: list[Request]
    finish: Callable[[list[str]], tuple[float | None, dict[str, Any]]]


class _Planner:
    def __init__(self, model_id: str, sources: dict[str, Source], settings: Settings):
        self.model_id = model_id
        self.sources = sources
        self.s = settings
        self._raw: dict[str, dict[int, str]] = {}

    def request(self, text: str, *, chat: bool, max_tokens: int, stop: tuple[str, ...] = ()) -> Request:
        params = GenerationParams(temperature=0.0, max_tokens=max_tokens, stop=stop)
        if chat:
            return Request(model=self.model_id, messages=(Message("user", text),), params=params)
        return Request(model=self.model_id, prompt=text, params=params)

    def guided(self, item: Item) -> _Ask | None:
        pieces = split_item(item.text)
        if pieces is None:
            return None
        first, second = pieces
        chat = self.s.style == "chat"
        prompt = GUIDED_CHAT.format(benchmark=item.benchmark, first=first) if chat else first
        truth = units(second)

        def finish(replies: list[str]) -> tuple[float | None, dict[str, Any]]:
            said = units(replies[0])[: len(truth)]
            return rouge_l(said, truth), {"guided_continuation": replies[0][:300]}

        return _Ask("guided", [self.request(prompt, chat=chat, max_tokens=self.s.max_tokens)], finish)

    def ts_guess(self, item: Item) -> _Ask | None:
        sample = item.sample
        chat = self.s.style == "chat"
        if sample is not None and isinstance(sample.fields.get("choices"), list):
            return self._hidden_option(item, sample, chat)
        return self._hidden_word(item, chat)

    def _hidden_option(self, item: Item, sample: Sample, chat: bool) -> _Ask | None:
        choices = sample.fields["choices"]
        letters = sample.fields.get("letters") or [chr(ord("A") + i) for i in range(len(choices))]
        if sample.target not in letters or len(letters) != len(choices):
            return None
        wrong = [i for i, letter in enumerate(letters) if letter != sample.target and str(choices[i]).strip()]
        if not wrong:
            return None
        hidden = wrong[-1]
        letter, option = letters[hidden], str(choices[hidden])
        line = f"{letter}. {option}"
        at = item.question.find(line)
        if at < 0:
            return None  # the question does not print its options as "X. text": nothing to hide
        if chat:
            masked = item.question[:at] + f"{letter}. [MASK]" + item.question[at + len(line) :]
            prompt = TS_OPTION_CHAT.format(benchmark=item.benchmark, letter=letter, masked=masked)
        else:
            prompt = item.question[: at + len(letter) + 2]
        truth = units(option)

        def finish(replies: list[str]) -> tuple[float | None, dict[str, Any]]:
            guess = replies[0].strip().split("\n")[0].strip().strip("\"'“”")
            guess = re.sub(rf"^(?:option\s+)?{re.escape(letter)}[.:：)]\s*", "", guess, flags=re.IGNORECASE)
            exact = units(guess) == truth
            return rouge_l(units(guess), truth), {"ts_hidden": option, "ts_guess": guess[:200], "ts_exact": exact}

        stop = () if chat else ("\n",)
        return _Ask(
            "ts_guess", [self.request(prompt, chat=chat, max_tokens=min(64, self.s.max_tokens), stop=stop)], finish
        )

    def _hidden_word(self, item: Item, chat: bool) -> _Ask | None:
        if any(_is_cjk(c) for c in item.question):
            return None  # no word boundaries to hide a word between
        words = [m for m in re.finditer(r"[A-Za-z]{4,}", item.question)]
        if len(words) < 2:
            return None
        best = max(words[1:], key=lambda m: (len(m.group()), m.start()))  # never the very first word
        word = best.group()
        if chat:
            masked = item.question[: best.start()] + "[MASK]" + item.question[best.end() :]
            prompt = TS_WORD_CHAT.format(benchmark=item.benchmark, masked=masked)
        else:
            prompt = item.question[: best.start()].rstrip(" ")

        def finish(replies: list[str]) -> tuple[float | None, dict[str, Any]]:
            found = re.findall(r"[^\W\d_]+", replies[0])
            guess = found[0] if found else ""
            return float(guess.lower() == word.lower()), {"ts_hidden": word, "ts_guess": guess}

        return _Ask("ts_guess", [self.request(prompt, chat=chat, max_tokens=8)], finish)

    def perturb(self, item: Item) -> _Ask | None:
        sample, source = item.sample, self.sources.get(item.origin)
        if sample is None or source is None:
            return None
        copy = self._copy(item, sample, source)
        if copy is None:
            return None
        multiple_choice = isinstance(sample.fields.get("choices"), list)
        requests = [self._answer_request(item, s, source, multiple_choice) for s in (sample, copy.sample)]

        def finish(replies: list[str]) -> tuple[float | None, dict[str, Any]]:
            original = _correct(replies[0], sample, multiple_choice)
            changed = _correct(replies[1], copy.sample, multiple_choice)
            repeated = _correct(replies[1], sample, multiple_choice)  # the copy answered with the original's answer
            values = {
                "perturb_change": copy.change,
                "original_correct": original,
                "perturbed_correct": changed,
                "perturbed_gave_original_answer": repeated,
            }
            return float(original) - float(changed), values

        return _Ask("perturb", requests, finish)

    def _copy(self, item: Item, sample: Sample, source: Source) -> Perturbed | None:
        seed = item_seed(item, self.s.seed)
        if isinstance(sample.fields.get("choices"), list):
            return shuffle_options(sample, seed)
        line = sample.meta.get("line")
        if not isinstance(line, int):
            return None
        if item.origin not in self._raw:
            path = source.dataset_file(item.origin)
            self._raw[item.origin] = raw_rows(path) if path is not None and path.suffix == ".jsonl" else {}
        raw = self._raw[item.origin].get(line)
        return perturb_numbers(sample, raw, seed) if raw is not None else None

    def _answer_request(self, item: Item, sample: Sample, source: Source, multiple_choice: bool) -> Request:
        if self.s.style == "chat":
            bench = source.benchmarks[item.origin]
            params = GenerationParams(temperature=0.0, max_tokens=self.s.answer_max_tokens)
            return bench.build_request(sample, self.model_id, params)
        question = source.question(item.origin, sample)
        prompt = question if not question or question[-1].isspace() or question[-1] in ":：" else question + "\n"
        if multiple_choice:
            return self.request(prompt, chat=False, max_tokens=8, stop=("\n",))
        return self.request(prompt, chat=False, max_tokens=self.s.answer_max_tokens, stop=("\n\n",))


def _correct(reply: str, sample: Sample, multiple_choice: bool) -> bool:
    if multiple_choice:
        from tianping.scoring.choice import extract_choice, option_labels

        return extract_choice(reply, sample.fields["choices"], option_labels(sample.fields)) == sample.target
    from tianping.scoring.extract import extract_final_number, numbers_equal

    found = extract_final_number(reply)
    return found is not None and bool(numbers_equal(found, sample.target))


async def black_box(
    items: Sequence[Item],
    backend: Any,
    model_id: str,
    sources: dict[str, Source],
    methods: Sequence[str] = METHODS,
    settings: Settings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[ItemResult]:
    """Every method's score for every item. A request that fails for good leaves that item's score of that
    method empty (``values[<method>_error]`` says why); a fatal error (wrong key or model) stops the check."""
    from tianping.models.errors import ModelError

    s = settings or Settings()
    if s.style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, got {s.style!r}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown black-box method {unknown[0]!r} (known: {', '.join(METHODS)})")
    planner = _Planner(model_id, sources, s)
    results = [ItemResult(item, {m: None for m in methods}, {}) for item in items]
    asks: list[tuple[int, _Ask]] = []
    for index, item in enumerate(items):
        for method in methods:
            ask = getattr(planner, method)(item)
            if ask is not None:
                asks.append((index, ask))
    total = sum(len(a.requests) for _, a in asks)
    gate = asyncio.Semaphore(max(1, s.in_flight))
    done = 0

    async def send(request: Request) -> str:
        nonlocal done
        async with gate:
            response = await backend.generate(request)
        done += 1
        if progress is not None:
            progress(done, total)
        return response.first.text if response.completions else ""

    async def run(index: int, ask: _Ask) -> None:
        try:
            replies = list(await asyncio.gather(*(send(r) for r in ask.requests)))
        except ModelError as exc:
            if exc.fatal:
                raise
            results[index].values[f"{ask.method}_error"] = str(exc)
            return
        score, values = ask.finish(replies)
        results[index].scores[ask.method] = score
        results[index].values.update(values)

    await asyncio.gather(*(run(i, a) for i, a in asks))
    return results
