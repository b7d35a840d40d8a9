"""Images in requests: how they enter the payload and the key, and how the OpenAI-compatible backend sends them
to a real local server (intact when within the limits, scaled and re-encoded when not)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from typing import Any

import pytest

from fake_vision import FakeVisionServer
from tianping.core import GenerationParams, Message, Request
from tianping.core.media import ImagePart, TextPart, VideoPart
from tianping.models.errors import BadRequest
from tianping.models.openai_api import OpenAIChatBackend


def png(width: int, height: int, seed: int = 0) -> bytes:
    """A picture that does not compress to nothing: a gradient with a seed-dependent pattern."""
    from PIL import Image

    image = Image.new("RGB", (width, height))
    image.putdata(
        [
            ((x * 7 + seed) % 256, (y * 5 + seed * 3) % 256, (x * y + seed) % 256)
            for y in range(height)
            for x in range(width)
        ]
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_text_only_requests_keep_the_keys_they_had_before_images_existed() -> None:
    # computed with the request type of the commit before images were added: the cache of every stored run
    # stays valid
    plain = Request(model="m", messages=(Message("user", "hi"),))
    assert plain.key == "feb73e1782d89738aa93a3c8424e57086a034c3511b85e3e32bbb2c9c2866a8b"
    chat = Request(
        model="openai/x",
        messages=(
            Message("system", "你好"),
            Message("user", "Q: 1+1?"),
            Message("assistant", "2"),
            Message("user", "Q: 2+2?"),
        ),
        params=GenerationParams(max_tokens=16, stop=("\n",)),
    )
    assert chat.key == "e14f8f0b12debe04201c4ea30e7fb8a1c3d8697dc2b36c2c382ebafe96045e25"
    completion = Request(model="openai/x", prompt="Question: 2+2\nAnswer:")
    assert completion.key == "14c25b8b89e8f4f9554c7982078432cf0e1afcbb906268702b7da4327a68dc8f"
    assert plain.images() == {}


def test_an_image_is_keyed_and_stored_by_its_hash_never_by_its_bytes() -> None:
    data = png(40, 30)
    image = ImagePart(data=data)
    request = Request(model="m", messages=(Message("user", "What is shown?", parts=(image,)),))
    content = request.payload()["messages"][0]["content"]
    assert content == [
        {"type": "image", "sha256": hashlib.sha256(data).hexdigest(), "media_type": "image/png", "bytes": len(data)},
        {"type": "text", "text": "What is shown?"},
    ]
    assert "base64" not in request.payload_json and len(request.payload_json) < 400
    assert request.images() == {image.sha256: image}
    other = Request(model="m", messages=(Message("user", "What is shown?", parts=(ImagePart(data=png(40, 30, 1)),)),))
    text_only = Request(model="m", messages=(Message("user", "What is shown?"),))
    assert len({request.key, other.key, text_only.key}) == 3
    again = Request(model="m", messages=(Message("user", "What is shown?", parts=(ImagePart(data=data),)),))
    assert again.key == request.key


def test_labelled_images_stand_where_their_label_is_in_the_text() -> None:
    one, two = ImagePart(data=png(8, 8), label="<image 1>"), ImagePart(data=png(8, 8, 2), label="<image 2>")
    loose = ImagePart(data=png(8, 8, 3))
    message = Message("user", "Compare <image 1> with <image 2>. Which is darker?", parts=(one, two, loose))
    content = Request(model="m", messages=(message,)).payload()["messages"][0]["content"]
    kinds = [p["type"] if p["type"] != "text" else p["text"] for p in content]
    assert kinds == ["image", "Compare ", "image", " with ", "image", ". Which is darker?"]
    assert [p.get("sha256") for p in content if p["type"] == "image"] == [loose.sha256, one.sha256, two.sha256]
    interleaved = Message("user", "", parts=(TextPart("Before"), loose, TextPart("after")))
    content = Request(model="m", messages=(interleaved,)).payload()["messages"][0]["content"]
    assert [p["type"] for p in content] == ["text", "image", "text"]


def test_bad_images_are_refused_when_built() -> None:
    with pytest.raises(ValueError, match="not PNG, JPEG"):
        ImagePart(data=b"hello")
    with pytest.raises(ValueError, match="either bytes"):
        ImagePart(data=png(4, 4), url="https://example.org/a.png")
    with pytest.raises(ValueError, match="http"):
        ImagePart(url="file:///etc/passwd")
    assert ImagePart(url="https://example.org/a.png").payload() == {
        "type": "image_url",
        "image_url": {"url": "https://example.org/a.png"},
    }
    with pytest.raises(ValueError, match="at least one frame"):
        VideoPart(frames=())


def _ask(server: FakeVisionServer, request: Request, **options: Any) -> Any:
    async def go() -> Any:
        async with server:
            backend = OpenAIChatBackend(model="v", base_url=server.base_url, max_retries=0, **options)
            try:
                return await backend.generate(request)
            finally:
                await backend.aclose()

    return asyncio.run(go())


def _request(*parts: Any) -> Request:
    return Request(model="openai/v", messages=(Message("user", "Describe it.", parts=parts),))


def test_an_image_within_the_limits_arrives_byte_for_byte() -> None:
    data = png(64, 48)
    server = FakeVisionServer({})
    _ask(server, _request(ImagePart(data=data)))
    assert dict(server.images_received) == {hashlib.sha256(data).hexdigest(): 1}
    body = server.last_body
    assert body is not None and body["messages"][0]["content"][0]["image_url"]["url"].startswith(
        "data:image/png;base64,"
    )


def test_a_large_image_is_scaled_to_the_longest_side_and_capped_in_bytes() -> None:
    server = FakeVisionServer({})
    _ask(server, _request(ImagePart(data=png(900, 600))), image_max_side=200)
    ((size, width, height),) = server.image_sizes.values()
    assert (width, height) == (200, 133)
    # past the byte cap at that size: JPEG, then smaller, until it fits
    server = FakeVisionServer({})
    _ask(server, _request(ImagePart(data=png(900, 600))), image_max_side=200, image_max_bytes=6000)
    ((size, width, height),) = server.image_sizes.values()
    assert size <= 6000 and width <= 200 and width / height == pytest.approx(1.5, abs=0.02)
    # a BMP is re-encoded even when small: not every server takes one
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (200, 10, 10)).save(buffer, format="BMP")
    server = FakeVisionServer({})
    _ask(server, _request(ImagePart(data=buffer.getvalue())))
    body = server.last_body
    assert body is not None and body["messages"][0]["content"][0]["image_url"]["url"].startswith("data:image/png")


def test_an_image_that_cannot_fit_or_decode_is_refused_before_anything_is_sent() -> None:
    server = FakeVisionServer({})
    broken = ImagePart(data=b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(BadRequest, match="does not decode"):
        _ask(server, _request(broken))
    # no JPEG is smaller than its headers (about 600 bytes)
    with pytest.raises(BadRequest, match="cannot be made smaller than 300 bytes"):
        _ask(server, _request(ImagePart(data=png(300, 300))), image_max_side=64, image_max_bytes=300)
    assert server.requests_total == 0


def test_video_frames_go_as_consecutive_images_in_order() -> None:
    frames = tuple(ImagePart(data=png(16, 16, k)) for k in range(3))
    request = _request(VideoPart(frames=frames))
    assert json.loads(request.payload_json)["messages"][0]["content"][0]["type"] == "video"
    server = FakeVisionServer({})
    _ask(server, request)
    body = server.last_body
    assert body is not None
    sent = [FakeVisionServer.images_in({"messages": [m]}) for m in body["messages"]][0]
    assert [hashlib.sha256(s).hexdigest() for s in sent] == [f.sha256 for f in frames]
