"""``tianping quickstart``: a small evaluation that works on a fresh machine with no network and no data.

It evaluates the bundled reference model (``ref/tp-ref-clean``, trained by the project; see
``src/tianping/refmodels/``) on excerpts of MMLU, CMMLU and ARC-Easy scored by log-likelihood and of GSM8K
by generation, from the excerpts bundled in ``src/tianping/quickstart_data/``, prints the score table and
writes the HTML report. The same command takes ``--model hf/<checkpoint dir>`` or an OpenAI-compatible
endpoint (``--model openai/<name> --base-url ...``; endpoints only generate, so every benchmark is then
asked by generation), and ``--data-dir`` or ``TIANPING_DATA_DIR`` for the full data sets.
"""

from __future__ import annotations

from pathlib import Path

from tianping.spec import GenerationOverrides, ModelSpec, RunSpec

BUNDLED_DATA = Path(__file__).resolve().parent / "quickstart_data"
DEFAULT_MODEL = "ref/tp-ref-clean"
MULTIPLE_CHOICE = ("mmlu_5shot", "cmmlu_5shot", "arc_easy")
GENERATED = ("gsm8k",)
GSM8K_LIMIT = 10
GSM8K_MAX_TOKENS = 160
"""Enough for a short worked answer; the reference models ramble until the limit, so it bounds the run."""


def quickstart_spec(
    model: str = DEFAULT_MODEL,
    *,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    data_dir: Path | None = None,
    limit: int = 40,
) -> RunSpec:
    """The run ``tianping quickstart`` makes: which model, benchmarks, modes and limits."""
    spec_model = ModelSpec(id=model, base_url=base_url, api_key_env=api_key_env)
    local = spec_model.backend in ("hf", "ref")
    modes = {name: "loglikelihood" if local else "generate" for name in MULTIPLE_CHOICE}
    modes.update({name: "generate" for name in GENERATED})
    return RunSpec(
        models=[spec_model],
        benchmarks=[*MULTIPLE_CHOICE, *GENERATED],
        limit=limit,
        limits={name: min(limit, GSM8K_LIMIT) for name in GENERATED},
        modes=modes,
        data_dir=str((data_dir or BUNDLED_DATA).resolve()),
        generation=GenerationOverrides(max_tokens=GSM8K_MAX_TOKENS),
    )
