"""The fidelity pack: a fixed, versioned set of items every provider of a model answers, written out as a run
plan (``tianping fidelity plan``), so that the run, its resume and its report are the ordinary ones.

v1 (400 items) is the size at which a 5-point loss is found in at least 95 of 100 simulated runs while a
faithful provider is called consistent (tests/test_fidelity_stats.py, docs/fidelity.md). v2 (464 items) keeps
v1's families at slightly smaller counts and adds code (HumanEval, MBPP: run in the code sandbox) and the
generated long-context set ``tp_longctx`` across its four length buckets. In both, the items of a benchmark are
chosen by ``limit_mode: spread`` (round-robin over subjects in stored order; for ``tp_longctx`` over length
bucket x task x language). That is a documented, reproducible rule, not a selection by measured discriminating
power: that needs item statistics over many models, which tianping does not ship. ``tp_longctx`` is the
exception by construction: its difficulty axis (context length) is the one a truncating deployment moves.
:mod:`tianping.fidelity.pack_stats` derives a discriminating pack from a lab's own multi-model runs.
"""

from __future__ import annotations

import yaml

__all__ = ["CODE_BENCHMARKS", "DEFAULT_PACK", "PACKS", "pack_plan"]

PACKS: dict[str, dict[str, int]] = {
    "v1": {
        "gsm8k": 100,  # math
        "mmlu": 100,  # knowledge (English)
        "arc_challenge": 40,  # science reasoning
        "cmmlu": 60,  # knowledge (Chinese)
        "ceval": 40,  # exams (Chinese)
        "ifeval": 60,  # instruction following
    },
    "v2": {
        "gsm8k": 80,  # math
        "mmlu": 80,  # knowledge (English)
        "arc_challenge": 30,  # science reasoning
        "cmmlu": 50,  # knowledge (Chinese)
        "ceval": 30,  # exams (Chinese)
        "ifeval": 50,  # instruction following
        "humaneval": 40,  # code, executed
        "mbpp": 40,  # code, executed
        "tp_longctx": 64,  # long context: 16 per length bucket (2k, 8k, 16k, 32k), 8 per language in each
    },
}
"""Pack version -> benchmark -> items. A released version never changes: a new selection is a new version."""

DEFAULT_PACK = "v2"
CODE_BENCHMARKS = frozenset({"humaneval", "mbpp"})
"""Benchmarks whose scoring runs model-written code: the run needs bubblewrap, or ``unsafe_exec``."""


def pack_plan(
    model: str,
    endpoints: list[str],
    *,
    pack: str = DEFAULT_PACK,
    run_id: str | None = None,
    key_envs: list[str] | None = None,
    seed: int = 1234,
    unsafe_exec: bool = False,
    items: dict[str, list[str]] | None = None,
) -> str:
    """The YAML text of a plan that sends ``pack`` to every endpoint of ``model`` (an ``openai`` name), greedy
    and with a fixed seed; the first endpoint is the natural reference. With ``items`` (benchmark -> sample ids,
    a pack derived by :mod:`tianping.fidelity.pack_stats`) the plan runs exactly those items, and ``pack`` is
    only the name it is shown under.

    A pack with code is scored by running the model's programs: in the bubblewrap sandbox where it works, else
    the run refuses to start unless ``unsafe_exec`` (rlimits and timeouts only) is written into the plan.

    Raises:
        ValueError: on an unknown pack, fewer than two endpoints, or key variables not one per endpoint.
    """
    if items is None and pack not in PACKS:
        raise ValueError(f"unknown fidelity pack '{pack}' (known: {', '.join(PACKS)})")
    if len(endpoints) < 2:
        raise ValueError("a fidelity plan needs at least two endpoints of the model (a reference and a provider)")
    if key_envs is not None and len(key_envs) != len(endpoints):
        raise ValueError(f"give one key variable per endpoint: {len(key_envs)} for {len(endpoints)} endpoints")
    models = []
    for i, url in enumerate(endpoints):
        entry: dict[str, object] = {"id": f"openai/{model}", "base_url": url}
        if key_envs is not None:
            entry["api_key_env"] = key_envs[i]
        models.append(entry)
    if items is not None:  # the derived pack's own ids: no limit applies (RunSpec.items)
        limits = {bench: len(ids) for bench, ids in items.items()}
        settings: dict[str, object] = {"items": {b: list(ids) for b, ids in items.items()}}
    else:
        limits = PACKS[pack]
        settings = {"limits": dict(limits), "limit_mode": "spread"}
    settings["generation"] = {"temperature": 0, "seed": seed}
    code = sorted(CODE_BENCHMARKS & set(limits))
    if code and unsafe_exec:
        settings["unsafe_exec"] = True
    plan: dict[str, object] = {
        **({"run_id": run_id} if run_id else {}),
        "models": models,
        "benchmarks": list(limits),
        "settings": settings,
    }
    kind = ", chosen by sample id" if items is not None else ""
    head = f"# tianping fidelity pack {pack}: {sum(limits.values())} items{kind}\n"
    if code:
        how = "unsafe_exec: true (rlimits only)" if unsafe_exec else "bubblewrap, or add settings.unsafe_exec: true"
        head += f"# {', '.join(code)} run the model's code to score it: needs {how}\n"
    if "tp_longctx" in limits:
        head += "# tp_longctx sends prompts of up to ~28k tokens (its 32k bucket): the endpoints must accept them\n"
    return head + yaml.safe_dump(plan, sort_keys=False, allow_unicode=True)
