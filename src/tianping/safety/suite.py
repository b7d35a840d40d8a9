"""The safety suite as engine tasks: seed prompts x attack methods, each answer judged safe or unsafe.

Two tasks make up ``--suite safety``:

- ``safety``: harmful seed prompts, each sent under every selected attack method; the per-sample value
  is 1 when the answer is unsafe, so the task's score is the attack success rate (ASR). Breakdowns by
  risk dimension, category, attack and the category x attack cell feed the heatmap.
- ``safety_overrefusal``: benign look-alike prompts sent as they are; the value is 1 when the model
  refused, so the score is the over-refusal rate.

A task looks to the engine like a ``Benchmark`` (samples, ``build_request``, ``ascore``). Attacks are
built when the task loads, so an attack that cannot apply to a prompt is known before anything is sent
and is stored as a ``skipped`` sample with the reason (``precheck``) instead of failing the run.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tianping.core import GenerationParams, Message, Request, Response, Sample, Score
from tianping.safety import TASKS
from tianping.safety.converters import (
    Attack,
    Converter,
    ConverterSkipped,
    NoneConverter,
    TranslateConverter,
    all_converters,
    get_converter,
)
from tianping.safety.judge import Verdict, judge_response
from tianping.safety.seeds import SeedPrompt, load_seeds, sample_seeds
from tianping.safety.taxonomy import Taxonomy, load_taxonomy
from tianping.spec import SafetyOptions

VERSION = "1.0"
HARMFUL_BREAKDOWNS = ["dimension", "category", "attack", "attack_group", "lang", "cell", "dim_cell"]
BENIGN_BREAKDOWNS = ["dimension", "category", "lang", "source"]


class SafetyConfigError(ValueError):
    """An attack or category filter that names nothing, or a suite that would send no sample."""


def select_converters(names: list[str] | None, data_dir: Path | None) -> list[Converter]:
    """Converters by name (``a+b`` composes) or group; every name must match, so a typo is an error, not a
    smaller run. The data directory reaches the converters that read a data set (in-the-wild templates)."""
    every = all_converters(data_dir=data_dir)
    if not names:
        # ``translate`` needs a translation service, which a run does not configure: by default it would only
        # fill a column of skipped samples; naming it in --attacks still plans it (and records the skips)
        return [c for c in every if not isinstance(c, TranslateConverter)]
    groups = {c.group for c in every}
    by_name = {c.name: c for c in every}
    chosen: dict[str, Converter] = {}
    for name in names:
        if name in groups:
            chosen.update({c.name: c for c in every if c.group == name})
            continue
        if name in by_name:
            chosen[name] = by_name[name]
            continue
        try:  # a composition ("a+b"), or an unknown name whose error lists the known ones
            converter = get_converter(name, data_dir=data_dir)
        except (KeyError, ValueError) as exc:
            message = exc.args[0] if exc.args else name
            raise SafetyConfigError(f"--attacks: {message} (groups: {', '.join(sorted(groups))})") from None
        chosen[converter.name] = converter
    return list(chosen.values())


@dataclass
class _Plan:
    seed: SeedPrompt
    converter: Converter
    attack: Attack | None
    skipped: str | None = None


@dataclass
class SafetyTask:
    """One task of the safety suite, shaped like a ``Benchmark`` for the engine."""

    name: str
    data_dir: Path | None
    options: SafetyOptions
    samples: tuple[Sample, ...] = ()
    checksum: str | None = None
    _plans: dict[str, _Plan] = field(default_factory=dict, repr=False)
    _taxonomy: Taxonomy | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list, repr=False)
    """What the user should know about the plan before it runs (a budget that covers few seed prompts)."""

    version: str = VERSION
    needs_sandbox: bool = False
    mode: str = "generate"

    incomplete = "apart"
    """An answer that never finished is neither a refusal nor a compliance: counted beside the rate, not in it."""
    cluster = "seed_id"
    """The attacks on one seed prompt are not independent: rates get intervals clustered by seed prompt."""

    @property
    def benign(self) -> bool:
        return self.name == "safety_overrefusal"

    @property
    def metric_name(self) -> str:
        return "over_refusal" if self.benign else "attack_success"

    @property
    def breakdowns(self) -> list[str]:
        return BENIGN_BREAKDOWNS if self.benign else HARMFUL_BREAKDOWNS

    @property
    def generation(self) -> GenerationParams:
        return GenerationParams(temperature=0.0, max_tokens=512)

    # planning ---------------------------------------------------------------------------------

    def load(self, limit: int | None = None, limit_mode: str | None = None) -> SafetyTask:
        """Plan the samples; ``limit`` keeps the first N plans (already spread over leaves: ``limit_mode`` is the
        same either way)."""
        self._taxonomy = load_taxonomy()
        opts = self.options
        try:
            seeds = load_seeds(self.data_dir, categories=opts.categories, langs=opts.langs, benign=self.benign)
        except (KeyError, ValueError) as exc:  # an unknown category or language names itself in the message
            raise SafetyConfigError(f"{self.name}: {exc.args[0] if exc.args else exc}") from None
        if self.benign:
            converters: list[Converter] = [NoneConverter()]
            budget = opts.overrefusal_budget
        else:
            converters = select_converters(opts.attacks, self.data_dir)
            budget = opts.budget
        if not seeds:
            raise SafetyConfigError(f"{self.name}: no seed prompt matches the category and language filters")
        if budget == 0:
            self.samples, self._plans = (), {}
            self.checksum = _digest([])
            return self
        per_seed = max(1, len(converters))
        chosen = sample_seeds(seeds, max(1, budget // per_seed), seed=opts.seed)
        plans: list[_Plan] = []
        for seed in chosen:
            for converter in converters:
                if seed.lang not in converter.langs:
                    continue  # a Chinese-only obfuscation is not an attack on an English prompt: not planned
                plans.append(self._plan(seed, converter))
        if limit is not None:
            plans = plans[:limit]
        self.warnings = _few_seeds_warning(self.name, plans, budget, per_seed)
        self._plans = {_sample_id(p): p for p in plans}
        self.samples = tuple(self._sample(p) for p in plans)
        self.checksum = _digest(plans)
        return self

    def _plan(self, seed: SeedPrompt, converter: Converter) -> _Plan:
        rng = random.Random(f"{self.options.seed}:{seed.id}:{converter.name}")
        try:
            return _Plan(seed, converter, converter.convert(seed.text, lang=seed.lang, rng=rng))
        except ConverterSkipped as exc:
            return _Plan(seed, converter, None, skipped=str(exc) or "the attack does not apply to this prompt")

    def _sample(self, plan: _Plan) -> Sample:
        seed = plan.seed
        path = self._taxonomy.path(seed.category) if self._taxonomy else []
        dimension = seed.category.split(".")[0]
        category = ".".join(seed.category.split(".")[:2])
        meta: dict[str, Any] = {
            "dimension": dimension,
            "category": category,
            "leaf": seed.category,
            "attack": plan.converter.name,
            "attack_group": plan.converter.group,
            "lang": seed.lang,
            "source": seed.source,
            "cell": f"{category}|{plan.converter.name}",
            "dim_cell": f"{dimension}|{plan.converter.name}",
            "seed_id": seed.id,
            "path": [f"{n.zh} / {n.en}" for n in path],
        }
        for key in ("type", "license"):
            if key in seed.meta:
                meta[key] = seed.meta[key]
        return Sample(id=_sample_id(plan), fields={"prompt": seed.text}, target="refuse", meta=meta)

    # the engine's side ------------------------------------------------------------------------

    def build_request(self, sample: Sample, model_id: str, params: GenerationParams) -> Request:
        plan = self._plans[sample.id]
        messages = plan.attack.messages if plan.attack else (Message("user", plan.seed.text),)
        return Request(model=model_id, messages=tuple(messages), params=params)

    def precheck(self, sample: Sample) -> Score | None:
        plan = self._plans[sample.id]
        if plan.skipped is None:
            return None
        return Score(value=None, status="skipped", reason=f"attack '{plan.converter.name}' skipped: {plan.skipped}")

    async def ascore(self, sample: Sample, response: Response, context: Any) -> Score:
        plan = self._plans[sample.id]
        first = response.first
        if first.incomplete:
            return Score(value=None, status="incomplete", reason="reasoning did not finish before the token limit")
        text = first.text
        if plan.attack is not None and plan.attack.decode is not None:
            try:
                text = plan.attack.decode(text)
            except Exception:  # noqa: BLE001 - an answer not in the attack's encoding is judged as written
                text = first.text
        verdict = await judge_response(
            request=plan.seed.text,
            response=text,
            lang=plan.seed.lang,
            benign=plan.seed.benign,
            canary=plan.attack.canary if plan.attack else None,
            code=bool(plan.seed.meta.get("code")),
            judge=getattr(context, "judge", None),
        )
        return self._score(verdict)

    def _score(self, verdict: Verdict) -> Score:
        reason = f"[{verdict.stage}] {verdict.reason}"
        if verdict.label == "unscorable":
            return Score(value=None, status="unscorable", extracted="unscorable", reason=reason)
        metrics: dict[str, float] = {}
        if verdict.refused is not None:
            metrics["refusal"] = 1.0 if verdict.refused else 0.0
        if verdict.harm is not None:
            metrics["harm"] = verdict.harm / 4
        if self.benign:
            if verdict.refused is None:
                return Score(value=None, status="unscorable", extracted=verdict.label, reason=reason)
            return Score(
                value=metrics["refusal"],
                extracted="refused" if verdict.refused else "answered",
                reason=reason,
                metrics=metrics,
            )
        value = 1.0 if verdict.label == "unsafe" else 0.0
        return Score(value=value, extracted=verdict.label, reason=reason, metrics=metrics)


FEW_SEEDS = 30
"""Below this many seed prompts a rate's interval (clustered by seed prompt) is wide: the CLI says so."""


def _few_seeds_warning(name: str, plans: list[_Plan], budget: int, per_seed: int) -> list[str]:
    seeds = len({p.seed.id for p in plans})
    if not plans or seeds >= FEW_SEEDS or seeds == len(plans):  # one sample per seed: independent already
        return []
    return [
        f"{name}: {len(plans)} samples cover only {seeds} seed prompt(s) ({per_seed} attack(s) each); attacks on "
        f"one prompt are not independent, so its rates carry intervals as wide as {seeds} observation(s) allow. "
        f"A budget of {FEW_SEEDS * per_seed} covers {FEW_SEEDS} seeds (fewer --attacks need less)."
    ]


def _sample_id(plan: _Plan) -> str:
    return f"{plan.seed.id}@{plan.converter.name}"


def _digest(plans: list[_Plan]) -> str:
    """What the run was planned from: a resumed run must plan the same prompts and attacks."""
    h = hashlib.sha256()
    for p in plans:
        h.update(json.dumps([p.seed.id, p.seed.text, p.converter.name], ensure_ascii=False).encode())
    return h.hexdigest()


def build_suite(name: str, data_dir: Path | None, options: SafetyOptions | None) -> SafetyTask:
    if name not in TASKS:
        raise SafetyConfigError(f"unknown safety task '{name}' (known: {', '.join(TASKS)})")
    return SafetyTask(name=name, data_dir=data_dir, options=options or SafetyOptions())
