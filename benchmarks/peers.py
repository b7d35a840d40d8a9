"""Peer evaluation tools (lm-eval, inspect-ai) timed on the same GSM8K requests as tianping.

``benchmarks/bench_api_overhead.py --peers-venv PATH`` uses this module. The peers live in their own
virtualenv, kept outside the repository, for example::

    python3 -m venv /work/peers-venv
    /work/peers-venv/bin/pip install torch==2.13.0          # first: the CPU wheel, not several GB of CUDA
    /work/peers-venv/bin/pip install "lm_eval[api]" inspect-ai openai

Each peer runs as a whole process (start-up included), timed by wall clock around ``subprocess.run``,
against the fake server's ``base_url`` on the first ``n`` items of ``<data_dir>/gsm8k/test.jsonl``:
zero-shot, one user message ``"Question: ...\\nAnswer:"``, ``max_tokens`` 1024, temperature 0, no
response cache, at concurrency ``c``. The task definitions are in ``benchmarks/peer_tasks/``; both read
the local JSONL, so nothing is fetched from a hub.

- lm-eval: ``lm-eval run --model local-chat-completions --apply_chat_template`` with
  ``num_concurrent=c`` (``c == 1`` takes lm-eval's sequential ``requests`` path).
- inspect-ai: ``inspect eval --model openai-api/fake/fake`` (its provider for OpenAI-compatible servers:
  ``openai/<name>`` would treat an unknown model name as a frontier OpenAI model, send Responses API
  requests and drop the temperature) with ``--max-connections c``.

After each run the fake server's ``GET /fake/stats`` must show exactly ``n`` chat requests (it is reset
with ``POST /fake/reset`` before the run, outside the timed region), and the peer's own results must
report ``n`` completed samples; otherwise :class:`PeerError` is raised with the end of the peer's output.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent / "peer_tasks"
LM_EVAL_TASK = "peer_gsm8k_local"
LM_EVAL_TEMPLATE = TASKS_DIR / "lm_eval_gsm8k.yaml"
INSPECT_TASK_FILE = TASKS_DIR / "inspect_gsm8k.py"
MAX_TOKENS = 1024
MAX_RETRIES = 3
REQUEST_TIMEOUT_S = 300


class PeerError(RuntimeError):
    """A peer failed, or did not send exactly the requests it was asked to."""


def _tail(text: str | bytes | None, size: int = 2000) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return (text or "")[-size:]


class Peers:
    """Times lm-eval and inspect-ai from ``venv`` against ``base_url`` (an OpenAI-style ``.../v1`` URL)."""

    names = ("lm_eval", "inspect_ai")

    def __init__(self, venv: Path, base_url: str, data_dir: Path, workdir: Path, timeout_s: float = 3600.0):
        self.venv = Path(venv).absolute()
        self.bin = self.venv / "bin"
        self.base_url = base_url.rstrip("/")
        self.server_root = self.base_url.removesuffix("/v1")
        self.data_file = (Path(data_dir) / "gsm8k" / "test.jsonl").resolve()
        self.workdir = Path(workdir)
        self.timeout_s = timeout_s
        for exe in ("python", "lm-eval", "inspect"):
            if not (self.bin / exe).exists():
                raise PeerError(f"{self.bin / exe} not found: is {self.venv} the peers virtualenv?")
        if not self.data_file.is_file():
            raise PeerError(f"GSM8K test file not found: {self.data_file}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        # One Hugging Face cache for every lm-eval run of this object, warmed before the first timed run so
        # that the JSONL -> Arrow conversion (a one-off, ~0.3 s) is not counted in any single point.
        self.hf_home = Path(tempfile.mkdtemp(prefix="peers-hf-", dir=self.workdir))
        self._warmed = False
        self.details: dict[str, dict[str, float]] = {}
        """Per peer, from its latest run: ``wall_s`` and, from the fake server's clock, ``first_request_s`` and
        ``last_request_s`` (seconds after the process started when its first / last request arrived) and
        ``max_in_flight`` (the most requests it had open at once)."""

    # -- public --------------------------------------------------------------------------------------------

    def time_all(self, n: int, concurrency: int) -> dict[str, float]:
        """Wall seconds of each peer's whole process for the first ``n`` GSM8K items at ``concurrency``."""
        return {"lm_eval": self.time_lm_eval(n, concurrency), "inspect_ai": self.time_inspect_ai(n, concurrency)}

    def time_lm_eval(self, n: int, concurrency: int) -> float:
        self._warm()
        run_dir = Path(tempfile.mkdtemp(prefix=f"lm-eval-{n}-{concurrency}-", dir=self.workdir))
        include = run_dir / "tasks"
        include.mkdir()
        yaml_text = LM_EVAL_TEMPLATE.read_text(encoding="utf-8")
        (include / f"{LM_EVAL_TASK}.yaml").write_text(
            yaml_text.replace("__GSM8K_TEST_JSONL__", json.dumps(str(self.data_file))), encoding="utf-8"
        )
        out = run_dir / "results"
        cmd = self.lm_eval_command(n, concurrency, include, out)
        wall, result = self._run("lm_eval", cmd, run_dir, n)
        samples = self._lm_eval_samples(out)
        if samples != n:
            raise PeerError(f"lm_eval reported {samples} samples, expected {n}\n{_tail(result.stderr)}")
        return wall

    def time_inspect_ai(self, n: int, concurrency: int) -> float:
        run_dir = Path(tempfile.mkdtemp(prefix=f"inspect-{n}-{concurrency}-", dir=self.workdir))
        # inspect cannot load a task from an absolute path on Python 3.11 (pathlib glob): run it from run_dir.
        (run_dir / INSPECT_TASK_FILE.name).write_text(INSPECT_TASK_FILE.read_text(encoding="utf-8"), encoding="utf-8")
        logs = run_dir / "logs"
        cmd = self.inspect_command(n, concurrency, logs)
        wall, result = self._run("inspect_ai", cmd, run_dir, n)
        # inspect exits 0 even when the eval failed: its log's status is the verdict.
        status, completed, error = self._inspect_log(logs)
        if status != "success" or completed != n:
            raise PeerError(
                f"inspect_ai: status {status!r}, {completed} of {n} samples completed\n{_tail(error)}\n"
                f"{_tail(result.stdout, 1000)}\n{_tail(result.stderr)}"
            )
        return wall

    # -- commands ------------------------------------------------------------------------------------------

    def lm_eval_command(self, n: int, concurrency: int, include: Path, out: Path) -> list[str]:
        model_args = ",".join(
            [
                "model=fake",
                f"base_url={self.base_url}/chat/completions",
                f"num_concurrent={concurrency}",
                f"max_retries={MAX_RETRIES}",
                f"timeout={REQUEST_TIMEOUT_S}",
                "tokenized_requests=False",
                "tokenizer_backend=None",
            ]
        )
        return [
            str(self.bin / "lm-eval"), "run",
            "--model", "local-chat-completions",
            "--model_args", model_args,
            "--tasks", LM_EVAL_TASK,
            "--include_path", str(include),
            "--apply_chat_template",
            "--num_fewshot", "0",
            "--limit", str(n),
            "--output_path", str(out),
        ]  # fmt: skip

    def inspect_command(self, n: int, concurrency: int, logs: Path) -> list[str]:
        return [
            str(self.bin / "inspect"), "eval", f"{INSPECT_TASK_FILE.name}@gsm8k_local",
            "--model", "openai-api/fake/fake",
            "--model-base-url", self.base_url,
            "-T", f"data_file={self.data_file}",
            "-T", f"n={n}",
            "--max-connections", str(concurrency),
            "--max-tokens", str(MAX_TOKENS),
            "--temperature", "0",
            "--max-retries", str(MAX_RETRIES),
            "--timeout", str(REQUEST_TIMEOUT_S),
            "--display", "none",
            "--log-dir", str(logs),
        ]  # fmt: skip

    # -- helpers -------------------------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env.update(
            PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}",
            VIRTUAL_ENV=str(self.venv),
            OPENAI_API_KEY="dummy",
            FAKE_API_KEY="dummy",  # inspect's openai-api/fake/... provider reads <SERVICE>_API_KEY
            HF_HOME=str(self.hf_home),
            HF_DATASETS_OFFLINE="1",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            TOKENIZERS_PARALLELISM="false",
            PYTHONDONTWRITEBYTECODE="1",
        )
        return env

    def _warm(self) -> None:
        """Build the datasets cache for the JSONL once, untimed (what any second lm-eval run finds)."""
        if self._warmed:
            return
        code = "import datasets, sys; datasets.load_dataset('json', data_files={'test': sys.argv[1]})"
        result = subprocess.run(
            [str(self.bin / "python"), "-c", code, str(self.data_file)],
            capture_output=True, text=True, env=self._env(), timeout=600,
        )  # fmt: skip
        if result.returncode != 0:
            raise PeerError(f"warming the datasets cache failed\n{_tail(result.stderr)}")
        self._warmed = True

    def _run(self, name: str, cmd: list[str], cwd: Path, n: int) -> tuple[float, subprocess.CompletedProcess]:
        counted = self._reset_server()
        env = self._env()
        started = time.monotonic()
        try:
            result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=self.timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise PeerError(f"{name} ran past {self.timeout_s:.0f} s: {' '.join(cmd)}\n{_tail(exc.stderr)}") from None
        wall = time.monotonic() - started
        if result.returncode != 0:
            raise PeerError(
                f"{name} failed ({result.returncode}): {' '.join(cmd)}\n{_tail(result.stdout, 1000)}\n"
                f"{_tail(result.stderr)}"
            )
        self.details[name] = {"wall_s": wall}
        if counted:
            stats = self._server_stats()
            sent = stats["requests_total"]
            if sent != n:
                raise PeerError(f"{name} sent {sent} requests to the fake server, expected {n}\n{_tail(result.stderr)}")
            if stats.get("first_arrival") is not None:  # time.monotonic() of the server: same clock on Linux
                self.details[name]["first_request_s"] = stats["first_arrival"] - started
                self.details[name]["last_request_s"] = stats["last_arrival"] - started
            if "max_in_flight" in stats:
                self.details[name]["max_in_flight"] = stats["max_in_flight"]
        return wall, result

    def _reset_server(self) -> bool:
        """Zero the fake server's counters; False when it has no /fake endpoints (a real or older server)."""
        request = urllib.request.Request(self.server_root + "/fake/reset", method="POST", data=b"")
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 405):
                return False
            raise
        return True

    def _server_stats(self) -> dict:
        with urllib.request.urlopen(self.server_root + "/fake/stats", timeout=10) as resp:
            return json.load(resp)

    @staticmethod
    def _lm_eval_samples(out: Path) -> int:
        files = sorted(out.rglob("results_*.json"))
        if not files:
            raise PeerError(f"lm_eval wrote no results file under {out}")
        data = json.loads(files[-1].read_text(encoding="utf-8"))
        return int(data["n-samples"][LM_EVAL_TASK]["effective"])

    def _inspect_log(self, logs: Path) -> tuple[str, int, str]:
        """(status, completed samples, error text) from the eval log, read with inspect's own reader."""
        files = sorted(logs.glob("*.eval")) + sorted(logs.glob("*.json"))
        if not files:
            return "no log", 0, f"inspect_ai wrote no log under {logs}"
        code = (
            "import json, sys; from inspect_ai.log import read_eval_log; "
            "log = read_eval_log(sys.argv[1], header_only=True); "
            "err = log.error.message + '\\n' + log.error.traceback if log.error else ''; "
            "print(json.dumps([log.status, log.results.completed_samples if log.results else 0, err]))"
        )
        result = subprocess.run(
            [str(self.bin / "python"), "-c", code, str(files[-1])],
            capture_output=True, text=True, env=self._env(), timeout=300,
        )  # fmt: skip
        if result.returncode != 0:
            return "unreadable log", 0, result.stderr
        status, completed, error = json.loads(result.stdout.strip().splitlines()[-1])
        return status, int(completed), error
