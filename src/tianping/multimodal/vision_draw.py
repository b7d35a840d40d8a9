"""Pictures of ``tp_vision`` items, drawn with Pillow from the item's parameters in the bundled fonts.

Drawing is a pure function of the parameters: no system font, no time, no randomness of its own. PNG files are
written without Pillow's optional chunks (no time stamp), so the same parameters give the same bytes on a given
Pillow build.
"""

from __future__ import annotations

import io
import math
from functools import cache
from importlib import resources
from typing import Any

from tianping.multimodal.vision_items import COLORS, VisionItem

WHITE = (255, 255, 255)
BLACK = (20, 20, 20)
GRID = (205, 205, 205)


@cache
def _font(cjk: bool, size: int) -> Any:
    from PIL import ImageFont

    name = "tp_cjk_subset.ttf" if cjk else "tp_latin_subset.ttf"
    data = resources.files("tianping.multimodal").joinpath("fonts", name).read_bytes()
    return ImageFont.truetype(io.BytesIO(data), size)


def _is_cjk(text: str) -> bool:
    return any(ord(ch) >= 0x2E80 for ch in text)


def _text(draw: Any, xy: tuple[float, float], text: str, size: int, anchor: str = "mm", fill: Any = BLACK) -> None:
    draw.text(xy, text, font=_font(_is_cjk(text), size), fill=fill, anchor=anchor)


def _canvas(width: int, height: int) -> tuple[Any, Any]:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), WHITE)
    return image, ImageDraw.Draw(image)


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _axes(draw: Any, box: tuple[int, int, int, int], top: int, step: int, label_every: int) -> None:
    """Horizontal grid lines every ``step`` up to ``top``, labelled every ``label_every``."""
    left, upper, right, lower = box
    for value in range(0, top + 1, step):
        y = lower - (lower - upper) * value / top
        draw.line([(left, y), (right, y)], fill=GRID if value else BLACK, width=1)
        if value % label_every == 0:
            _text(draw, (left - 6, y), str(value), 12, anchor="rm")
    draw.line([(left, upper), (left, lower)], fill=BLACK, width=1)


def _bar(p: dict[str, Any]) -> list[Any]:
    image, draw = _canvas(420, 300)
    box = (40, 20, 405, 260)
    _axes(draw, box, 20, 1, 5)
    slot = (box[2] - box[0]) / len(p["labels"])
    for i, (label, value) in enumerate(zip(p["labels"], p["values"], strict=True)):
        x0 = box[0] + slot * i + slot * 0.2
        y = box[3] - (box[3] - box[1]) * value / 20
        draw.rectangle([x0, y, x0 + slot * 0.6, box[3]], fill=COLORS[p["color"]][0])
        _text(draw, (x0 + slot * 0.3, box[3] + 16), label, 13)
    return [image]


def _line(p: dict[str, Any]) -> list[Any]:
    image, draw = _canvas(420, 300)
    box = (40, 20, 405, 260)
    _axes(draw, box, 50, 5, 10)
    slot = (box[2] - box[0]) / len(p["labels"])
    points = []
    for i, (label, value) in enumerate(zip(p["labels"], p["values"], strict=True)):
        x = box[0] + slot * (i + 0.5)
        points.append((x, box[3] - (box[3] - box[1]) * value / 50))
        draw.line([(x, box[3]), (x, box[3] + 4)], fill=BLACK)
        _text(draw, (x, box[3] + 16), label, 13)
    color = COLORS[p["color"]][0]
    draw.line(points, fill=color, width=3)
    for x, y in points:
        draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=color)
    return [image]


def _pie(p: dict[str, Any]) -> list[Any]:
    image, draw = _canvas(420, 280)
    start = -90.0
    for value, color in zip(p["values"], p["colors"], strict=True):
        end = start + 360 * value / 100
        draw.pieslice([20, 20, 260, 260], start, end, fill=COLORS[color][0], outline=WHITE, width=2)
        start = end
    for i, (label, color) in enumerate(zip(p["labels"], p["colors"], strict=True)):
        y = 60 + 36 * i
        draw.rectangle([285, y - 9, 303, y + 9], fill=COLORS[color][0])
        _text(draw, (312, y), label, 15, anchor="lm")
    return [image]


def _shape(draw: Any, shape: str, cx: float, cy: float, r: float, color: tuple[int, int, int]) -> None:
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    elif shape == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=color)
    else:
        draw.polygon([(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)], fill=color)


def _count(p: dict[str, Any]) -> list[Any]:
    image, draw = _canvas(300, 300)
    for row, col, color, shape in p["objects"]:
        _shape(draw, shape, 30 + 60 * col, 30 + 60 * row, 18, COLORS[color][0])
    return [image]


def _spatial(p: dict[str, Any]) -> list[Any]:
    image, draw = _canvas(300, 300)
    for x, y, color, shape in p["shapes"]:
        _shape(draw, shape, x, y, 26, COLORS[color][0])
    return [image]


def _ocr(p: dict[str, Any]) -> list[Any]:
    from PIL import Image

    text = p["text"]
    image, draw = _canvas(360, 120)
    _text(draw, (180, 60), text, 44)
    return [image.rotate(p["tilt"], resample=Image.Resampling.BICUBIC, fillcolor=WHITE)]


def _clock(p: dict[str, Any]) -> list[Any]:
    image, draw = _canvas(300, 300)
    cx = cy = 150
    draw.ellipse([20, 20, 280, 280], outline=BLACK, width=4)
    for tick in range(60):
        angle = math.radians(tick * 6 - 90)
        inner = 112 if tick % 5 else 100
        draw.line(
            [
                (cx + inner * math.cos(angle), cy + inner * math.sin(angle)),
                (cx + 124 * math.cos(angle), cy + 124 * math.sin(angle)),
            ],
            fill=BLACK,
            width=3 if tick % 5 == 0 else 1,
        )
    for hour in range(1, 13):
        angle = math.radians(hour * 30 - 90)
        _text(draw, (cx + 84 * math.cos(angle), cy + 84 * math.sin(angle)), str(hour), 20)
    minute_angle = math.radians(p["minute"] * 6 - 90)
    hour_angle = math.radians((p["hour"] % 12) * 30 + p["minute"] * 0.5 - 90)
    draw.line([(cx, cy), (cx + 62 * math.cos(hour_angle), cy + 62 * math.sin(hour_angle))], fill=BLACK, width=8)
    draw.line([(cx, cy), (cx + 108 * math.cos(minute_angle), cy + 108 * math.sin(minute_angle))], fill=BLACK, width=4)
    draw.ellipse([cx - 7, cy - 7, cx + 7, cy + 7], fill=BLACK)
    return [image]


def _compare(p: dict[str, Any]) -> list[Any]:
    images = []
    for cells in p["cells"]:
        image, draw = _canvas(250, 250)
        for row, col in cells:
            _shape(draw, "circle", 25 + 50 * col, 25 + 50 * row, 14, COLORS[p["color"]][0])
        images.append(image)
    return images


def _table(p: dict[str, Any]) -> list[Any]:
    rows = [p["header"], *p["rows"]]
    image, draw = _canvas(360, 40 * len(rows) + 20)
    widths = (140, 100, 100)
    for r, row in enumerate(rows):
        x = 10
        for c, cell in enumerate(row):
            top = 10 + 40 * r
            draw.rectangle([x, top, x + widths[c], top + 40], outline=BLACK, fill=(235, 235, 235) if r == 0 else WHITE)
            _text(draw, (x + widths[c] / 2, top + 20), str(cell), 17)
            x += widths[c]
    return [image]


_DRAW = {
    "chart_bar": _bar,
    "chart_line": _line,
    "chart_pie": _pie,
    "count": _count,
    "spatial": _spatial,
    "ocr": _ocr,
    "clock": _clock,
    "compare": _compare,
    "table": _table,
}


def render(item: VisionItem) -> list[bytes]:
    """The item's pictures as PNG files, in the order the question names them."""
    return [_png(image) for image in _DRAW[item.category](item.params)]
