"""Evaluating from Python: ``tianping.evaluate`` does what ``tianping run`` does and returns the scores.

    import tianping

    result = tianping.evaluate(
        ["openai/qwen2.5-7b-instruct"], ["gsm8k", "mmlu"], base_url="http://localhost:8000/v1", limit=200
    )
    print(result.score("gsm8k"))          # MetricRow(benchmark='gsm8k', score=0.82, n=200, ci_low=0.76, ...)
    result.report("gsm8k.html")           # the HTML report of ``tianping report``
    for sample in result.samples("gsm8k"): ...   # its stored answers, as ``tianping export`` writes them

Every answer is stored as it arrives, in the same store the command line uses (``results_dir``, or ``store``
for a ``postgresql://`` or ``sqlite:///`` URL), so ``tianping show/report/compare/resume`` work on a run
started here. Options are the fields of ``RunSpec`` (``limit``, ``mode``, ``num_fewshot``, ``generation``...)
and of ``ModelSpec`` (``base_url``, ``api_key_env``, ``concurrency``, ``timeout_s``...), the latter applied to
every model given by name; an unknown option is a ``TypeError`` naming it, a bad value pydantic's
``ValidationError`` naming the field. Inside a running event loop (Jupyter) use ``await tianping.aevaluate``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tianping.core.results import MetricRow
from tianping.core.suggest import unknown_key
from tianping.spec import ModelSpec, RunSpec, default_results_dir

log = logging.getLogger("tianping")

_MODEL_OPTIONS = frozenset(ModelSpec.model_fields) - {"id", "generation"}
_RUN_OPTIONS = frozenset(RunSpec.model_fields) - {"models", "benchmarks"}


class EvaluationFailed(RuntimeError):
    """The run stopped (a wrong key, an endpoint never reached, a store error). What was answered is stored;
    ``tianping.resume(run_id)`` (or ``tianping resume RUN_ID``) finishes it once the cause is fixed."""

    def __init__(self, message: str, run_id: str):
        super().__init__(f"{message} (run {run_id}; answers so far are stored: tianping.resume({run_id!r}))")
        self.run_id = run_id


BenchmarkScore = MetricRow
"""One headline number of a run with its N and 95% interval (fractions in [0, 1]), as ``tianping show`` prints it:
``model``, ``benchmark``, ``metric``, ``score``, ``n``, ``ci_low``, ``ci_high`` and the counts beside them."""


@dataclass
class Evaluation:
    """A finished run (``status`` ``completed``, or ``incomplete`` when some samples failed after retries: a
    resume asks them again) and where it is stored."""

    run_id: str
    status: str
    message: str | None
    wall_s: float
    sent: int
    from_cache: int
    scores: list[BenchmarkScore]
    results_dir: Path | None
    store_url: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        """One line per score, as ``tianping show`` prints them (the dataclass's own would be one long line)."""
        head = f"Evaluation(run_id={self.run_id!r}, status={self.status!r}, {len(self.scores)} score(s))"
        return "\n".join([head, *(f"  {_score_line(s)}" for s in self.scores)])

    def _repr_html_(self) -> str:
        """The scores as a table in a notebook (every name escaped: they come from the run)."""
        from html import escape

        def cell(value: Any) -> str:
            return f"<td>{escape(str(value))}</td>"

        rows = "".join(
            "<tr>" + cell(s.model) + cell(s.benchmark) + cell(s.metric) + cell(_pct(s.score, s.unit))
            + cell(f"[{_pct(s.ci_low, s.unit)}, {_pct(s.ci_high, s.unit)}]") + cell(s.n) + "</tr>"
            for s in self.scores
        )  # fmt: skip
        head = "".join(f"<th>{h}</th>" for h in ("model", "benchmark", "metric", "score (%)", "95% CI", "N"))
        caption = escape(f"run {self.run_id} ({self.status})")
        return f"<table><caption>{caption}</caption><tr>{head}</tr>{rows}</table>"

    def score(self, benchmark: str, model: str | None = None, metric: str | None = None) -> BenchmarkScore:
        """The score of one benchmark (of ``model`` when the run has several, under ``metric`` when the
        benchmark reports several: the first otherwise)."""
        found = [
            s
            for s in self.scores
            if s.benchmark == benchmark and model in (None, s.model) and metric in (None, s.metric)
        ]
        models = {s.model for s in found}
        if len(models) > 1:
            raise KeyError(f"{benchmark}: several models scored it ({', '.join(sorted(models))}); name one")
        if not found:
            known = sorted({f"{s.model}/{s.benchmark}:{s.metric}" for s in self.scores})
            raise KeyError(f"no score for {benchmark} (model {model}, metric {metric}); the run has: {known}")
        return found[0]

    def samples(self, benchmark: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
        """The stored answers of the run (of one ``benchmark`` and ``model`` when named): prompt, output,
        extracted answer, score, usage, as ``tianping export`` writes them. A name the run does not hold is a
        ``KeyError`` naming the nearest, never an empty list."""
        store = self._open()
        try:
            rows = list(store.sample_rows(self.run_id))
        finally:
            store.close()
        for key, name in (("benchmark", benchmark), ("model", model)):
            known = sorted({row[key] for row in rows})
            if name is not None and name not in known:
                raise KeyError(unknown_key(name, known, f"{key} {name!r} in run {self.run_id}"))
        return [row for row in rows if benchmark in (None, row["benchmark"]) and model in (None, row["model"])]

    def report(self, path: str | Path | None = None, indicators: str | Path | None = None) -> Path:
        """Write the run's self-contained HTML report (``tianping report``) to ``path`` [default: the results
        folder's ``<run id>.html``, where ``tianping report`` writes it]."""
        from tianping.report.run_report import run_report_html

        store = self._open()
        try:
            html = run_report_html(store, self.run_id, Path(indicators) if indicators is not None else None)
        finally:
            store.close()
        out = Path(path) if path is not None else (self.results_dir or default_results_dir()) / f"{self.run_id}.html"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
        return out

    def _open(self) -> Any:
        from tianping.store import Store

        return Store.open(self.results_dir or ".", readonly=True, store=self.store_url)


def _pct(value: float | None, unit: str = "rate") -> str:
    """A rate as a percentage, a count (requests an attack spent) as itself."""
    if value is None:
        return "—"
    return f"{value:.2f}" if unit == "count" else f"{100 * value:.1f}"


def _score_line(s: BenchmarkScore) -> str:
    interval = f"[{_pct(s.ci_low, s.unit)}, {_pct(s.ci_high, s.unit)}]"
    percent = "" if s.unit == "count" else "%"
    return f"{s.model} {s.benchmark} {s.metric}: {_pct(s.score, s.unit)}{percent} {interval} n={s.n}"


def evaluate(
    models: str | ModelSpec | Mapping[str, Any] | Sequence[str | ModelSpec | Mapping[str, Any]],
    benchmarks: str | Sequence[str] = (),
    *,
    suites: str | Sequence[str] = (),
    results_dir: str | Path | None = None,
    store: str | None = None,
    run_id: str | None = None,
    offline: bool = False,
    progress: bool = True,
    **options: Any,
) -> Evaluation:
    """Evaluate ``models`` on ``benchmarks`` (and the tasks of ``suites``); see the module docstring."""
    return _run_outside_a_loop(
        "evaluate",
        aevaluate(
            models,
            benchmarks,
            suites=suites,
            results_dir=results_dir,
            store=store,
            run_id=run_id,
            offline=offline,
            progress=progress,
            **options,
        ),
    )


async def aevaluate(
    models: str | ModelSpec | Mapping[str, Any] | Sequence[str | ModelSpec | Mapping[str, Any]],
    benchmarks: str | Sequence[str] = (),
    *,
    suites: str | Sequence[str] = (),
    results_dir: str | Path | None = None,
    store: str | None = None,
    run_id: str | None = None,
    offline: bool = False,
    progress: bool = True,
    **options: Any,
) -> Evaluation:
    """``evaluate`` for a caller that runs an event loop already."""
    from tianping.engine.runner import read_definitions, start_run

    spec = build_spec(models, benchmarks, suites, options)
    texts = read_definitions(spec)
    loaded = _load(spec, texts, offline)
    opened, folder = _open(results_dir, store)
    try:
        if run_id is not None and opened.get_run(run_id) is not None:
            raise ValueError(f"run {run_id} exists in {opened.url}: finish it with tianping.resume({run_id!r})")
        run_id = start_run(opened, spec, run_id, texts)
        return await _execute(opened, folder, store, spec, run_id, loaded, progress)
    finally:
        opened.close()


def resume(
    run_id: str,
    *,
    results_dir: str | Path | None = None,
    store: str | None = None,
    progress: bool = True,
    judge_base_url: str | None = None,
    attacker_base_url: str | None = None,
    data_dir: str | Path | None = None,
    include_paths: Sequence[str | Path] | None = None,
    **corrections: Any,
) -> Evaluation:
    """Finish a run that stopped (``tianping resume``): only the requests with no stored answer are sent.
    ``corrections`` may change how it executes (``base_url``, ``concurrency``, ``timeout_s``, ``max_retries``...),
    never what determines its results; a completed run is returned as it is."""
    return _run_outside_a_loop(
        "resume",
        aresume(
            run_id,
            results_dir=results_dir,
            store=store,
            progress=progress,
            judge_base_url=judge_base_url,
            attacker_base_url=attacker_base_url,
            data_dir=data_dir,
            include_paths=include_paths,
            **corrections,
        ),
    )


def _run_outside_a_loop(name: str, coro: Coroutine[Any, Any, Evaluation]) -> Evaluation:
    """Run ``coro`` in an event loop of its own (uvloop's where installed); inside a running loop, say which
    async form to await instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        coro.close()
        raise RuntimeError(f"tianping.{name} was called inside a running event loop: use await tianping.a{name}")
    from tianping.aio import run

    return run(coro)


async def aresume(
    run_id: str,
    *,
    results_dir: str | Path | None = None,
    store: str | None = None,
    progress: bool = True,
    judge_base_url: str | None = None,
    attacker_base_url: str | None = None,
    data_dir: str | Path | None = None,
    include_paths: Sequence[str | Path] | None = None,
    **corrections: Any,
) -> Evaluation:
    """``resume`` for a caller that runs an event loop already."""
    from tianping.engine.definitions import check_unchanged
    from tianping.engine.tasks import use_include_paths
    from tianping.spec import RunSpec, check_run_id, corrected_spec

    check_run_id(run_id)
    opened, folder = _open(results_dir, store)
    try:
        stored = opened.get_run(run_id)
        if stored is None:
            raise KeyError(opened.no_run(run_id))
        data = corrected_spec(
            stored["spec"],
            corrections,
            judge_base_url=judge_base_url,
            attacker_base_url=attacker_base_url,
            data_dir=str(Path(data_dir).resolve()) if data_dir is not None else None,
            include_paths=[str(p) for p in include_paths] if include_paths else None,
        )
        definitions = stored.get("definitions") or None
        # before the spec is read: a plugin may provide the backend of a model it names
        use_include_paths(data.get("include_paths") or [], expected=definitions)
        spec = RunSpec.model_validate(data)
        if stored["stored_status"] == "completed":
            return _finished(opened, folder, store, run_id, stored)
        if definitions:
            check_unchanged(definitions, run_id)
        loaded = _load(spec, definitions, offline=True, pull=False)
        return await _execute(opened, folder, store, spec, run_id, loaded, progress)
    finally:
        opened.close()


def _open(results_dir: str | Path | None, store: str | None) -> tuple[Any, Path]:
    from tianping.store import Store

    folder = Path(results_dir) if results_dir is not None else default_results_dir()
    return Store.open(folder, store=store or None), folder


async def _execute(
    opened: Any, folder: Path, store: str | None, spec: RunSpec, run_id: str, loaded: list[Any], progress: bool
) -> Evaluation:
    from tianping.engine.runner import Runner

    sink = _progress() if progress else None
    try:
        result = await Runner(spec, opened, run_id, sink, loaded).execute()
    finally:
        if sink is not None:
            sink.stop()
    if result.status == "failed":
        raise EvaluationFailed(result.message or "the run failed", run_id)
    return Evaluation(
        run_id=run_id,
        status=result.status,
        message=result.message,
        wall_s=result.wall_s,
        sent=result.sent,
        from_cache=result.from_cache,
        scores=_scores(opened, run_id),
        results_dir=None if store else folder,
        store_url=store or None,
    )


def _finished(opened: Any, folder: Path, store: str | None, run_id: str, stored: dict[str, Any]) -> Evaluation:
    """A completed run as it is: nothing to send."""
    return Evaluation(
        run_id=run_id,
        status="completed",
        message=None,
        wall_s=float(stored.get("wall_s") or 0.0),
        sent=0,
        from_cache=0,
        scores=_scores(opened, run_id),
        results_dir=None if store else folder,
        store_url=store or None,
    )


def build_spec(
    models: str | ModelSpec | Mapping[str, Any] | Sequence[str | ModelSpec | Mapping[str, Any]],
    benchmarks: str | Sequence[str],
    suites: str | Sequence[str],
    options: Mapping[str, Any],
) -> RunSpec:
    """The run spec of ``evaluate``'s arguments: model options go to every model given by name (or as a
    mapping that does not set them), run options to the run."""
    from tianping.engine.tasks import expand_suites
    from tianping.spec import default_data_dir

    unknown = sorted(set(options) - _MODEL_OPTIONS - _RUN_OPTIONS)
    if unknown:
        raise TypeError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: expected the fields of "
            f"RunSpec ({', '.join(sorted(_RUN_OPTIONS))}) or ModelSpec ({', '.join(sorted(_MODEL_OPTIONS))})"
        )
    shared = {k: v for k, v in options.items() if k in _MODEL_OPTIONS}
    run_options = {k: v for k, v in options.items() if k in _RUN_OPTIONS}
    given = [models] if isinstance(models, (str, ModelSpec, Mapping)) else list(models)
    if not given:
        raise ValueError("no model to evaluate: give at least one, e.g. 'openai/<name>' with base_url=...")
    specs = []
    for m in given:
        if isinstance(m, ModelSpec):
            specs.append(m.model_copy(update={k: v for k, v in shared.items() if k not in m.model_fields_set}))
        elif isinstance(m, Mapping):
            specs.append(ModelSpec(**{**shared, **m}))
        else:
            specs.append(ModelSpec(id=m, **shared))
    names = [benchmarks] if isinstance(benchmarks, str) else list(benchmarks)
    suite_names = [suites] if isinstance(suites, str) else list(suites)
    names.extend(t for t in expand_suites(suite_names) if t not in names)
    if not names:
        raise ValueError("nothing to run: give benchmarks=[...] or suites=[...]")
    run_options.setdefault("data_dir", str(default_data_dir()))
    return RunSpec(models=specs, benchmarks=names, **run_options)


def _load(spec: RunSpec, texts: dict[str, Any] | None, offline: bool, pull: bool = True) -> list[Any]:
    """The run's tasks, after the checks ``tianping run`` makes before it registers a run (``check_before_run``:
    the commit group setting, every backend can be created), every dataset is here (pulled when missing, unless
    offline; a resume does not pull), and an attack that needs an attacker has one."""
    from tianping.engine.runner import check_before_run, load_benchmarks, needing_attacker

    check_before_run(spec)
    if pull:
        _ensure_data(spec, texts or {}, offline)
    loaded = load_benchmarks(spec, texts)
    needing = needing_attacker(spec, loaded)
    if needing:
        raise ValueError(f"{', '.join(needing)} plans attacks that need an attacker model: give attacker=...")
    for bench in loaded:
        for warning in bench.warnings:
            log.warning("%s", warning)
    return loaded


def _ensure_data(spec: RunSpec, texts: dict[str, Any], offline: bool) -> None:
    from tianping.benchmarks.errors import DatasetError
    from tianping.data.catalog import dataset
    from tianping.data.ensure import offline_refusal
    from tianping.data.location import offline_reason
    from tianping.data.pull import OfflineError, PullOptions, pull, unresolved_hint
    from tianping.engine.tasks import datasets_missing

    root = Path(spec.data_dir)
    missing = datasets_missing(spec.benchmarks, texts, root)
    if not missing:
        return
    reason = offline_reason(offline)
    if reason:
        raise DatasetError(offline_refusal(missing, root, reason))
    log.warning("pulling %s into %s (offline=True forbids this)", ", ".join(missing), root)
    options = PullOptions(source="auto", mirror=None, force=False, jobs=8, offline=reason)
    for name in missing:
        try:
            result = pull(dataset(name), root, options, before_download=_license_notice)
        except OfflineError as exc:
            raise DatasetError(str(exc)) from None
        if result.failed:
            hint = unresolved_hint([result])
            retry = f"could not fetch {name}; retry with: tianping data pull {name}"
            raise DatasetError(retry + (f" ({hint})" if hint else ""))


def _license_notice(entry: Any, count: int) -> None:
    """Logged before a dataset's first download, as the command line prints it: what the files may be used for."""
    terms = {False: " NON-COMMERCIAL: may not be used commercially.", None: " NO LICENSE STATED: terms unclear."}
    log.warning("%s: fetching %d file(s); license %s.%s", entry.name, count, entry.license,
                terms.get(entry.commercial, ""))  # fmt: skip


def _progress() -> Any:
    from rich.console import Console

    from tianping.progress import RichProgress

    return RichProgress(Console(stderr=True, highlight=False))


def _scores(store: Any, run_id: str) -> list[BenchmarkScore]:
    from tianping.report.collect import metric_rows

    return metric_rows(store, run_id)
