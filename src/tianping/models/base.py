"""The protocol every model backend implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tianping.core import Request, Response


@runtime_checkable
class ModelBackend(Protocol):
    model_id: str
    """The id recorded with every request and used in request keys (e.g. ``openai/gpt-4o``)."""

    async def generate(self, request: Request) -> Response:
        """Answer one request, retrying transient failures; raise ``ModelError`` when it cannot."""
        ...

    async def aclose(self) -> None: ...
