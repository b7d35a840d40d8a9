"""Asking the judge model: one greedy chat call per judgement, its failures sorted into what the engine expects.

A judge that cannot answer at all (a wrong key, an unknown model name, an endpoint never reached) fails every
sample alike, so it stops the run (``FatalRunError``) before thousands of samples fail one by one. Any other
failure after the backend's retries (a 500, a timeout) is that sample's error: the sample is stored as an error
and a resume asks again, never scored from a missing verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tianping.core.backend import ModelBackend
from tianping.core.errors import FatalRunError
from tianping.core.types import GenerationParams, Message, Request
from tianping.models.errors import ConnectError, ModelError

__all__ = ["JUDGE_MAX_TOKENS", "JudgeFailed", "JudgeLine"]

JUDGE_MAX_TOKENS = 2048
"""Room for a judge's explanation before its verdict (a cut explanation loses the verdict: unparseable)."""


class JudgeFailed(RuntimeError):
    """The judge gave no answer to one judgement after its retries; the sample is an error (resume asks again)."""


@dataclass
class JudgeLine:
    """The run's judge, shared by every sample of a task; counts answers so that an endpoint that has never
    answered can be told apart from one that failed once."""

    backend: ModelBackend
    max_tokens: int = JUDGE_MAX_TOKENS
    answered: int = field(default=0)

    @property
    def model_id(self) -> str:
        return self.backend.model_id

    async def ask(self, system: str, user: str) -> tuple[str, str | None]:
        """The judge's answer text and finish reason for one (system, user) prompt, asked greedily."""
        request = Request(
            model=self.backend.model_id,
            messages=(Message("system", system), Message("user", user)),
            params=GenerationParams(temperature=0.0, max_tokens=self.max_tokens),
        )
        try:
            response = await self.backend.generate(request)
        except ModelError as exc:
            never_reached = isinstance(exc, ConnectError) and self.answered == 0
            if exc.fatal or never_reached:
                raise FatalRunError(f"judge {self.model_id}: {type(exc).__name__}: {exc}") from None
            raise JudgeFailed(f"judge {self.model_id}: {type(exc).__name__}: {exc}") from None
        if not response.completions:
            raise JudgeFailed(f"judge {self.model_id}: the reply held no completion")
        self.answered += 1
        return response.first.text, response.first.finish_reason
