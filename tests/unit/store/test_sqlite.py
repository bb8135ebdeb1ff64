"""The SQLite connector: group commit, a savepoint per program, closing, and other processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import pytest
from sqlalchemy.engine import URL

from mcptasks.core.errors import StoreError
from mcptasks.core.model import TaskRecord
from mcptasks.core.owner import Owner
from mcptasks.store import migrate, queries
from mcptasks.store import transactions as tx
from mcptasks.store.engine import create_engines, database_url
from mcptasks.store.program import Execute, Program
from mcptasks.store.rows import record_params
from mcptasks.store.sqlite import MAX_BATCH, SQLiteConnector, connect, sqlite_version, sqlite_version_problem
from mcptasks.store.store import Store


@pytest.fixture
def engine() -> str:
    """These tests are about the SQLite connector only."""
    return "sqlite"


def _record() -> TaskRecord:
    return TaskRecord.new(
        owner=Owner.session("sqlite-tests"),
        wire="2025-11-25",
        tool_name="t",
        arguments={},
        ttl_ms=None,
        poll_interval_ms=None,
    )


def insert(record: TaskRecord) -> Program[str]:
    yield Execute(queries.insert_task, record_params(record))
    return record.task_id


class Boom(Exception):
    pass


def failing(record: TaskRecord) -> Program[str]:
    yield Execute(queries.insert_task, record_params(record))  # rolled back with its savepoint
    raise Boom("this program fails")


async def count(connector: SQLiteConnector, task_id: str | None = None) -> int:
    if task_id is None:
        rows = await connector.read(lambda: tx.admin_list_tasks(None, None, 100_000))
        return len(rows)
    found = await connector.read(lambda: tx.get_task(task_id))
    return 0 if found is None else 1


def test_the_bundled_sqlite_has_the_wal_reset_fix() -> None:
    assert tuple(int(part) for part in sqlite_version().split(".")[:3]) >= (3, 51, 3)
    assert sqlite_version_problem() is None


async def test_concurrent_programs_are_committed_in_few_transactions(connector: SQLiteConnector) -> None:
    begins: list[str] = []
    original = connector._flush

    def counting_flush() -> None:
        if connector._queue and not connector._committing:
            begins.append("BEGIN")
        original()

    connector._flush = counting_flush  # type: ignore[method-assign]
    records = [_record() for _ in range(1000)]
    ids = await asyncio.gather(*(connector.submit(lambda r=r: insert(r)) for r in records))
    assert ids == [r.task_id for r in records]
    assert await count(connector) == 1000
    # Batched: far fewer transactions than programs (at most MAX_BATCH per transaction).
    assert -(-1000 // MAX_BATCH) <= len(begins) < 100


async def test_a_failing_program_gets_its_own_error_and_the_batch_commits(connector: SQLiteConnector) -> None:
    good = [_record() for _ in range(10)]
    bad = _record()
    makers: list[Any] = [lambda r=r: insert(r) for r in good[:5]]
    makers.append(lambda: failing(bad))
    makers += [lambda r=r: insert(r) for r in good[5:]]
    makers.append(lambda: insert(good[0]))  # primary key violation, in the same batch

    results = await asyncio.gather(*(connector.submit(make) for make in makers), return_exceptions=True)
    assert results[:5] == [r.task_id for r in good[:5]]
    assert isinstance(results[5], Boom)
    assert results[6:11] == [r.task_id for r in good[5:]]
    # Driver errors reach callers as StoreError, the driver's error kept as the cause.
    assert isinstance(results[11], StoreError) and isinstance(results[11].__cause__, apsw.ConstraintError)
    assert "constraint" in str(results[11])

    assert await count(connector) == 10
    assert await count(connector, bad.task_id) == 0
    assert await connector.submit(lambda: insert(_record()))  # it keeps serving
    assert await count(connector) == 11


async def test_a_failing_program_alone_in_its_batch_leaves_nothing(connector: SQLiteConnector) -> None:
    bad = _record()
    with pytest.raises(Boom):
        await connector.submit(lambda: failing(bad))
    assert await count(connector, bad.task_id) == 0
    record = _record()
    assert await connector.submit(lambda: insert(record)) == record.task_id
    assert await count(connector, record.task_id) == 1


async def test_on_commit_runs_before_the_caller_resumes(connector: SQLiteConnector) -> None:
    seen: list[str] = []
    record = _record()
    future = connector.submit(lambda: insert(record), lambda task_id: seen.append(task_id))
    assert seen == []
    assert await future == record.task_id
    assert seen == [record.task_id]


async def test_a_caller_that_goes_away_does_not_cancel_its_write(connector: SQLiteConnector) -> None:
    record = _record()
    committed: list[str] = []
    future = connector.submit(lambda: insert(record), committed.append)
    future.cancel()
    # The next write is committed after the abandoned one, which was committed too.
    assert await connector.submit(lambda: insert(_record()))
    assert committed == [record.task_id]
    assert await count(connector, record.task_id) == 1


async def test_close_commits_what_is_queued_and_then_refuses(db_url: URL) -> None:
    assert db_url.database is not None
    connector = SQLiteConnector(db_url.database)
    await connector.open()
    records = [_record() for _ in range(300)]
    pending = [connector.submit(lambda r=r: insert(r)) for r in records]
    await connector.close()
    assert [f.result() for f in pending] == [r.task_id for r in records]
    with pytest.raises(StoreError, match="closed"):
        connector.submit(lambda: insert(_record()))
    await connector.close()  # idempotent

    reopened = SQLiteConnector(db_url.database, readonly=True)
    await reopened.open()
    try:
        assert await count(reopened) == 300
        with pytest.raises(StoreError, match="read-only"):
            reopened.submit(lambda: insert(_record()))
    finally:
        await reopened.close()


async def test_a_commit_waits_for_another_process_holding_the_write_lock(
    connector: SQLiteConnector, db_url: URL
) -> None:
    assert db_url.database is not None
    other = apsw.Connection(db_url.database)  # an operator's shell, say
    other.execute("BEGIN IMMEDIATE")
    record = _record()
    future = connector.submit(lambda: insert(record))
    await asyncio.sleep(0.2)
    assert not future.done()  # waiting for the lock, off the event loop
    other.execute("COMMIT")
    other.close()
    assert await asyncio.wait_for(future, 5) == record.task_id


async def test_another_process_writing_is_noticed(db_url: URL, tmp_path: Path) -> None:
    first, second = Store.for_url(db_url), Store.for_url(db_url)
    await first.open()
    await second.open()
    noticed: list[bool] = []
    first.on_external_change(lambda task_id: noticed.append(task_id is None))
    try:
        assert first.check_external_changes() is False
        record = _record()
        await first.create_task(record, node="first")
        assert first.check_external_changes() is False  # its own write is not "another process"
        assert first.view.peek(record.task_id) is not None

        # The second server cancels the task: the first drops what it remembered of active tasks.
        owner = Owner.session("sqlite-tests")
        await second.cancel_task(owner, record.task_id, "stop", record.created_at)
        assert first.check_external_changes() is True
        assert noticed == [True]
        assert first.view.peek(record.task_id) is None
        found = await first.get_task(owner, record.task_id)
        assert found is not None and found.status.value == "cancelled"
    finally:
        await first.close()
        await second.close()


async def test_while_its_batch_commits_a_store_knows_no_other_process_can_write(
    db_url: URL,
) -> None:
    # Holding the write lock, the writer answers without a look (and without the connection
    # the commit thread is using): a poll of an active task is answered from the view.
    first, second = Store.for_url(db_url), Store.for_url(db_url)
    await first.open()
    await second.open()
    noticed: list[str | None] = []
    first.on_external_change(noticed.append)
    try:
        assert first.check_external_changes() is False
        owner = Owner.session("sqlite-tests")
        theirs = _record()
        await second.create_task(theirs, node="second")
        ours = _record()
        write = asyncio.ensure_future(first.create_task(ours, node="first"))
        for _ in range(3):  # the task submits; the flush runs BEGIN IMMEDIATE and the program
            await asyncio.sleep(0)
        assert not write.done()  # its COMMIT is in the commit thread
        # The other process's commit came before the lock was won: found when it was won.
        assert noticed == [None]
        assert first.check_external_changes() is False
        await write
        assert first.check_external_changes() is False
        await second.cancel_task(owner, ours.task_id, "stop", ours.created_at)
        assert first.check_external_changes() is True
        assert noticed == [None, None]
    finally:
        await first.close()
        await second.close()


async def test_a_batch_waiting_for_the_lock_cannot_tell(connector: SQLiteConnector, db_url: URL) -> None:
    assert db_url.database is not None
    other = apsw.Connection(db_url.database)
    other.execute("BEGIN IMMEDIATE")
    record = _record()
    future = connector.submit(lambda: insert(record))
    await asyncio.sleep(0.1)
    assert connector.check_changes() is None  # another process may commit before ours
    other.execute("INSERT INTO tasks SELECT * FROM tasks WHERE 0")
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(future, 5)
    assert connector.check_changes() is False  # the other commit was seen when the lock was won


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077], ids=["umask-000", "umask-022", "umask-077"])
async def test_a_new_database_file_and_its_wal_and_shm_are_private_whatever_the_umask(
    tmp_path: Path, mask: int
) -> None:
    """As a server starts: the migration's engine creates the file, then the store opens it and writes."""
    path = tmp_path / "new.db"
    url = database_url(str(path))
    with umask(mask):
        engines = create_engines(url)
        try:
            await migrate.upgrade(engines)
        finally:
            await engines.dispose()
        store = Store.for_url(url)
        await store.open()
        try:
            await store.connector.submit(lambda: insert(_record()))
            files = [path, path.with_name("new.db-wal"), path.with_name("new.db-shm")]
            assert all(file.exists() for file in files)
            assert {file.name: oct(mode_of(file)) for file in files} == {file.name: "0o600" for file in files}
        finally:
            await store.close()


async def test_an_existing_database_file_keeps_its_mode_and_a_shared_one_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "shared.db"
    path.touch()
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="mcptasks.store"):
        connector = SQLiteConnector(str(path))
        await connector.open()
        await connector.close()
    assert mode_of(path) == 0o644
    assert "other users can read it" in caplog.text and str(path) in caplog.text


def test_a_writer_opening_while_another_process_holds_the_file_waits_for_it(tmp_path: Path) -> None:
    # Two servers starting on one new file: one switches it to WAL while the other opens it.
    path = str(tmp_path / "shared.db")
    other = apsw.Connection(path)
    other.execute("BEGIN EXCLUSIVE")
    other.execute("CREATE TABLE t (x)")
    timer = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    timer.start()
    try:
        conn = connect(path, writer=True)  # waits for the lock instead of failing at once
    finally:
        timer.join()
    assert conn.execute("PRAGMA journal_mode").fetchall()[0][0] == "wal"
    conn.close()
    other.close()
