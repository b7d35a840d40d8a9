"""Read a benchmark's splits for checking: the rows a run scores and, where the definition names one, the pool its
few-shot examples come from (whether or not the definition uses shots), each through the benchmark's own loader
and data-directory rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tianping.benchmarks.benchmark import Benchmark
from tianping.benchmarks.definition import BenchmarkDef, FewshotDef
from tianping.benchmarks.registry import benchmarks_of, named_definitions, resolve
from tianping.quality.items import Item, ItemBuilder, mark_context

__all__ = ["CheckedData", "loglikelihood_benchmark", "read_benchmark", "same_data_names"]


@dataclass(frozen=True)
class CheckedData:
    name: str
    source: str
    """The definition file it comes from."""
    definition: BenchmarkDef
    data_dir: Path
    items: tuple[Item, ...]
    """The scored rows (``split == "test"``), then the few-shot pool's (``split == "fewshot"``)."""
    paths: dict[str, str]
    """Split -> the dataset path the definition names."""
    benchmark: Benchmark
    """The loaded benchmark (its scored rows)."""
    ref: str
    """What the user named: a bundled benchmark or a definition file."""
    allow_outside_data: bool = False

    def split(self, name: str) -> list[Item]:
        return [i for i in self.items if i.split == name]


def read_benchmark(name_or_path: str, data_dir: Path, *, allow_outside_data: bool = False) -> CheckedData:
    """Load a bundled benchmark (by name) or the first definition of a YAML file. Raises the benchmark errors
    (``UnknownBenchmark``, ``BenchmarkDefinitionError``, ``DatasetError``) that name the file, line and field."""
    found = resolve(name_or_path)[:1]
    (bench,) = benchmarks_of(found, name_or_path, data_dir, allow_outside_data=allow_outside_data)
    bench.configure(num_fewshot=0)  # the shots are read below as a split of their own
    bench.load()
    definition, source = found[0]
    builder = ItemBuilder(definition, source)
    items = mark_context([builder.item(s, "test") for s in bench.samples])
    paths = {"test": definition.dataset.path}
    pool = definition.fewshot.dataset
    if pool is not None and pool != definition.dataset:
        # the pool read as a benchmark of its own: the same loader, the same checks on where it may read from
        as_main = definition.model_copy(update={"dataset": pool, "fewshot": FewshotDef()})
        (shots,) = benchmarks_of([(as_main, source)], name_or_path, data_dir, allow_outside_data=allow_outside_data)
        shots.load()
        items.extend(mark_context([builder.item(s, "fewshot") for s in shots.samples]))
        paths["fewshot"] = pool.path
    return CheckedData(
        name=definition.name,
        source=source,
        definition=definition,
        data_dir=data_dir,
        items=tuple(items),
        paths=paths,
        benchmark=bench,
        ref=name_or_path,
        allow_outside_data=allow_outside_data,
    )


def loglikelihood_benchmark(data: CheckedData) -> Benchmark | None:
    """The same benchmark loaded in log-likelihood mode (for reference models), or None when its definition has
    no log-likelihood section."""
    if data.definition.loglikelihood is None:
        return None
    found = [(data.definition, data.source)]
    (bench,) = benchmarks_of(
        found, data.ref, data.data_dir, "loglikelihood", allow_outside_data=data.allow_outside_data
    )
    bench.configure(num_fewshot=0)
    return bench.load()


def same_data_names(definition: BenchmarkDef) -> set[str]:
    """The benchmark's name and those of every nameable definition that scores the same rows (its variants:
    ``mmlu_5shot`` answers ``mmlu``'s questions)."""
    names = {definition.name}
    for name, (other, _) in named_definitions().items():
        if other.dataset == definition.dataset:
            names.add(name)
    return names
