"""Applications as models under test: ``http/<target.yaml>`` sends each request to an HTTP app as a YAML target
file describes it (``docs/app-security.md``)."""

from __future__ import annotations

from typing import Any

from tianping.targets.definition import Target, TargetError, load_target

__all__ = ["Target", "TargetError", "check_http_spec", "create_http_backend", "load_target", "target_identity"]


def target_identity(path: str) -> str:
    """Who answers ``http/<path>``, as ``ModelSpec.endpoint`` records it: the target file and a digest of its text,
    which says where the prompts go and how the replies are read. An edited file is another endpoint, so the answer
    cache never serves what one version of an application said as the answer of another."""
    import hashlib
    from pathlib import Path

    file = Path(path).expanduser()
    try:
        digest = hashlib.sha256(file.read_bytes()).hexdigest()[:16]
    except OSError:  # not readable: creating the backend fails first, naming the file, before anything is keyed
        return f"http:{path} (unreadable)"
    return f"http:{file.resolve()}#sha256={digest}"


def create_http_backend(spec: Any) -> Any:
    """The backend of a ``ModelSpec`` whose id is ``http/<path to a target file>``; ``TargetError`` (a
    ``ValueError``) names the file and field of any problem in it."""
    from tianping.targets.http import HTTPTargetBackend

    return HTTPTargetBackend(
        spec.id,
        load_target(spec.name),
        timeout_s=spec.timeout_s,
        max_retries=spec.max_retries,
        rpm=spec.rpm,
        max_reply_bytes=spec.reply_limits.max_body_bytes,
        concurrency=spec.concurrency,
    )


def check_http_spec(spec: Any) -> None:
    """Raise what ``create_http_backend`` would, without opening a connection."""
    load_target(spec.name)
