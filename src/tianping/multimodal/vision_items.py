"""``tp_vision`` items: what each picture shows and the question about it, drawn from a seeded generator.

An item is pure data (its drawing parameters, the question, the true answer); ``vision_draw`` turns the
parameters into pictures. Each item has its own random stream, seeded by the generator version, the set's seed,
its category, language and index (Python's ``random`` seeded with text is the same on every platform), so a
set is the same everywhere for a version and a seed, a ``--limit`` subset is a subset of the full set, and a new
seed gives a set no model has seen.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

GENERATOR_VERSION = "1"
"""Bumped whenever any item or picture of a given seed would change."""
CATEGORIES = ("chart_bar", "chart_line", "chart_pie", "count", "spatial", "ocr", "clock", "compare", "table")
LANGS = ("en", "zh")

COLORS = {
    "red": ((220, 40, 40), "红色"),
    "blue": ((40, 90, 220), "蓝色"),
    "green": ((30, 160, 60), "绿色"),
    "orange": ((240, 140, 20), "橙色"),
    "purple": ((140, 60, 180), "紫色"),
}
SHAPES = {"circle": "圆形", "square": "正方形", "triangle": "三角形"}
BAR_LABELS = {
    "en": ("Apple", "Banana", "Orange", "Grape", "Melon", "Cherry"),
    "zh": ("苹果", "香蕉", "橙子", "葡萄", "西瓜", "草莓"),
}
LINE_LABELS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
}
PIE_LABELS = {
    "en": ("Transport", "Food", "Housing", "Leisure", "Education"),
    "zh": ("交通", "餐饮", "住房", "娱乐", "教育"),
}
NAMES = {
    "en": ("Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry"),
    "zh": ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强"),
}
TABLE_HEADERS = {"en": ("Name", "Score", "Age"), "zh": ("姓名", "分数", "年龄")}
OCR_LATIN = "ACDEFHJKLMNPRTUVWXY34679"
"""Letters and digits no font confuses with another (no O/0, I/1, S/5, B/8, G/6, Z/2, Q)."""
OCR_CJK = (
    "天地人山水火木金土日月星风云雨雪花草鸟鱼马牛羊春夏秋冬东南西北上下左右大小多少长短高低新旧早晚前后里外开关出入"
)
RENDERED_CJK = "".join(
    sorted(
        {*OCR_CJK, *"".join(BAR_LABELS["zh"] + LINE_LABELS["zh"] + PIE_LABELS["zh"] + NAMES["zh"])}
        | set("".join(TABLE_HEADERS["zh"]))
    )
)
"""Every CJK character a picture can show: the bundled font must have each (a test checks)."""


@dataclass(frozen=True)
class VisionItem:
    id: str
    category: str
    lang: str
    question: str
    target: str
    answer_type: str
    """``number`` (within ``tolerance``), ``text`` (exact), ``choice`` (a letter) or ``time`` (H:MM)."""
    params: dict[str, Any]
    """What ``vision_draw.render`` draws (JSON-able)."""
    tolerance: float = 0.0
    choices: tuple[str, ...] = ()
    images: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def _color_name(color: str, lang: str) -> str:
    return color if lang == "en" else COLORS[color][1]


def _shape_name(shape: str, lang: str) -> str:
    return shape if lang == "en" else SHAPES[shape]


def _number_hint(lang: str) -> str:
    return "Answer with a number only." if lang == "en" else "请只回答一个数字。"


def _choice_question(lang: str, stem: str, options: tuple[str, ...]) -> str:
    lines = [stem, *(f"{letter}. {text}" for letter, text in zip("ABCD", options, strict=False))]
    lines.append("Answer with the option's letter." if lang == "en" else "请只回答选项字母。")
    return "\n".join(lines)


def _bar(rng: random.Random, lang: str) -> tuple[dict[str, Any], str, str, float]:
    labels = rng.sample(BAR_LABELS[lang], rng.randint(4, 6))
    values = [rng.randint(1, 20) for _ in labels]
    pick = rng.randrange(len(labels))
    if lang == "en":
        q = f'In the bar chart, what is the value of the bar labelled "{labels[pick]}"? {_number_hint(lang)}'
    else:
        q = f"在这张柱状图中，标签为“{labels[pick]}”的柱子的数值是多少？{_number_hint(lang)}"
    return {"labels": labels, "values": values, "color": rng.choice(list(COLORS))}, q, str(values[pick]), 1.0


def _line(rng: random.Random, lang: str) -> tuple[dict[str, Any], str, str, float]:
    n = rng.randint(5, 7)
    labels = list(LINE_LABELS[lang][:n])
    values = [5 * rng.randint(0, 10) for _ in labels]
    pick = rng.randrange(n)
    if lang == "en":
        q = f'In the line chart, what is the value at "{labels[pick]}"? {_number_hint(lang)}'
    else:
        q = f"在这张折线图中，“{labels[pick]}”对应的数值是多少？{_number_hint(lang)}"
    return {"labels": labels, "values": values, "color": rng.choice(list(COLORS))}, q, str(values[pick]), 2.0


def _pie(rng: random.Random, lang: str) -> tuple[dict[str, Any], str, str, float]:
    n = rng.randint(3, 5)
    labels = rng.sample(PIE_LABELS[lang], n)
    # shares in steps of 5%, each at least 10%, summing to 100
    cuts = sorted(rng.sample(range(2, 19), n - 1))
    while any(b - a < 2 for a, b in zip([0, *cuts], [*cuts, 20], strict=True)):
        cuts = sorted(rng.sample(range(2, 19), n - 1))
    shares = [5 * (b - a) for a, b in zip([0, *cuts], [*cuts, 20], strict=True)]
    pick = rng.randrange(n)
    if lang == "en":
        q = f'In the pie chart, what percentage of the whole is "{labels[pick]}"? {_number_hint(lang)}'
    else:
        q = f"在这张饼图中，“{labels[pick]}”占整体的百分之几？{_number_hint(lang)}"
    colors = rng.sample(list(COLORS), n)
    return {"labels": labels, "values": shares, "colors": colors}, q, str(shares[pick]), 3.0


def _grid_cells(rng: random.Random, count: int, side: int = 5) -> list[tuple[int, int]]:
    """Distinct cells of a side x side grid: objects that never overlap, so that counting is unambiguous."""
    return rng.sample([(r, c) for r in range(side) for c in range(side)], count)


def _count(rng: random.Random, lang: str) -> tuple[dict[str, Any], str, str, float]:
    color, other = rng.sample(list(COLORS), 2)
    shape = rng.choice(list(SHAPES))
    n, distractors = rng.randint(2, 12), rng.randint(1, 6)
    cells = _grid_cells(rng, n + distractors)
    objects = [[r, c, color, shape] for r, c in cells[:n]]
    objects += [[r, c, other, rng.choice(list(SHAPES))] for r, c in cells[n:]]
    noun = f"{_color_name(color, lang)} {_shape_name(shape, lang)}s" if lang == "en" else None
    if lang == "en":
        q = f"How many {noun} are there in the image? {_number_hint(lang)}"
    else:
        q = f"图中有多少个{_color_name(color, lang)}的{_shape_name(shape, lang)}？{_number_hint(lang)}"
    return {"objects": objects}, q, str(n), 0.0


_RELATIONS = ("left", "right", "above", "below")


def _spatial(rng: random.Random, lang: str) -> tuple[dict[str, Any], str, str, float]:
    (c1, c2), (s1, s2) = rng.sample(list(COLORS), 2), rng.sample(list(SHAPES), 2)
    relation = rng.choice(_RELATIONS)
    # far apart along one axis, close along the other: only one of the four relations holds
    near, far = rng.randint(100, 200), rng.randint(50, 90)
    offset = rng.randint(-15, 15)
    a, b = (near - far, near + far) if relation in ("left", "above") else (near + far, near - far)
    if relation in ("left", "right"):
        first, second = [a, 150 + offset], [b, 150 - offset]
    else:
        first, second = [150 + offset, a], [150 - offset, b]
    o1 = f"the {c1} {s1}" if lang == "en" else f"{_color_name(c1, lang)}{_shape_name(s1, lang)}"
    o2 = f"the {c2} {s2}" if lang == "en" else f"{_color_name(c2, lang)}{_shape_name(s2, lang)}"
    if lang == "en":
        stem = f"Where is {o1} relative to {o2}?"
        options = ("to the left of it", "to the right of it", "above it", "below it")
    else:
        stem = f"{o1}在{o2}的什么位置？"
        options = ("左边", "右边", "上方", "下方")
    params = {"shapes": [[*first, c1, s1], [*second, c2, s2]]}
    return params, _choice_question(lang, stem, options), "ABCD"[_RELATIONS.index(relation)], 0.0


def _ocr(rng: random.Random, lang: str) -> tuple[dict[str, Any], str, str, float]:
    if lang == "en":
        text = "".join(rng.choice(OCR_LATIN) for _ in range(6))
        q = "What text is written in the image? Answer with the text only."
    else:
        text = "".join(rng.choice(OCR_CJK) for _ in range(4))
        q = "图中写的是什么字？请只回答这些字。"
    return {"text": text, "tilt": rng.randint(-8, 8)}, q, text, 0.0


def _clock(rng: random.Random, lang: str) -> tuple[dict[str, Any], str, str, float]:
    hour, minute = rng.randint(1, 12), 5 * rng.randint(0, 11)
    if lang == "en":
        q = "What time does the clock show? Answer in the form H:MM (12-hour clock)."
    else:
        q = "图中的钟表显示的是几点几分？请按 H:MM 的格式回答（12 小时制）。"
    return {"hour": hour, "minute": minute}, q, f"{hour}:{minute:02d}", 0.0


def _compare(rng: random.Random, lang: str) -> tuple[dict[str, Any], str, str, float]:
    first, second = rng.sample(range(3, 16), 2)
    color = rng.choice(list(COLORS))
    params = {"counts": [first, second], "color": color, "cells": [_grid_cells(rng, first), _grid_cells(rng, second)]}
    if lang == "en":
        stem = "Two images are given. Which image contains more dots?"
        options = ("the first image", "the second image")
    else:
        stem = "给出了两张图片。哪一张图片中的圆点更多？"
        options = ("第一张图片", "第二张图片")
    return params, _choice_question(lang, stem, options), "A" if first > second else "B", 0.0


def _table(rng: random.Random, lang: str) -> tuple[dict[str, Any], str, str, float]:
    names = rng.sample(NAMES[lang], 4)
    rows = [[name, rng.randint(10, 99), rng.randint(18, 65)] for name in names]
    r, c = rng.randrange(4), rng.randint(1, 2)
    header = TABLE_HEADERS[lang]
    if lang == "en":
        q = f"According to the table, what is the {header[c]} of {names[r]}? {_number_hint(lang)}"
    else:
        q = f"根据表格，{names[r]}的{header[c]}是多少？{_number_hint(lang)}"
    return {"header": list(header), "rows": rows}, q, str(rows[r][c]), 0.0


_MAKERS: dict[str, tuple[Callable[[random.Random, str], tuple[dict[str, Any], str, str, float]], str]] = {
    "chart_bar": (_bar, "number"),
    "chart_line": (_line, "number"),
    "chart_pie": (_pie, "number"),
    "count": (_count, "number"),
    "spatial": (_spatial, "choice"),
    "ocr": (_ocr, "text"),
    "clock": (_clock, "time"),
    "compare": (_compare, "choice"),
    "table": (_table, "number"),
}


def make_item(seed: int, category: str, lang: str, index: int) -> VisionItem:
    rng = random.Random(f"tp_vision:{GENERATOR_VERSION}:{seed}:{category}:{lang}:{index}")
    maker, answer_type = _MAKERS[category]
    params, question, target, tolerance = maker(rng, lang)
    choices = ("A", "B", "C", "D") if category == "spatial" else ("A", "B") if category == "compare" else ()
    return VisionItem(
        id=f"{category}/{lang}/{index}",
        category=category,
        lang=lang,
        question=question,
        target=target,
        answer_type=answer_type,
        params=params,
        tolerance=tolerance,
        choices=choices,
        images=2 if category == "compare" else 1,
    )


def make_items(seed: int = 0, per_category: int = 10) -> list[VisionItem]:
    """The set for ``seed``: ``per_category`` items of each category in each language."""
    if per_category < 1:
        raise ValueError("per_category must be >= 1")
    return [
        make_item(seed, category, lang, index)
        for category in CATEGORIES
        for lang in LANGS
        for index in range(per_category)
    ]
