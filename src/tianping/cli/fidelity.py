"""``tianping fidelity``: is each provider of a model serving that model? ``plan`` writes the run plan that sends
the fidelity pack to every endpoint, ``report`` pairs the providers of the finished run with a reference item by
item, ``probe`` compares an endpoint's tokenizer fingerprint and honoured context with a reference's
(docs/fidelity.md).

Exit codes (``tianping.cli.errors``): 0 done; 2 no such run, reference or pack, nothing to pair, an endpoint
that refuses or cannot be fingerprinted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from tianping.cli.common import ResultsDir, StoreUrl, check_output, open_store, use_store, write_output
from tianping.cli.errors import fail, run_async
from tianping.cli.output import ci, out, pct

__all__ = ["fidelity_app", "register"]

fidelity_app = typer.Typer(
    name="fidelity",
    help="Check that every provider of one model serves that model: paired accuracy against a reference, "
    "signals beyond accuracy, and wrapper detection.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


KeyEnv = Annotated[str | None, typer.Option("--key-env", help="Variable holding the endpoint's key.")]
ReferenceKeyEnv = Annotated[
    str | None, typer.Option("--reference-key-env", help="Variable holding the reference's key.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@fidelity_app.command("report")
def report_cmd(
    run_id: Annotated[str, typer.Argument(help="A finished plan run with several providers of one model.")],
    reference: Annotated[str, typer.Option("--reference", help="The model id of the reference provider.")],
    results_dir: ResultsDir = None,
    store_url: StoreUrl = None,
    alpha: Annotated[float, typer.Option(min=0.0001, max=0.5, help="Significance level of McNemar's test.")] = 0.05,
    tolerance: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Largest drop (fraction) still called consistent.")
    ] = 0.03,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Per provider: accuracy with its interval, the paired difference against the reference with the exact
    McNemar test, the minimum detectable difference at the run's size, and a verdict with its evidence."""
    from tianping.fidelity.report import fidelity_report

    use_store(store_url)
    store = open_store(results_dir, readonly=True)
    if store.get_run(run_id) is None:
        raise fail(store.no_run(run_id))
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
                "verdict": r.verdict,
                "accuracy_verdict": r.overall.verdict,
                "evidence": r.evidence,
                "by_benchmark": {b: {"n": n, "diff": d} for b, (n, d) in r.by_benchmark.items()},
                "skipped": r.skipped,
                "by_length": None
                if r.context is None
                else {
                    "cut_from": r.context.cut_from,
                    "buckets": {
                        row.bucket: {
                            "n": row.n,
                            "accuracy": row.provider_acc,
                            "reference_accuracy": row.reference_acc,
                            "p_value": row.p_value,
                        }
                        for row in r.context.rows
                    },
                },
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
            r.verdict,
        )
    out.print(table)
    for r in rows:
        out.print(escape(f"{r.model}: {r.verdict}: {r.evidence}"))
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
    pack: Annotated[
        str,
        typer.Option(
            help="Fidelity pack version: v2 (with code and long context) or v1; or a pack file written by "
            "'tianping fidelity pack-stats' (the plan then runs exactly its items)."
        ),
    ] = "v2",
    unsafe_exec: Annotated[
        bool,
        typer.Option("--unsafe-exec", help="Write settings.unsafe_exec into the plan: score code without bubblewrap."),
    ] = False,
    key_env: Annotated[
        list[str] | None, typer.Option("--key-env", help="Variable holding each endpoint's key; repeat, in order.")
    ] = None,
    run_id: Annotated[str | None, typer.Option(help="Name of the run.")] = None,
) -> None:
    """Write a run plan sending the fidelity pack to every endpoint, greedy with a fixed seed; run it with
    'tianping run PLAN', then 'tianping fidelity report RUN --reference MODEL@HOST:PORT'."""
    from tianping.core.items import ItemsFileError, read_items_file
    from tianping.fidelity.pack import PACKS, pack_plan

    check_output(output, "--output")
    items = None
    if pack not in PACKS:  # a derived pack is a file; a version name is never one
        if not Path(pack).is_file():
            raise fail(f"--pack {pack}: neither a pack version ({', '.join(PACKS)}) nor a pack file")
        try:
            items = read_items_file(Path(pack))
        except ItemsFileError as exc:
            raise fail(f"--pack {exc}") from None
    try:
        text = pack_plan(
            model, endpoint, pack=pack, run_id=run_id, key_envs=key_env, unsafe_exec=unsafe_exec, items=items
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    write_output(output, text, "--output")
    out.print(escape(f"wrote {output}"))


@fidelity_app.command("pack-stats")
def pack_stats_cmd(
    run_ids: Annotated[list[str], typer.Argument(help="Stored runs of several models on the pack's benchmarks.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Pack file to write.")],
    results_dir: ResultsDir = None,
    store_url: StoreUrl = None,
    pack: Annotated[str, typer.Option(help="The pack whose benchmarks and sizes the new pack takes.")] = "v2",
    name: Annotated[str, typer.Option(help="Name written into the pack file.")] = "derived",
    show: Annotated[int, typer.Option(min=0, help="Items to list per benchmark.")] = 5,
) -> None:
    """Rank the items of the runs by discrimination (corrected point-biserial correlation with the models'
    accuracy, difficulty between 0.2 and 0.8 preferred) and write the best of each benchmark as a pack file."""
    from tianping.fidelity.pack import PACKS
    from tianping.fidelity.pack_stats import item_matrix, item_stats, select_items, write_pack_file

    if pack not in PACKS:
        raise fail(f"unknown fidelity pack '{pack}' (known: {', '.join(PACKS)})")
    check_output(output, "--output")
    use_store(store_url)
    store = open_store(results_dir, readonly=True)
    try:
        models, stats = item_stats(item_matrix(store, run_ids))
    except ValueError as exc:
        raise fail(str(exc)) from None
    present = {s.benchmark for s in stats}
    sizes = {b: n for b, n in PACKS[pack].items() if b in present}
    if not sizes:
        raise fail(f"the runs have none of pack {pack}'s benchmarks ({', '.join(PACKS[pack])})")
    chosen = select_items(stats, sizes)
    write_pack_file(output, name, chosen, models, run_ids)
    out.print(escape(f"{len(models)} models: {', '.join(models)}"))
    for bench, items in chosen.items():
        top = ", ".join(f"{s.sample_id} (p={s.p:.2f}, r={'-' if s.r is None else f'{s.r:.2f}'})" for s in items[:show])
        out.print(escape(f"{bench}: {len(items)} of {sizes[bench]} items; best: {top}"))
    missing = sorted(set(PACKS[pack]) - present)
    if missing:
        out.print(escape(f"not in the runs: {', '.join(missing)}"))
    out.print(escape(f"wrote {output}"))


def _headers(var: str | None, flag: str) -> dict[str, str] | None:
    """A bearer header from the named environment variable (None without one)."""
    if var is None:
        return None
    key = os.environ.get(var)
    if not key:
        raise fail(f"{flag}: the environment variable {var} is not set")
    return {"Authorization": f"Bearer {key}"}


async def _probe(
    base_url: str,
    model: str,
    reference_url: str | None,
    claimed_context: int | None,
    behaviour: bool,
    repeat: bool,
    headers: dict[str, str] | None,
    ref_headers: dict[str, str] | None,
) -> dict[str, Any]:
    from tianping.fidelity.classify import classify
    from tianping.fidelity.logprob_signal import compare_logprobs
    from tianping.fidelity.profile import behaviour_signals
    from tianping.fidelity.sample import collect_replies, max_tokens_probe
    from tianping.fidelity.signals import compare_fingerprints, context_limit, tokenizer_fingerprint

    found: dict[str, Any] = {}
    if reference_url is not None:
        ref = await tokenizer_fingerprint(reference_url, model, ref_headers)
        got = await tokenizer_fingerprint(base_url, model, headers)
        found["tokenizer"] = compare_fingerprints(ref, got)
    if claimed_context is not None:
        found["context"] = await context_limit(base_url, model, claimed_context, headers)
    if reference_url is not None and behaviour:
        reference = await collect_replies(reference_url, model, headers=ref_headers)
        again = await collect_replies(reference_url, model, headers=ref_headers) if repeat else None
        candidate = await collect_replies(base_url, model, headers=headers)
        found["logprobs"] = compare_logprobs(reference, candidate, again)
        caps = await max_tokens_probe(base_url, model, headers=headers)
        found["signals"] = behaviour_signals(reference, candidate, claimed=model, caps=caps)
    found["verdict"] = classify(
        logprobs=found.get("logprobs"),
        tokenizer=found.get("tokenizer"),
        context=found.get("context"),
        signals=found.get("signals", ()),
    )
    return found


def _flag(flagged: bool | None) -> str:
    return {True: "FLAGGED", False: "ok", None: "no evidence"}[flagged]


@fidelity_app.command("probe")
def probe_cmd(
    base_url: Annotated[str, typer.Option("--base-url", help="The endpoint under test.")],
    model: Annotated[str, typer.Option("--model", help="Model name sent to both endpoints.")],
    reference_url: Annotated[
        str | None,
        typer.Option("--reference-url", help="A trusted endpoint of the model: fingerprint and behaviour signals."),
    ] = None,
    claimed_context: Annotated[
        int | None, typer.Option("--claimed-context", min=16, help="Context length the provider claims (tokens).")
    ] = None,
    behaviour: Annotated[
        bool,
        typer.Option(
            "--behaviour/--no-behaviour",
            help="With --reference-url: log-probabilities, lengths, refusals, reasoning, finish reasons, fields "
            "and max_tokens on the fixed prompts.",
        ),
    ] = True,
    repeat: Annotated[
        bool,
        typer.Option(
            "--repeat-reference/--no-repeat-reference",
            help="Ask the reference twice to measure its own log-probability noise.",
        ),
    ] = True,
    key_env: KeyEnv = None,
    reference_key_env: ReferenceKeyEnv = None,
    as_json: AsJson = False,
) -> None:
    """Signals beyond accuracy against a reference endpoint (tokenizer fingerprint, log-probability agreement,
    output length, refusals, truncation, reasoning tokens, finish reasons, model fields, max_tokens honoured)
    and a binary search for the context honoured; each with its evidence, and one verdict."""
    import aiohttp

    if reference_url is None and claimed_context is None:
        raise fail("give --reference-url (tokenizer fingerprint), --claimed-context (context probe), or both")
    headers = _headers(key_env, "--key-env")
    ref_headers = _headers(reference_key_env, "--reference-key-env")
    try:
        found = run_async(
            _probe(base_url, model, reference_url, claimed_context, behaviour, repeat, headers, ref_headers)
        )
    except (ValueError, aiohttp.ClientError) as exc:
        raise fail(str(exc)) from None
    verdict = found["verdict"]
    if as_json:
        payload: dict[str, Any] = {"endpoint": base_url, "model": model, "verdict": verdict.label}
        payload["reasons"] = verdict.reasons
        signals: dict[str, Any] = {}
        if "tokenizer" in found:
            t = found["tokenizer"]
            signals["tokenizer"] = {"flagged": not t.same, "mismatched": t.mismatched, "evidence": t.evidence}
        if "context" in found:
            c = found["context"]
            signals["context"] = {
                "flagged": c.truncates,
                "claimed": c.claimed,
                "honoured": c.honoured,
                "evidence": c.evidence,
            }
        if "logprobs" in found:
            lp = found["logprobs"]
            signals["logprobs"] = {
                "flagged": lp.flagged,
                "available": lp.available,
                "aligned_tokens": lp.aligned,
                "mean_abs_diff": lp.mean_abs_diff,
                "threshold": lp.threshold,
                "noise_sd": lp.noise_sd,
                "topk_overlap": lp.topk_overlap,
                "evidence": lp.evidence,
            }
        for s in found.get("signals", ()):
            signals[s.name] = {"flagged": s.flagged, "statistic": s.statistic, "evidence": s.evidence}
        payload["signals"] = signals
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    if "tokenizer" in found:
        out.print(escape(f"tokenizer: {found['tokenizer'].evidence}"))
    if "context" in found:
        out.print(escape(f"context: {found['context'].evidence}"))
    if "logprobs" in found:
        lp = found["logprobs"]
        out.print(escape(f"logprobs [{_flag(lp.flagged)}]: {lp.evidence}"))
    for s in found.get("signals", ()):
        shown = "reported" if s.name == "finish_reason" else _flag(s.flagged)  # a profile, not a test
        out.print(escape(f"{s.name} [{shown}]: {s.evidence}"))
    out.print(escape(f"verdict: {verdict.label}"))
    for reason in verdict.reasons:
        out.print(escape(f"  {reason}"))


def _cutoff(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        year, month = (int(x) for x in text.split("-"))
    except ValueError:
        raise fail(f"--claimed-cutoff: expected YEAR-MONTH such as 2024-06, got '{text}'") from None
    if not 1 <= month <= 12:
        raise fail(f"--claimed-cutoff: month {month} is not 1-12")
    return year, month


@fidelity_app.command("wrapper")
def wrapper_cmd(
    base_url: Annotated[str, typer.Option("--base-url", help="The endpoint under test.")],
    model: Annotated[str, typer.Option("--model", help="The model the endpoint claims to serve (sent as 'model').")],
    reference_url: Annotated[
        str | None, typer.Option("--reference-url", help="A trusted endpoint of the claimed model.")
    ] = None,
    claimed_cutoff: Annotated[
        str | None, typer.Option("--claimed-cutoff", help="The claimed model's knowledge cutoff, YEAR-MONTH.")
    ] = None,
    tokenizer: Annotated[
        list[str] | None,
        typer.Option("--tokenizer", help="FAMILY=PATH of a tokenizer.json to fingerprint as well; repeat."),
    ] = None,
    key_env: KeyEnv = None,
    reference_key_env: ReferenceKeyEnv = None,
    as_json: AsJson = False,
) -> None:
    """Is the endpoint the claimed model's family or another vendor's model under its name? Scores every known
    family from the tokenizer fingerprint, identity probes, refusals and the stated knowledge cutoff, with the
    evidence of each (docs/fidelity.md)."""
    import aiohttp

    from tianping.fidelity.tokenizer_table import KNOWN, KnownTokenizer, fingerprint_of_file
    from tianping.fidelity.wrapper import detect_wrapper, report_json

    table = dict(KNOWN)
    for item in tokenizer or ():
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise fail(f"--tokenizer: expected FAMILY=PATH, got '{item}'")
        try:
            table[name] = KnownTokenizer(name, fingerprint_of_file(Path(path)), f"--tokenizer {path}")
        except ValueError as exc:
            raise fail(f"--tokenizer: {exc}") from None
    cutoff = _cutoff(claimed_cutoff)
    headers = _headers(key_env, "--key-env")
    ref_headers = _headers(reference_key_env, "--reference-key-env")
    try:
        report = run_async(
            detect_wrapper(
                base_url,
                model,
                reference_url=reference_url,
                claimed_cutoff=cutoff,
                table=table,
                headers=headers,
                reference_headers=ref_headers,
            )
        )
    except (ValueError, aiohttp.ClientError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(report_json(report), indent=2, ensure_ascii=False))
        return
    out.print(escape(f"claimed: {report.claimed} (family {report.claimed_family or 'unknown'})"))
    for e in report.evidence:
        part = ", ".join(f"{name} {v:+g}" for name, v in e.scores.items()) or "unscored"
        out.print(escape(f"{e.signal} [{part}]: {e.detail}"))
    ranked = ", ".join(f"{name} {v:+.2f}" for name, v in sorted(report.scores.items(), key=lambda kv: -kv[1]))
    out.print(escape(f"scores: {ranked}"))
    out.print(escape(f"verdict: {report.verdict}"))


def register(app: typer.Typer) -> None:
    """Add the ``fidelity`` command group to the main ``tianping`` app."""
    app.add_typer(fidelity_app, name="fidelity")
