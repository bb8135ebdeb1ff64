"""WAL checkpoints run on a thread of their own, off the commit path, and the WAL stays bounded."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

import apsw
import pytest
from sqlalchemy.engine import URL

from mcptasks.core.model import TaskRecord
from mcptasks.core.owner import Owner
from mcptasks.observe import metrics
from mcptasks.store import checkpoints, queries
from mcptasks.store.program import Execute, Program
from mcptasks.store.rows import record_params
from mcptasks.store.sqlite import SQLiteConnector

#: Arguments of about 16 KB: each task's row spills over several overflow pages.
BIG = {"text": "x" * 16_000}


@pytest.fixture
def engine() -> str:
    """These tests are about SQLite's WAL."""
    return "sqlite"


def insert() -> Program[str]:
    record = TaskRecord.new(
        owner=Owner.session("checkpoint-tests"),
        wire="2025-11-25",
        tool_name="t",
        arguments=BIG,
        ttl_ms=None,
        poll_interval_ms=None,
    )
    yield Execute(queries.insert_task, record_params(record))
    return record.task_id


def checkpoints_done(where: str) -> float:
    value = metrics.REGISTRY.get_sample_value("mcptasks_store_checkpoint_seconds_count", {"where": where})
    return value or 0.0


def wal(path: str) -> tuple[int, int]:
    """The WAL's frames and how many of them a checkpoint copied, copying nothing (NOOP)."""
    conn = apsw.Connection(path)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()  # opens the WAL
        frames, copied = conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_NOOP)
        return frames, copied
    finally:
        conn.close()


def exists(path: str) -> bool:
    return os.path.exists(path)


async def write(connector: SQLiteConnector, tasks: int) -> None:
    """Commit `tasks` tasks one batch of 20 at a time (each batch a COMMIT and a WAL hook call)."""
    for _ in range(tasks // 20):
        await asyncio.gather(*(connector.submit(insert) for _ in range(20)))


async def until(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_the_checkpoint_thread_copies_the_wal_and_the_writer_restarts_it(
    connector: SQLiteConnector,
) -> None:
    background, inline = checkpoints_done("background"), checkpoints_done("inline")
    before = connector.check_changes()
    await write(connector, 400)  # about 2,000 pages: past CHECKPOINT_PAGES
    await until(lambda: checkpoints_done("background") > background)
    assert checkpoints_done("inline") == inline  # no COMMIT waited for a checkpoint
    # Copying pages is not a commit by another process: the view is not dropped for it.
    assert before is False and connector.check_changes() is False

    # The thread copies all of it; the next write starts the WAL again from its beginning.
    frames = wal(connector.path)[0]
    assert frames >= checkpoints.CHECKPOINT_PAGES
    await until(lambda: wal(connector.path) == (frames, frames))
    await write(connector, 20)
    assert wal(connector.path)[0] < checkpoints.CHECKPOINT_PAGES


async def test_a_checkpoint_thread_far_behind_is_caught_up_by_the_commit_thread(
    db_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The checkpoint thread never runs (its threshold out of reach): past the inline bound, the
    # commit thread checkpoints, so the WAL stays bounded whatever the other thread does.
    monkeypatch.setattr(checkpoints, "CHECKPOINT_PAGES", 10**9)
    monkeypatch.setattr(checkpoints, "CHECKPOINT_PAGES_INLINE", 500)
    assert db_url.database is not None
    connector = SQLiteConnector(db_url.database)
    await connector.open()
    try:
        background, inline = checkpoints_done("background"), checkpoints_done("inline")
        await write(connector, 400)
        assert checkpoints_done("inline") > inline
        assert checkpoints_done("background") == background
        assert wal(connector.path)[0] < 1500
    finally:
        await connector.close()


async def test_close_stops_the_checkpoint_thread_and_leaves_no_wal(db_url: URL) -> None:
    assert db_url.database is not None
    connector = SQLiteConnector(db_url.database)
    await connector.open()
    assert "mcptasks-sqlite-checkpoint" in {thread.name for thread in threading.enumerate()}
    await write(connector, 300)
    await connector.close()
    assert "mcptasks-sqlite-checkpoint" not in {thread.name for thread in threading.enumerate()}
    # The writer closed last: it copied the WAL into the database file and removed it.
    assert not exists(f"{db_url.database}-wal")
    conn = apsw.Connection(db_url.database)
    try:
        assert conn.execute("SELECT count(*) FROM tasks").fetchall()[0][0] == 300
    finally:
        conn.close()


async def test_a_database_in_memory_has_no_checkpoint_thread() -> None:
    connector = SQLiteConnector(":memory:", memory=True)
    await connector.open()
    try:
        assert connector._checkpointer is None
        assert await connector.submit(insert)
    finally:
        await connector.close()
