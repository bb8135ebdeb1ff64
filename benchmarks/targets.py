"""Starting and stopping what the benchmark measures: `mcptasks serve` and the floor.

Each target is a subprocess on a free port of 127.0.0.1, with its stdout and stderr in files of a
temporary directory (a pipe nobody reads would block it). mcptasks gets a fresh store per start: a
new SQLite file in that directory, or a new PostgreSQL database (see `pgdb`). Both are found
beside the interpreter that runs the benchmark, so a virtual environment's `python` brings its
own `mcptasks`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pgdb import PgAdmin

__all__ = ["ENGINES", "Target", "start_floor", "start_mcptasks", "stop"]

BENCH_DIR = Path(__file__).resolve().parent
APP = f"{BENCH_DIR / 'app.py'}:server"
ENGINES = ("sqlite", "pg")
#: How long a target may take to accept connections, in seconds (migrations run at start-up).
START_TIMEOUT_S = 60.0
#: How long a target gets to exit after SIGINT before it is killed, in seconds.
STOP_GRACE_S = 15.0
#: Interval between two checks of the port while a target starts, in seconds.
PORT_POLL_S = 0.05


@dataclass
class Target:
    """A running server the client can drive."""

    #: "mcptasks" or "floor".
    name: str
    #: "sqlite" or "pg" for mcptasks, "-" for the floor.
    engine: str
    host: str
    port: int
    proc: subprocess.Popen[bytes]
    workdir: Path
    #: The PostgreSQL database made for this start, dropped by `stop()`.
    pg_database: str | None = None
    pg_admin: PgAdmin | None = field(default=None, repr=False)
    #: More `mcptasks serve` processes on the same database (replicas), each on its own port.
    replicas: list[Target] = field(default_factory=list)

    @property
    def pid(self) -> int:
        """The server's process id (the Python process serving HTTP)."""
        return self.proc.pid

    @property
    def pids(self) -> list[int]:
        """The process ids of this server and its replicas."""
        return [self.pid, *(replica.pid for replica in self.replicas)]

    def endpoint(self, client: int) -> tuple[str, int]:
        """Where client number `client` connects: the replicas in turn, as a load balancer
        spreading connections would."""
        every = [self, *self.replicas]
        chosen = every[client % len(every)]
        return chosen.host, chosen.port

    def log(self) -> str:
        """What the server wrote to stderr so far."""
        path = self.workdir / f"{self.name}.err"
        return path.read_text(errors="replace") if path.exists() else ""


def _free_port() -> int:
    # Bind to port 0 and let it go: the kernel does not hand the same port out again at once.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _child_env() -> dict[str, str]:
    # The server must run on its defaults plus our flags: drop any MCPTASKS_* of the caller's shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPTASKS_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _spawn(name: str, argv: list[str], workdir: Path) -> subprocess.Popen[bytes]:
    with (workdir / f"{name}.out").open("wb") as out, (workdir / f"{name}.err").open("wb") as err:
        return subprocess.Popen(
            argv, cwd=workdir, env=_child_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )


async def _wait_accepting(target: Target) -> None:
    """Return once the target's port accepts a connection; fail if the process exits first."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if target.proc.poll() is not None:
            code = target.proc.returncode
            raise RuntimeError(f"{target.name} exited with {code} before listening:\n{target.log()[-3000:]}")
        try:
            _, writer = await asyncio.open_connection(target.host, target.port)
        except OSError:
            await asyncio.sleep(PORT_POLL_S)
            continue
        writer.close()
        await writer.wait_closed()
        return
    await stop(target)
    raise RuntimeError(f"{target.name} did not listen within {START_TIMEOUT_S:g} s:\n{target.log()[-3000:]}")


async def start_mcptasks(
    engine: str,
    workdir: Path,
    pg_admin: PgAdmin | None = None,
    *,
    replicas: int = 1,
    serve_args: Sequence[str] = (),
) -> Target:
    """Start `mcptasks serve` on the benchmark app with a fresh store and wait until it listens.

    `engine` is "sqlite" (a new file in `workdir`) or "pg" (a new database through `pg_admin`).
    `replicas` > 1 starts that many processes on the one database (the first one migrates it).
    `serve_args` are added to every process's command line (e.g. `--default-ttl-ms N`).
    """
    database: str | None = None
    if engine == "sqlite":
        db = str(workdir / f"tasks-{time.monotonic_ns()}.db")
    elif engine == "pg":
        if pg_admin is None:
            raise ValueError("engine 'pg' needs a PgAdmin")
        database = await pg_admin.create_database()
        db = pg_admin.url_of(database)
    else:
        raise ValueError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    label = engine if replicas == 1 else f"{engine}*{replicas}"
    target = await _serve("mcptasks", label, db, workdir, database, pg_admin, *serve_args)
    try:
        for number in range(2, replicas + 1):
            replica = await _serve(
                f"mcptasks-{number}", label, db, workdir, None, None, "--no-migrate", *serve_args
            )
            target.replicas.append(replica)
    except BaseException:
        await stop(target)
        raise
    return target


async def _serve(
    name: str,
    label: str,
    db: str,
    workdir: Path,
    database: str | None,
    pg_admin: PgAdmin | None,
    *extra: str,
) -> Target:
    port = _free_port()
    mcptasks = Path(sys.executable).parent / "mcptasks"
    argv = [str(mcptasks), "serve", APP, "--db", db, "--transport", "http", "--host", "127.0.0.1"]
    argv += ["--port", str(port), *extra]
    proc = _spawn(name, argv, workdir)
    target = Target(name, label, "127.0.0.1", port, proc, workdir, database, pg_admin)
    try:
        await _wait_accepting(target)
    except BaseException:
        await stop(target)
        raise
    return target


async def start_floor(workdir: Path) -> Target:
    """Start the floor endpoint (`floor.py`) and wait until it listens."""
    port = _free_port()
    argv = [sys.executable, str(BENCH_DIR / "floor.py"), "--host", "127.0.0.1", "--port", str(port)]
    target = Target("floor", "-", "127.0.0.1", port, _spawn("floor", argv, workdir), workdir)
    try:
        await _wait_accepting(target)
    except BaseException:
        await stop(target)
        raise
    return target


async def stop(target: Target) -> int | None:
    """Stop the target and drop its database; return its exit status.

    SIGINT first (the CLI's graceful stop), SIGKILL after `STOP_GRACE_S` seconds. Replicas stop
    first; the status is the first process's.
    """
    for replica in target.replicas:
        await stop(replica)
    proc = target.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(proc.wait, STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)
    if target.pg_database is not None and target.pg_admin is not None:
        await target.pg_admin.drop_database(target.pg_database)
        target.pg_database = None
    return proc.returncode
