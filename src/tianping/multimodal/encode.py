"""Images as an OpenAI-compatible server takes them: ``image_url`` parts holding data URIs, each within a size cap.

An image already within the limits is sent byte for byte as it was given (what a benchmark's truth was computed
on); a larger one is scaled down to ``max_side`` pixels on its longest side and re-encoded, then compressed
harder until it fits ``max_bytes``. An image that cannot be made to fit, or that does not decode, is refused
before anything is sent.
"""

from __future__ import annotations

import base64
import io
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from tianping.core.media import IMAGE_MAX_MB, IMAGE_MAX_SIDE, ImagePart

_KEEP_AS_IS = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
"""Types every OpenAI-compatible vision server takes; others (BMP) are re-encoded."""
_JPEG_QUALITIES = (90, 80, 70, 55, 40)
_MIN_SIDE = 32


class ImageRefused(ValueError):
    """An image that cannot be sent within the limits (or is not an image)."""


@dataclass(frozen=True)
class ImageLimits:
    max_side: int = IMAGE_MAX_SIDE
    """Longest side in pixels; a larger image is scaled down (keeping its aspect ratio)."""
    max_bytes: int = int(IMAGE_MAX_MB * 1024 * 1024)
    """Most bytes of one encoded image (before base64)."""

    def __post_init__(self) -> None:
        if self.max_side < _MIN_SIDE:
            raise ValueError(f"image max_side must be >= {_MIN_SIDE}")
        if self.max_bytes < 256:
            raise ValueError("image max_bytes must be >= 256")


def fit(image: ImagePart, limits: ImageLimits) -> tuple[bytes, str]:
    """The bytes and media type to send for ``image``: unchanged when within ``limits``, else re-encoded."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ImageRefused("sending images needs Pillow: pip install 'tianping[vision]'") from None

    try:
        with Image.open(io.BytesIO(image.data)) as probe:
            width, height = probe.size
            if (
                max(width, height) <= limits.max_side
                and len(image.data) <= limits.max_bytes
                and image.media_type in _KEEP_AS_IS
            ):
                return image.data, image.media_type
            probe.load()
            picture = probe.copy()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ImageRefused(f"image {image.sha256[:12]} does not decode: {exc}") from None
    picture.thumbnail((limits.max_side, limits.max_side), Image.Resampling.LANCZOS)
    lossless = image.media_type in ("image/png", "image/gif", "image/bmp")
    while True:
        for data, media_type in _encodings(picture, lossless):
            if len(data) <= limits.max_bytes:
                return data, media_type
        width, height = picture.size
        if min(width, height) * 3 // 4 < _MIN_SIDE:
            raise ImageRefused(
                f"image {image.sha256[:12]} ({len(image.data)} bytes) cannot be made smaller than "
                f"{limits.max_bytes} bytes (image max_bytes)"
            )
        picture = picture.resize((width * 3 // 4, height * 3 // 4), Image.Resampling.LANCZOS)


def _encodings(picture: Any, lossless: bool) -> Any:
    """Encodings from the most faithful down: PNG first for a drawing (sharp edges, few colours), then JPEG."""
    if lossless:
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG", optimize=True)
        yield buffer.getvalue(), "image/png"
    rgb = picture.convert("RGB")
    for quality in _JPEG_QUALITIES:
        buffer = io.BytesIO()
        rgb.save(buffer, format="JPEG", quality=quality)
        yield buffer.getvalue(), "image/jpeg"


def data_uri(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


class ImageInliner:
    """Replaces the image references of a chat payload by ``image_url`` parts, remembering recent encodings (a
    retried request, or one image asked about many times, is encoded once)."""

    def __init__(self, limits: ImageLimits, remember: int = 256):
        self.limits = limits
        self._remember = remember
        self._done: OrderedDict[str, str] = OrderedDict()

    def uri(self, image: ImagePart) -> str:
        found = self._done.get(image.sha256)
        if found is None:
            found = data_uri(*fit(image, self.limits))
            self._done[image.sha256] = found
            if len(self._done) > self._remember:
                self._done.popitem(last=False)
        else:
            self._done.move_to_end(image.sha256)
        return found

    def messages(self, messages: list[dict[str, Any]], images: dict[str, ImagePart]) -> list[dict[str, Any]]:
        """``messages`` with each ``image`` part as an ``image_url`` data URI and each ``video`` as its frames."""
        out = []
        for message in messages:
            content = message.get("content")
            if not isinstance(content, list):
                out.append(message)
                continue
            parts: list[dict[str, Any]] = []
            for part in content:
                kind = part.get("type")
                if kind == "image":
                    parts.append(self._part(part, images))
                elif kind == "video":
                    # no chat API agrees on video: its frames go as consecutive images, which every one takes
                    parts.extend(self._part(frame, images) for frame in part["frames"])
                else:
                    parts.append(part)
            out.append({**message, "content": parts})
        return out

    def _part(self, ref: dict[str, Any], images: dict[str, ImagePart]) -> dict[str, Any]:
        if ref.get("type") == "image_url":
            return ref
        image = images.get(ref.get("sha256", ""))
        if image is None:
            raise ImageRefused(f"image {str(ref.get('sha256'))[:12]} is referenced but not carried by the request")
        return {"type": "image_url", "image_url": {"url": self.uri(image)}}
