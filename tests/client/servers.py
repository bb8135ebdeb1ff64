"""Servers the client tests talk to, each a real subprocess.

- `ServeProcess`: `mcptasks serve ... --transport http` on a free loopback port (the demo, or
  `app.py`), ready once it prints `listening on`; stopped with SIGINT, then SIGKILL.
- `stdio_params()`: how to start `mcptasks serve ... --transport stdio` from a `TaskClient`.
- `Mcp129Server`: `mcp129_server.py` (mcp 1.29's experimental tasks) on a free port, run by the
  Python of `.testenv/mcp129`, a virtual environment `mcp129_python()` makes on first use.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from mcp.client.stdio import StdioServerParameters

from support.process import START_TIMEOUT_S, free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: The `mcptasks` command of the environment running the tests.
MCPTASKS = str(Path(sys.executable).with_name("mcptasks"))
#: The test app: the demo tools plus `summarize`, which asks the client's model (sampling).
APP = f"{HERE / 'app.py'}:server"
#: Servers under test suggest polling every 100 ms, so tests follow tasks quickly.
POLL_INTERVAL_MS = 100
#: Where the mcp 1.29 virtual environment lives (ignored by git).
MCP129_ENV = ROOT / ".testenv" / "mcp129"
MCP129_VERSION = "1.29.0"
#: How long making that environment may take, in seconds.
MCP129_INSTALL_TIMEOUT_S = 300


def serve_args(db: Path, *, app: str | None = None) -> list[str]:
    """`serve` arguments for the demo (or `app`) on the database `db`, polling at 100 ms."""
    what = [app] if app is not None else ["--demo"]
    return ["serve", *what, "--db", str(db), "--poll-interval-ms", str(POLL_INTERVAL_MS)]


def stdio_params(db: Path, *, app: str | None = None) -> StdioServerParameters:
    """Start `mcptasks serve` over stdio (the client starts and stops the process)."""
    return StdioServerParameters(command=MCPTASKS, args=[*serve_args(db, app=app), "--transport", "stdio"])


class _Process:
    """A server subprocess logging to a file, waited on until its port accepts connections."""

    def __init__(self, command: list[str], log_path: Path) -> None:
        self.command = command
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.command],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command[0]} exited with {self.process.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the server did not listen within {START_TIMEOUT_S}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGINT (a graceful stop), then SIGKILL after `timeout_s` seconds."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ServeProcess(_Process):
    """`mcptasks serve --transport http` of the demo (or `app`) on a free loopback port."""

    def __init__(self, db: Path, log_path: Path, *, app: str | None = None) -> None:
        super().__init__([], log_path)
        self.command = [MCPTASKS, *serve_args(db, app=app), "--port", str(self.port)]


class Mcp129Server(_Process):
    """`mcp129_server.py` (mcp 1.29, experimental tasks) on a free loopback port."""

    def __init__(self, python: Path, log_path: Path) -> None:
        super().__init__([], log_path)
        self.command = [str(python), str(HERE / "mcp129_server.py"), str(self.port)]


def mcp129_python() -> Path:
    """The Python of `.testenv/mcp129`, holding `mcp==1.29.0`; made (venv + pip) when missing.

    Raises: RuntimeError with pip's output when the environment cannot be made.
    """
    python = MCP129_ENV / "bin" / "python"
    check = [
        str(python),
        "-c",
        f"import importlib.metadata as m; assert m.version('mcp') == '{MCP129_VERSION}'",
    ]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(MCP129_ENV)],
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"mcp=={MCP129_VERSION}",
        ],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=MCP129_INSTALL_TIMEOUT_S)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(step)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return python
