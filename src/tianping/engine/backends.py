"""Create the model backend a ModelSpec names (backends are imported only when used)."""

from __future__ import annotations

from tianping.models.base import ModelBackend
from tianping.spec import ModelSpec

BACKENDS = ("openai",)


def create_backend(spec: ModelSpec) -> ModelBackend:
    if spec.backend == "openai":
        if not spec.base_url:
            raise ValueError(f"model {spec.id}: --base-url is required for OpenAI-compatible endpoints")
        from tianping.models.openai_api import OpenAIChatBackend

        return OpenAIChatBackend(
            model=spec.name,
            base_url=spec.base_url,
            api_key_env=spec.api_key_env,
            concurrency=spec.concurrency,
            timeout_s=spec.timeout_s,
            max_retries=spec.max_retries,
            rpm=spec.rpm,
            stream=spec.stream,
        )
    raise ValueError(f"model {spec.id}: unknown backend '{spec.backend}' (known: {', '.join(BACKENDS)})")
