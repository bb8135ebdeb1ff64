"""Server subprocesses for the integration tests: start, wait until ready, stop, kill.

Servers run `runner.py` (the test app) with `sys.executable`, log to a file in the test's tmp
directory, and are always stopped: SIGINT (the server's graceful stop), then SIGKILL after a timeout.
Their database (`db`) is a SQLite file path or a `postgresql://` URL; either is handed to
`TaskServer.configure(db=...)` as given, so a restarted server opens the same database.
`ServeProcess` runs the same app through the real command line (`mcptasks serve`) instead.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RUNNER = Path(__file__).resolve().parent / "runner.py"
#: The test app as `mcptasks serve` takes it (a file path and the server's name in it).
APP = str(Path(__file__).resolve().parent / "apps.py") + ":server"
#: The `mcptasks` command, run by this Python (the console script may not be on PATH).
CLI = [sys.executable, "-c", "import sys; from mcptasks.cli import main; sys.exit(main())"]

#: Leases used by every test server: short, so recovery is observable within seconds.
TEST_LEASES: dict[str, float] = {
    "duration_s": 2,
    "heartbeat_s": 0.5,
    "recover_interval_s": 0.5,
    "cancel_grace_s": 1,
    "shutdown_grace_s": 1,
}
#: How long a server may take to start listening, in seconds.
START_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_config(
    db: Path | str, *, leases: dict[str, Any] | None = None, retention: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The runner's config (without transport/port); `db` is a SQLite file path or a PostgreSQL URL."""
    return {"db": str(db), "leases": {**TEST_LEASES, **(leases or {})}, "retention": retention or {}}


class HttpServer:
    """One `runner.py --transport http` subprocess on a free loopback port."""

    def __init__(
        self,
        db: Path | str,
        log_path: Path,
        *,
        leases: dict[str, Any] | None = None,
        retention: dict[str, Any] | None = None,
    ) -> None:
        self.db = db
        self.log_path = log_path
        self.config = server_config(db, leases=leases, retention=retention)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HttpServer:
        """Start the server and wait until its port accepts connections."""
        self.port = free_port()
        with self.log_path.open("ab") as log:
            log.write(f"--- start on port {self.port}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the server did not listen within {START_TIMEOUT_S}s:\n{self.log()}")

    def command(self) -> list[str]:
        """The command line that runs this server on `self.port`."""
        config = {**self.config, "transport": "http", "port": self.port}
        return [sys.executable, str(RUNNER), json.dumps(config)]

    @property
    def pid(self) -> int:
        """The server process's id (while it runs)."""
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> int:
        """SIGINT, wait up to `timeout`, then SIGKILL; returns the exit code."""
        process = self.process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.process = None
        return process.returncode

    def kill(self) -> None:
        """SIGKILL (no grace, no cleanup: a crash)."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        self.process = None


class ServeProcess(HttpServer):
    """The real command line, `mcptasks serve APP --db ...`, on a free loopback port.

    Short leases, grace periods and polling interval come from its flags (`--lease-ms`,
    `--cancel-grace-ms`, `--shutdown-grace-ms`, `--poll-interval-ms`: a `tasks/get` sooner than it
    after the last one is held back; `--client-request-timeout-ms`, `--view-capacity` when
    given), as an operator sets them; the heartbeat and the recovery period follow from the lease
    (a third of it; a sixth of it, at most 5 s).
    """

    def __init__(
        self,
        db: Path | str,
        log_path: Path,
        *,
        lease_ms: int = 1500,
        cancel_grace_ms: int = 300,
        shutdown_grace_ms: int = 500,
        poll_interval_ms: int = 200,
        client_request_timeout_ms: int | None = None,
        view_capacity: int | None = None,
    ) -> None:
        super().__init__(db, log_path)
        self.flags = [
            "--poll-interval-ms",
            str(poll_interval_ms),
            "--lease-ms",
            str(lease_ms),
            "--cancel-grace-ms",
            str(cancel_grace_ms),
            "--shutdown-grace-ms",
            str(shutdown_grace_ms),
        ]
        if client_request_timeout_ms is not None:
            self.flags += ["--client-request-timeout-ms", str(client_request_timeout_ms)]
        if view_capacity is not None:
            self.flags += ["--view-capacity", str(view_capacity)]

    def command(self) -> list[str]:
        """`mcptasks serve` with this server's database, port and lease flags."""
        return [
            *CLI,
            "serve",
            APP,
            "--db",
            str(self.db),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.flags,
        ]
