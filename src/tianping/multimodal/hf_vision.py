"""Local vision-language models through transformers (``hf/<dir>`` holding an image-text-to-text model and its
processor): generation, and the log-likelihood of choices after a chat with images.

The chat is rendered by the model's own processor chat template, each image where the request places it, and the
processor expands the image tokens and makes the pixel values; nothing is fetched (an image given by URL is
refused). One request is computed at a time, in a worker thread, so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from pathlib import Path
from typing import Any

from tianping.core import LogLikelihood, Request, Response
from tianping.core.task import GENERATE, LOGLIKELIHOOD, LOGLIKELIHOOD_CHAT
from tianping.models.errors import BadRequest

_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}


def is_vision_model(path: Path) -> bool:
    """Whether a model folder holds a vision-language model with its processor (a ``vision_config`` in its config
    and a processor or preprocessor file beside it)."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    has_processor = any((path / f).is_file() for f in ("processor_config.json", "preprocessor_config.json"))
    return isinstance(config, dict) and "vision_config" in config and has_processor


class HFVisionBackend:
    supports = frozenset({GENERATE, LOGLIKELIHOOD, LOGLIKELIHOOD_CHAT})
    takes_images = True
    max_in_flight = 2
    """Requests handed over at once: they are computed one at a time anyway."""

    def __init__(self, model_id: str, path: Path, *, device: str = "auto", dtype: str = "float32"):
        self.model_id = model_id
        self.path = Path(path)
        self.device = device
        self.dtype = dtype
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            import torch
            from transformers import AutoModelForImageTextToText, AutoProcessor

            device = self.device
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            dtype = getattr(torch, _DTYPES.get(self.dtype, "float32"))
            processor = AutoProcessor.from_pretrained(self.path)
            model: Any = AutoModelForImageTextToText.from_pretrained(self.path, dtype=dtype)
            model = model.to(device)
            model.eval()
            self._loaded = (processor, model)
        return self._loaded

    async def aclose(self) -> None:
        self._loaded = None

    async def generate(self, request: Request) -> Response:
        return await asyncio.to_thread(self._answer, request)

    def _answer(self, request: Request) -> Response:
        with self._lock:
            t0 = time.perf_counter()
            processor, model = self._load()
            # a completion prompt is text only, as the language model part reads it
            text, images = (
                chat_inputs(processor, request) if request.messages is not None else (request.prompt or "", [])
            )
            if request.continuations is not None:
                scores = tuple(self._loglikelihood(processor, model, text, images, c) for c in request.continuations)
                return Response(completions=(), latency_s=time.perf_counter() - t0, loglikelihoods=scores)
            return self._generate(processor, model, text, images, request, t0)

    def _inputs(self, processor: Any, model: Any, text: str, images: list[Any]) -> Any:
        inputs = processor(text=text, images=images or None, return_tensors="pt")
        return inputs.to(model.device)

    def _generate(
        self, processor: Any, model: Any, text: str, images: list[Any], request: Request, t0: float
    ) -> Response:
        import torch

        params = request.params
        inputs = self._inputs(processor, model, text, images)
        sample = bool(params.temperature)
        options: dict[str, Any] = {"max_new_tokens": params.max_tokens or 256, "do_sample": sample}
        if sample:
            options["temperature"] = params.temperature
            if params.top_p is not None:
                options["top_p"] = params.top_p
        with torch.no_grad():
            out = model.generate(**inputs, **options)
        new = out[0, inputs["input_ids"].shape[1] :]
        answer = processor.tokenizer.decode(new, skip_special_tokens=True)
        finish = "length" if len(new) >= options["max_new_tokens"] else "stop"
        for stop in params.stop:
            if stop in answer:
                answer, finish = answer[: answer.index(stop)], "stop"
        from tianping.models.reasoning import split_reasoning

        return Response(
            completions=(split_reasoning(answer, None, finish),),
            latency_s=time.perf_counter() - t0,
            prompt_tokens=int(inputs["input_ids"].shape[1]),
            completion_tokens=len(new),
        )

    def _loglikelihood(
        self, processor: Any, model: Any, context: str, images: list[Any], continuation: str
    ) -> LogLikelihood:
        """The continuation's log-likelihood after the rendered chat: its tokens are those past the context's."""
        import torch

        if not continuation:
            raise BadRequest(f"{self.model_id}: an empty continuation has nothing to score")
        context_len = int(self._inputs(processor, model, context, images)["input_ids"].shape[1])
        inputs = self._inputs(processor, model, context + continuation, images)
        ids = inputs["input_ids"][0]
        if ids.shape[0] <= context_len:
            raise BadRequest(f"{self.model_id}: the continuation {continuation!r} adds no token")
        with torch.no_grad():
            logits = model(**inputs).logits[0].float()
        logprobs = torch.log_softmax(logits[context_len - 1 : -1], dim=-1)
        target = ids[context_len:]
        chosen = logprobs.gather(1, target.unsqueeze(1)).squeeze(1)
        greedy = bool((logprobs.argmax(dim=-1) == target).all())
        return LogLikelihood(
            logprob=float(chosen.sum()),
            greedy=greedy,
            tokens=int(target.shape[0]),
            chars=len(continuation),
            bytes=len(continuation.encode("utf-8")),
        )


def chat_inputs(processor: Any, request: Request) -> tuple[str, list[Any]]:
    """The chat rendered by the processor's template (with the generation prompt) and its pictures in order."""
    from PIL import Image

    carried = request.images()
    messages, images = [], []
    for message in request.payload()["messages"]:
        content = message["content"]
        if not isinstance(content, list):
            messages.append({"role": message["role"], "content": [{"type": "text", "text": content or ""}]})
            continue
        parts: list[dict[str, Any]] = []
        for part in content:
            refs = (
                part["frames"] if part["type"] == "video" else [part] if part["type"] in ("image", "image_url") else []
            )
            if part["type"] == "text":
                parts.append({"type": "text", "text": part["text"]})
            for ref in refs:
                image = carried.get(ref.get("sha256", ""))
                if image is None:
                    raise BadRequest("a local model is given images as bytes only: an image by URL is not fetched")
                with Image.open(io.BytesIO(image.data)) as picture:
                    images.append(picture.convert("RGB"))
                parts.append({"type": "image"})
        messages.append({"role": message["role"], "content": parts})
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return text, images
