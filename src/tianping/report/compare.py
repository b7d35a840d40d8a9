"""Paired comparison of two runs: the same samples, scored in both, benchmark by benchmark."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from tianping.core.results import LOWER_IS_BETTER
from tianping.engine.aggregate import TaskAggregation
from tianping.scoring.stats import PairedComparison, paired_compare
from tianping.store import Store


@dataclass(frozen=True)
class ComparisonRow:
    benchmark: str
    model_a: str
    model_b: str
    result: PairedComparison
    only_a: int
    """Samples scored in run A but not in run B (left out of the pairing)."""
    only_b: int
    metric: str = "accuracy"
    """The per-sample value compared (the task's headline metric)."""

    @property
    def lower_is_better(self) -> bool:
        return self.metric in LOWER_IS_BETTER

    @property
    def b_better(self) -> int:
        """Samples where B did better: scored higher, or lower on a lower-is-better metric (attack success)."""
        return self.result.a_better if self.lower_is_better else self.result.b_better

    @property
    def a_better(self) -> int:
        return self.result.b_better if self.lower_is_better else self.result.a_better


def sample_scores(store: Store, run_id: str) -> dict[tuple[str, str], dict[str, float]]:
    """(model, benchmark) -> sample id -> score, for the samples inside the run's scores: scored ones, and
    incomplete ones as not correct where the task counts them so (as its headline score does)."""
    tasks = (store.get_run(run_id) or {}).get("tasks") or {}
    wrong_when_incomplete = {name for name, info in tasks.items() if TaskAggregation.of(info).incomplete == "wrong"}
    out: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for row in store.sample_rows(run_id):
        if row["status"] == "scored":
            out[(row["model"], row["benchmark"])][row["sample_id"]] = row["score"]
        elif row["status"] == "incomplete" and row["benchmark"] in wrong_when_incomplete:
            out[(row["model"], row["benchmark"])][row["sample_id"]] = 0.0
    return out


def compare_runs(store: Store, run_a: str, run_b: str) -> list[ComparisonRow]:
    """Pair by model and benchmark when both runs evaluated the same models, else by benchmark alone
    (one model per run: the usual "model A against model B" question)."""
    a, b = sample_scores(store, run_a), sample_scores(store, run_b)
    models_a = {m for m, _ in a}
    models_b = {m for m, _ in b}
    pairs: list[tuple[tuple[str, str], tuple[str, str]]] = []
    if models_a == models_b:
        pairs = [(key, key) for key in sorted(a) if key in b]
    elif len(models_a) == 1 and len(models_b) == 1:
        (ma,), (mb,) = models_a, models_b
        pairs = [((ma, bench), (mb, bench)) for _, bench in sorted(a) if (mb, bench) in b]
    else:
        raise ValueError(
            f"runs {run_a} and {run_b} evaluated different sets of models "
            f"({sorted(models_a)} vs {sorted(models_b)}); compare runs of one model each, or of the same models"
        )
    return _paired(a, b, pairs, task_metrics(store, run_a))


def compare_models(
    store: Store, run_id: str, model_a: str | None = None, model_b: str | None = None
) -> list[ComparisonRow]:
    """Pair two models of one run on each benchmark both answered (two endpoints of one model in a plan file,
    or two models run side by side); with exactly two models in the run, they need not be named."""
    scores = sample_scores(store, run_id)
    models = sorted({m for m, _ in scores})
    if model_a is None and model_b is None:
        if len(models) != 2:
            raise ValueError(
                f"run {run_id} evaluated {len(models)} model(s) ({', '.join(models) or 'none scored'}); "
                "name the two to pair with --model-a and --model-b"
            )
        model_a, model_b = models
    for given in (model_a, model_b):
        if given not in models:
            raise ValueError(f"run {run_id} has no scored samples of model '{given}' (it has: {', '.join(models)})")
    a, b = str(model_a), str(model_b)
    pairs = [((a, bench), (b, bench)) for m, bench in sorted(scores) if m == a and (b, bench) in scores]
    return _paired(scores, scores, pairs, task_metrics(store, run_id))


def task_metrics(store: Store, run_id: str) -> dict[str, str]:
    """Task -> the name of its per-sample value, as the run stored it."""
    tasks = (store.get_run(run_id) or {}).get("tasks") or {}
    return {name: TaskAggregation.of(info).metric for name, info in tasks.items()}


def _paired(
    a: dict[tuple[str, str], dict[str, float]],
    b: dict[tuple[str, str], dict[str, float]],
    pairs: list[tuple[tuple[str, str], tuple[str, str]]],
    metrics: dict[str, str],
) -> list[ComparisonRow]:
    rows = [
        paired_row(key_a[1], key_a[0], a[key_a], key_b[0], b[key_b], metrics.get(key_a[1], "accuracy"))
        for key_a, key_b in pairs
    ]
    return [row for row in rows if row is not None]


def paired_row(
    benchmark: str,
    model_a: str,
    scores_a: dict[str, float],
    model_b: str,
    scores_b: dict[str, float],
    metric: str = "accuracy",
) -> ComparisonRow | None:
    """B against A on the samples both scored (sample id -> score), with how many only one side scored; None
    when they share none."""
    common = sorted(set(scores_a) & set(scores_b))
    if not common:
        return None
    result = paired_compare([scores_a[i] for i in common], [scores_b[i] for i in common])
    only_a, only_b = len(scores_a) - len(common), len(scores_b) - len(common)
    return ComparisonRow(benchmark, model_a, model_b, result, only_a=only_a, only_b=only_b, metric=metric)
