"""Several `mcptasks serve` processes on one PostgreSQL database, as a deployment runs them.

- `Replica`: the real command line (`mcptasks serve tests/replicas/app.py:server`) on a loopback
  port, with short leases (`--lease-ms 1500`), OAuth on a local issuer, and its database URL
  (through a `PausableProxy` when a test cuts its network). Stopped with SIGINT, or killed.
- `cluster`: starts replicas on one fresh database; all stopped at the end.
- `principal`: one OAuth user (the same owner on every replica) with a token for the shared
  resource URL, as clients behind a load balancer present it.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from tests.conftest import PostgresServer

from auth.issuer import LocalIssuer

APP = str(Path(__file__).resolve().parent / "app.py") + ":server"
CLI = [sys.executable, "-c", "import sys; from mcptasks.cli import main; sys.exit(main())"]
#: The one URL clients know the service by (a load balancer's); every replica accepts it as `aud`.
RESOURCE = "https://tasks.example/mcp"
#: Lease length of the test replicas, in ms: a dead replica's tasks are recovered within it.
LEASE_MS = 1500
#: How long a replica may take to start listening, in seconds.
START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url(url: URL) -> str:
    """`url` as `mcptasks serve --db` takes it (password kept; plain postgresql://)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Replica:
    """One `mcptasks serve` process."""

    name: str
    db: str
    #: The OAuth issuer every replica trusts; None: no OAuth (anonymous callers).
    issuer: LocalIssuer | None
    directory: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Replica:
        self.port = _free_port()
        command = [
            *CLI,
            "serve",
            APP,
            "--db",
            self.db,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--lease-ms",
            str(LEASE_MS),
            "--cancel-grace-ms",
            "300",
            "--shutdown-grace-ms",
            "500",
            "--poll-interval-ms",
            "200",
        ]
        if self.issuer is not None:
            command += [
                "--auth-issuer",
                self.issuer.issuer,
                "--auth-resource",
                RESOURCE,
                "--auth-jwks-uri",
                self.issuer.jwks_uri,
            ]
        with (self.directory / f"{self.name}.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"replica {self.name} exited:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"replica {self.name} did not listen:\n{self.log()}")

    def log(self) -> str:
        path = self.directory / f"{self.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: a crash, no grace, leases left to run out."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


class Cluster:
    """Replicas on one database (see module docstring)."""

    def __init__(self, db: str, issuer: LocalIssuer | None, directory: Path) -> None:
        self.db = db
        self.issuer = issuer
        self.directory = directory
        self.replicas: list[Replica] = []

    def start(self, name: str, *, db: str | None = None) -> Replica:
        """Start a replica (on `db`, e.g. a proxy's URL, instead of the cluster's database)."""
        replica = Replica(name, db or self.db, self.issuer, self.directory).start()
        self.replicas.append(replica)
        return replica

    async def start_off_loop(self, name: str, *, db: str | None = None) -> Replica:
        """`start` in a thread: the test's event loop keeps running (it may carry a proxy the
        replica connects through)."""
        return await asyncio.to_thread(self.start, name, db=db)

    def stop(self) -> None:
        for replica in self.replicas:
            replica.stop()


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    local = LocalIssuer().start()
    try:
        yield local
    finally:
        local.close()


@pytest.fixture
def pg_database(postgres_server: PostgresServer) -> Iterator[URL]:
    name = postgres_server.create_database(prefix="mcptasks_replicas")
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def cluster(pg_database: URL, issuer: LocalIssuer, tmp_path: Path) -> Iterator[Cluster]:
    made = Cluster(database_url(pg_database), issuer, tmp_path)
    try:
        yield made
    finally:
        made.stop()


@pytest.fixture
def anonymous_cluster(pg_database: URL, tmp_path: Path) -> Iterator[Cluster]:
    """Replicas without OAuth: 2026-07-28 tasks are reached by their id alone."""
    made = Cluster(database_url(pg_database), None, tmp_path)
    try:
        yield made
    finally:
        made.stop()


@pytest.fixture
def token(issuer: LocalIssuer) -> str:
    """An access token of one user through one client app, for the shared resource."""
    return issuer.mint("alice", "desktop", RESOURCE)
