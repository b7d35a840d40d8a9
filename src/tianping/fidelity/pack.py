"""The fidelity pack: a fixed, versioned set of items every provider of a model answers, written out as a run
plan (``tianping fidelity plan``), so that the run, its resume and its report are the ordinary ones.

v1 is 400 items: the size at which a 5-point loss is found in at least 95 of 100 simulated runs while a
faithful provider is called consistent (tests/test_fidelity_stats.py, docs/fidelity.md). The items of each
benchmark are chosen by ``limit_mode: spread`` (round-robin over the subjects where a data set has them, in its
stored order): a documented, reproducible rule. It is not yet a selection by discriminating
power, which needs item statistics over many models that tianping does not ship.
"""

from __future__ import annotations

import yaml

__all__ = ["PACKS", "pack_plan"]

PACKS: dict[str, dict[str, int]] = {
    "v1": {
        "gsm8k": 100,  # math
        "mmlu": 100,  # knowledge (English)
        "arc_challenge": 40,  # science reasoning
        "cmmlu": 60,  # knowledge (Chinese)
        "ceval": 40,  # exams (Chinese)
        "ifeval": 60,  # instruction following
    }
}
"""Pack version -> benchmark -> items. Code (needs ``unsafe_exec``) and long context (no bundled benchmark) are
not in v1."""


def pack_plan(
    model: str,
    endpoints: list[str],
    *,
    pack: str = "v1",
    run_id: str | None = None,
    key_envs: list[str] | None = None,
    seed: int = 1234,
) -> str:
    """The YAML text of a plan that sends ``pack`` to every endpoint of ``model`` (an ``openai`` name), greedy
    and with a fixed seed; the first endpoint is the natural reference.

    Raises:
        ValueError: on an unknown pack, fewer than two endpoints, or key variables not one per endpoint.
    """
    if pack not in PACKS:
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
    limits = PACKS[pack]
    plan: dict[str, object] = {
        **({"run_id": run_id} if run_id else {}),
        "models": models,
        "benchmarks": list(limits),
        "settings": {
            "limits": dict(limits),
            "limit_mode": "spread",
            "generation": {"temperature": 0, "seed": seed},
        },
    }
    return f"# tianping fidelity pack {pack}: {sum(limits.values())} items\n" + yaml.safe_dump(
        plan, sort_keys=False, allow_unicode=True
    )
