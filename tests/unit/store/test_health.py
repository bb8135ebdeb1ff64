"""Storage outages: one log line when an episode starts and one when it ends; a writer whose commit
thread dies fails every waiting caller instead of leaving it waiting."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from sqlalchemy.engine import URL

from mcptasks.core.errors import StoreError
from mcptasks.core.model import TaskRecord
from mcptasks.core.owner import Owner
from mcptasks.store import queries
from mcptasks.store.health import StoreHealth
from mcptasks.store.program import Execute, Program
from mcptasks.store.rows import record_params
from mcptasks.store.sqlite import SQLiteConnector


@pytest.fixture
def engine() -> str:
    """The writer tests are about the SQLite connector only."""
    return "sqlite"


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "mcptasks.store" and r.levelno >= logging.WARNING
    ]


def test_one_warning_per_episode_start_and_end(caplog: pytest.LogCaptureFixture) -> None:
    health = StoreHealth()
    caplog.set_level(logging.DEBUG, "mcptasks.store")
    for _ in range(40):
        health.failed(StoreError("the task store is full (no space left on the disk)"))
    assert health.down and health.failures == 40
    health.succeeded()
    health.succeeded()
    lines = outage_lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith("task store outage: the task store is full"), lines
    assert lines[1].startswith("task store outage over after "), lines
    assert "40 operations failed" in lines[1], lines
    assert not health.down and health.failures == 0
    assert not any(record.exc_info for record in caplog.records)


def test_a_bug_is_not_an_outage(caplog: pytest.LogCaptureFixture) -> None:
    health = StoreHealth()
    caplog.set_level(logging.DEBUG, "mcptasks.store")
    health.failed(StoreError("the task store rejected a write (constraint violated)", unavailable=False))
    assert not health.down
    assert outage_lines(caplog) == []


class Interrupted(BaseException):
    """Not an Exception: what kills a thread (as MemoryError or an interrupt would)."""


def insert(n: int) -> Program[str]:
    record = TaskRecord.new(
        owner=Owner.session("writer-tests"),
        wire="2025-11-25",
        tool_name="t",
        arguments={"n": n},
        ttl_ms=None,
        poll_interval_ms=None,
    )
    yield Execute(queries.insert_task, record_params(record))
    return record.task_id


async def test_a_dead_commit_thread_fails_every_waiting_caller(db_url: URL) -> None:
    assert db_url.database is not None
    connector = SQLiteConnector(db_url.database)
    await connector.open()
    try:
        assert connector._writer is not None

        def die_at_commit(_cursor: Any, sql: str, _bindings: Any) -> bool:
            if sql.strip().upper() == "COMMIT":
                raise Interrupted()
            return True

        # APSW's statement tracer runs on the thread that runs the statement: the commit thread.
        connector._writer.exec_trace = die_at_commit
        waiting = [connector.submit(lambda n=n: insert(n)) for n in range(20)]
        done, pending = await asyncio.wait(waiting, timeout=10)
        assert pending == set(), "callers left waiting"
        for future in done:
            assert isinstance(future.exception(), StoreError)
        with pytest.raises(StoreError):
            connector.submit(lambda: insert(99))
    finally:
        await asyncio.wait_for(connector.close(), 10)


async def test_sql_errors_of_the_migration_engines_never_quote_their_values(tmp_path: Any) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from mcptasks.store.engine import create_engines, database_url

    engines = create_engines(database_url(str(tmp_path / "params.db")))
    try:
        with pytest.raises(OperationalError) as failed:
            async with engines.writer.begin() as conn:
                await conn.execute(text("SELECT * FROM missing WHERE task_id = :v"), {"v": "secret-task-id"})
        assert "secret-task-id" not in str(failed.value)
        assert "parameters hidden" in str(failed.value)
    finally:
        await engines.dispose()


def changes_nothing() -> Program[None]:
    # The finish of a tool whose task was never stored: its fenced UPDATE finds no row.
    yield Execute(queries.lock_status, {"task_id": "no-such-task"})
    return None


async def test_a_commit_that_wrote_nothing_does_not_end_an_outage(
    db_url: URL, caplog: pytest.LogCaptureFixture
) -> None:
    # A COMMIT that writes no page succeeds on a full disk too: it proves nothing.
    assert db_url.database is not None
    connector = SQLiteConnector(db_url.database)
    await connector.open()
    try:
        caplog.set_level(logging.WARNING, logger="mcptasks.store")
        connector.health.failed(StoreError("the task store is full (no space left on the disk)"))
        await asyncio.gather(connector.submit(changes_nothing), connector.submit(changes_nothing))
        await connector.submit(changes_nothing)
        assert connector.health.down
        await connector.submit(lambda: insert(1))
        assert not connector.health.down
        started, ended = outage_lines(caplog)
        assert started.startswith("task store outage:") and ended.startswith("task store outage over")
    finally:
        await asyncio.wait_for(connector.close(), 10)
