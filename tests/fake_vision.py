"""A fake vision model: an OpenAI-compatible server on 127.0.0.1 that answers from the images it receives.

It decodes every ``image_url`` data URI of a chat request, hashes the image bytes and looks the item up in the
truth it was given (``tp_vision`` items by the SHA-256 of their pictures, as the generator drew them). A
hash-chosen ``accuracy`` share of items gets the right answer and the rest a wrong one, in varied phrasings
(terse, a sentence, Chinese), so that the expected accuracy of a run is known before it starts
(``planned_right``). Every image received is counted by hash with its size and pixel dimensions, and images
in ``refuse`` get HTTP 400 (a run that fails them resumes them later).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from fake_openai import FakeOpenAIServer, _unit


@dataclass(frozen=True)
class Truth:
    item_id: str
    target: str
    answer_type: str
    tolerance: float
    choices: str
    lang: str


def truth_of(items: Any) -> dict[tuple[str, ...], Truth]:
    """Image hashes (in order) -> the item's truth, for ``tp_vision`` items drawn by the generator."""
    from tianping.multimodal.vision_draw import render

    table = {}
    for item in items:
        key = tuple(hashlib.sha256(png).hexdigest() for png in render(item))
        table[key] = Truth(item.id, item.target, item.answer_type, item.tolerance, "".join(item.choices), item.lang)
    return table


def _wrong(truth: Truth) -> str:
    if truth.answer_type == "number":
        return str(int(float(truth.target) + truth.tolerance + 2))
    if truth.answer_type == "choice":
        return next(c for c in truth.choices if c != truth.target)
    if truth.answer_type == "time":
        hour, minute = truth.target.split(":")
        return f"{int(hour) % 12 + 1}:{minute}"
    return truth.target[1:] + truth.target[0] if len(set(truth.target)) > 1 else truth.target + "X"


def phrase(truth: Truth, value: str, style: float) -> str:
    """An answer in one of the styles real models use."""
    if truth.lang == "zh":
        return f"答案：{value}" if style < 0.5 else f"{value}"
    if style < 0.3:
        return value
    if truth.answer_type == "choice":
        return f"Looking at the image, the answer is {value}."
    if truth.answer_type == "text":
        return f"The text reads:\n{value}"
    return f"The answer is {value}."


class FakeVisionServer(FakeOpenAIServer):
    def __init__(
        self,
        truth: dict[tuple[str, ...], Truth],
        *,
        accuracy: float = 0.6,
        seed: int = 0,
        refuse: frozenset[str] = frozenset(),
        **options: Any,
    ):
        super().__init__(answer_fn=self._vision_answer, **options)
        self.truth = truth
        self.accuracy = accuracy
        self.answer_seed = seed
        self.refuse = refuse
        self.images_received: Counter[str] = Counter()
        """Image SHA-256 -> times it arrived (in any request, answered or refused)."""
        self.images_answered: Counter[str] = Counter()
        self.image_sizes: dict[str, tuple[int, int, int]] = {}
        """Image SHA-256 -> (bytes, width, height) as received."""
        self.unknown_images = 0

    def planned_right(self, item_id: str) -> bool:
        return _unit(self.answer_seed, "vision", item_id) < self.accuracy

    @staticmethod
    def images_in(body: dict[str, Any]) -> list[bytes]:
        found = []
        for message in body.get("messages") or ():
            content = message.get("content")
            if not isinstance(content, list):
                continue
            for part in content:
                if part.get("type") != "image_url":
                    continue
                url = part["image_url"]["url"]
                head, _, data = url.partition(",")
                if not head.startswith("data:image/") or not head.endswith(";base64"):
                    raise ValueError(f"not a base64 data URI: {url[:40]!r}")
                found.append(base64.b64decode(data, validate=True))
        return found

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        from PIL import Image

        try:
            body = json.loads(await request.read())
            images = self.images_in(body)
            for data in images:
                with Image.open(io.BytesIO(data)) as picture:
                    picture.load()  # the whole image decodes, not only its header
                    width, height = picture.size
                sha = hashlib.sha256(data).hexdigest()
                self.images_received[sha] += 1
                self.image_sizes[sha] = (len(data), width, height)
        except (ValueError, KeyError, TypeError, OSError, binascii.Error) as exc:
            return web.json_response({"error": {"message": f"bad image: {exc}"}}, status=400)
        shas = [hashlib.sha256(d).hexdigest() for d in images]
        if self.refuse.intersection(shas):
            return web.json_response({"error": {"message": "refused for this test"}}, status=400)
        response = await super()._chat(request)
        if response.status == 200:
            self.images_answered.update(shas)
        return response

    def _vision_answer(self, body: dict[str, Any]) -> str:
        shas = tuple(hashlib.sha256(d).hexdigest() for d in self.images_in(body))
        truth = self.truth.get(shas)
        if truth is None:
            self.unknown_images += 1
            return "I cannot tell."
        value = truth.target if self.planned_right(truth.item_id) else _wrong(truth)
        return phrase(truth, value, _unit(self.answer_seed, "style", truth.item_id))
