"""Storage failures under a running server: a full disk, a read-only SQLite file, a read-only
PostgreSQL database; and `mcptasks serve` on a database it cannot write.

In each outage:

- a create that cannot be stored answers `StoreUnavailable` (-32010, a fixed message), never
  -32603, and its task is not stored (checked in SQL by the marker in its arguments);
- a tool that finishes meanwhile has its outcome retried; once storage is back its task is
  `completed`, or `failed` with the statusMessage saying the outcome could not be stored, never
  "interrupted", never left active;
- the server log has one warning when the outage starts and one when it ends per episode, and no
  traceback.

The full disk is a real small filesystem (a tmpfs mounted for the test: root only), the read-only
file is made immutable with `chattr +i` (root only), the read-only PostgreSQL database has
`default_transaction_read_only` set and its sessions ended so new ones take it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from tests.faults._readme import check_documented

from mcptasks.core.errors import ErrorCode, StoreUnavailable
from mcptasks.runtime.outcomes import OUTCOME_LOST_MESSAGE
from support.clients import ModernHttpClient
from support.db import is_postgres, query
from support.process import APP, CLI, ServeProcess, free_port

pytestmark = pytest.mark.slow

#: Lease of the servers, in ms (outcome retries last while it is held).
LEASE_MS = 1500
#: How long a task may take to end once storage is back, in s.
SETTLE_S = 15.0
#: Most creates sent into an outage before it must show (a WAL may have room left), and how
#: many refusals in a row prove it.
MAX_CREATES = 200
REFUSALS = 5


def root() -> bool:
    return os.geteuid() == 0


async def create(client: ModernHttpClient, text: str) -> dict[str, Any]:
    """A 2026-07-28 create of `echo`; returns the JSON-RPC reply (result or error)."""
    reply = await client.request("tools/call", {"name": "echo", "arguments": {"text": text}})
    return reply.message


def stored_texts(db: Path | str) -> set[str]:
    texts = set()
    for row in query(db, "SELECT CAST(arguments AS TEXT) AS args FROM tasks"):
        texts.add(str(row["args"]))
    return texts


async def refused_creates(client: ModernHttpClient, filler: int = 0) -> tuple[set[str], set[str]]:
    """Create until REFUSALS creates in a row were refused; returns (acknowledged, refused) markers.

    Each refusal must be `StoreUnavailable`. `filler` bytes of padding make each create's row big,
    so a WAL with room left fills up soon.
    """
    acked: set[str] = set()
    refused: set[str] = set()
    streak = 0
    for _ in range(MAX_CREATES):
        marker = uuid.uuid4().hex
        reply = await create(client, marker + "." * filler)
        if "error" in reply:
            error = reply["error"]
            assert error["code"] == ErrorCode.STORE_UNAVAILABLE, error
            assert error["message"] == StoreUnavailable().message, error
            check_documented(error)  # the README's table says what was answered
            refused.add(marker)
            streak += 1
            if streak >= REFUSALS:
                return acked, refused
        else:
            acked.add(marker)
            streak = 0
    raise AssertionError(f"the outage never showed in {MAX_CREATES} creates")


def check_nothing_refused_stored(db: Path | str, acked: set[str], refused: set[str]) -> None:
    stored = " ".join(stored_texts(db))
    assert [marker for marker in refused if marker in stored] == []
    assert [marker for marker in acked if marker not in stored] == []


async def call_retrying(client: ModernHttpClient, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """A request that must succeed, retried on StoreUnavailable as the README tells clients (a
    PostgreSQL pool finds its ended sessions only when it uses them)."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        reply = (await client.request(method, params)).message
        if "error" not in reply:
            result: dict[str, Any] = reply["result"]
            return result
        assert reply["error"]["code"] == ErrorCode.STORE_UNAVAILABLE, reply
        assert time.monotonic() < deadline, reply
        await asyncio.sleep(0.1)


async def ended(client: ModernHttpClient, task_id: str) -> dict[str, Any]:
    """Poll until the task is terminal (within SETTLE_S); it must end completed or as lost."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        task = await call_retrying(client, "tasks/get", {"taskId": task_id})
        if task["status"] not in ("working", "input_required"):
            assert task["status"] == "completed" or task.get("statusMessage") == OUTCOME_LOST_MESSAGE, task
            return task
        assert time.monotonic() < deadline, task
        await asyncio.sleep(0.1)


def check_log(log: str) -> None:
    starts = log.count("task store outage: ")
    ends = log.count("task store outage over after")
    assert starts >= 1, log
    assert ends in (starts, starts - 1), log  # every episode but maybe the last one ended
    assert starts <= 3, log  # per episode, not per request
    assert "Traceback" not in log, log


async def outage(server: ServeProcess, db: Path | str, start: Any, end: Any, *, filler: int = 0) -> str:
    """Run one outage (`start()` .. `end()`) under a running server; returns what the slow task became."""
    client = ModernHttpClient(server.base_url)
    try:
        slow = await client.call("tools/call", {"name": "slow", "arguments": {"steps": 8, "delay_ms": 50}})
        await asyncio.to_thread(start)
        try:
            acked, refused = await refused_creates(client, filler)
            await asyncio.sleep(1.0)  # the slow task finishes meanwhile; its outcome cannot be stored
        finally:
            await asyncio.to_thread(end)
        task = await ended(client, slow["taskId"])
        check_nothing_refused_stored(db, acked, refused)
        # Storage is back: a new task is created and completes.
        fresh = await call_retrying(client, "tools/call", {"name": "echo", "arguments": {"text": "after"}})
        assert (await ended(client, fresh["taskId"]))["status"] == "completed"
        return str(task["status"])
    finally:
        await client.aclose()


def serve_once(db: Path | str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`mcptasks serve` on `db`, expected to refuse at once."""
    return subprocess.run(
        [*CLI, "serve", APP, "--db", str(db), "--host", "127.0.0.1", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


def check_refused_at_start(result: subprocess.CompletedProcess[str]) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and lines[0].startswith("mcptasks: error: "), result.stderr
    assert "read-only" in lines[0], result.stderr


# -- SQLite: a full disk ------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs mounted at tmp_path/disk for the test (root only)."""
    if not root():
        pytest.skip("mounting a small filesystem needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> None:
    """Write `path` until the filesystem is full (unbuffered, down to the last block)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 65536, 4096, 512):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                continue
    finally:
        os.close(fd)


async def test_disk_full_sqlite(small_disk: Path, tmp_path: Path) -> None:
    db = small_disk / "tasks.db"
    server = ServeProcess(db, tmp_path / "server.log", lease_ms=LEASE_MS).start()
    filler = small_disk / "filler"
    try:
        status = await outage(server, db, lambda: fill(filler), filler.unlink, filler=20_000)
    finally:
        server.stop()
    check_log(server.log())
    print(f"\ndisk full (SQLite): the slow task ended {status}")


# -- SQLite: a read-only file -------------------------------------------------------------------


def chattr(flag: str, *paths: Path) -> None:
    subprocess.run(["chattr", flag, *map(str, paths)], check=True, capture_output=True)


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[None]:
    """Skip unless `chattr +i` works here (root, a filesystem with attributes)."""
    probe = tmp_path / "probe"
    probe.write_text("x")
    if not root() or subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i needs root and a filesystem that supports it")
    chattr("-i", probe)
    yield


async def test_read_only_sqlite(immutable: None, tmp_path: Path) -> None:
    db = tmp_path / "tasks.db"
    wal = Path(f"{db}-wal")
    server = ServeProcess(db, tmp_path / "server.log", lease_ms=LEASE_MS).start()
    try:
        status = await outage(server, db, lambda: chattr("+i", db, wal), lambda: chattr("-i", db, wal))
    finally:
        server.stop()
    check_log(server.log())
    # A server refuses, at start, a file it cannot write: one line, exit 1 (the stopped server
    # removed its WAL).
    files = [path for path in (db, wal) if path.exists()]
    chattr("+i", *files)
    try:
        check_refused_at_start(await asyncio.to_thread(serve_once, db, tmp_path))
    finally:
        chattr("-i", *files)
    print(f"\nread-only file (SQLite): the slow task ended {status}")


# -- PostgreSQL: a read-only database --------------------------------------------------------------


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_read_only_postgres(engine: str, server_db: Path | str, tmp_path: Path) -> None:
    assert is_postgres(server_db)
    name = make_url(str(server_db)).database

    def read_only(on: bool) -> None:
        setting = "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"

        async def run() -> None:
            # A session of its own that may write, whatever the database's default says.
            conn = await asyncpg.connect(
                str(server_db), server_settings={"default_transaction_read_only": "off"}
            )
            try:
                await conn.execute(f'ALTER DATABASE "{name}" {setting}')
                # Sessions take the setting when they start: end the server's, its pool opens new ones.
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    name,
                )
            finally:
                await conn.close()

        asyncio.run(run())

    server = ServeProcess(server_db, tmp_path / "server.log", lease_ms=LEASE_MS).start()
    try:
        status = await outage(server, server_db, lambda: read_only(True), lambda: read_only(False))
    finally:
        server.stop()
    check_log(server.log())
    await asyncio.to_thread(read_only, True)
    try:
        check_refused_at_start(await asyncio.to_thread(serve_once, server_db, tmp_path))
    finally:
        await asyncio.to_thread(read_only, False)
    print(f"\nread-only database (PostgreSQL): the slow task ended {status}")
