"""``tianping arena ratings [RUN...] [--votes]``: Bradley-Terry ratings from judged battles and human votes.

Two kinds of battle are rated. The judge's games are stored with each pairwise sample of a judged run (Arena-Hard,
AlpacaEval: every model against the benchmark's baseline, both orders); runs of several models on one benchmark
share the baseline, which links them into one leaderboard. Human votes cast on the dashboard (``tianping serve``)
are stored as battles in the result database (``battles`` table) under the benchmark of the sample they judged;
``--votes`` adds them to the same benchmark's pool, so a model's judged and voted battles enter one fit. One table
per benchmark; each fit is stored in the result database (``arena_ratings``) with the sources it used.
Wired into the main CLI by :func:`register`; the fitting code is imported inside the command.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, cast

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from tianping.cli.common import ResultsDir, StoreUrl, listed_names, open_store, use_store
from tianping.cli.errors import FAILED, fail
from tianping.cli.output import cells, note, out

__all__ = ["arena_app", "register"]

arena_app = typer.Typer(
    name="arena",
    help="Arena ratings (Bradley-Terry, with intervals) from the battles of judged pairwise runs and human votes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

JUDGE_SOURCE = "judge"
"""The name the judged games of runs go by in a fit's ``sources`` (stored votes go by their own source, 'web')."""


@dataclass
class _Pool:
    """The battles of one benchmark: the judge's games of the runs first, then the stored votes."""

    battles: list[Any] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    pairs: int = 0
    games_without_verdict: int = 0
    judged: int = 0
    votes: Counter[str] = field(default_factory=Counter)
    """Stored votes per source."""
    styled: bool = True

    @property
    def sources(self) -> dict[str, int]:
        counts = {JUDGE_SOURCE: self.judged} if self.judged else {}
        return {**counts, **dict(sorted(self.votes.items()))}


@arena_app.command("ratings")
def ratings(
    runs: Annotated[
        list[str] | None, typer.Argument(help="Runs whose judged battles are rated together (optional with --votes).")
    ] = None,
    votes: Annotated[
        bool,
        typer.Option(
            "--votes", help="Also rate the human votes stored in the result database (the dashboard's), per benchmark."
        ),
    ] = False,
    benchmark: Annotated[
        list[str] | None,
        typer.Option("--benchmark", "-b", help="Only these benchmarks (repeat, or a,b) [default: every one found]."),
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
    store_url: StoreUrl = None,
) -> None:
    """Rate the models of judged pairwise runs (and their baselines) and of stored human votes by Bradley-Terry on
    the Elo scale, with rating intervals and rank intervals; print one table per benchmark and store the ratings."""
    from tianping.arena import EloScale, NotIdentifiable, arena_table

    use_store(store_url)
    runs = runs or []
    if not runs and not votes:
        raise fail("nothing to rate: give the RUN ids of judged pairwise runs, --votes (the stored human votes), "
                   "or both")  # fmt: skip
    if intervals not in ("bootstrap", "sandwich", "none"):
        raise fail(f"--intervals {intervals}: choose bootstrap, sandwich or none")
    store = open_store(results_dir, missing_ok=True)
    if store is None:
        raise fail("no result database here (nothing has been run with this results directory)")
    for run_id in runs:
        if store.get_run(run_id) is None:
            raise fail(store.no_run(run_id))
    found = _gather(store, runs, votes, strong_weight)
    benchmark = listed_names(benchmark)
    if benchmark:
        unknown = [b for b in benchmark if b not in found]
        if unknown:
            missing = [*([f"judged battles of it in {', '.join(runs)}"] if runs else []),
                       *([f"human votes on it in {store.url}"] if votes else [])]  # fmt: skip
            raise fail(f"--benchmark {', '.join(unknown)}: no {' and no '.join(missing)} "
                       f"(found: {', '.join(sorted(found)) or 'none'})")  # fmt: skip
        found = {b: found[b] for b in benchmark}
    voted = sum(sum(p.votes.values()) for p in found.values())
    if not found:
        if not runs:
            raise fail(f"--votes: no human votes stored in {store.url} (votes are cast on the dashboard: "
                       "tianping serve)")  # fmt: skip
        raise fail(
            f"no judged pairwise samples in {', '.join(runs)}{' and no stored human votes' if votes else ''}: arena "
            "ratings rate the battles of arena_hard, arena_hard_v0_1 and alpaca_eval runs (run them with "
            "--judge-model)"
        )
    if votes and not voted:
        note(f"--votes: no human votes on {', '.join(sorted(found))} stored in {store.url}; rating the judged "
             "battles alone")  # fmt: skip
    rating_id = datetime.now(UTC).strftime("arena-%Y%m%d-%H%M%S-%f")
    settings = {"intervals": intervals, "rounds": rounds, "seed": seed, "style_control": style_control,
                "anchor": anchor, "reference": reference, "strong_weight": strong_weight, "votes": votes}  # fmt: skip
    payload: dict[str, Any] = {"rating_id": rating_id, "settings": settings, "benchmarks": {}}
    stored: list[dict[str, Any]] = []
    created = datetime.now(UTC).isoformat(timespec="milliseconds")
    for name, pool in sorted(found.items()):
        if style_control and not pool.styled:
            if pool.votes:
                raise fail(f"--style-control: the human votes on {name} carry no answer lengths or markdown counts; "
                           "rate without --style-control (or without --votes)")  # fmt: skip
            raise fail(f"--style-control: the battles of {name} lack token counts for some answers (the v0.1 and "
                       "AlpacaEval baselines carry none); rate without --style-control")  # fmt: skip
        if not pool.battles:
            raise fail(f"{name}: every judged game of {', '.join(pool.runs)} lacks a readable verdict")
        try:
            table = arena_table(
                pool.battles,
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
            "runs": pool.runs,
            "pairs": pool.pairs,
            "votes": sum(pool.votes.values()),
            "sources": pool.sources,
            "battles": table.n_battles,
            "games_without_verdict": pool.games_without_verdict,
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
        # the fit's sources go with its settings: which battles (judge games, votes per source) it was fitted on
        fit_settings = json.dumps({**settings, "sources": pool.sources})
        for row in rows:
            stored.append({
                "rating_id": rating_id, "created_at": created, "benchmark": name, "model": row["model"],
                "rank": row["rank"], "rating": row["rating"], "ci_low": row["lower"], "ci_high": row["upper"],
                "rank_best": row["rank_best"], "rank_worst": row["rank_worst"], "battles": row["battles"],
                "wins": row["wins"], "losses": row["losses"], "ties": row["ties"],
                "runs_json": json.dumps(pool.runs), "settings_json": fit_settings,
            })  # fmt: skip
        if not as_json:
            _print_table(name, table, pool)
    store.write_arena_ratings(stored)
    if as_json:
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        note(f"stored as {rating_id} in {store.url}")


def _gather(store: Any, runs: list[str], with_votes: bool, strong_weight: int) -> dict[str, _Pool]:
    """Per benchmark, the judged battles of ``runs`` and (``with_votes``) every battle stored in ``store``."""
    pools: dict[str, _Pool] = {}
    if runs:
        from tianping.judging.battles import collect_battles

        try:
            judged = collect_battles([(r, store.sample_rows(r)) for r in runs], strong_weight=strong_weight)
        except ValueError as exc:
            raise fail(str(exc)) from None
        for name, entry in judged.items():
            pools[name] = _Pool(
                battles=list(entry.battles),
                runs=list(entry.runs),
                pairs=entry.pairs,
                games_without_verdict=entry.games_without_verdict,
                judged=len(entry.battles),
                styled=entry.styled,
            )
    if with_votes:
        from tianping.arena.stored import battles_by_benchmark

        rows = store.battles(None)  # every source: the dashboard's votes are 'web'
        try:
            voted = battles_by_benchmark(rows)
        except ValueError as exc:
            raise fail(f"{exc} (in {store.url})") from None
        per_source = Counter((str(r["benchmark"]), str(r["source"])) for r in rows)
        for name, battles in voted.items():
            pool = pools.setdefault(name, _Pool())
            pool.battles.extend(battles)
            pool.votes.update({src: n for (bench, src), n in per_source.items() if bench == name})
            pool.styled = False  # a vote records who won, not the answers' lengths or markdown
    return pools


def _print_table(name: str, table: Any, pool: _Pool) -> None:
    level = f"{100 * table.level:g}%"
    parts = [f"{pool.pairs} judged pairs"] if pool.runs else []
    if pool.votes:
        parts.append(f"{sum(pool.votes.values())} human votes")
    title = f"{name}: Bradley-Terry ratings ({table.n_battles} battles from {' and '.join(parts)})"
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
    if pool.games_without_verdict:
        out.print(escape(f"{pool.games_without_verdict} judged games without a readable verdict left out"),
                  style="dim")  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add the ``arena`` command group to the main ``tianping`` app."""
    app.add_typer(arena_app, name="arena")
