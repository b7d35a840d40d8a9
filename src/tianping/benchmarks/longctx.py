"""The ``tp_longctx`` benchmark: generated long documents with facts hidden in them, and the scorer.

Nothing is downloaded and nothing can be memorised: every document is built from a seeded generator (filler
sentences from small bundled word lists, or synthetic records), the facts ("needles") are drawn with the same
seed, and the generator computes every answer. A new seed is a new set.

Tasks, each in English and Chinese and in every length bucket:

* ``single``: one fact (a 7-digit code) at a chosen depth (10%, 50% or 90% of the document);
* ``multi``: 2-6 facts of one kind scattered through the document; the answer is how many there are;
* ``kv``: the document is a list of synthetic records (key -> number); the answer is one key's value, the key at a
  chosen depth;
* ``aggregate``: 3-5 facts with quantities scattered through the document; the answer is their sum.

Lengths are buckets of approximate tokens (2k, 8k, 16k, 32k): a document is filled to 85% of the bucket by
ratios measured with Qwen2.5's tokenizer on generated text (English prose 0.89 words per token, Chinese 1.56
characters per token, a key-value record 14.4 / 16.4 tokens). Other tokenizers count differently: one that splits
Chinese finer makes a Chinese document longer than its bucket. A provider that serves a shorter window than it
claims loses the long buckets and only those; the sample id carries the bucket (:func:`bucket_of`) so that a report can
show it from stored scores alone.

Every answer is a number, scored by value from the reply's final answer (``The answer is N`` / ``答案是 N``).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import LoadedDataset, int_option, known_options, register_loader
from tianping.benchmarks.references import extension
from tianping.core import Response, Sample, Score
from tianping.core.task import ScoringContext

__all__ = ["BUCKETS", "GENERATOR_VERSION", "TASKS", "LongItem", "approx_tokens", "bucket_of", "make_items"]

GENERATOR_VERSION = 1
"""Bump on any change to the generated text or answers: a stored run names the generator it was scored on."""

BUCKETS: dict[str, int] = {"2k": 2048, "8k": 8192, "16k": 16384, "32k": 32768}
"""Bucket name -> nominal context tokens."""
FILL = 0.85
TASKS = ("single", "multi", "kv", "aggregate")
DEPTHS = (0.1, 0.5, 0.9)
LANGS = ("en", "zh")
# measured with Qwen2.5's tokenizer on generated documents (docs/sources/tp_longctx.md); zh: characters per token
_WORDS_PER_TOKEN = {"en": 0.89, "zh": 1.56}
_TOKENS_PER_RECORD = {"en": 14.4, "zh": 16.4}  # a record's random key splits into many tokens

_ID = re.compile(r"^longctx-(en|zh)-([a-z]+)-(\d+k)-")

# filler vocabulary: nothing here is a digit or a needle's key word, so filler never answers a question
_EN = {
    "adj": [
        "quiet",
        "old",
        "narrow",
        "bright",
        "distant",
        "green",
        "heavy",
        "gentle",
        "broad",
        "silent",
        "wooden",
        "pale",
        "warm",
        "cold",
        "tall",
    ],
    "noun": [
        "river",
        "valley",
        "road",
        "garden",
        "window",
        "bridge",
        "forest",
        "harbor",
        "market",
        "field",
        "hill",
        "village",
        "tower",
        "meadow",
    ],
    "verb": [
        "stretched",
        "rested",
        "waited",
        "turned",
        "leaned",
        "drifted",
        "shone",
        "faded",
        "wandered",
        "settled",
        "opened",
        "closed",
    ],
    "prep": ["beside", "near", "under", "across", "behind", "beyond", "along", "toward"],
    "time": ["in the morning", "at dusk", "after the rain", "before noon", "during the winter", "on a calm evening"],
}
_ZH = {
    "adj": ["安静", "古老", "狭窄", "明亮", "遥远", "碧绿", "沉重", "温和", "宽阔", "寂静"],
    "noun": [
        "河流",
        "山谷",
        "小路",
        "花园",
        "窗户",
        "石桥",
        "森林",
        "港口",
        "集市",
        "田野",
        "山丘",
        "村庄",
        "高塔",
        "草地",
    ],
    "verb": ["延伸", "休息", "等待", "转弯", "倾斜", "飘动", "闪耀", "褪色", "徘徊", "停留"],
    "place": ["旁边", "附近", "下面", "对面", "后面", "远处", "一侧"],
    "time": ["清晨", "黄昏", "雨后", "正午之前", "冬天里", "傍晚时分"],
}
_ANIMALS = {
    "en": ["falcon", "otter", "badger", "heron", "lynx", "walrus", "gecko", "marmot"],
    "zh": ["猎鹰", "水獭", "獾", "苍鹭", "猞猁", "海象", "壁虎", "土拨鼠"],
}
_COLORS = {
    "en": ["crimson", "amber", "violet", "silver", "indigo", "scarlet", "teal", "golden"],
    "zh": list("红黄紫银靛绯青金"),
}
_NAMES = {
    "en": ["Adela", "Borin", "Cyrus", "Dagny", "Elio", "Farah", "Gideon", "Hana", "Ivo", "Jora", "Kasimir", "Lysa"],
    "zh": ["林晓", "周岚", "吴桐", "郑苇", "王朔", "冯逸", "陈默", "褚宁", "卫澜", "蒋川", "沈鸥", "韩霁"],
}


@dataclass(frozen=True)
class LongItem:
    id: str
    lang: str
    task: str
    bucket: str
    depth: str
    """``10%``/``50%``/``90%`` for one fact at a depth, ``spread`` for facts scattered through the document."""
    document: str
    question: str
    target: str
    needles: tuple[str, ...]
    """The sentences that hold the answer: a context cut that drops any of them leaves the question unanswerable."""


def bucket_of(sample_id: str) -> str | None:
    """The length bucket of a ``tp_longctx`` sample id (``longctx-en-single-32k-d10-0`` -> ``32k``)."""
    found = _ID.match(sample_id)
    return found.group(3) if found else None


_RECORD = re.compile(r"^(?:record \S+ -> \d+|记录 \S+ 的数值为 \d+)$", re.M)


def approx_tokens(text: str) -> int:
    """Tokens of a generated document by the ratios the generator fills buckets with: records at their
    per-record count, non-ASCII characters (Chinese) at 1.56 per token, other words at 0.89 per token."""
    records_en = sum(1 for m in _RECORD.finditer(text) if m.group().startswith("record"))
    records_zh = sum(1 for m in _RECORD.finditer(text) if not m.group().startswith("record"))
    rest = _RECORD.sub(" ", text)
    wide = sum(1 for ch in rest if ord(ch) > 127 and not ch.isspace())
    words = len(re.sub(r"[^\x00-\x7f]", " ", rest).split())
    tokens = (
        words / _WORDS_PER_TOKEN["en"]
        + wide / _WORDS_PER_TOKEN["zh"]
        + records_en * _TOKENS_PER_RECORD["en"]
        + records_zh * _TOKENS_PER_RECORD["zh"]
    )
    return round(tokens)


def _budget(lang: str, bucket: str) -> int:
    """Words (en) or characters (zh) of filler to reach ``FILL`` of the bucket."""
    return int(BUCKETS[bucket] * FILL * _WORDS_PER_TOKEN[lang])


def _size(text: str, lang: str) -> int:
    return len(text.split()) if lang == "en" else len(text)


def _sentence(rng: random.Random, lang: str) -> str:
    if lang == "en":
        w = {k: rng.choice(v) for k, v in _EN.items()}
        return f"The {w['adj']} {w['noun']} {w['verb']} {w['prep']} the {rng.choice(_EN['noun'])} {w['time']}."
    w = {k: rng.choice(v) for k, v in _ZH.items()}
    return f"{w['time']}，{w['adj']}的{w['noun']}在{rng.choice(_ZH['noun'])}{w['place']}静静地{w['verb']}。"


def _record(rng: random.Random, used: set[str]) -> tuple[str, int]:
    while True:
        key = "".join(rng.choice("abcdefghjkmnpqrstuvwxyz") for _ in range(4)) + "-" + str(rng.randint(100, 999))
        if key not in used:
            used.add(key)
            return key, rng.randint(1000, 9999)


def _fill(rng: random.Random, lang: str, budget: int, needles: list[tuple[float, str]]) -> str:
    """Filler sentences up to ``budget``, with each needle inserted at its depth (a fraction of the filler)."""
    filler: list[str] = []
    size = sum(_size(n, lang) for _, n in needles)
    while size < budget:
        s = _sentence(rng, lang)
        filler.append(s)
        size += _size(s, lang)
    for depth, needle in sorted(needles, key=lambda x: -x[0]):  # deepest first: earlier positions stay valid
        filler.insert(round(depth * len(filler)), needle)
    return (" " if lang == "en" else "").join(filler)


def _scatter(rng: random.Random, k: int) -> list[float]:
    """``k`` depths, one in each of ``k`` equal slices of the document: facts spread from start to end."""
    return [(i + rng.uniform(0.1, 0.9)) / k for i in range(k)]


def _single(rng: random.Random, lang: str, budget: int, depth: float) -> tuple[str, str, str, list[str]]:
    animal, color = rng.choice(_ANIMALS[lang]), rng.choice(_COLORS[lang])
    code = str(rng.randint(1_000_000, 9_999_999))
    if lang == "en":
        needle = f"Remember this: the secret code of the {color} {animal} is {code}."
        question = f"What is the secret code of the {color} {animal}?"
    else:
        needle = f"请记住：{color}色{animal}的密码是{code}。"
        question = f"{color}色{animal}的密码是多少？"
    return _fill(rng, lang, budget, [(depth, needle)]), question, code, [needle]


def _multi(rng: random.Random, lang: str, budget: int) -> tuple[str, str, str, list[str]]:
    k = rng.randint(2, 6)
    names = rng.sample(_NAMES[lang], k)
    if lang == "en":
        needles = [f"A lighthouse keeper named {n} signed the visitors' book." for n in names]
        question = "How many different lighthouse keepers signed the visitors' book in the document above?"
    else:
        needles = [f"一位名叫{n}的灯塔看守人在访客簿上签了名。" for n in names]
        question = "上文中共有多少位不同的灯塔看守人在访客簿上签了名？"
    doc = _fill(rng, lang, budget, list(zip(_scatter(rng, k), needles, strict=True)))
    return doc, question, str(k), needles


def _aggregate(rng: random.Random, lang: str, budget: int) -> tuple[str, str, str, list[str]]:
    k = rng.randint(3, 5)
    names = rng.sample(_NAMES[lang], k)
    amounts = [rng.randint(11, 99) for _ in range(k)]
    if lang == "en":
        needles = [
            f"Shipping log: the warehouse of {n} received {a} crates." for n, a in zip(names, amounts, strict=True)
        ]
        question = "According to the shipping logs in the document above, how many crates were received in total?"
    else:
        needles = [f"运输记录：{n}的仓库收到了{a}箱货物。" for n, a in zip(names, amounts, strict=True)]
        question = "根据上文中的运输记录，所有仓库一共收到了多少箱货物？"
    doc = _fill(rng, lang, budget, list(zip(_scatter(rng, k), needles, strict=True)))
    return doc, question, str(sum(amounts)), needles


def _kv(rng: random.Random, lang: str, budget: int, depth: float) -> tuple[str, str, str, list[str]]:
    used: set[str] = set()
    rows: list[tuple[str, int]] = []
    line = "record {} -> {}" if lang == "en" else "记录 {} 的数值为 {}"
    while len(rows) < budget:
        rows.append(_record(rng, used))
    at = min(len(rows) - 1, round(depth * len(rows)))
    key, value = rows[at]
    lines = [line.format(k, v) for k, v in rows]
    question = f"What is the value of record {key}?" if lang == "en" else f"记录 {key} 的数值是多少？"
    return "\n".join(lines), question, str(value), [lines[at]]


def make_items(seed: int = 0, per_cell: int = 3, buckets: tuple[str, ...] = tuple(BUCKETS)) -> list[LongItem]:
    """Every item of the set: ``per_cell`` items per language, task and bucket; depths cycle through
    ``DEPTHS`` for the tasks with one fact. One random stream per item, so an item does not change when
    ``per_cell`` or ``buckets`` do."""
    out = []
    for lang in LANGS:
        for task in TASKS:
            for bucket in buckets:
                for i in range(per_cell):
                    rng = random.Random(f"tp_longctx/{GENERATOR_VERSION}/{seed}/{lang}/{task}/{bucket}/{i}")
                    budget = _budget(lang, bucket)
                    if task == "kv":
                        budget = int(BUCKETS[bucket] * FILL / _TOKENS_PER_RECORD[lang])  # records, not words
                    depth = DEPTHS[i % len(DEPTHS)]
                    if task == "single":
                        doc, question, target, needles = _single(rng, lang, budget, depth)
                    elif task == "kv":
                        doc, question, target, needles = _kv(rng, lang, budget, depth)
                    elif task == "multi":
                        doc, question, target, needles = _multi(rng, lang, budget)
                    else:
                        doc, question, target, needles = _aggregate(rng, lang, budget)
                    where = f"{round(100 * depth)}%" if task in ("single", "kv") else "spread"
                    tag = f"d{round(100 * depth)}" if task in ("single", "kv") else "spread"
                    out.append(
                        LongItem(
                            id=f"longctx-{lang}-{task}-{bucket}-{tag}-{i}",
                            lang=lang,
                            task=task,
                            bucket=bucket,
                            depth=where,
                            document=doc,
                            question=question,
                            target=target,
                            needles=tuple(needles),
                        )
                    )
    return out


@register_loader("tp_longctx")
def load_tp_longctx(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """The generated set named by the options ``seed``, ``per_cell`` and ``buckets``; ``path`` is not read."""
    known_options(options, ("seed", "per_cell", "buckets"), "tp_longctx")
    seed = int_option(options, "seed", 0, 0, "tp_longctx")
    per_cell = int_option(options, "per_cell", 3, 1, "tp_longctx")
    buckets = options.get("buckets", list(BUCKETS))
    if not isinstance(buckets, list) or not buckets or any(b not in BUCKETS for b in buckets):
        raise DatasetError(f"tp_longctx: option 'buckets' must be a list of {', '.join(BUCKETS)}, got {buckets!r}")
    samples = tuple(
        Sample(
            id=item.id,
            fields={"document": item.document, "question": item.question},
            target=item.target,
            meta={
                # spread (the default --limit) round-robins over these, so a small run sees every bucket
                "subject": f"{item.bucket}/{item.task}/{item.lang}",
                "length": item.bucket,
                "depth": item.depth,
                "task": item.task,
                "lang": item.lang,
                "generator": f"tp_longctx/{GENERATOR_VERSION}",
                "seed": seed,
            },
        )
        for item in make_items(seed, per_cell, tuple(b for b in BUCKETS if b in buckets))
    )
    return LoadedDataset(samples, ())


@extension
def score_tp_longctx(sample: Sample, response: Response, context: ScoringContext | None = None) -> Score:
    """Right when the reply's final number equals the generated answer."""
    from tianping.scoring.extract import extract_final_number

    first = response.first
    if first.incomplete:
        return Score(value=None, status="incomplete", reason="reasoning did not finish before the token limit")
    extracted = extract_final_number(first.text)
    if extracted is None:
        return Score(value=0.0, extracted=None, extraction_failed=True, reason="no number found in output")
    return Score(value=1.0 if extracted == sample.target else 0.0, extracted=extracted)
