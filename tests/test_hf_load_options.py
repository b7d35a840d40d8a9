"""Loading options lm-eval and OpenCompass users expect for local models: ``dtype auto``, ``trust_remote_code``,
hub ids from the local hub cache at a ``revision``, PEFT adapters, bitsandbytes quantization and pre-quantized
(GPTQ/AWQ) checkpoints, and ``device_map``; each stored in the spec, each refused with a clear message where this
machine or checkpoint cannot honour it. Nothing touches the network."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from pathlib import Path

import pytest
import torch

from engine_helpers import cli, run_engine
from hf_fixtures import tiny_model_dir  # noqa: F401 - a fixture
from tianping.engine.backends import check_backend, create_backend
from tianping.models import hf_load
from tianping.models.hf_load import ModelLoadError, checkpoint_dtype, load_local_model
from tianping.spec import ModelSpec, RunSpec, result_fields, stored_spec
from tianping.store import Store
from tianping.store.store import DB_FILENAME

IDS = [[5, 17, 42, 99, 7, 3, 250, 11]]


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor(IDS, device=model.device)).logits.float().cpu()


def copy_model(base: Path, out: Path, **config_changes) -> Path:
    shutil.copytree(base, out)
    config = json.loads((out / "config.json").read_text())
    config.update(config_changes)
    (out / "config.json").write_text(json.dumps(config))
    return out


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test; the hub is offline for huggingface_hub too."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


# --- dtype auto --------------------------------------------------------------------------------------------------


def test_dtype_auto_is_the_checkpoint_dtype(tiny_model_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    from transformers import AutoModelForCausalLM

    bf16 = tmp_path / "bf16"
    AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.bfloat16).save_pretrained(bf16)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model_dir / name, bf16 / name)
    assert checkpoint_dtype(bf16, json.loads((bf16 / "config.json").read_text())) == "bfloat16"
    assert load_local_model(bf16, device="cpu", dtype="auto").model.dtype == torch.bfloat16
    assert load_local_model(bf16, device="cpu", dtype="float32").model.dtype == torch.float32
    assert load_local_model(bf16, device="cpu").model.dtype == torch.float32, "the default stays float32"


def test_dtype_auto_reads_the_old_key_and_falls_back_to_float32(tmp_path: Path) -> None:
    assert checkpoint_dtype(tmp_path, {"torch_dtype": "float16"}) == "float16"
    assert checkpoint_dtype(tmp_path, {"dtype": "torch.bfloat16"}) == "bfloat16"
    assert checkpoint_dtype(tmp_path, {}) == "float32"
    with pytest.raises(ModelLoadError, match="--dtype"):
        checkpoint_dtype(tmp_path, {"dtype": "int8"})


def test_dtype_auto_without_a_dtype_in_the_config_loads_float32(tiny_model_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    plain = copy_model(tiny_model_dir, tmp_path / "plain")
    config = json.loads((plain / "config.json").read_text())
    config.pop("dtype", None), config.pop("torch_dtype", None)
    (plain / "config.json").write_text(json.dumps(config))
    assert load_local_model(plain, device="cpu", dtype="auto").model.dtype == torch.float32


# --- trust_remote_code -------------------------------------------------------------------------------------------

CUSTOM_CODE = """
from transformers import LlamaConfig, LlamaForCausalLM


class TianpingTinyConfig(LlamaConfig):
    model_type = "tianping_tiny_custom"


class TianpingTinyForCausalLM(LlamaForCausalLM):
    config_class = TianpingTinyConfig
"""


def custom_code_model(base: Path, out: Path) -> Path:
    """The tiny model's weights behind a model type transformers does not know, mapped to code in the folder."""
    copy_model(
        base,
        out,
        model_type="tianping_tiny_custom",
        architectures=["TianpingTinyForCausalLM"],
        auto_map={
            "AutoConfig": "tiny_custom.TianpingTinyConfig",
            "AutoModelForCausalLM": "tiny_custom.TianpingTinyForCausalLM",
        },
    )
    (out / "tiny_custom.py").write_text(CUSTOM_CODE)
    return out


def test_remote_code_is_refused_without_the_flag_and_runs_with_it(tiny_model_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    folder = custom_code_model(tiny_model_dir, tmp_path / "custom_tp_tiny")
    refused = ModelSpec(id=f"hf/{folder}", device="cpu")
    with pytest.raises(
        ModelLoadError, match=r"custom code .*tiny_custom\.TianpingTinyForCausalLM.*--trust-remote-code"
    ):
        check_backend(refused)
    with pytest.raises(ModelLoadError, match="--trust-remote-code"):
        load_local_model(folder, device="cpu")
    loaded = load_local_model(folder, device="cpu", trust_remote_code=True)
    assert type(loaded.model).__name__ == "TianpingTinyForCausalLM"
    check_backend(ModelSpec(id=f"hf/{folder}", device="cpu", trust_remote_code=True))
    base = load_local_model(tiny_model_dir, device="cpu")
    torch.testing.assert_close(logits(loaded.model), logits(base.model))  # same weights, the folder's class


def test_auto_map_of_a_type_transformers_knows_needs_no_flag(tiny_model_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    folder = copy_model(tiny_model_dir, tmp_path / "mapped", auto_map={"AutoModelForCausalLM": "x.Y"})
    check_backend(ModelSpec(id=f"hf/{folder}", device="cpu"))  # llama: transformers' own class is used


# --- hub ids from the local hub cache ----------------------------------------------------------------------------

COMMIT_A = "a" * 40
COMMIT_B = "0123456789abcdef0123456789abcdef01234567"


def hub_cache(root: Path, base: Path, repo_id: str = "tianping-test/tiny") -> Path:
    """A hub cache in the standard layout: two snapshots, ``main`` at the first, tag ``v2`` at the second."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    for commit in (COMMIT_A, COMMIT_B):
        shutil.copytree(base, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT_A)
    (repo / "refs" / "v2").write_text(COMMIT_B)
    return root


def test_hub_id_resolves_in_the_local_cache_and_names_its_commit(
    tiny_model_dir: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_network: None,
) -> None:
    cache = hub_cache(tmp_path / "hub", tiny_model_dir)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    main = ModelSpec(id="hf/tianping-test/tiny", device="cpu")
    assert main.endpoint == f"hf-hub://tianping-test/tiny@{COMMIT_A}"
    assert ModelSpec(id="hf/tianping-test/tiny", revision="v2").endpoint == f"hf-hub://tianping-test/tiny@{COMMIT_B}"
    at_commit = ModelSpec(id="hf/tianping-test/tiny", revision=COMMIT_B)
    assert at_commit.endpoint == f"hf-hub://tianping-test/tiny@{COMMIT_B}"
    check_backend(main)
    backend = create_backend(at_commit)
    try:
        assert backend.loaded.path == cache / "models--tianping-test--tiny" / "snapshots" / COMMIT_B
    finally:
        asyncio.run(backend.aclose())


def test_a_hub_id_not_in_the_cache_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    spec = ModelSpec(id="hf/tianping-test/absent", revision="v9")
    with pytest.raises(
        ModelLoadError, match=r"not in the local hub cache .*`hf download tianping-test/absent --revision v9`"
    ):
        check_backend(spec)
    with pytest.raises(ModelLoadError, match="does not exist"):
        create_backend(spec)
    assert "not in the local cache" in spec.endpoint  # never answers: loading fails first


def test_revision_applies_to_hub_ids_only(tiny_model_dir: Path) -> None:  # noqa: F811
    with pytest.raises(ModelLoadError, match="revision 'v2' applies to Hugging Face hub ids"):
        check_backend(ModelSpec(id=f"hf/{tiny_model_dir}", revision="v2"))
    with pytest.raises(ValueError, match="revision names a version of a hub model"):
        ModelSpec(id="ref/tp-ref-clean", revision="v2")
    with pytest.raises(ValueError, match="revision"):
        ModelSpec(id="hf/a/b", revision="main branch")
    with pytest.raises(ModelLoadError, match="is not a branch, tag or commit"):
        check_backend(ModelSpec(id="hf/a/b", revision="x/../../y"))


def test_a_run_of_a_hub_model_records_the_commit_with_every_sample(
    tiny_model_dir: Path,  # noqa: F811
    tmp_path: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_network: None,
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache(tmp_path / "hub", tiny_model_dir)))
    spec = RunSpec(
        models=[ModelSpec(id="hf/tianping-test/tiny", revision="v2", device="cpu", dtype="auto", batch_size=4)],
        benchmarks=["mmlu"],
        mode="loglikelihood",
        limit=2,
        data_dir=str(data_dir),
    )
    store = Store(tmp_path / "results.db")
    result = run_engine(store, spec)
    assert result.status == "completed", result.message
    rows = list(store.sample_rows(result.run_id))
    # the dtype asked for is part of who answers: a float32 run of the same weights must not share its cache
    assert len(rows) == 2 and {r["endpoint"] for r in rows} == {f"hf-hub://tianping-test/tiny@{COMMIT_B};dtype=auto"}
    stored = store.get_run(result.run_id)["spec"]["models"][0]
    assert stored["revision"] == "v2" and stored["dtype"] == "auto"


# --- PEFT adapters -----------------------------------------------------------------------------------------------


def lora_adapter(base: Path, out: Path) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(3)
    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj", "o_proj"], init_lora_weights=False)
    peft_model = get_peft_model(model, config)  # init_lora_weights=False: B is random, so the adapter changes outputs
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.mul_(20.0)
    peft_model.save_pretrained(out)
    return out


def test_a_lora_adapter_changes_the_logits_and_merges_exactly(tiny_model_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    pytest.importorskip("peft", reason="peft is not installed (pip install 'tianping[peft]')")
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = lora_adapter(tiny_model_dir, tmp_path / "lora")
    base = load_local_model(tiny_model_dir, device="cpu")
    tuned = load_local_model(tiny_model_dir, device="cpu", adapter=adapter)
    assert type(tuned.model).__name__ == "LlamaForCausalLM", "merged into the weights: a plain model again"
    assert (logits(tuned.model) - logits(base.model)).abs().max() > 1e-2
    reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(adapter)).eval()
    torch.testing.assert_close(logits(tuned.model), logits(reference), rtol=1e-4, atol=1e-4)


def test_the_adapter_is_stored_absolute_and_part_of_the_identity(
    tiny_model_dir: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = ModelSpec(id=f"hf/{tiny_model_dir}", adapter="lora")
    assert spec.adapter == str(tmp_path / "lora")
    assert spec.endpoint == f"file://{tiny_model_dir.resolve()};adapter=file://{(tmp_path / 'lora').resolve()}"
    assert ModelSpec(id=f"hf/{tiny_model_dir}").endpoint == f"file://{tiny_model_dir.resolve()}"  # as before


def test_bad_adapters_and_missing_peft_are_refused(
    tiny_model_dir: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        check_backend(ModelSpec(id=f"hf/{tiny_model_dir}", adapter=str(tmp_path / "nothing")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="missing adapter_config.json; adapter_model.safetensors"):
        check_backend(ModelSpec(id=f"hf/{tiny_model_dir}", adapter=str(tmp_path / "empty")))
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "adapter_config.json").write_text("{}")
    (fake / "adapter_model.safetensors").write_bytes(b"")
    real = hf_load.installed
    monkeypatch.setattr(hf_load, "installed", lambda module: module != "peft" and real(module))
    with pytest.raises(ModelLoadError, match=r"peft, which is not installed: pip install 'tianping\[peft\]'"):
        check_backend(ModelSpec(id=f"hf/{tiny_model_dir}", adapter=str(fake)))


# --- quantization ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", ["8bit", "4bit"])
def test_bitsandbytes_quantization_needs_its_library_and_cuda(tiny_model_dir: Path, bits: str) -> None:  # noqa: F811
    if torch.cuda.is_available() and hf_load.installed("bitsandbytes"):
        pytest.skip("bitsandbytes and CUDA are both here: nothing is missing")
    spec = ModelSpec(id=f"hf/{tiny_model_dir}", device="cpu", quantization=bits)
    with pytest.raises(ModelLoadError, match=rf"quantization {bits} .*needs .*a CUDA device \(this run's: cpu\)"):
        check_backend(spec)
    with pytest.raises(ValueError, match="quantization"):
        ModelSpec(id=f"hf/{tiny_model_dir}", quantization="3bit")


def fake_quantized(base: Path, out: Path, quantization_config: dict) -> Path:
    out.mkdir()
    config = json.loads((base / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "quantization_config": quantization_config}))
    (out / "model.safetensors").write_bytes(b"")  # never read: refused before any weight is
    shutil.copy(base / "tokenizer.json", out / "tokenizer.json")
    return out


@pytest.mark.parametrize(
    ("config", "libraries"),
    [
        ({"quant_method": "gptq", "bits": 4, "group_size": 128}, ("optimum", "gptqmodel")),
        ({"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm"}, ("gptqmodel",)),
    ],
)
def test_prequantized_checkpoints_name_the_library_to_install(
    tiny_model_dir: Path,  # noqa: F811
    tmp_path: Path,
    config: dict,
    libraries: tuple[str, ...],
) -> None:
    if all(hf_load.installed(lib) for lib in libraries):
        pytest.skip(f"{', '.join(libraries)} installed: the checkpoint would load")
    folder = fake_quantized(tiny_model_dir, tmp_path / config["quant_method"], config)
    method = config["quant_method"]
    with pytest.raises(ModelLoadError, match=rf"{method}-quantized checkpoint .*pip install (optimum|gptqmodel)"):
        check_backend(ModelSpec(id=f"hf/{folder}", device="cpu"))
    with pytest.raises(ModelLoadError, match=rf"already quantized \({method}\); --quantization 4bit"):
        check_backend(ModelSpec(id=f"hf/{folder}", device="cpu", quantization="4bit"))


def test_an_unknown_quantization_method_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    folder = fake_quantized(tiny_model_dir, tmp_path / "odd", {"quant_method": "no-such-method"})
    with pytest.raises(ModelLoadError, match="no-such-method-quantized checkpoint .*Unknown quantization type"):
        check_backend(ModelSpec(id=f"hf/{folder}", device="cpu"))


# --- device_map --------------------------------------------------------------------------------------------------


def test_device_map_reaches_from_pretrained_and_loads_on_cpu(
    tiny_model_dir: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("accelerate", reason="device_map needs accelerate")
    from transformers import AutoModelForCausalLM

    seen: list[dict] = []
    real = AutoModelForCausalLM.from_pretrained

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", spy)
    loaded = load_local_model(tiny_model_dir, device_map="auto")
    assert seen[-1]["device_map"] == "auto"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert loaded.device.type == expected
    base = load_local_model(tiny_model_dir, device="cpu")
    torch.testing.assert_close(logits(loaded.model), logits(base.model), rtol=1e-4, atol=1e-4)


def test_device_map_without_accelerate_says_what_to_install(
    tiny_model_dir: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = hf_load.installed
    monkeypatch.setattr(hf_load, "installed", lambda module: module != "accelerate" and real(module))
    with pytest.raises(ModelLoadError, match="device_map auto .*accelerate, which is not installed: pip install"):
        check_backend(ModelSpec(id=f"hf/{tiny_model_dir}", device_map="auto"))


# --- stored with the run -----------------------------------------------------------------------------------------


def test_options_are_stored_and_only_device_map_may_change_on_resume(tmp_path: Path, data_dir: Path) -> None:
    options = {"dtype": "auto", "trust_remote_code": True, "revision": "v2", "adapter": str(tmp_path / "lora"),
               "quantization": "4bit", "device_map": "auto"}  # fmt: skip
    spec = RunSpec(models=[ModelSpec(id="hf/a/b", **options)], benchmarks=["gsm8k"], data_dir=str(data_dir))
    stored = stored_spec(spec)
    assert {k: stored["models"][0][k] for k in options} == options
    assert RunSpec.model_validate(stored) == spec  # resume reads the same spec back
    results = result_fields(stored)["models"][0]
    assert "device_map" not in results
    assert all(k in results for k in options if k != "device_map")
    old = stored_spec(RunSpec(models=[ModelSpec(id="hf/a/b")], benchmarks=["gsm8k"], data_dir=str(data_dir)))
    for key in options:  # a spec stored before these options existed reads with their defaults
        del old["models"][0][key]
    assert RunSpec.model_validate(old).models[0].dtype == "float32"


def test_cli_flags_reach_the_spec_and_a_bad_one_fails_before_any_run(
    tiny_model_dir: Path,  # noqa: F811
    tmp_path: Path,
    data_dir: Path,
) -> None:
    results = tmp_path / "results"
    common = ["run", "--model", f"hf/{tiny_model_dir}", "--benchmark", "mmlu", "--mode", "loglikelihood", "--limit",
              "1", "--data-dir", str(data_dir), "--results-dir", str(results), "--device", "cpu"]  # fmt: skip
    done = cli(*common, "--quantization", "8bit")  # CPU: bitsandbytes needs CUDA
    assert done.returncode == 2 and "quantization 8bit" in done.stderr and "bitsandbytes" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (results / DB_FILENAME).exists()
    done = cli(*common, "--revision", "v2")
    assert done.returncode == 2 and "applies to Hugging Face hub ids" in done.stderr, done.stderr
    done = cli(*common, "--dtype", "auto", "--trust-remote-code", "--device-map", "auto", "--run-id", "opts")
    assert done.returncode == 0, done.stderr[-3000:]
    stored = Store(results / DB_FILENAME).get_run("opts")["spec"]["models"][0]
    assert (stored["dtype"], stored["trust_remote_code"], stored["device_map"]) == ("auto", True, "auto")
