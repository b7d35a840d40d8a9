"""``tianping arena ratings RUN...``: Bradley-Terry ratings from the battles of judged pairwise runs.

The battles are the judge's games stored with each pairwise sample (Arena-Hard, AlpacaEval: every model against
the benchmark's baseline, both orders); runs of several models on one benchmark share the baseline, which links
them into one leaderboard. One table per benchmark; each fit is stored in the result database (``arena_ratings``).
Wired into the main CLI by :func:`register`; the fitting code is imported inside the command.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, cast

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from tianping.cli.common import ResultsDir, open_store
from tianping.cli.errors import FAILED, fail
from tianping.cli.output import cells, note, out

__all__ = ["arena_app", "register"]

arena_app = typer.Typer(
    name="arena",
    help="Arena ratings (Bradley-Terry, with intervals) from the battles of judged pairwise runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@arena_app.command("ratings")
def ratings(
    runs: Annotated[list[str], typer.Argument(help="Runs whose judged battles are rated together.")],
    benchmark: Annotated[
        list[str] | None, typer.Option("--benchmark", "-b", help="Only these benchmarks [default: every one found].")
    ] = None,
    intervals: Annotated[
        str, typer.Option(help="Rating intervals: bootstrap (resampled battles), sandwich or none.")
    ] = "bootstrap",
    rounds: Annotated[int, typer.Option(min=10, help="Bootstrap rounds.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    style_control: Annotated[
        bool, typer.Option("--style-control", help="Fit length and markdown counts as covariates (LMArena V1).")
    ] = False,
    anchor: Annotated[float, typer.Option(help="Rating of the mean model (or of --reference).")] = 1000.0,
    reference: Annotated[str | None, typer.Option(help="Pin this model at --anchor instead of the mean.")] = None,
    strong_weight: Annotated[
        int, typer.Option(min=1, help="Battles a clear verdict (A>>B) counts as (Arena-Hard uses 3).")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the ratings as JSON instead of tables.")] = False,
    results_dir: ResultsDir = None,
) -> None:
    """Rate the models of judged pairwise runs (and their baselines) by Bradley-Terry on the Elo scale, with
    rating intervals and rank intervals; print one table per benchmark and store the ratings."""
    from tianping.arena import EloScale, NotIdentifiable, arena_table
    from tianping.judging.battles import collect_battles

    if intervals not in ("bootstrap", "sandwich", "none"):
        raise fail(f"--intervals {intervals}: choose bootstrap, sandwich or none")
    store = open_store(results_dir, missing_ok=True)
    if store is None:
        raise fail("no result database here (nothing has been run with this results directory)")
    for run_id in runs:
        if store.get_run(run_id) is None:
            raise fail(f"no run '{run_id}' in {store.url}")
    try:
        found = collect_battles([(r, store.sample_rows(r)) for r in runs], strong_weight=strong_weight)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if benchmark:
        unknown = [b for b in benchmark if b not in found]
        if unknown:
            raise fail(f"--benchmark {', '.join(unknown)}: no judged battles of it in {', '.join(runs)} "
                       f"(found: {', '.join(sorted(found)) or 'none'})")  # fmt: skip
        found = {b: found[b] for b in benchmark}
    if not found:
        raise fail(
            f"no judged pairwise samples in {', '.join(runs)}: arena ratings rate the battles of arena_hard, "
            "arena_hard_v0_1 and alpaca_eval runs (run them with --judge-model)"
        )
    rating_id = datetime.now(UTC).strftime("arena-%Y%m%d-%H%M%S-%f")
    settings = {"intervals": intervals, "rounds": rounds, "seed": seed, "style_control": style_control,
                "anchor": anchor, "reference": reference, "strong_weight": strong_weight}  # fmt: skip
    payload: dict[str, Any] = {"rating_id": rating_id, "settings": settings, "benchmarks": {}}
    stored: list[dict[str, Any]] = []
    created = datetime.now(UTC).isoformat(timespec="milliseconds")
    for name, entry in sorted(found.items()):
        if style_control and not entry.styled:
            raise fail(f"--style-control: the battles of {name} lack token counts for some answers (the v0.1 and "
                       "AlpacaEval baselines carry none); rate without --style-control")  # fmt: skip
        if not entry.battles:
            raise fail(f"{name}: every judged game of {', '.join(entry.runs)} lacks a readable verdict")
        try:
            table = arena_table(
                entry.battles,
                intervals=cast(Literal["bootstrap", "sandwich", "none"], intervals),
                rounds=rounds,
                seed=seed,
                style_control=style_control,
                scale=EloScale(anchor=anchor, reference=reference),
            )
        except (ValueError, NotIdentifiable) as exc:
            raise fail(f"{name}: {exc}") from None
        except RuntimeError as exc:  # a fit that does not converge on these battles (a bootstrap resample)
            raise fail(f"{name}: the rating fit failed ({exc}); try --intervals sandwich", FAILED) from None
        rows = table.as_dicts()
        payload["benchmarks"][name] = {
            "runs": entry.runs,
            "pairs": entry.pairs,
            "battles": table.n_battles,
            "games_without_verdict": entry.games_without_verdict,
            "level": table.level,
            "degenerate_rounds": table.degenerate_rounds,
            "style": [
                {
                    "feature": s.feature,
                    "coefficient": s.coefficient,
                    "lower": s.lower,
                    "upper": s.upper,
                    "points": s.points,
                }
                for s in table.style
            ],
            "rows": rows,
        }
        for row in rows:
            stored.append({
                "rating_id": rating_id, "created_at": created, "benchmark": name, "model": row["model"],
                "rank": row["rank"], "rating": row["rating"], "ci_low": row["lower"], "ci_high": row["upper"],
                "rank_best": row["rank_best"], "rank_worst": row["rank_worst"], "battles": row["battles"],
                "wins": row["wins"], "losses": row["losses"], "ties": row["ties"],
                "runs_json": json.dumps(entry.runs), "settings_json": json.dumps(settings),
            })  # fmt: skip
        if not as_json:
            _print_table(name, table, entry)
    store.write_arena_ratings(stored)
    if as_json:
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        note(f"stored as {rating_id} in {store.url}")


def _print_table(name: str, table: Any, entry: Any) -> None:
    level = f"{100 * table.level:g}%"
    title = f"{name}: Bradley-Terry ratings ({table.n_battles} battles from {entry.pairs} judged pairs)"
    view = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("rank", "model"):
        view.add_column(col, overflow="fold")
    for col in ("rating", f"{level} CI", "rank range", "battles", "wins", "ties", "losses"):
        view.add_column(col, justify="right", no_wrap=True)
    for row in table.rows:
        ci = "—" if row.lower is None else f"[{row.lower:.0f}, {row.upper:.0f}]"
        ranks = "—" if row.rank_best is None else f"{row.rank_best}-{row.rank_worst}"
        view.add_row(
            *cells(str(row.rank), row.model), f"{row.rating:.0f}", ci, ranks, str(row.battles), str(row.wins),
            str(row.ties), str(row.losses),
        )  # fmt: skip
    out.print(view)
    for effect in table.style:
        out.print(escape(f"style {effect.feature}: {effect.points:+.1f} points per standard deviation"), style="dim")
    how = {"bootstrap": f"bootstrap over battles ({table.rounds} rounds)", "sandwich": "sandwich (robust) standard "
           "errors", "none": "no intervals"}[table.method]  # fmt: skip
    out.print(escape(f"Elo scale (400 points = 10:1 odds), ties as half wins; intervals: {how}; rank range: the "
                     "ranks the intervals allow"), style="dim")  # fmt: skip
    if entry.games_without_verdict:
        out.print(escape(f"{entry.games_without_verdict} judged games without a readable verdict left out"),
                  style="dim")  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add the ``arena`` command group to the main ``tianping`` app."""
    app.add_typer(arena_app, name="arena")
