"""Create the model backend a ModelSpec names (backends are imported only when used), and say what it can do.

A plugin adds a backend with ``register_backend(name, factory)`` (or the ``tianping.backends`` entry point): the
factory takes the ``ModelSpec`` and returns a ``ModelBackend``; its ``supports`` attribute (on the factory, or
on the backend it returns) lists the request kinds it answers.
"""

from __future__ import annotations

from tianping.models.base import ModelBackend
from tianping.models.registry import backend_supports, plugin_backend, register_backend
from tianping.spec import BACKENDS, ModelSpec

__all__ = ["backend_supports", "check_backend", "create_backend", "register_backend"]


def create_backend(spec: ModelSpec) -> ModelBackend:
    factory = plugin_backend(spec.backend)
    if factory is not None:
        return factory(spec)
    if spec.backend == "openai":
        if not spec.base_url:
            raise ValueError(f"model {spec.id}: --base-url is required for OpenAI-compatible endpoints")
        from tianping.models.openai_api import OpenAIChatBackend

        return OpenAIChatBackend(
            model=spec.request_name,
            base_url=spec.base_url,
            api_key_env=spec.api_key_env,
            concurrency=spec.concurrency,
            timeout_s=spec.timeout_s,
            max_retries=spec.max_retries,
            rpm=spec.rpm,
            stream=spec.stream,
            limits=spec.reply_limits,
        )
    if spec.backend in ("hf", "ref"):
        from pathlib import Path

        from tianping.models.hf_load import resolve_ref_model
        from tianping.models.hf_local import HFLocalBackend

        path = resolve_ref_model(spec.name) if spec.backend == "ref" else Path(spec.name)
        return HFLocalBackend(
            spec.id,
            path,
            device=spec.device,
            dtype=spec.dtype,
            batch_size=spec.batch_size,
            chat_template=spec.chat_template,
            max_length=spec.max_length,
        )
    raise ValueError(f"model {spec.id}: unknown backend '{spec.backend}' (known: {', '.join(BACKENDS)})")


def check_backend(spec: ModelSpec) -> None:
    """Raise the ValueError ``create_backend`` would raise (a URL or credentials it refuses, a path without a
    model), without loading weights or opening a connection: a command checks this before it registers a run."""
    if plugin_backend(spec.backend) is not None:
        return  # a plugin's factory validates when it creates the backend
    if spec.backend == "openai":
        create_backend(spec)  # the constructor validates and opens nothing
        return
    from pathlib import Path

    from tianping.models.hf_load import check_model_dir, resolve_ref_model

    if spec.backend == "ref":
        resolve_ref_model(spec.name)
    else:
        check_model_dir(Path(spec.name))
