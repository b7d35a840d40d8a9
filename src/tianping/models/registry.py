"""Which backends exist and what each can answer: the bundled ones, and plugins registered by name.

A plugin adds a backend with ``register_backend(name, factory)`` (``tianping.extend``) or the
``tianping.backends`` entry point: the factory takes the ``ModelSpec`` and returns a ``ModelBackend``; its
``supports`` attribute (on the factory, else request generation only) lists the request kinds it answers, so
that a run is checked before any backend is created.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tianping.core import entry_points
from tianping.core.backend import ModelBackend
from tianping.core.task import GENERATE, LOGLIKELIHOOD, LOGLIKELIHOOD_CHAT, TOOLS

BackendFactory = Callable[[Any], ModelBackend]
"""Takes a ``tianping.spec.ModelSpec``."""
ENTRY_POINT_GROUP = "tianping.backends"

BUILTIN = ("openai", "hf", "ref", "vllm", "http")
BUILTIN_SUPPORTS = {
    "openai": frozenset({GENERATE, TOOLS}),
    "hf": frozenset({GENERATE, LOGLIKELIHOOD, LOGLIKELIHOOD_CHAT}),
    "ref": frozenset({GENERATE, LOGLIKELIHOOD, LOGLIKELIHOOD_CHAT}),
    "vllm": frozenset({GENERATE, LOGLIKELIHOOD, LOGLIKELIHOOD_CHAT}),
    "http": frozenset({GENERATE}),  # an application described by a target file (tianping.targets)
}
"""What the bundled backends answer, known without importing them (a local model's module pulls in torch);
``tests/test_task_protocol.py`` checks that each class says the same."""

_plugins: dict[str, BackendFactory] = {}
_entry_points_loaded = False


class BackendPluginError(ValueError):
    """An installed backend plugin that cannot be loaded."""


def register_backend(name: str, factory: BackendFactory) -> BackendFactory:
    """A model id ``<name>/<model>`` is then created by ``factory``; the bundled names cannot be replaced."""
    if name in BUILTIN:
        raise ValueError(f"backend '{name}' is bundled with tianping and cannot be replaced by a plugin")
    _plugins[name] = factory
    return factory


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points.group(ENTRY_POINT_GROUP):
        try:
            register_backend(ep.name, ep.load())
        except Exception as exc:
            raise BackendPluginError(f"entry point {ep.group}:{ep.name} ({ep.value}) failed to load: {exc}") from None


def known_backends() -> list[str]:
    _load_entry_points()
    return [*BUILTIN, *_plugins]


def plugin_backend(name: str) -> BackendFactory | None:
    """The factory of a plugin backend; None for a bundled one (no plugin is looked for then)."""
    if name in BUILTIN:
        return None
    if name not in _plugins:
        _load_entry_points()
    return _plugins.get(name)


def backend_supports(spec: Any) -> frozenset[str]:
    """The request kinds the backend of a ``ModelSpec`` answers, without creating it: an OpenAI-compatible
    endpoint scores log-likelihoods where the spec says its ``/completions`` returns prompt log-probabilities
    (``completions_logprobs``)."""
    factory = plugin_backend(spec.backend)
    if factory is not None:
        return frozenset(getattr(factory, "supports", frozenset({GENERATE})))
    found = BUILTIN_SUPPORTS.get(spec.backend, frozenset({GENERATE}))
    if spec.backend == "openai" and getattr(spec, "completions_logprobs", False):
        return found | {LOGLIKELIHOOD}
    return found
