"""The images of a run's requests, each kept once by content hash beside the result database.

A stored prompt names its images by SHA-256 only (``tianping.core.media``); their bytes go to
``<results>/images/<sha256>.<ext>``, written once (a second run over the same pictures writes nothing) and
atomically (a killed run never leaves half a file under a final name). The report reads them back from there,
inlined and size-capped (``inline_images``): no image is ever fetched from elsewhere.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tianping.core import Request
from tianping.core.media import EXTENSIONS, sniff_media_type

IMAGES_DIR = "images"
_NAME = re.compile(r"^[0-9a-f]{64}$")


def images_folder(store: Any) -> Path | None:
    """``<results>/images`` for a store in a results folder (SQLite); None for a database elsewhere."""
    url = str(getattr(store, "url", ""))
    path = getattr(store, "path", None)
    if not url.startswith("sqlite:") or path is None:
        return None
    return Path(path).parent / IMAGES_DIR


def image_path(folder: Path, sha256: str, media_type: str) -> Path:
    if not _NAME.match(sha256):
        raise ValueError(f"not a SHA-256: {sha256[:80]!r}")
    return folder / f"{sha256}.{EXTENSIONS.get(media_type, 'bin')}"


def save_images(folder: Path, request: Request) -> int:
    """Write the request's images not yet in ``folder``; how many were written."""
    written = 0
    for sha, image in request.images().items():
        target = image_path(folder, sha, image.media_type)
        if target.exists():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".part-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(image.data)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        written += 1
    return written


def image_refs(payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The image references of a stored chat payload, video frames included, in order."""
    for message in payload.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "image":
                yield part
            elif part.get("type") == "video":
                yield from (f for f in part.get("frames") or () if isinstance(f, dict) and f.get("type") == "image")


class ImageInliner:
    """Data URIs of stored images for a report: each image read once, none over ``max_image`` bytes, and no
    more than ``max_total`` bytes in all (past it, images are named but not shown)."""

    def __init__(self, folder: Path | None, max_image: int = 512 * 1024, max_total: int = 32 * 1024 * 1024):
        self.folder = folder
        self.max_image = max_image
        self.max_total = max_total
        self.total = 0
        self._uris: dict[str, str | None] = {}

    def uri(self, ref: dict[str, Any]) -> str | None:
        """The image as a data URI, or None when it is not stored, too large, altered, or past the budget."""
        sha = str(ref.get("sha256", ""))
        if sha in self._uris:
            return self._uris[sha]
        found = self._read(sha, str(ref.get("media_type", "")))
        self._uris[sha] = found
        return found

    def _read(self, sha: str, media_type: str) -> str | None:
        if self.folder is None or not _NAME.match(sha):
            return None
        path = image_path(self.folder, sha, media_type)
        try:
            size = path.stat().st_size
            if size > self.max_image or self.total + size > self.max_total:
                return None
            data = path.read_bytes()
        except OSError:
            return None
        # the file must still be the image its name says, of a type the page may show
        kind = sniff_media_type(data)
        if hashlib.sha256(data).hexdigest() != sha or kind is None:
            return None
        self.total += len(data)
        return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
