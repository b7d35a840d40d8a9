"""Create the model backend a ModelSpec names (backends are imported only when used), and say what it can do.

A plugin adds a backend with ``register_backend(name, factory)`` (or the ``tianping.backends`` entry point): the
factory takes the ``ModelSpec`` and returns a ``ModelBackend``; its ``supports`` attribute (on the factory, or
on the backend it returns) lists the request kinds it answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
            completions_logprobs=spec.completions_logprobs,
            image_max_side=spec.image_max_side,
            image_max_bytes=int(spec.image_max_mb * 1024 * 1024),
        )
    if spec.backend == "hf":
        from tianping.multimodal.hf_vision import HFVisionBackend, is_vision_model

        if is_vision_model(_model_path(spec)):  # image-text-to-text: its processor renders the chat and the images
            return HFVisionBackend(spec.id, _model_path(spec), device=spec.device, dtype=spec.dtype)
    if spec.backend in ("hf", "ref"):
        from tianping.models.hf_local import HFLocalBackend

        backend: ModelBackend = HFLocalBackend(
            spec.id,
            _model_path(spec),
            device=spec.device,
            dtype=spec.dtype,
            batch_size=spec.batch_size,
            chat_template=spec.chat_template,
            max_length=spec.max_length,
            **_load_options(spec),
        )
        return backend
    if spec.backend == "http":  # http/<target.yaml>: an application, as its target file describes it
        from tianping.targets import create_http_backend

        return create_http_backend(spec)
    if spec.backend == "vllm":
        from tianping.models.vllm_local import VLLMBackend, backend_options

        return VLLMBackend(spec.id, **backend_options(spec))
    raise ValueError(f"model {spec.id}: unknown backend '{spec.backend}' (known: {', '.join(BACKENDS)})")


def check_backend(spec: ModelSpec) -> None:
    """Raise the ValueError ``create_backend`` would raise (a URL or credentials it refuses, a path without a
    model), without loading weights or opening a connection: a command checks this before it registers a run."""
    if plugin_backend(spec.backend) is not None:
        return  # a plugin's factory validates when it creates the backend
    if spec.backend == "openai":
        create_backend(spec)  # the constructor validates and opens nothing
        return
    if spec.backend == "http":  # the target file loads: fields, templates, ${ENV} headers
        from tianping.targets import check_http_spec

        check_http_spec(spec)
        return
    if spec.backend == "vllm":  # vLLM installed, the options it takes, a local path that exists
        from tianping.models.vllm_local import check_vllm_spec

        check_vllm_spec(spec)
        return
    from tianping.models.hf_load import check_load_options, check_model_dir

    path = _model_path(spec)
    if spec.backend != "ref":
        check_model_dir(path)
    check_load_options(path, device=spec.device, dtype=spec.dtype, **_load_options(spec))


def _model_path(spec: ModelSpec) -> Path:
    """The folder of a local model's files: a bundled reference model, a checkpoint folder, or the snapshot of
    a hub id in the local hub cache (at ``spec.revision``)."""
    from tianping.models.hf_hub import model_source
    from tianping.models.hf_load import resolve_ref_model

    if spec.backend == "ref":
        return resolve_ref_model(spec.name)
    return model_source(spec.name, spec.revision)[0]


def _load_options(spec: ModelSpec) -> dict[str, Any]:
    return {
        "trust_remote_code": spec.trust_remote_code,
        "adapter": spec.adapter,
        "quantization": spec.quantization,
        "device_map": spec.device_map,
    }
