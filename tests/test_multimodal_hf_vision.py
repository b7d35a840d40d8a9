"""A local vision-language model (``hf/<dir>``): a tiny LLaVA built from a config with random weights (no
download), answering chats with images and scoring choices by log-likelihood the way transformers computes it."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from engine_helpers import cli  # noqa: E402
from tianping.core import GenerationParams, Message, Request  # noqa: E402
from tianping.core.media import ImagePart  # noqa: E402
from tianping.multimodal.hf_vision import HFVisionBackend, chat_inputs, is_vision_model  # noqa: E402

REF_TOKENIZER = (
    Path(__file__).resolve().parents[1] / "src" / "tianping" / "refmodels" / "tp-ref-clean" / "tokenizer.json"
)
TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {% for p in m['content'] %}{% if p['type'] == 'image' %}<image>"
    "{% else %}{{ p['text'] }}{% endif %}{% endfor %}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
)


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(REF_TOKENIZER), bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    vision = CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=512, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config)
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        chat_template=TEMPLATE,
        image_token="<image>",
        num_additional_image_tokens=1,
    )
    folder = tmp_path_factory.mktemp("tiny-vlm")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def png(color: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _chat(image: bytes, continuations: tuple[str, ...] | None = None) -> Request:
    message = Message("user", "What colour is it?", parts=(ImagePart(data=image),))
    return Request(
        model="hf/tiny", messages=(message,), continuations=continuations, params=GenerationParams(max_tokens=6)
    )


def test_the_folder_is_recognised_as_a_vision_model(tiny_vlm: Path, tmp_path: Path) -> None:
    assert is_vision_model(tiny_vlm)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert not is_vision_model(tmp_path)


def test_choices_are_scored_as_transformers_computes_them_and_the_image_matters(tiny_vlm: Path) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    backend = HFVisionBackend("hf/tiny", tiny_vlm, device="cpu")
    choices = (" red", " blue sky")
    red, blue = png((220, 20, 20)), png((20, 20, 220))
    scored = asyncio.run(backend.generate(_chat(red, choices))).loglikelihoods
    # the same numbers straight from transformers: the whole sequence's log-softmax, read at the choice's tokens
    processor = AutoProcessor.from_pretrained(tiny_vlm)
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm).eval()
    context, images = chat_inputs(processor, _chat(red))
    # (transformers renders templates with trim_blocks: the newline after a block tag goes)
    assert context == "user: <image>What colour is it?assistant:" and len(images) == 1
    for choice, got in zip(choices, scored, strict=True):
        start = processor(text=context, images=images, return_tensors="pt")["input_ids"].shape[1]
        full = processor(text=context + choice, images=images, return_tensors="pt")
        with torch.no_grad():
            logprobs = torch.log_softmax(model(**full).logits[0], dim=-1)
        ids = full["input_ids"][0]
        expected = sum(float(logprobs[i - 1, ids[i]]) for i in range(start, ids.shape[0]))
        assert got.logprob == pytest.approx(expected, abs=1e-4) and got.tokens == ids.shape[0] - start
    other = asyncio.run(backend.generate(_chat(blue, choices))).loglikelihoods
    assert other[0].logprob != pytest.approx(scored[0].logprob, abs=1e-6)


def test_generation_sees_the_expanded_image_tokens(tiny_vlm: Path) -> None:
    backend = HFVisionBackend("hf/tiny", tiny_vlm, device="cpu")
    answer = asyncio.run(backend.generate(_chat(png((0, 200, 0)))))
    again = asyncio.run(backend.generate(_chat(png((0, 200, 0)))))
    assert answer.first.text == again.first.text and answer.completion_tokens <= 6
    # the picture stands in the prompt as its (32 / 8) ** 2 = 16 patches (the "default" strategy drops the class token)
    params = GenerationParams(max_tokens=2)
    text_only = Request(model="hf/tiny", messages=(Message("user", "What colour is it?"),), params=params)
    plain = asyncio.run(backend.generate(text_only))
    assert answer.prompt_tokens - plain.prompt_tokens == 16
    url = Request(
        model="hf/tiny", messages=(Message("user", "?", parts=(ImagePart(url="https://example.org/a.png"),)),)
    )
    with pytest.raises(Exception, match="not fetched"):
        asyncio.run(backend.generate(url))


def test_tp_vision_runs_on_the_local_model_from_the_command_line(tiny_vlm: Path, tmp_path: Path) -> None:
    done = cli(
        "run", "--benchmark", "tp_vision", "--model", f"hf/{tiny_vlm}", "--limit", "3", "--max-tokens", "4",
        "--results-dir", str(tmp_path), "--run-id", "local", "--json", str(tmp_path / "s.json"),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["run_id"] == "local"
    ((result,),) = [[r for r in summary["results"] if r["benchmark"] == "tp_vision" and r["metric"] == "accuracy"]]
    assert result["n"] == 3 and result["model"] == f"hf/{tiny_vlm}"
    assert len(list((tmp_path / "images").iterdir())) == 3
