"""``tianping fidelity``: is each provider of a model serving that model? ``plan`` writes the run plan that sends
the fidelity pack to every endpoint, ``report`` pairs the providers of the finished run with a reference item by
item, ``probe`` compares an endpoint's tokenizer fingerprint and honoured context with a reference's
(docs/fidelity.md).

Exit codes (``tianping.cli.errors``): 0 done; 2 no such run, reference or pack, nothing to pair, an endpoint
that refuses or cannot be fingerprinted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tianping.cli.common import ResultsDir, check_output, open_store, write_output
from tianping.cli.errors import fail, run_async
from tianping.cli.output import ci, out, pct

__all__ = ["fidelity_app", "register"]

fidelity_app = typer.Typer(
    name="fidelity",
    help="Check that every provider of one model serves that model: paired accuracy against a reference.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@fidelity_app.command("report")
def report_cmd(
    run_id: Annotated[str, typer.Argument(help="A finished plan run with several providers of one model.")],
    reference: Annotated[str, typer.Option("--reference", help="The model id of the reference provider.")],
    results_dir: ResultsDir = None,
    alpha: Annotated[float, typer.Option(min=0.0001, max=0.5, help="Significance level of McNemar's test.")] = 0.05,
    tolerance: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Largest drop (fraction) still called consistent.")
    ] = 0.03,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Per provider: accuracy with its interval, the paired difference against the reference with the exact
    McNemar test, the minimum detectable difference at the run's size, and a verdict with its evidence."""
    from tianping.fidelity.report import fidelity_report

    store = open_store(results_dir, readonly=True)
    if store.get_run(run_id) is None:
        raise fail(f"no run '{run_id}' in {store.url}")
    try:
        rows = fidelity_report(store, run_id, reference, alpha=alpha, tolerance=tolerance)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        payload = [
            {
                "model": r.model,
                "reference": reference,
                "n": r.overall.n,
                "reference_accuracy": r.overall.reference_acc,
                "accuracy": r.overall.provider_acc,
                "accuracy_ci": list(r.overall.provider_ci),
                "diff": r.overall.diff,
                "diff_ci": list(r.overall.diff_ci),
                "provider_better": r.overall.provider_better,
                "reference_better": r.overall.reference_better,
                "p_value": r.overall.p_value,
                "test": "mcnemar-exact",
                "mdd": r.overall.mdd,
                "verdict": r.overall.verdict,
                "evidence": r.overall.evidence,
                "by_benchmark": {b: {"n": n, "diff": d} for b, (n, d) in r.by_benchmark.items()},
                "skipped": r.skipped,
            }
            for r in rows
        ]
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    table = Table(title=escape(f"{run_id}: fidelity against {reference}"), title_justify="left")
    table.add_column("provider")
    for col in ("N", "acc %", "95% CI", "ref %", "diff pts", "diff 95% CI", "McNemar p", "MDD pts", "verdict"):
        table.add_column(col, justify="right")
    for r in rows:
        o = r.overall
        table.add_row(
            escape(r.model),
            str(o.n),
            pct(o.provider_acc),
            ci(*o.provider_ci),
            pct(o.reference_acc),
            f"{100 * o.diff:+.1f}",
            f"{100 * o.diff_ci[0]:+.1f} to {100 * o.diff_ci[1]:+.1f}",
            f"{o.p_value:.3g}",
            f"{100 * o.mdd:.1f}",
            o.verdict,
        )
    out.print(table)
    for r in rows:
        out.print(escape(f"{r.model}: {r.overall.verdict}: {r.overall.evidence}"))
        per = ", ".join(f"{b} {100 * d:+.1f} pts (n={n})" for b, (n, d) in r.by_benchmark.items())
        out.print(escape(f"  by benchmark: {per}"))
        for s in r.skipped:
            out.print(escape(f"  left out: {s}"))


@fidelity_app.command("plan")
def plan_cmd(
    model: Annotated[str, typer.Argument(help="The model name every endpoint serves (sent as 'model').")],
    endpoint: Annotated[
        list[str], typer.Option("--endpoint", help="Base URL of one provider; repeat, the reference first.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Plan file to write.")],
    pack: Annotated[str, typer.Option(help="Fidelity pack version.")] = "v1",
    key_env: Annotated[
        list[str] | None, typer.Option("--key-env", help="Variable holding each endpoint's key; repeat, in order.")
    ] = None,
    run_id: Annotated[str | None, typer.Option(help="Name of the run.")] = None,
) -> None:
    """Write a run plan sending the fidelity pack to every endpoint, greedy with a fixed seed; run it with
    'tianping run PLAN', then 'tianping fidelity report RUN --reference MODEL@HOST:PORT'."""
    from tianping.fidelity.pack import pack_plan

    check_output(output, "--output")
    try:
        text = pack_plan(model, endpoint, pack=pack, run_id=run_id, key_envs=key_env)
    except ValueError as exc:
        raise fail(str(exc)) from None
    write_output(output, text, "--output")
    out.print(escape(f"wrote {output}"))


@fidelity_app.command("probe")
def probe_cmd(
    base_url: Annotated[str, typer.Option("--base-url", help="The endpoint under test.")],
    model: Annotated[str, typer.Option("--model", help="Model name sent to both endpoints.")],
    reference_url: Annotated[
        str | None, typer.Option("--reference-url", help="A trusted endpoint of the model, for the fingerprint.")
    ] = None,
    claimed_context: Annotated[
        int | None, typer.Option("--claimed-context", min=16, help="Context length the provider claims (tokens).")
    ] = None,
) -> None:
    """Tokenizer fingerprint against a reference endpoint, and a binary search for the context honoured."""
    import aiohttp

    from tianping.fidelity.signals import compare_fingerprints, context_limit, tokenizer_fingerprint

    if reference_url is None and claimed_context is None:
        raise fail("give --reference-url (tokenizer fingerprint), --claimed-context (context probe), or both")
    try:
        if reference_url is not None:
            ref = run_async(tokenizer_fingerprint(reference_url, model))
            got = run_async(tokenizer_fingerprint(base_url, model))
            out.print(escape(f"tokenizer: {compare_fingerprints(ref, got).evidence}"))
        if claimed_context is not None:
            probe = run_async(context_limit(base_url, model, claimed_context))
            out.print(escape(f"context: {probe.evidence}"))
    except (ValueError, aiohttp.ClientError) as exc:
        raise fail(str(exc)) from None


def register(app: typer.Typer) -> None:
    """Add the ``fidelity`` command group to the main ``tianping`` app."""
    app.add_typer(fidelity_app, name="fidelity")
