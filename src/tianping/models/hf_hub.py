"""Where the weights of ``hf/<name>`` come from, without importing torch: a local folder, or a Hugging Face hub
id (``hf/<owner>/<name>``, optionally at a ``revision``) already in the local hub cache.

Nothing is downloaded: a hub id resolves to a snapshot folder of the cache (``HF_HUB_CACHE``, else
``HF_HOME/hub``) with ``local_files_only=True``, whatever ``HF_HUB_OFFLINE`` says; one that is not cached fails
with the command that fetches it. ``ModelSpec.endpoint`` reads :func:`local_identity`, so answers are keyed by
the commit that produced them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
"""``owner/name`` as the hub spells repository ids (one slash; letters, digits, ``_``, ``.``, ``-``)."""
_TRUE = ("1", "true", "yes", "on")


class ModelLoadError(ValueError):
    """The model named by a spec cannot be loaded; the message names the path and the reason."""


def hub_repo_id(name: str) -> str | None:
    """``name`` as a hub repository id, when it has that shape and no local file or folder of that name exists."""
    if not _HUB_ID.match(name) or ".." in name or "--" in name or name.endswith((".", "-")):
        return None
    return None if Path(name).expanduser().exists() else name


def hub_cache_dir() -> Path:
    """The hub cache as of now (the environment may have changed since huggingface_hub was imported)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.path.expandvars(os.environ[var])).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.path.expandvars(os.environ["HF_HOME"])).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def resolve_hub_snapshot(repo_id: str, revision: str | None = None) -> tuple[Path, str]:
    """The cached snapshot folder of ``repo_id`` at ``revision`` (a branch, tag or commit; None: ``main``) and
    its commit hash; ModelLoadError, saying how to fetch it, when the cache does not hold it."""
    from huggingface_hub import snapshot_download

    if revision is not None and (".." in revision or revision.startswith("/")):
        raise ModelLoadError(f"hf/{repo_id}: revision {revision!r} is not a branch, tag or commit")
    cache = hub_cache_dir()
    try:
        folder = snapshot_download(repo_id, revision=revision, cache_dir=cache, local_files_only=True)
    except (OSError, ValueError) as exc:  # LocalEntryNotFoundError, IncompleteSnapshotError, HFValidationError
        at = f" at revision {revision!r}" if revision else ""
        fetch = f"hf download {repo_id}" + (f" --revision {revision}" if revision else "")
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE else ""
        raise ModelLoadError(
            f"hf/{repo_id}: no local folder {repo_id} (it does not exist), and the Hugging Face model {repo_id}{at} "
            f"is not in the local hub cache {cache}{offline}: {type(exc).__name__}. tianping never downloads; "
            f"fetch it where the network is reachable with `{fetch}` (copy the cache folder to this machine and "
            "point HF_HUB_CACHE at it if this one is offline), or give a local checkpoint folder as hf/<dir>"
        ) from None
    path = Path(folder)
    return path, path.name


def model_source(name: str, revision: str | None = None) -> tuple[Path, str | None]:
    """The folder that holds ``hf/<name>``'s files, and the hub commit when it is a cached hub model (else None).
    A revision applies to hub ids only."""
    repo_id = hub_repo_id(name)
    if repo_id is None:
        if revision is not None:
            raise ModelLoadError(
                f"hf/{name}: revision {revision!r} applies to Hugging Face hub ids (hf/<owner>/<name>), and "
                f"{name} is a local path; leave revision out or name the hub id"
            )
        return Path(name).expanduser(), None
    return resolve_hub_snapshot(repo_id, revision)


def local_identity(
    backend: str,
    name: str,
    *,
    revision: str | None = None,
    adapter: str | None = None,
    quantization: str = "none",
    dtype: str = "float32",
    chat_template: bool | None = None,
    max_length: int | None = None,
) -> str:
    """Who answers a local model's requests, as ``ModelSpec.endpoint`` records it: the weights (``file://<dir>``,
    ``hf-hub://<owner>/<name>@<commit>`` or ``ref:<name>``), then the adapter, the quantization, a dtype other
    than float32, chats rendered without the tokenizer's template and a window set by hand, where given (each
    changes the answers of the same weights, so the cache must not mix them)."""
    if backend == "ref":
        where = f"ref:{name}"
    elif (repo_id := hub_repo_id(name)) is not None:
        try:
            where = f"hf-hub://{repo_id}@{resolve_hub_snapshot(repo_id, revision)[1]}"
        except ModelLoadError:  # not cached: loading fails before any answer is keyed by this
            where = f"hf-hub://{repo_id}@{revision or 'main'} (not in the local cache)"
    else:
        where = "file://" + str(Path(name).expanduser().resolve())
    if adapter is not None:
        where += ";adapter=file://" + str(Path(adapter).expanduser().resolve())
    if quantization != "none":
        where += f";quantization={quantization}"
    if dtype != "float32":
        where += f";dtype={dtype}"
    return where + render_identity(chat_template, max_length)


def render_identity(chat_template: bool | None, max_length: int | None) -> str:
    """What a local model's identity adds for how a request is rendered for it: a chat rendered as plain
    ``Role: content`` text (``chat_template=False``; True and None use the template alike where there is one) and
    a window other than the model's own; "" for the defaults, so identities recorded before stay as they were."""
    out = ";chat_template=off" if chat_template is False else ""
    return out + (f";max_length={max_length}" if max_length is not None else "")
