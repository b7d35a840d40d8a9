"""A compiled benchmark: samples from files, prompts from templates, scores from extractors.

``Benchmark`` is what the engine works with. It is built from a validated ``BenchmarkDef`` and a
data directory; nothing is read until ``load`` is called.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tianping.benchmarks.definition import BenchmarkDef, DatasetDef, Mode
from tianping.benchmarks.errors import BenchmarkDefinitionError, DatasetError
from tianping.benchmarks.loaders import (
    LAZY_LOADERS,
    LOADERS,
    PATH_OPTIONS,
    LoadedDataset,
    bundled_tables,
    load_dataset,
    option_paths,
    resolve_loader,
)
from tianping.benchmarks.loglikelihood import ContextOptions, LogLikelihoodTask
from tianping.benchmarks.references import is_reference, resolve_reference
from tianping.benchmarks.scorers import (
    ScoringContext,
)
from tianping.benchmarks.strategies import GenerationStrategy, LogLikelihoodStrategy, Strategy
from tianping.benchmarks.templates import location
from tianping.core import GenerationParams, Request, Response, Sample, Score
from tianping.core.errors import TaskConfigError
from tianping.core.items import select_items
from tianping.core.task import AggregatedByAttributes, Episode


def _checksum(files: Sequence[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(set(files)):
        rel = path.relative_to(root) if path.is_relative_to(root) else path
        digest.update(str(rel).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    try:
        resolved = path.resolve()  # symlinks followed: a link in the data root may point anywhere
    except (OSError, RuntimeError):  # a symlink loop
        return False
    return any(resolved.is_relative_to(root) for root in roots)


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _round_robin(samples: Sequence[Sample], key: str, limit: int) -> list[Sample]:
    """The first ``limit`` samples taken across groups in turn, so a small limit still spans subjects."""
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[str(sample.meta.get(key, ""))].append(sample)
    ordered: list[Sample] = []
    depth = 0
    while len(ordered) < limit:
        row = [g[depth] for g in groups.values() if depth < len(g)]
        if not row:
            break
        ordered.extend(row)
        depth += 1
    return ordered[:limit]


def _limited(samples: list[Sample], limit: int, mode: str | None) -> list[Sample]:
    """``limit`` samples: ``spread`` (None) round-robin over subjects, so that a small limit still spans them;
    ``first``: the first ``limit`` in file order; ``per-subject``: the first ``limit`` of each subject.

    lm-evaluation-harness applies ``--limit`` to each task, and a benchmark of many subjects is many tasks
    there (MMLU: 57): ``first`` reproduces it on a single-task benchmark (GSM8K, ARC), ``per-subject`` on a
    grouped one."""
    has_subjects = any("subject" in s.meta for s in samples)
    if mode == "per-subject" and has_subjects:
        taken: dict[str, int] = defaultdict(int)
        kept = []
        for sample in samples:
            subject = str(sample.meta.get("subject", ""))
            if taken[subject] < limit:
                taken[subject] += 1
                kept.append(sample)
        return kept
    if mode in ("first", "per-subject") or not has_subjects:
        return samples[:limit]
    return _round_robin(samples, "subject", limit)


@dataclass
class Benchmark(AggregatedByAttributes):
    definition: BenchmarkDef
    source: str
    data_dir: Path
    samples: tuple[Sample, ...] = ()
    checksum: str | None = None
    mode: Mode | None = None
    """``generate`` or ``loglikelihood``; None: the definition's default mode."""
    allow_outside_data: bool = False
    """Read dataset paths that resolve outside ``data_dir`` (and ``definition_dir``); off, they are refused."""
    definition_dir: Path | None = None
    """The folder of a user's definition file, whose files it may read too; None for a bundled definition."""
    num_fewshot: int | None = None
    """Shots per question over the definition's ``fewshot.k`` (``--num-fewshot``); None: the definition's."""
    options: ContextOptions | None = None
    """How contexts are laid out beyond the definition (chat template, system instruction); None: plainly."""
    _shots: dict[str, list[Sample]] = field(default_factory=dict, repr=False)

    incomplete = "wrong"
    """An answer whose reasoning did not finish counts as not correct in the score (see ``engine.aggregate``)."""
    cluster = None
    """Items are independent: no ``meta`` key groups them for the interval."""
    breakdown_metrics: tuple[str, ...] = ()
    """Further metrics broken down like the primary one: none (breakdowns give the primary metric)."""
    count_metrics: tuple[str, ...] = ()
    """Further metrics that are counts rather than rates: none."""
    summary_breakdowns: tuple[str, ...] = ()
    """Breakdowns printed at the end of ``run`` beside the score table: none (``show`` prints them all)."""
    warnings: tuple[str, ...] = field(default=(), init=False, repr=False)
    """What the user should know about the plan before it runs (none for a benchmark)."""

    def __post_init__(self) -> None:
        d, src = self.definition, self.source
        if self.mode is None:
            self.mode = d.default_mode
        elif not d.supports(self.mode):
            how = "'loglikelihood' section" if self.mode == "loglikelihood" else "'prompt' and 'scoring' sections"
            raise BenchmarkDefinitionError(
                f"benchmark '{d.name}' ({src}) cannot run in {self.mode} mode: its definition has no {how} "
                f"(run it with --mode {d.default_mode})"
            )
        self._build_strategy()
        for where, ds in (("dataset", d.dataset), ("fewshot.dataset", d.fewshot.dataset)):
            if ds is not None and is_reference(ds.loader):
                resolve_reference(ds.loader, src, f"{where}.loader")
            elif ds is not None and resolve_loader(ds.loader) is None:
                known = ", ".join(sorted({*LOADERS, *LAZY_LOADERS}))
                raise BenchmarkDefinitionError(
                    f"{src}: field '{where}.loader': unknown loader '{ds.loader}' (known: {known})"
                )
        if d.fewshot.k > 0 and d.fewshot.dataset is None:
            raise BenchmarkDefinitionError(f"{src}: field 'fewshot.dataset': required when fewshot.k > 0")
        if self.num_fewshot is not None:
            self.configure(num_fewshot=self.num_fewshot, options=self.options)
        self._params = GenerationParams(
            temperature=d.generation.temperature,
            top_p=d.generation.top_p,
            max_tokens=d.generation.max_tokens,
            stop=tuple(d.generation.stop),
            n=d.generation.n,
        )

    def _build_strategy(self) -> None:
        d, src = self.definition, self.source
        # both are built where the definition has their sections, so that each is validated whatever the mode
        generation = GenerationStrategy(d, src, self.options) if d.prompt is not None or d.scoring is not None else None
        likelihood = LogLikelihoodStrategy(d, src, self.options) if d.loglikelihood is not None else None
        how = likelihood if self.mode == "loglikelihood" else generation
        assert how is not None  # supports(mode) checked in __post_init__
        self._how: Strategy = how

    def configure(self, *, num_fewshot: int | None = None, options: ContextOptions | None = None) -> Benchmark:
        """Apply a run's prompt settings before ``load``: ``num_fewshot`` shots per question instead of the
        definition's ``fewshot.k`` (N > 0 needs a few-shot source), and the context ``options``."""
        d = self.definition
        if num_fewshot is not None and num_fewshot > 0 and d.fewshot.dataset is None:
            raise BenchmarkDefinitionError(
                f"benchmark '{d.name}' ({self.source}) has no few-shot source (fewshot.dataset) to take "
                f"--num-fewshot {num_fewshot} shots from; run it apart, or with --num-fewshot 0"
            )
        self.num_fewshot = num_fewshot
        self.options = options
        self._build_strategy()
        return self

    @property
    def fewshot_k(self) -> int:
        """Shots per question: ``num_fewshot`` where the run sets it, else the definition's ``fewshot.k``."""
        return self.num_fewshot if self.num_fewshot is not None else self.definition.fewshot.k

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def version(self) -> str:
        """The definition's version; a log-likelihood run says so, as its prompts and metrics differ, and so
        does a run whose shot count or context options change the prompts (``1.0+2shot``)."""
        version = self.definition.version
        if self.fewshot_k != self.definition.fewshot.k:
            version += f"+{self.fewshot_k}shot"
        return self._how.version(version)

    @property
    def breakdowns(self) -> list[str]:
        return self._how.breakdowns()

    @property
    def generation(self) -> GenerationParams:
        return self._params

    def _check(self, ds: DatasetDef, where: str) -> None:
        """Refuse a dataset whose options or paths the definition may not use; nothing is read."""
        for name in PATH_OPTIONS.get(ds.loader, ()):
            if name in ds.options and not isinstance(ds.options[name], str):
                raise BenchmarkDefinitionError(f"{self.source}: field '{where}.options.{name}': expected a path")
        table = ds.options.get("categories")
        if ds.loader == "mc_csv" and table is not None and table not in bundled_tables():
            raise BenchmarkDefinitionError(
                f"{self.source}: field '{where}.options.categories': {table!r} is not a bundled subject table "
                f"(known: {', '.join(bundled_tables())})"
            )
        if not self.allow_outside_data:
            self._check_inside(ds, self.data_dir / ds.path, where)

    def _read(self, ds: DatasetDef, where: str) -> LoadedDataset:
        # unresolved, as before: the checksum names files relative to data_dir as given
        loaded = load_dataset(ds.loader, self.data_dir / ds.path, ds.options)
        if not self.allow_outside_data:
            roots = self._roots()
            for file in loaded.files:  # a loader that read further than its declared paths
                if not _inside(file, roots):
                    self._refuse_outside(f"{where}.path", str(file))
        return loaded

    def _roots(self) -> list[Path]:
        roots = [self.data_dir.resolve()]
        if self.definition_dir is not None:
            roots.append(self.definition_dir.resolve())
        return roots

    def _refuse_outside(self, field: str, shown: str) -> None:
        roots = self._roots()
        places = f"the data directory {roots[0]}" + (f" and the definition's folder {roots[1]}" if roots[1:] else "")
        raise BenchmarkDefinitionError(
            f"{self.source}: field '{field}': '{shown}' resolves outside {places}; "
            "pass --allow-outside-data to read it anyway"
        )

    def _check_inside(self, ds: DatasetDef, path: Path, where: str) -> None:
        """Refuse, before anything is read, a dataset whose path, path options or folder entries lead out of the
        data directory (and the definition's folder): a shared definition file must not read ``~/.ssh``."""
        roots = self._roots()
        if not _inside(path, roots):
            self._refuse_outside(f"{where}.path", ds.path)
        folders = [(f"{where}.path", ds.path, path)]
        for name, target in option_paths(ds.loader, path, ds.options):
            field = f"{where}.options.{name}" if name in ds.options else f"{where}.path"
            shown = ds.options[name] if name in ds.options else _relative(target, self.data_dir)
            if not _inside(target, roots):
                self._refuse_outside(field, shown)
            folders.append((field, shown, target))
        # loaders list folders (per-subject files): an entry may itself be a link to elsewhere
        for field, shown, folder in folders:
            try:
                entries = list(folder.iterdir()) if folder.is_dir() else []
            except OSError:
                continue  # unreadable: the loader says so
            for entry in entries:
                if entry.is_symlink() and not _inside(entry, roots):
                    self._refuse_outside(field, f"{shown.rstrip('/')}/{entry.name}")

    def load(
        self, limit: int | None = None, limit_mode: str | None = None, items: Sequence[str] | None = None
    ) -> Benchmark:
        """Read the data (and shot pool); ``limit`` keeps N samples as ``limit_mode`` says (see ``_limited``);
        ``items`` keeps exactly the samples of those ids, in that order (the shot pool is not affected).

        Every template the mode renders is tried against the rows here, so that a misspelt variable or a
        refused template stops the run before its first request."""
        fs = self.definition.fewshot
        shot_pool = fs.dataset if self.fewshot_k > 0 else None
        self._check(self.definition.dataset, "dataset")
        if shot_pool is not None:
            self._check(shot_pool, "fewshot.dataset")
        main = self._read(self.definition.dataset, "dataset")
        files = list(main.files)
        samples = list(main.samples)
        if items is not None:
            if limit is not None:  # RunSpec refuses it; a caller of this method must not get both silently
                raise TaskConfigError(f"items.{self.name}: cannot be combined with a limit")
            samples = select_items(samples, items, self.name)
        elif limit is not None:
            samples = _limited(samples, limit, limit_mode)
        if shot_pool is not None:
            pool = self._read(shot_pool, "fewshot.dataset")
            files.extend(pool.files)
            self._shots = self._pick_shots(pool.samples)
            # a subject with no shots fails now, not at its first request
            for sample in samples:
                if (str(sample.meta.get(fs.match, "")) if fs.match else "") not in self._shots:
                    self.shots_for(sample)
        shots = list({id(shot): shot for group in self._shots.values() for shot in group}.values())
        self._how.check(samples, shots)
        self.samples = tuple(samples)
        self.checksum = _checksum(files, self.data_dir)
        return self

    def _pick_shots(self, pool: Sequence[Sample]) -> dict[str, list[Sample]]:
        fs, k = self.definition.fewshot, self.fewshot_k
        groups: dict[str, list[Sample]] = defaultdict(list)
        for shot in pool:
            groups[str(shot.meta.get(fs.match, "")) if fs.match else ""].append(shot)
        chosen = {}
        for group, candidates in groups.items():
            if fs.sampler == "random":
                candidates = random.Random(fs.seed).sample(candidates, min(k, len(candidates)))
            chosen[group] = candidates[:k]
            if len(chosen[group]) < k:
                raise DatasetError(f"few-shot pool for '{group or self.name}' has {len(candidates)} rows, need {k}")
        return chosen

    def shots_for(self, sample: Sample) -> list[Sample]:
        fs = self.definition.fewshot
        if self.fewshot_k == 0:
            return []
        group = str(sample.meta.get(fs.match, "")) if fs.match else ""
        if group not in self._shots:
            raise DatasetError(f"{location(sample)}: no few-shot rows for {fs.match} '{group}'")
        return self._shots[group]

    def build_request(self, sample: Sample, model_id: str, params: GenerationParams) -> Request:
        """The request for one sample: a generation prompt, or in loglikelihood mode a context and its choices
        (generation parameters do not apply to those)."""
        return self._how.build_request(sample, self.shots_for(sample), model_id, params)

    @property
    def loglikelihood(self) -> LogLikelihoodTask | None:
        """How the log-likelihood mode builds and scores choices (None unless the benchmark runs in it)."""
        return self._how.task if isinstance(self._how, LogLikelihoodStrategy) else None

    @property
    def metric_name(self) -> str:
        return self._how.metric_name

    @property
    def needs_sandbox(self) -> bool:
        return self._how.sandbox

    @property
    def requires(self) -> frozenset[str]:
        """The request kind its mode sends: ``generate`` or ``loglikelihood``."""
        return self._how.requires

    @property
    def helpers(self) -> frozenset[str]:
        return frozenset({"sandbox"}) if self.needs_sandbox else frozenset()

    def precheck(self, sample: Sample) -> Score | None:
        """Every sample is asked."""
        return None

    def episode(self, sample: Sample) -> Episode | None:
        """One request per sample."""
        return None

    async def ascore(self, sample: Sample, response: Response, context: ScoringContext) -> Score:
        """Score a response with the benchmark's scorer, or its extractor and metric (or by log-likelihood)."""
        return await self._how.ascore(sample, response, context)

    def score(self, sample: Sample, response: Response) -> Score:
        """Score the first completion (incomplete reasoning is not a wrong answer), or the log-likelihoods."""
        return self._how.score(sample, response)
