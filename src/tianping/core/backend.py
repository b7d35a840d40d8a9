"""The protocol every model backend implements, with the request kinds it can answer."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tianping.core.types import Request, Response


@runtime_checkable
class ModelBackend(Protocol):
    model_id: str
    """The id recorded with every request and used in request keys (e.g. ``openai/gpt-4o``)."""
    supports: frozenset[str]
    """Request kinds it answers (``tianping.core.task.GENERATE``, ``LOGLIKELIHOOD``, ...): the engine checks a
    run's tasks against them before the first request."""

    async def generate(self, request: Request) -> Response:
        """Answer one request, retrying transient failures; raise ``ModelError`` when it cannot."""
        ...

    async def aclose(self) -> None: ...
