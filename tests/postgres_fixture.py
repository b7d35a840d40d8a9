"""A throwaway PostgreSQL cluster for the store's tests: initdb and pg_ctl in a temporary folder, listening on
127.0.0.1 at a free port, one per test session, stopped and removed at its end.

initdb refuses to run as root (CI runs as root): there the cluster belongs to ``nobody`` and its commands run
through ``runuser``. Tests that use it skip, saying why, where the server's binaries are missing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PASSWORD = "pw-" + secrets.token_hex(8)  # a real password, so that tests can check it is never shown


def find_bindir() -> Path | None:
    """The folder of initdb and pg_ctl: $TIANPING_PG_BINDIR, then ``pg_config --bindir``, then Debian's layout."""
    candidates = [os.environ.get("TIANPING_PG_BINDIR", "")]
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(done.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    for folder in candidates:
        if folder and (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    bindir: Path
    root: Path
    port: int
    as_user: list[str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://tianping:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        return subprocess.run([*self.as_user, *args], capture_output=True, text=True, env=env, cwd=self.root)

    def start(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        self._own(pwfile)
        done = self.run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "tianping", "-E", "UTF8",
                        "--locale=C", "--auth=scram-sha-256", f"--pwfile={pwfile}")  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stdout}{done.stderr}")
        # no fsync: a test cluster's data need not survive a power cut, and the tests run much faster
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -F -c max_connections=200"
        done = self.run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w",
                        "-t", "60", "-o", options, "start")  # fmt: skip
        if done.returncode != 0:
            log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}{log}")

    def stop(self) -> None:
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def _own(self, path: Path) -> None:
        if self.as_user:
            shutil.chown(path, "nobody")


def start_cluster() -> Cluster:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL's server binaries (initdb, pg_ctl) are not installed (Debian: apt install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="tianping-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb will not run as root: the cluster belongs to nobody
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root without runuser: initdb refuses root")
        as_user = [runuser, "-u", "nobody", "--"]
        root.chmod(0o755)
        shutil.chown(root, "nobody")
    cluster = Cluster(bindir, root, _free_port(), as_user)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise
    return cluster


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_cluster: Cluster) -> str:
    """A fresh, empty database in the session's cluster, for one test."""
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'tianping[postgres]')")

    name = "t_" + secrets.token_hex(6)
    with contextlib.closing(psycopg.connect(postgres_cluster.url(), autocommit=True)) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres_cluster.url(name)
