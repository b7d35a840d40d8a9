"""Images and video frames in a chat message, and how they enter a request's payload and key.

A request's payload names an image by the SHA-256 of its bytes (``{"type": "image", "sha256": ...}``), never by
its bytes: the key stays small and content-addressed (the same picture under two file names is one request), the
prompt stored with a sample holds no base64, and a backend turns the reference into what its API takes (the
OpenAI-compatible one: an ``image_url`` part with a data URI, re-encoded to its size limits). An image given by
URL is sent as that URL, which is then its identity.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/bmp": "bmp", "image/webp": "webp"}

IMAGE_MAX_SIDE = 2048
IMAGE_MAX_MB = 5.0
"""What an image sent to an endpoint may be at most, where the model spec names no other limits: longest side in
pixels, MiB encoded (``multimodal.encode.ImageLimits``, ``ModelSpec.image_max_side`` / ``image_max_mb``)."""


def sniff_media_type(data: bytes) -> str | None:
    """The image type the bytes start with (PNG, JPEG, GIF, BMP, WebP), or None: a file's name may lie."""
    for magic, media_type in _SIGNATURES:
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True, slots=True)
class ImagePart:
    """One image: its encoded bytes (PNG, JPEG, ...) or a URL the server fetches itself."""

    data: bytes = b""
    url: str | None = None
    media_type: str = ""
    """Given, or sniffed from ``data``; a URL image leaves it empty."""
    label: str | None = None
    """Where the image sits in the text (MMMU's ``<image 1>``); None: before the text."""
    sha256: str = field(init=False, default="")

    def __post_init__(self) -> None:
        if (not self.data) == (self.url is None):
            raise ValueError("an ImagePart has either bytes (data) or a url")
        if self.data:
            found = sniff_media_type(self.data)
            if found is None:
                raise ValueError("image bytes are not PNG, JPEG, GIF, BMP or WebP")
            object.__setattr__(self, "media_type", found)
            object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())
        elif not str(self.url).startswith(("http://", "https://", "data:image/")):
            raise ValueError(f"an image URL must be http(s) or a data:image URI, got {str(self.url)[:60]!r}")

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.media_type, "bin")

    def payload(self) -> dict[str, Any]:
        if self.url is not None:
            return {"type": "image_url", "image_url": {"url": self.url}}
        return {"type": "image", "sha256": self.sha256, "media_type": self.media_type, "bytes": len(self.data)}


@dataclass(frozen=True, slots=True)
class VideoPart:
    """A video as a sequence of sampled frames, in order."""

    frames: tuple[ImagePart, ...]
    label: str | None = None

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError("a VideoPart needs at least one frame")

    def payload(self) -> dict[str, Any]:
        return {"type": "video", "frames": [f.payload() for f in self.frames]}


@dataclass(frozen=True, slots=True)
class TextPart:
    """Text between images of an interleaved message."""

    text: str

    def payload(self) -> dict[str, Any]:
        return {"type": "text", "text": self.text}


MediaPart = ImagePart | VideoPart | TextPart


def content_payload(text: str, parts: tuple[MediaPart, ...]) -> list[dict[str, Any]]:
    """The message content as a list of parts: an image whose label appears in ``text`` where the label stands,
    the others before the text (where most vision-language models were trained to see them)."""
    placed = {
        p.label: p for p in parts if isinstance(p, ImagePart | VideoPart) and p.label is not None and p.label in text
    }
    out = [p.payload() for p in parts if not (isinstance(p, ImagePart | VideoPart) and p.label in placed)]
    if not placed:
        return out + ([{"type": "text", "text": text}] if text else [])
    pattern = re.compile("|".join(re.escape(label) for label in sorted(placed, key=len, reverse=True)))
    start = 0
    for match in pattern.finditer(text):
        if match.start() > start:
            out.append({"type": "text", "text": text[start : match.start()]})
        out.append(placed[match.group()].payload())
        start = match.end()
    if start < len(text):
        out.append({"type": "text", "text": text[start:]})
    return out


def images_of(parts: tuple[MediaPart, ...]) -> list[ImagePart]:
    """Every image of the parts, a video's frames included, in order."""
    found: list[ImagePart] = []
    for part in parts:
        if isinstance(part, ImagePart):
            found.append(part)
        elif isinstance(part, VideoPart):
            found.extend(part.frames)
    return found
