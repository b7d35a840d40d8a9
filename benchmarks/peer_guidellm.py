"""guidellm as a reference streaming client for ``benchmarks/bench_probe_accuracy.py``.

guidellm (https://github.com/vllm-project/guidellm) lives in its own virtualenv, outside the repository; it is
never a dependency of tianping. :func:`run_guidellm` runs ``guidellm run`` once, at fixed concurrency, against an
OpenAI-compatible streaming endpoint and reads back the per-request timings guidellm itself recorded, from its
JSON report (``benchmarks[0].requests.successful[*]``):

- ``info.timings.request_start``: when guidellm began writing the request headers (an httpx trace hook), as
  ``time.time()`` wall-clock seconds in guidellm's worker process;
- ``time_to_first_token_ms``: first content chunk minus ``request_start``;
- ``inter_token_latency_ms``: (last content chunk - first content chunk) / (output tokens - 1): the same
  definition as tianping's TPOT and the fake server's truth. guidellm's own "TPOT" column
  (``time_per_output_token_ms``) is (last chunk - request start) / output tokens, TTFT included; it is kept as
  ``guidellm_tpot`` for reference only.

Wall-clock stamps are mapped onto this process's ``time.perf_counter()`` clock (CLOCK_MONOTONIC on Linux, the
fake server's ``loop.time()`` clock) with the offset ``time.time() - time.perf_counter()`` measured just before
and just after the run; the drift between the two readings is returned so a caller can check it is negligible.

guidellm cannot add a ``fake_tag`` to its requests, so the fake server must run with ``--stamp-all``; then
:func:`assign_tags` pairs guidellm's rows with the server's ``auto-<n>`` stamps by time order (the request
send time against the server's arrival time; both sorted, then zipped, which is the best one-to-one pairing
of two sets of instants in time order).

Try it alone::

    python tests/fake_stream_server.py --port 0 --ttft 0.2 --itl 0.04 --tokens 64 --no-uvloop --stamp-all &
    python benchmarks/peer_guidellm.py --base-url http://127.0.0.1:PORT/v1 --guidellm /tmp/gllm/bin/guidellm
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_GUIDELLM = "/tmp/gllm/bin/guidellm"


class GuidellmError(RuntimeError):
    """guidellm failed, or its report lacks what we need."""


def clock_offset() -> tuple[float, float]:
    """(``time.time() - time.perf_counter()``, uncertainty): the tightest of a few back-to-back readings."""
    best = (0.0, float("inf"))
    for _ in range(20):
        a = time.perf_counter()
        w = time.time()
        b = time.perf_counter()
        if b - a < best[1]:
            best = (w - (a + b) / 2, b - a)
    return best


def make_tokenizer(path: str | Path) -> Path:
    """Build a small byte-level BPE tokenizer at ``path`` (unless one is there) for guidellm's synthetic prompts.

    guidellm needs a Hugging Face tokenizer to cut synthetic prompts to ``prompt_tokens``; with no network, we
    train one on a few KB of standard-library docstrings. The fake server ignores the prompt, so any tokenizer
    that encodes and decodes English text will do.
    """
    path = Path(path)
    if (path / "tokenizer.json").exists():
        return path
    import argparse as _ap
    import asyncio as _aio
    import http.server as _hs
    import json as _js
    import subprocess as _sp

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    text = "\n".join(m.__doc__ or "" for m in (_js, _aio, _ap, _hs, _sp))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=["<|endoftext|>"]
    )
    tok.train_from_iterator([text], trainer)
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>").save_pretrained(str(path))
    return path


def guidellm_command(
    guidellm_bin: str,
    base_url: str,
    *,
    streams: int,
    requests: int,
    prompt_tokens: int,
    output_tokens: int,
    tokenizer_dir: str,
    report: str,
) -> list[str]:
    """The ``guidellm run`` argv: concurrent profile, ``requests`` requests, synthetic prompts, JSON report.

    - ``model=fake`` and ``validate_backend=false``: otherwise guidellm asks ``/v1/models`` and ``/health``,
      which an endpoint under test need not serve;
    - ``http2=false``: plain HTTP/1.1 like the other clients (httpx would not negotiate h2 over http:// anyway);
    - ``extras.body.max_tokens``: guidellm asks for ``max_completion_tokens`` (plus ``ignore_eos``); servers
      that read only ``max_tokens``, the fake server among them, then get the same length too.
    """
    backend = (
        f"kind=openai_http,target={base_url},model=fake,validate_backend=false,http2=false,"
        f"extras.body.max_tokens={output_tokens}"
    )
    return [
        guidellm_bin, "run",
        "--backend", backend,
        "--profile", f"kind=concurrent,streams={streams}",
        "--constraint", f"kind=max_requests,count={requests}",
        "--tokenizer", f"kind=huggingface_auto,model={tokenizer_dir}",
        "--data", f"kind=synthetic_text,prompt_tokens={prompt_tokens},output_tokens={output_tokens}",
        "--output", f"kind=json,path={report}",
        "--disable-console-interactive",
    ]  # fmt: skip


def _field(obj: dict[str, Any], dotted: str, where: str) -> Any:
    cur: Any = obj
    for key in dotted.split("."):
        if not isinstance(cur, dict) or key not in cur:
            raise GuidellmError(f"{where}: field {dotted!r} missing in guidellm's report")
        cur = cur[key]
    return cur


def parse_report(report: dict[str, Any], offset: float, where: str) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Rows (perf_counter clock, seconds) from a guidellm JSON report, and its request totals.

    ``where`` names the report file in error messages.
    """
    benchmarks = _field(report, "benchmarks", where)
    if not isinstance(benchmarks, list) or len(benchmarks) != 1:
        raise GuidellmError(f"{where}: expected exactly one benchmark in 'benchmarks', got {benchmarks!r:.80}")
    bench = benchmarks[0]
    totals = {k: len(_field(bench, f"requests.{k}", where) or []) for k in ("successful", "errored", "incomplete")}
    rows = []
    for i, req in enumerate(_field(bench, "requests.successful", where)):
        at = f"{where}: benchmarks[0].requests.successful[{i}]"
        t = _field(req, "info.timings", at)
        start, resolve = _field(t, "request_start", at), _field(t, "resolve_start", at)
        first, last = _field(t, "first_token_iteration", at), _field(t, "last_token_iteration", at)
        ttft_ms, itl_ms = _field(req, "time_to_first_token_ms", at), _field(req, "inter_token_latency_ms", at)
        n = _field(req, "output_tokens", at)
        if None in (start, resolve, first, last, ttft_ms, n):
            raise GuidellmError(f"{at}: a completed request without request_start/first/last token or TTFT")
        rows.append({
            "request_id": req.get("request_id"),
            "start": start - offset,  # guidellm's request send time on this process's perf_counter clock
            "sent": start - offset,
            "t_call": resolve - offset,  # the backend was asked to resolve the request
            "queue": start - resolve,
            "first": first - offset,
            "last": last - offset,
            "ttft": ttft_ms / 1000,
            "tpot": None if itl_ms is None else itl_ms / 1000,  # guidellm's ITL: (last - first) / (n - 1)
            "itl": None if itl_ms is None else itl_ms / 1000,
            "guidellm_tpot": (req.get("time_per_output_token_ms") or 0) / 1000 or None,
            "n": n,
            "iterations": t.get("token_iterations"),
        })  # fmt: skip
    rows.sort(key=lambda r: r["start"])
    return rows, totals


def run_guidellm(
    guidellm_bin: str,
    base_url: str,
    *,
    streams: int,
    requests: int,
    prompt_tokens: int,
    output_tokens: int,
    tokenizer_dir: str,
    cores: set[int] | None,
    workers: int | None = None,
    timeout_s: float = 600.0,
    info: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run guidellm at ``streams`` concurrent streams for ``requests`` requests; one row per successful request.

    Each row: ``start``/``sent`` (request headers started, ``time.perf_counter()`` clock), ``t_call`` (backend
    asked to resolve), ``first``/``last`` (first/last content chunk read), ``ttft``, ``tpot`` (= ``itl``, guidellm's
    inter-token latency), ``guidellm_tpot`` (guidellm's TPOT, TTFT included), ``n`` (output tokens, from the
    usage chunk), in seconds, sorted by ``start``. ``cores`` pins guidellm and its worker processes (taskset);
    ``workers`` caps guidellm's worker processes (``GUIDELLM__MAX_WORKER_PROCESSES``; None keeps its default,
    min(streams, 10)). ``info``, when given, receives the command, wall time, totals and clock drift.
    Raises :class:`GuidellmError` if guidellm fails or completes no request.
    """
    if not Path(guidellm_bin).exists():
        raise GuidellmError(f"guidellm not found at {guidellm_bin}")
    if not (Path(tokenizer_dir) / "tokenizer_config.json").exists():
        raise GuidellmError(f"{tokenizer_dir}: no tokenizer_config.json (make one with make_tokenizer())")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    if workers is not None:
        env["GUIDELLM__MAX_WORKER_PROCESSES"] = str(workers)
    with tempfile.TemporaryDirectory(prefix="guidellm-") as tmp:
        report = str(Path(tmp) / "report.json")
        argv = guidellm_command(guidellm_bin, base_url, streams=streams, requests=requests,
                                prompt_tokens=prompt_tokens, output_tokens=output_tokens,
                                tokenizer_dir=tokenizer_dir, report=report)  # fmt: skip
        pin = None
        if cores and shutil.which("taskset"):
            argv = ["taskset", "-c", ",".join(map(str, sorted(cores))), *argv]
        elif cores:  # no taskset: set the affinity in the child before exec; guidellm's workers inherit it
            pin = lambda: os.sched_setaffinity(0, cores)  # noqa: E731
        off0, _ = clock_offset()
        t0 = time.perf_counter()
        try:
            out = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=tmp, preexec_fn=pin
            )
        except subprocess.TimeoutExpired as exc:
            raise GuidellmError(f"guidellm ran past {timeout_s:g} s") from exc
        wall = time.perf_counter() - t0
        off1, _ = clock_offset()
        if out.returncode or not Path(report).exists():
            raise GuidellmError(f"guidellm exited {out.returncode}: {(out.stdout + out.stderr)[-3000:]}")
        data = json.loads(Path(report).read_text())
    rows, totals = parse_report(data, (off0 + off1) / 2, report)
    if info is not None:
        version = _field(data, "metadata.guidellm_version", report)
        strategy = _field(data, "benchmarks", report)[0].get("config", {}).get("strategy", {})
        info.update({"argv": argv, "wall_s": wall, "totals": totals, "clock_drift_s": off1 - off0,
                     "version": version, "t0": t0, "t1": t0 + wall, "worker_count": strategy.get("worker_count"),
                     "max_concurrency": strategy.get("max_concurrency")})  # fmt: skip
    if not rows:
        raise GuidellmError(f"guidellm completed no request: {totals}")
    if totals["errored"] or totals["incomplete"]:
        print(f"peer_guidellm: guidellm reported {totals}", file=sys.stderr)
    return rows


def fetch_stamps(base_url: str) -> dict[str, list[float]]:
    """The fake server's ``GET /fake/stamps``: tag -> [arrival, first token sent, last token sent]."""
    with urllib.request.urlopen(base_url.rstrip("/").removesuffix("/v1") + "/fake/stamps", timeout=30) as r:
        return json.loads(r.read())


def assign_tags(
    rows: list[dict[str, Any]], stamps: dict[str, list[float]], t0: float, t1: float, *, by: str = "tokens"
) -> list[dict[str, Any]]:
    """Give each guidellm row the tag of its server stamp among the ``auto-*`` stamps that arrived within [t0, t1]
    (the guidellm run, perf_counter clock).

    ``by="tokens"`` (default): the one-to-one pairing that minimises the summed |client first token - server first
    send| + |client last token - server last send| (an assignment problem), with a steep penalty on causally
    impossible pairs (arrival before send, a token read before it was sent). The receive side is the tight one:
    guidellm stamps ``request_start`` when httpx *begins* the headers, and under load the request reaches the
    server up to hundreds of ms later, with a lag that varies from request to request, so send order and arrival
    order disagree. ``by="send"``: requests sorted by send time zipped with stamps sorted by arrival (kept to show
    that disagreement). Both pair by the stamp values, never the ``auto-<n>`` number.

    Each row gets ``tag``, ``arrival_lag`` (server arrival - guidellm send) and ``first_lag`` (client first token -
    server first send; negative means an impossible pair). Raises :class:`GuidellmError` when the counts differ
    (a stamp overwritten, a request the server never timed, or other untagged traffic in the window).
    """
    auto = sorted((st[0], tag) for tag, st in stamps.items() if tag.startswith("auto-") and t0 <= st[0] <= t1)
    if len(auto) != len(rows):
        raise GuidellmError(
            f"{len(rows)} guidellm rows but {len(auto)} auto-* stamps in the run's window: is the fake server "
            "running with --stamp-all, and is guidellm the only client sending untagged requests?"
        )
    ordered = sorted(rows, key=lambda r: r["start"])
    tags = [tag for _, tag in auto]
    if by == "send":
        pairs = list(zip(ordered, tags, strict=True))
    elif by == "tokens":
        from scipy.optimize import linear_sum_assignment

        client = np.array([[r["first"], r["last"]] for r in ordered])
        server = np.array([stamps[t][1:] for t in tags])
        cost = np.abs(client[:, None, :] - server[None, :, :]).sum(axis=2)
        # causality: a request cannot arrive before it was sent, nor a token be read before it was sent
        sent = np.array([r["start"] for r in ordered])[:, None]
        arrived = np.array([stamps[t][0] for t in tags])[None, :]
        cost += 1e3 * (np.maximum(0, sent - arrived) + np.maximum(0, server[None, :, :] - client[:, None, :]).sum(2))
        ri, ci = linear_sum_assignment(cost)
        pairs = [(ordered[i], tags[j]) for i, j in zip(ri, ci, strict=True)]
    else:
        raise ValueError(f"by must be 'tokens' or 'send', not {by!r}")
    return [
        {**row, "tag": tag, "arrival_lag": stamps[tag][0] - row["start"], "first_lag": row["first"] - stamps[tag][1]}
        for row, tag in sorted(pairs, key=lambda p: p[0]["start"])
    ]


def truth_errors(rows: list[dict[str, Any]], stamps: dict[str, list[float]], tokens: int) -> dict[str, list[float]]:
    """Per tagged row: guidellm's TTFT and TPOT against the server's own (first - arrival, (last - first)/(n-1))."""
    err: dict[str, list[float]] = {k: [] for k in ("ttft", "tpot", "true_ttft", "true_tpot", "lag", "first_lag")}
    for row in rows:
        arrived, first_sent, last_sent = stamps[row["tag"]]
        err["true_ttft"].append(first_sent - arrived)
        err["true_tpot"].append((last_sent - first_sent) / (tokens - 1))
        err["ttft"].append(row["ttft"] - err["true_ttft"][-1])
        err["tpot"].append(row["tpot"] - err["true_tpot"][-1])
        err["lag"].append(row["arrival_lag"])
        err["first_lag"].append(row["first_lag"])
    return err


def _ms(values: list[float], q: float = 50) -> float:
    return float(np.percentile(np.asarray(values), q)) * 1000


def report_lines(rows: list[dict[str, Any]], err: dict[str, list[float]], by_send: dict[str, list[float]]) -> str:
    """p50s of guidellm's TTFT/TPOT against the server's truth, under both pairings, with pairing checks."""
    out = [
        f"TTFT p50: guidellm {_ms([r['ttft'] for r in rows]):.2f} ms, server truth {_ms(err['true_ttft']):.2f} ms",
        f"TPOT p50: guidellm ITL {_ms([r['tpot'] for r in rows]):.2f} ms, server truth {_ms(err['true_tpot']):.2f}"
        f" ms (guidellm's own TPOT column, TTFT included: {_ms([r['guidellm_tpot'] for r in rows]):.2f} ms)",
    ]
    for name, e in (("by token times", err), ("by send order", by_send)):
        bad = sum(x < 0 for x in e["first_lag"])
        out.append(
            f"paired {name}: TTFT err p50 {_ms(e['ttft']):+.2f} ms, TPOT err p50 {_ms(e['tpot']):+.3f} ms; "
            f"arrival-send p50 {_ms(e['lag']):+.1f} ms [{_ms(e['lag'], 0):+.1f}, {_ms(e['lag'], 100):+.1f}]; "
            f"client-server first token p50 {_ms(e['first_lag']):+.1f} ms, {bad} impossible (< 0)"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base-url", required=True, help="fake server started with --stamp-all, e.g. .../v1")
    ap.add_argument("--guidellm", default=DEFAULT_GUIDELLM)
    ap.add_argument("--streams", type=int, default=64)
    ap.add_argument("--requests", type=int, default=192)
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--output-tokens", type=int, default=64, help="must match the server's --tokens")
    ap.add_argument("--tokenizer-dir", default=None, help="default: a small BPE built under /tmp")
    ap.add_argument("--cores", default=None, help="comma list of cores to pin guidellm to")
    ap.add_argument("--workers", type=int, default=None, help="guidellm worker processes (default: its own)")
    ap.add_argument("--json", default=None, help="write the rows and errors here")
    args = ap.parse_args(argv)

    tok = args.tokenizer_dir or str(make_tokenizer(Path(tempfile.gettempdir()) / "peer_guidellm_tokenizer"))
    cores = {int(c) for c in args.cores.split(",")} if args.cores else None
    info: dict[str, Any] = {}
    rows = run_guidellm(args.guidellm, args.base_url, streams=args.streams, requests=args.requests,
                        prompt_tokens=args.prompt_tokens, output_tokens=args.output_tokens, tokenizer_dir=tok,
                        cores=cores, workers=args.workers, info=info)  # fmt: skip
    stamps = fetch_stamps(args.base_url)
    by_send = truth_errors(assign_tags(rows, stamps, info["t0"], info["t1"], by="send"), stamps, args.output_tokens)
    rows = assign_tags(rows, stamps, info["t0"], info["t1"])
    err = truth_errors(rows, stamps, args.output_tokens)

    def p50(key: str, src: Any = None) -> float:
        return float(np.median([r[key] for r in rows] if src is None else src[key])) * 1000

    print("$ " + " ".join(info["argv"]))
    print(
        f"guidellm {info['version']}: {len(rows)} rows {info['totals']}, wall {info['wall_s']:.1f} s, "
        f"clock drift {info['clock_drift_s'] * 1e6:+.1f} us, {info['worker_count']} worker processes, "
        f"concurrency {info['max_concurrency']}"
    )
    print(report_lines(rows, err, by_send))
    if args.json:
        Path(args.json).write_text(json.dumps({"info": info, "rows": rows, "errors": err}, default=str))


if __name__ == "__main__":
    main()
