"""Loading a local transformers checkpoint, checked before anything runs.

Only local files are read (``local_files_only=True``): a path that is not a model directory fails at
once with the path and what is missing, instead of a hub lookup or a failure at the first request. A hub id
resolves to its snapshot in the local hub cache first (``hf_hub.model_source``).

Options lm-eval and OpenCompass users expect, each refused before any weight is read when this machine or
checkpoint cannot honour it (:func:`check_load_options`, naming the flag or the package to install):
``dtype="auto"`` (the checkpoint's own), ``trust_remote_code`` (custom modeling code in the checkpoint),
``adapter`` (a PEFT adapter, merged into the weights), ``quantization`` (bitsandbytes 8/4-bit on CUDA),
pre-quantized GPTQ/AWQ/... checkpoints (through transformers, when their library is installed) and
``device_map`` (accelerate spreads the model over the devices).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tianping.core import Request
from tianping.core.suggest import did_you_mean
from tianping.models.hf_generate import DEFAULT_MAX_TOKENS, GenerationJob, render_plain
from tianping.models.hf_hub import ModelLoadError as ModelLoadError  # raised here, and imported from here
from tianping.models.hf_scoring import LogLikelihoodScorer
from tianping.models.hf_tokens import LMEvalEncoder, resolve_max_length
from tianping.models.quiet_loading import without_weight_bars

REFMODELS_DIR = Path(__file__).resolve().parent.parent / "refmodels"
"""Where the project's own reference models live (``ref/<name>``)."""

_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")
_DTYPES = ("auto", "float32", "float16", "bfloat16")
_CHECKPOINT_DTYPES = ("float32", "float16", "bfloat16")
QUANTIZATIONS = ("none", "8bit", "4bit")
DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")
_ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def resolve_ref_model(name: str, root: Path = REFMODELS_DIR) -> Path:
    """The directory of bundled reference model ``name``; the error lists the names that exist."""
    path = root / name
    if (path / "config.json").is_file():
        return path
    available = sorted(p.name for p in root.iterdir() if (p / "config.json").is_file()) if root.is_dir() else []
    listing = ", ".join(available) if available else "none are installed"
    hint = did_you_mean(name, available, n=1, shown=lambda x: f"ref/{x}")
    hint = f"; {hint}" if hint else ""
    raise ModelLoadError(f"no reference model '{name}' in {root}{hint} (available: {listing})")


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


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    return importlib.util.find_spec(module) is not None


SMALL_CHECKPOINT_BYTES = 200 * 1024 * 1024
"""Below this, weights load in well under a second and transformers' "Loading weights" bar is only clutter (the
bundled reference models of the quickstart are a few MB); above it, the bar shows a long load advancing."""


@contextmanager
def _quiet_if_small(path: Path) -> Iterator[None]:
    size = sum(f.stat().st_size for f in Path(path).glob("*") if f.suffix in (".safetensors", ".bin") and f.is_file())
    if size >= SMALL_CHECKPOINT_BYTES:
        yield
        return
    with without_weight_bars():
        yield


def read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"model path {path}: config.json cannot be read: {exc}") from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"model path {path}: config.json is not a JSON object")
    return config


def checkpoint_dtype(path: Path, config: dict[str, Any]) -> str:
    """The dtype the checkpoint says it was saved in (``dtype``, or the older ``torch_dtype``); float32 when it
    names none, as lm-eval's ``dtype=auto`` falls back to."""
    value = config.get("dtype") or config.get("torch_dtype")
    if value is None:
        return "float32"
    name = str(value).removeprefix("torch.")
    if name not in _CHECKPOINT_DTYPES:
        raise ModelLoadError(
            f"model path {path}: dtype auto reads {value!r} from config.json, not one of "
            f"{', '.join(_CHECKPOINT_DTYPES)}; pass --dtype float32, float16 or bfloat16"
        )
    return name


def check_adapter(adapter: Path) -> None:
    """Refuse an adapter folder that is not a saved PEFT adapter, or peft not installed."""
    if not adapter.is_dir():
        raise ModelLoadError(f"adapter {adapter} does not exist or is not a directory (a saved PEFT adapter)")
    missing = [f for f in ("adapter_config.json",) if not (adapter / f).is_file()]
    if not any((adapter / f).is_file() for f in _ADAPTER_WEIGHTS):
        missing.append(" or ".join(_ADAPTER_WEIGHTS))
    if missing:
        raise ModelLoadError(f"adapter {adapter} holds no PEFT adapter: missing {'; '.join(missing)}")
    if not installed("peft"):
        raise ModelLoadError(
            f"adapter {adapter} is applied with peft, which is not installed: pip install 'tianping[peft]' "
            "(or pip install peft)"
        )


def _check_remote_code(path: Path, config: dict[str, Any]) -> None:
    """A config whose model type transformers does not know and whose ``auto_map`` points at code in the
    checkpoint loads only by running that code: refused unless trusted."""
    auto_map = config.get("auto_map")
    if not isinstance(auto_map, dict) or not auto_map:
        return
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    if config.get("model_type") in CONFIG_MAPPING_NAMES:
        return  # transformers has its own implementation and uses it
    raise ModelLoadError(_remote_code_message(path, ", ".join(f"{k}: {v}" for k, v in auto_map.items())))


def _remote_code_message(path: Path, what: str) -> str:
    return (
        f"model path {path} needs custom code from the checkpoint ({what}), which would run on this machine; "
        "pass --trust-remote-code (trust_remote_code: true in a plan) if you trust it"
    )


def _check_prequantized(path: Path, config: dict[str, Any], quantization: str, device_map: str | None) -> None:
    """A checkpoint saved quantized (GPTQ, AWQ, ...) loads through transformers when the library its method
    needs is installed here; the error names what to install."""
    qc = config.get("quantization_config")
    if not isinstance(qc, dict):
        return
    method = qc.get("quant_method", "unknown")
    if quantization != "none":
        raise ModelLoadError(
            f"model path {path} is already quantized ({method}); --quantization {quantization} applies to "
            "unquantized checkpoints: leave it at none"
        )
    from transformers import __version__
    from transformers.quantizers.auto import AutoHfQuantizer

    try:
        quantizer = AutoHfQuantizer.from_config(qc, pre_quantized=True)
        quantizer.validate_environment(device_map=device_map, weights_only=True)
    except (ImportError, RuntimeError, ValueError) as exc:
        raise ModelLoadError(
            f"model path {path} is a {method}-quantized checkpoint (config.json quantization_config), which "
            f"transformers {__version__} loads only with its library on a device it supports: {exc}"
        ) from None


def _check_quantization(quantization: str, device: str, device_map: str | None) -> None:
    if quantization == "none":
        return
    import torch

    missing = []
    if not installed("bitsandbytes"):
        missing.append("bitsandbytes (pip install bitsandbytes)")
    if device_map is not None:
        on_cuda = torch.cuda.is_available()
        where = "cuda" if on_cuda else "no CUDA device found"
    else:
        target = pick_device(device)
        on_cuda = target.type == "cuda"
        where = str(target)
    if not on_cuda:
        missing.append(f"a CUDA device (this run's: {where})")
    if missing:
        raise ModelLoadError(
            f"quantization {quantization} loads the weights through bitsandbytes and needs {' and '.join(missing)}; "
            "use quantization none (dtype auto or bfloat16 halves the memory of float32)"
        )


def check_load_options(
    path: Path,
    *,
    device: str = "auto",
    dtype: str = "float32",
    trust_remote_code: bool = False,
    adapter: str | Path | None = None,
    quantization: str = "none",
    device_map: str | None = None,
) -> None:
    """Refuse options that this machine or the checkpoint at ``path`` cannot honour, naming the flag to pass
    or the package to install; reads config files only, never weights."""
    if dtype not in _DTYPES:
        raise ModelLoadError(f"dtype {dtype!r} is not one of {', '.join(_DTYPES)}")
    if quantization not in QUANTIZATIONS:
        raise ModelLoadError(f"quantization {quantization!r} is not one of {', '.join(QUANTIZATIONS)}")
    if device_map is not None and device_map not in DEVICE_MAPS:
        raise ModelLoadError(f"device_map {device_map!r} is not one of {', '.join(DEVICE_MAPS)}")
    config = read_config(path)
    if dtype == "auto":
        checkpoint_dtype(path, config)
    if not trust_remote_code:
        _check_remote_code(path, config)
    _check_prequantized(path, config, quantization, device_map)
    _check_quantization(quantization, device, device_map)
    if device_map is not None and not installed("accelerate"):
        raise ModelLoadError(
            f"device_map {device_map} places the model over the devices with accelerate, which is not installed: "
            "pip install accelerate"
        )
    if adapter is not None:
        check_adapter(Path(adapter).expanduser())


def apply_adapter(model: Any, adapter: Path, *, merge: bool) -> Any:
    """``model`` with the PEFT adapter at ``adapter``: merged into the weights (a plain transformers model
    again, as fast as the base), or kept as a PeftModel where merging would lose precision (quantized
    weights)."""
    from peft import PeftModel

    try:
        wrapped = PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelLoadError(f"adapter {adapter}: {exc}") from None
    if not merge:
        return wrapped
    try:
        return wrapped.merge_and_unload()
    except (AttributeError, ValueError, NotImplementedError) as exc:
        raise ModelLoadError(
            f"adapter {adapter} cannot be merged into the weights ({exc}); adapters that change the weights "
            "(LoRA, IA3, ...) are supported, prompt-learning ones are not"
        ) from None


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
    trust_remote_code: bool = False,
    adapter: str | Path | None = None,
    quantization: str = "none",
    device_map: str | None = None,
) -> LoadedModel:
    """Load model and tokenizer from ``path`` (local files only) onto ``device`` (or over the devices
    ``device_map`` names, when given); the options are those of :func:`check_load_options`."""
    path = Path(path).expanduser()
    check_model_dir(path)
    check_load_options(
        path,
        device=device,
        dtype=dtype,
        trust_remote_code=trust_remote_code,
        adapter=adapter,
        quantization=quantization,
        device_map=device_map,
    )
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = getattr(torch, checkpoint_dtype(path, read_config(path)) if dtype == "auto" else dtype)
    target: Any = pick_device(device) if device_map is None else None
    kwargs: dict[str, Any] = {"local_files_only": True, "trust_remote_code": trust_remote_code, "dtype": torch_dtype}
    if quantization != "none":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = (
            BitsAndBytesConfig(load_in_8bit=True)
            if quantization == "8bit"
            else BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch_dtype)
        )
        kwargs["device_map"] = device_map or {"": target}  # bitsandbytes places weights as it loads them
    elif device_map is not None:
        kwargs["device_map"] = device_map
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=trust_remote_code)
        with _quiet_if_small(path):
            model: Any = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except ImportError as exc:
        raise ModelLoadError(f"model path {path}: {exc}") from None
    except (OSError, ValueError, KeyError) as exc:
        if "trust_remote_code" in str(exc) and not trust_remote_code:
            raise ModelLoadError(_remote_code_message(path, "its config or tokenizer maps to code in it")) from None
        raise ModelLoadError(f"model path {path}: {exc}") from None
    if "device_map" not in kwargs:
        model.to(target)
    if adapter is not None:
        model = apply_adapter(model, Path(adapter).expanduser(), merge=quantization == "none")
    model.eval()
    if target is None:  # placed by device_map: inputs go where the embeddings are
        target = model.get_input_embeddings().weight.device
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
