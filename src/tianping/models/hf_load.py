"""Loading a local transformers checkpoint, checked before anything runs.

Only local files are read (``local_files_only=True``): a path that is not a model directory fails at
once with the path and what is missing, instead of a hub lookup or a failure at the first request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tianping.core import Request
from tianping.models.hf_generate import DEFAULT_MAX_TOKENS, GenerationJob, render_plain
from tianping.models.hf_scoring import LogLikelihoodScorer
from tianping.models.hf_tokens import LMEvalEncoder, resolve_max_length

REFMODELS_DIR = Path(__file__).resolve().parent.parent / "refmodels"
"""Where the project's own reference models live (``ref/<name>``)."""

_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")
_DTYPES = ("float32", "float16", "bfloat16")


class ModelLoadError(ValueError):
    """The model named by a spec cannot be loaded; the message names the path and the reason."""


def resolve_ref_model(name: str, root: Path = REFMODELS_DIR) -> Path:
    """The directory of bundled reference model ``name``; the error lists the names that exist."""
    path = root / name
    if (path / "config.json").is_file():
        return path
    available = sorted(p.name for p in root.iterdir() if (p / "config.json").is_file()) if root.is_dir() else []
    listing = ", ".join(available) if available else "none are installed"
    raise ModelLoadError(f"no reference model '{name}' in {root} (available: {listing})")


def check_model_dir(path: Path) -> None:
    """Refuse a path that does not hold a config, weights and a tokenizer, naming what is missing."""
    if not path.exists():
        raise ModelLoadError(f"model path {path} does not exist")
    if not path.is_dir():
        raise ModelLoadError(f"model path {path} is not a directory (expected a saved transformers model)")
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    if not any((path / f).is_file() for f in _WEIGHT_FILES):
        missing.append("weights (" + " or ".join(_WEIGHT_FILES) + ")")
    if not any((path / f).is_file() for f in _TOKENIZER_FILES):
        missing.append("tokenizer (" + " or ".join(_TOKENIZER_FILES) + ")")
    if missing:
        raise ModelLoadError(f"model path {path} holds no usable model: missing {'; '.join(missing)}")


def pick_device(device: str) -> Any:
    import torch

    if device != "auto":
        try:
            return torch.device(device)
        except RuntimeError as exc:
            raise ModelLoadError(f"device {device!r}: {exc}") from None
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass
class LoadedModel:
    """A model with everything the worker thread needs to use it."""

    path: Path
    model: Any
    tokenizer: Any
    device: Any
    max_length: int
    encoder: LMEvalEncoder
    scorer: LogLikelihoodScorer
    pad_id: int
    stop_ids: set[int]
    """Token ids that end a generated sequence (EOS, and the pad token when the tokenizer has one)."""
    use_chat_template: bool

    def job(self, request: Request) -> GenerationJob:
        """The prompt text and parameters of a chat or completion request."""
        params = request.params
        templated = request.messages is not None and self.use_chat_template
        if request.messages is not None:
            if templated:
                messages = [{"role": m.role, "content": m.content} for m in request.messages]
                prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            else:
                prompt = render_plain(request.messages)
        else:
            prompt = request.prompt or ""
        return GenerationJob(
            prompt=prompt,
            max_tokens=params.max_tokens or DEFAULT_MAX_TOKENS,
            temperature=params.temperature or 0.0,
            top_p=params.top_p,
            seed=params.seed,
            stop=tuple(params.stop),
            n=params.n,
            templated=templated,
        )


def load_local_model(
    path: Path,
    *,
    device: str = "auto",
    dtype: str = "float32",
    batch_size: int = 16,
    chat_template: bool | None = None,
    max_length: int | None = None,
    prefix_cache: bool = True,
) -> LoadedModel:
    """Load model and tokenizer from ``path`` (local files only) onto ``device``."""
    path = Path(path).expanduser()
    check_model_dir(path)
    if dtype not in _DTYPES:
        raise ModelLoadError(f"dtype {dtype!r} is not one of {', '.join(_DTYPES)}")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = pick_device(device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=getattr(torch, dtype))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"model path {path}: {exc}") from None
    model.to(target).eval()
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if chat_template and not has_template:
        raise ModelLoadError(f"model path {path}: chat_template is on but the tokenizer has no chat template")
    window = resolve_max_length(model.config, tokenizer, max_length)
    stop_ids = {t for t in (tokenizer.eos_token_id, tokenizer.pad_token_id) if t is not None}
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    stop_ids.update(gen_eos if isinstance(gen_eos, list) else [gen_eos] if gen_eos is not None else [])
    pad_id = next((t for t in (tokenizer.pad_token_id, tokenizer.eos_token_id) if t is not None), 0)
    return LoadedModel(
        path=path,
        model=model,
        tokenizer=tokenizer,
        device=target,
        max_length=window,
        encoder=LMEvalEncoder(tokenizer, window),
        scorer=LogLikelihoodScorer(model, target, batch_size, use_prefix_cache=prefix_cache),
        pad_id=pad_id,
        stop_ids=stop_ids,
        use_chat_template=has_template if chat_template is None else chat_template,
    )
