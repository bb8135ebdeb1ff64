"""Group commit on the real SQLite writer engine: batches, per-operation savepoints, stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from mcptasks.core.errors import StoreError
from mcptasks.core.model import TaskRecord
from mcptasks.core.owner import Owner
from mcptasks.store import queries
from mcptasks.store.engine import Engines
from mcptasks.store.writer import MAX_BATCH, GroupCommitWriter


@pytest.fixture
async def writer(engines: Engines) -> AsyncIterator[GroupCommitWriter]:
    writer = GroupCommitWriter(engines.writer)
    writer.start()
    try:
        yield writer
    finally:
        await writer.stop()


def _record() -> TaskRecord:
    return TaskRecord.new(
        owner=Owner.session("writer-tests"),
        wire="2025-11-25",
        tool_name="t",
        arguments={},
        ttl_ms=None,
        poll_interval_ms=None,
    )


def insert_op(record: TaskRecord) -> Any:
    async def op(conn: AsyncConnection) -> str:
        await conn.execute(queries.insert_task(record))
        return record.task_id

    return op


class Boom(Exception):
    pass


def failing_op(record: TaskRecord) -> Any:
    async def op(conn: AsyncConnection) -> str:
        await conn.execute(queries.insert_task(record))  # rolled back with its savepoint
        raise Boom("this op fails")

    return op


async def test_concurrent_submits_are_all_committed_in_few_transactions(
    writer: GroupCommitWriter, engines: Engines, db: Any
) -> None:
    begins: list[str] = []

    def on_begin(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql.startswith("BEGIN"):
            begins.append(sql)

    event.listen(engines.writer.sync_engine, "before_cursor_execute", on_begin)
    try:
        records = [_record() for _ in range(500)]
        ids = await asyncio.gather(*(writer.submit(insert_op(r)) for r in records))
    finally:
        event.remove(engines.writer.sync_engine, "before_cursor_execute", on_begin)
    assert ids == [r.task_id for r in records]
    assert await db.count("tasks") == 500
    # Batched: far fewer transactions than operations (at most MAX_BATCH per transaction).
    assert -(-500 // MAX_BATCH) <= len(begins) < 50


async def test_a_failing_op_gets_its_own_error_and_the_batch_commits(
    writer: GroupCommitWriter, db: Any
) -> None:
    good = [_record() for _ in range(10)]
    bad = _record()
    duplicate = good[0]
    ops = [insert_op(r) for r in good[:5]] + [failing_op(bad)] + [insert_op(r) for r in good[5:]]
    ops.append(insert_op(duplicate))  # primary key violation, in the same batch

    results = await asyncio.gather(*(writer.submit(op) for op in ops), return_exceptions=True)
    assert results[:5] == [r.task_id for r in good[:5]]
    assert isinstance(results[5], Boom)
    assert results[6:11] == [r.task_id for r in good[5:]]
    # Driver errors reach callers as StoreError, the driver's error kept as the cause.
    assert isinstance(results[11], StoreError)
    assert isinstance(results[11].__cause__, IntegrityError)

    assert await db.count("tasks") == 10
    assert await db.count("tasks", task_id=bad.task_id) == 0
    # The writer keeps serving after failures.
    assert await writer.submit(insert_op(_record()))
    assert await db.count("tasks") == 11


async def test_submit_before_start_and_after_stop_raises_store_error(engines: Engines) -> None:
    writer = GroupCommitWriter(engines.writer)
    with pytest.raises(StoreError):
        await writer.submit(insert_op(_record()))
    writer.start()
    assert await writer.submit(insert_op(_record()))
    await writer.stop()
    with pytest.raises(StoreError, match="closed"):
        await writer.submit(insert_op(_record()))
    await writer.stop()  # idempotent


async def test_stop_commits_what_is_queued(engines: Engines, db: Any) -> None:
    writer = GroupCommitWriter(engines.writer)
    writer.start()
    records = [_record() for _ in range(300)]
    pending = [asyncio.ensure_future(writer.submit(insert_op(r))) for r in records]
    await asyncio.sleep(0)  # every submit is queued
    await writer.stop()
    # Committed when stop() returns; the callers then get their answers.
    assert await db.count("tasks") == 300
    assert await asyncio.wait_for(asyncio.gather(*pending), 5) == [r.task_id for r in records]


async def test_a_caller_that_goes_away_does_not_cancel_its_write(writer: GroupCommitWriter, db: Any) -> None:
    record = _record()
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow(conn: AsyncConnection) -> str:
        started.set()
        await release.wait()
        await conn.execute(queries.insert_task(record))
        return record.task_id

    caller = asyncio.ensure_future(writer.submit(slow))
    await asyncio.wait_for(started.wait(), 5)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    release.set()
    # The next write is committed after the abandoned one, which was committed too.
    assert await writer.submit(insert_op(_record()))
    assert await db.count("tasks", task_id=record.task_id) == 1


async def test_store_write_after_close_raises_store_error(store: Any) -> None:
    await store.close()
    with pytest.raises(StoreError):
        await store.create_task(_record(), node=None)


async def test_a_submit_racing_stop_is_answered(engines: Engines, db: Any) -> None:
    """A write submitted while `stop()` drains must be committed or refused, never left waiting."""
    writer = GroupCommitWriter(engines.writer)
    writer.start()
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(conn: AsyncConnection) -> None:
        started.set()
        await release.wait()

    busy = asyncio.ensure_future(writer.submit(slow))
    await asyncio.wait_for(started.wait(), 5)
    stopping = asyncio.ensure_future(writer.stop())
    await asyncio.sleep(0)  # stop() has queued its end-of-queue marker
    record = _record()
    late = asyncio.ensure_future(writer.submit(insert_op(record)))
    await asyncio.sleep(0)
    release.set()
    await asyncio.wait_for(stopping, 5)
    await busy
    try:
        answer: Any = await asyncio.wait_for(late, 2)
    except StoreError:
        answer = None  # refused: acceptable
    except TimeoutError:
        pytest.fail("a submit queued behind stop()'s marker never gets an answer")
    if answer is not None:
        assert answer == record.task_id
        assert await db.count("tasks", task_id=record.task_id) == 1
