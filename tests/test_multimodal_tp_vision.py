"""The tp_vision generator: the same set for a seed everywhere, a new set for a new seed, pictures that show
what the truth says (checked from the pixels, not from the generator's own numbers), and its scorer."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from collections import deque
from pathlib import Path

import pytest

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import load_dataset
from tianping.core import Completion, Response
from tianping.multimodal.tp_vision import item_sample, score_tp_vision
from tianping.multimodal.vision_draw import _font, render
from tianping.multimodal.vision_items import COLORS, RENDERED_CJK, make_items

SET_DIGEST = "a319ff5cc83cd83462eea1dd3b043e358cc6ed41af9d02194ed2a8246463f3e2"
"""SHA-256 of every item of seed 0 (id, question, target, drawing parameters): pure Python, the same on every
platform; a change of the generator must bump GENERATOR_VERSION and re-pin this."""


def _set_digest(seed: int) -> str:
    items = [[i.id, i.question, i.target, i.params] for i in make_items(seed, 10)]
    return hashlib.sha256(json.dumps(items, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def test_a_seed_gives_the_same_set_and_pictures_in_any_process() -> None:
    assert _set_digest(0) == SET_DIGEST
    script = (
        "import hashlib;from tianping.multimodal.vision_items import make_items;"
        "from tianping.multimodal.vision_draw import render;"
        "print(hashlib.sha256(b''.join(p for i in make_items(0, 2) for p in render(i))).hexdigest())"
    )
    here = hashlib.sha256(b"".join(p for i in make_items(0, 2) for p in render(i))).hexdigest()
    for hash_seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        assert out.stdout.strip() == here, out.stderr


def test_a_new_seed_gives_a_new_set() -> None:
    old, new = make_items(0, 10), make_items(1, 10)
    assert [i.id for i in old] == [i.id for i in new]
    same = sum(
        a.question == b.question and a.target == b.target and a.params == b.params
        for a, b in zip(old, new, strict=True)
    )
    assert same < len(old) // 10


def _pixels(png: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        rgb = image.convert("RGB")
        raw = rgb.tobytes()
        return rgb.width, rgb.height, list(zip(raw[0::3], raw[1::3], raw[2::3], strict=True))


def _blobs(png: bytes, color: tuple[int, int, int]) -> list[tuple[float, float, int]]:
    """Connected regions of exactly ``color``: (centre x, centre y, pixels) of each."""
    width, height, data = _pixels(png)
    seen = [p == color for p in data]
    found = []
    for start in range(len(data)):
        if not seen[start]:
            continue
        seen[start] = False
        queue, xs, ys = deque([start]), 0, 0
        count = 0
        while queue:
            at = queue.popleft()
            x, y = at % width, at // width
            xs, ys, count = xs + x, ys + y, count + 1
            for nx, ny in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                if 0 <= nx < width and 0 <= ny < height and seen[ny * width + nx]:
                    seen[ny * width + nx] = False
                    queue.append(ny * width + nx)
        found.append((xs / count, ys / count, count))
    return found


ITEMS = make_items(0, 10)


@pytest.mark.parametrize("item", [i for i in ITEMS if i.category == "count"][:6], ids=lambda i: i.id)
def test_the_picture_shows_as_many_objects_as_the_answer_says(item) -> None:
    color = COLORS[item.params["objects"][0][2]][0]
    (picture,) = render(item)
    assert len(_blobs(picture, color)) == int(item.target)


@pytest.mark.parametrize("item", [i for i in ITEMS if i.category == "compare"][:4], ids=lambda i: i.id)
def test_the_image_said_to_have_more_dots_has_more(item) -> None:
    color = COLORS[item.params["color"]][0]
    first, second = (len(_blobs(p, color)) for p in render(item))
    assert first != second and ("A" if first > second else "B") == item.target


@pytest.mark.parametrize("item", [i for i in ITEMS if i.category == "spatial"][:6], ids=lambda i: i.id)
def test_the_relation_the_answer_names_holds_between_the_shapes(item) -> None:
    (picture,) = render(item)
    (a,), (b,) = (_blobs(picture, COLORS[shape[2]][0]) for shape in item.params["shapes"])
    dx, dy = a[0] - b[0], a[1] - b[1]
    seen = ("A" if dx < 0 else "B") if abs(dx) > abs(dy) else ("C" if dy < 0 else "D")
    assert seen == item.target


@pytest.mark.parametrize("item", [i for i in ITEMS if i.category == "chart_pie"][:4], ids=lambda i: i.id)
def test_a_pie_slice_covers_the_share_the_answer_says(item) -> None:
    (picture,) = render(item)
    width, _, data = _pixels(picture)
    disc = [
        data[y * width + x] for y in range(20, 261) for x in range(20, 261) if (x - 140) ** 2 + (y - 140) ** 2 < 110**2
    ]
    pick = (
        item.params["labels"].index(item.question.split("\u201c")[-1].split("\u201d")[0])
        if item.lang == "zh"
        else (item.params["labels"].index(item.question.split('"')[1]))
    )
    share = 100 * sum(p == COLORS[item.params["colors"][pick]][0] for p in disc) / len(disc)
    assert share == pytest.approx(float(item.target), abs=2.5)


@pytest.mark.parametrize("item", [i for i in ITEMS if i.category == "chart_bar"][:4], ids=lambda i: i.id)
def test_a_bar_reaches_the_value_the_answer_says(item) -> None:
    (picture,) = render(item)
    color = COLORS[item.params["color"]][0]
    bars = sorted(_blobs(picture, color))  # left to right
    label = item.question.split('"')[1] if item.lang == "en" else item.question.split("\u201c")[1].split("\u201d")[0]
    x, _, area = bars[item.params["labels"].index(label)]
    width = round(365 / len(item.params["labels"]) * 0.6) + 1
    assert area / width / 12 == pytest.approx(float(item.target), abs=0.5)  # 240 px for 20 units


def test_the_bundled_font_draws_every_character_a_picture_can_show() -> None:
    font = _font(True, 24)
    missing = bytes(font.getmask("\u9fa5"))  # not in the subset: its fallback glyph
    undrawn = [ch for ch in RENDERED_CJK if bytes(font.getmask(ch)) == missing]
    assert not undrawn, f"rebuild fonts/tp_cjk_subset.ttf (see fonts/README.md): missing {''.join(undrawn)}"


def _answer(text: str, *, incomplete: bool = False) -> Response:
    return Response(completions=(Completion(text=text, incomplete=incomplete),), latency_s=0.0)


def _sample(category: str, lang: str = "en"):
    item = next(i for i in ITEMS if i.category == category and i.lang == lang)
    return item, item_sample(item, 0)


@pytest.mark.parametrize(
    ("category", "lang", "right", "wrong"),
    [
        ("chart_bar", "en", "The answer is {t}.", "{t+2}"),
        ("chart_line", "zh", "答案：{t}", "{t+3}"),
        ("chart_pie", "en", "About **{t}%**", "{t+4}%"),
        ("count", "zh", "图中共有{t}个。", "{t+1}"),
        ("table", "en", "{t}", "{t+1}"),
    ],
)
def test_numbers_are_right_within_the_tolerance_only(category: str, lang: str, right: str, wrong: str) -> None:
    item, sample = _sample(category, lang)
    t = int(item.target)
    assert score_tp_vision(sample, _answer(right.replace("{t}", str(t)))).value == 1.0
    bad = wrong.replace("{t+1}", str(t + 1)).replace("{t+2}", str(t + 2)).replace("{t+3}", str(t + 3))
    assert score_tp_vision(sample, _answer(bad.replace("{t+4}", str(t + 4)))).value == 0.0


def test_text_time_and_choice_answers() -> None:
    item, sample = _sample("ocr", "en")
    for said in (item.target, item.target.lower(), f'The text reads:\n"{item.target}"', f"Answer: {item.target}."):
        assert score_tp_vision(sample, _answer(said)).value == 1.0, said
    assert score_tp_vision(sample, _answer(item.target[:-1])).value == 0.0
    item, sample = _sample("ocr", "zh")
    assert score_tp_vision(sample, _answer(f"答案：{item.target}")).value == 1.0
    assert score_tp_vision(sample, _answer(" ".join(item.target))).value == 1.0
    item, sample = _sample("clock")
    hour, minute = item.target.split(":")
    assert score_tp_vision(sample, _answer(f"It shows {int(hour):02d}:{minute}.")).value == 1.0
    assert score_tp_vision(sample, _answer(f"{int(hour) + 12}:{minute}")).value == 1.0
    assert score_tp_vision(sample, _answer(f"{hour}点{minute}分")).value == 1.0
    assert score_tp_vision(sample, _answer(f"{int(hour) % 12 + 1}:{minute}")).value == 0.0
    item, sample = _sample("spatial")
    assert score_tp_vision(sample, _answer(f"The answer is {item.target}.")).value == 1.0
    other = next(c for c in "ABCD" if c != item.target)
    assert score_tp_vision(sample, _answer(f"**{other}**")).value == 0.0
    refusal = score_tp_vision(sample, _answer("I cannot see any image."))
    assert refusal.value == 0.0 and refusal.extraction_failed
    assert score_tp_vision(sample, _answer("<think>hm", incomplete=True)).status == "incomplete"


def test_the_loader_names_a_bad_option(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown option.*sed"):
        load_dataset("tp_vision", tmp_path, {"sed": 1})
    with pytest.raises(DatasetError, match="'per_category' must be an integer >= 1"):
        load_dataset("tp_vision", tmp_path, {"per_category": 0})
    loaded = load_dataset("tp_vision", tmp_path, {"seed": 5, "per_category": 1})
    assert len(loaded.samples) == 18 and loaded.files == ()
    compare = next(s for s in loaded.samples if s.meta["category"] == "compare")
    assert len(compare.media) == 2 and compare.meta["seed"] == 5
