"""The same task verbs on PostgreSQL: one schema, compare-and-set under READ COMMITTED."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.engine import URL

from mcptasks import TaskContext, TaskServer
from mcptasks.core.model import Completed, TaskRecord, utcnow
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.runtime.options import Retention
from mcptasks.store.engine import create_engines
from mcptasks.store.migrate import upgrade
from mcptasks.store.store import Store
from mcptasks.testing import open_for_tests, run_as_task

pytestmark = pytest.mark.postgres


def _url_text(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def _server() -> TaskServer:
    server = TaskServer("pg-tests")

    @server.tool()
    async def double(n: int, task: TaskContext) -> int:
        await task.report_progress(1, total=1)
        return n * 2

    @server.tool()
    async def crash() -> str:
        raise RuntimeError("detail that must stay in the log")

    return server


async def test_a_task_runs_to_completion_and_a_crash_fails_on_postgres(postgres_url: URL) -> None:
    async with open_for_tests(_server(), db=_url_text(postgres_url)) as server:
        record, result = await run_as_task(server, "double", {"n": 21})
        assert record.status is TaskStatus.COMPLETED
        assert result is not None and result.result is not None
        assert result.result["structuredContent"] == {"result": 42}

        record, result = await run_as_task(server, "crash", {})
        assert record.status is TaskStatus.FAILED
        assert record.status_message == "Tool execution failed"
        assert result is not None and result.error is not None
        assert "detail" not in result.error.message


async def _store(url: URL) -> Store:
    engines = create_engines(url)
    await upgrade(engines)
    store = Store(engines)
    await store.open()
    return store


def _record(owner: Owner, node: str) -> TaskRecord:
    now = utcnow()
    return TaskRecord.new(
        owner=owner,
        wire="sep-2663",
        tool_name="t",
        arguments={},
        ttl_ms=60_000,
        poll_interval_ms=1000,
        now=now,
    ).evolve(lease_node=node, lease_expires_at=now + timedelta(seconds=30), attempt=1)


async def test_cancel_racing_finish_ends_in_exactly_one_terminal_status(postgres_url: URL) -> None:
    store = await _store(postgres_url)
    owner = Owner.session("race")
    try:
        records = [_record(owner, "node-a") for _ in range(40)]
        for record in records:
            await store.create_task(record, node="node-a")
        now = utcnow()
        results = await asyncio.gather(
            *(store.cancel_task(owner, r.task_id, "cancelled", now) for r in records),
            *(store.finish_task(r.task_id, 1, "node-a", Completed({"content": []}), now) for r in records),
        )
        cancels, finishes = results[: len(records)], results[len(records) :]
        for record, cancel, finish in zip(records, cancels, finishes, strict=True):
            assert cancel is not None
            stored = await store.get_task(owner, record.task_id)
            assert stored is not None and stored.is_terminal
            # Exactly one of the two moves won, and the stored status is the winner's.
            assert cancel.cancelled != (finish is not None)
            expected = TaskStatus.CANCELLED if cancel.cancelled else TaskStatus.COMPLETED
            assert stored.status is expected
            events = await store.admin_task_events(record.task_id)
            assert [e.to_status for e in events].count(expected) == 1
    finally:
        await store.close()


async def test_listing_pages_and_the_sweeper_delete_on_postgres(postgres_url: URL) -> None:
    store = await _store(postgres_url)
    owner, other = Owner.session("lister"), Owner.session("someone else")
    try:
        mine = [_record(owner, "n") for _ in range(7)]
        for record in [*mine, _record(other, "n")]:
            await store.create_task(record, node="n")
        seen: list[str] = []
        after = None
        while True:
            page = await store.list_tasks(owner, after, 3)
            seen += [r.task_id for r in page]
            if len(page) < 3:
                break
            after = (page[-1].created_at, page[-1].task_id)
        assert sorted(seen) == sorted(r.task_id for r in mine)

        later = utcnow() + timedelta(hours=1)
        failed = await store.fail_expired(later, timedelta(seconds=0), Retention().sweep_batch)
        assert len(failed) == 8
        assert all(r.status is TaskStatus.FAILED and "expired" in (r.status_message or "") for r in failed)
        assert await store.delete_expired(later + timedelta(seconds=1), 5) == 5
        assert await store.delete_expired(later + timedelta(seconds=1), 5) == 3
        assert await store.get_task(owner, mine[0].task_id) is None
    finally:
        await store.close()
