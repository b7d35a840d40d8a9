"""Read a run out of the store into the records renderers take."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tianping.core.results import BreakdownRow, MetricRow, RunInfo, SampleRow
from tianping.store import Store


class RunNotFound(LookupError):
    def __str__(self) -> str:
        return str(self.args[0])


def is_partial(run: dict[str, Any]) -> bool:
    """A run whose process never wrote its final aggregates: still running, or killed (``kill -9``)."""
    return run["stored_status"] == "running"


def _aggregates(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The run's aggregates; for a partial run, computed now from the samples stored so far."""
    run = store.get_run(run_id)
    if run is None or not is_partial(run):
        return store.aggregates(run_id)
    from tianping.engine.aggregate import aggregate  # only for a run that did not finish

    rows = aggregate(store.score_rows(run_id), run["tasks"])
    return sorted(rows, key=lambda a: (a["model"], a["benchmark"], a["group_kind"], a["group_name"]))


def run_info(store: Store, run_id: str) -> RunInfo:
    from tianping.spec import without_credentials  # pydantic: not needed by readers that never show a spec

    run = store.get_run(run_id)
    if run is None:
        raise RunNotFound(store.no_run(run_id))
    return RunInfo(
        run_id=run["run_id"],
        status=run["status"] + (" (partial: aggregated from the samples stored so far)" if is_partial(run) else ""),
        started_at=run["started_at"],
        finished_at=run["finished_at"],
        tianping_version=run["tianping_version"],
        spec=without_credentials(run["spec"]),
        benchmark_versions=run["benchmark_versions"],
        dataset_checksums=run["dataset_checksums"],
        database=str(store.path),
    )


def metric_rows(store: Store, run_id: str) -> list[MetricRow]:
    tasks = (store.get_run(run_id) or {}).get("tasks") or {}
    counts = {(name, metric) for name, info in tasks.items() for metric in info.get("count_metrics") or ()}
    return [
        MetricRow(
            model=a["model"],
            benchmark=a["benchmark"],
            metric=a["metric"],
            score=a["score"],
            n=a["n"],
            ci_low=a["ci_low"],
            ci_high=a["ci_high"],
            extraction_failures=a["extraction_failures"],
            incomplete=a["incomplete"],
            errors=a["errors"],
            unscorable=a.get("unscorable") or 0,
            skipped=a.get("skipped") or 0,
            unit="count" if (a["benchmark"], a["metric"]) in counts else "rate",
        )
        for a in _aggregates(store, run_id)
        if a["group_kind"] == "all"
    ]


def breakdown_rows(store: Store, run_id: str, *, every_metric: bool = False) -> list[BreakdownRow]:
    """Scores per group; of the primary metric only, unless ``every_metric`` (a task may break further metrics
    down too: the safety suite's engagement rate per attack)."""
    tasks = (store.get_run(run_id) or {}).get("tasks") or {}
    primary = {name: info.get("metric") for name, info in tasks.items()}
    return [
        BreakdownRow(
            model=a["model"],
            benchmark=a["benchmark"],
            group_kind=a["group_kind"],
            group=a["group_name"],
            score=a["score"],
            n=a["n"],
            ci_low=a["ci_low"],
            ci_high=a["ci_high"],
            metric=a["metric"],
        )
        for a in _aggregates(store, run_id)
        if a["group_kind"] != "all" and (every_metric or primary.get(a["benchmark"]) in (None, a["metric"]))
    ]


def prompt_text(payload: dict[str, Any]) -> str:
    """A request as readable text: chat turns with their roles, or the completion prompt."""
    if "messages" in payload:
        return "\n\n".join(_message_text(m) for m in payload["messages"])
    return str(payload.get("prompt", ""))


def _message_text(m: dict[str, Any]) -> str:
    content = m["content"]
    if isinstance(content, list):  # text and images: the images named by the start of their hash
        content = "".join(_part_text(p) for p in content if isinstance(p, dict))
    text = f"[{m['role']}]\n{content if content is not None else ''}"
    for call in m.get("tool_calls") or ():  # an agent's turn: the calls it made, one per line
        function = call.get("function") or {}
        text += f"\n-> {function.get('name')}({function.get('arguments')})"
    return text


def _part_text(part: dict[str, Any]) -> str:
    kind = part.get("type")
    if kind == "text":
        return str(part.get("text", ""))
    if kind == "image":
        return f"[image {str(part.get('sha256', ''))[:12]}]\n"
    if kind == "video":
        return f"[video, {len(part.get('frames') or ())} frames]\n"
    if kind == "image_url":
        return "[image by URL]\n"  # never fetched: the report shows no image from elsewhere
    return ""


def sample_rows(store: Store, run_id: str) -> Iterator[SampleRow]:
    from tianping.multimodal.image_store import ImageInliner, image_refs, images_folder

    inliner = ImageInliner(images_folder(store))
    for row in store.sample_rows(run_id):
        yield SampleRow(
            model=row["model"],
            benchmark=row["benchmark"],
            sample_id=row["sample_id"],
            prompt=prompt_text(row["prompt"]),
            output=row["output"],
            reasoning=row["reasoning"],
            extracted=row["extracted"],
            target=row["target"],
            score=row["score"],
            status=row["status"],
            error=row["error"],
            latency_s=row["latency_s"],
            trajectory=row.get("trajectory"),
            images=tuple(inliner.uri(ref) or "" for ref in image_refs(row["prompt"])),
        )
