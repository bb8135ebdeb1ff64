"""`StoreAdmin`, the operator's verbs, on real databases: cancel, purge and stats past every owner."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import URL

from mcptasks.core.model import Completed, Outcome, TaskRecord, utcnow
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.runtime.bus import TaskBus
from mcptasks.runtime.context import TaskContext
from mcptasks.runtime.executor import Executor
from mcptasks.runtime.manager import TaskManager
from mcptasks.runtime.options import Leases, Retention
from mcptasks.store.admin import CANCELLED_BY_OPERATOR, StoreAdmin
from mcptasks.store.store import Store

TaskFactory = Callable[..., Awaitable[TaskRecord]]
OwnerFactory = Callable[..., Owner]
#: How soon a running tool must stop after an operator's cancel, in s (the SQLite poll is 0.1 s).
STOP_WITHIN_S = 2.0
#: Time between the old tasks, the purge's cut-off and the recent task, in s.
GAP_S = 0.5


@pytest.fixture
async def operator(db_url: URL) -> AsyncIterator[StoreAdmin]:
    """The operator's own store on the test's database (as `mcptasks tasks ...` opens it)."""
    store = Store.for_url(db_url)
    await store.open()
    try:
        yield StoreAdmin(store)
    finally:
        await store.close()


async def _purged(operator: StoreAdmin, *args: object, **kwargs: object) -> list[int]:
    return [count async for count in operator.purge(*args, **kwargs)]  # type: ignore[arg-type]


# -- cancel ---------------------------------------------------------------------------------------


async def test_cancel_reaches_any_owner_and_records_why(
    operator: StoreAdmin, store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, db: Any
) -> None:
    owner = owner_factory("principal", subject="alice")
    task = await task_factory(owner=owner, status=TaskStatus.INPUT_REQUIRED)

    outcome = await operator.cancel_task(task.task_id, "stuck for a week")

    assert outcome is not None and outcome.cancelled
    assert outcome.record.status is TaskStatus.CANCELLED
    assert outcome.record.status_message == f"{CANCELLED_BY_OPERATOR}: stuck for a week"
    assert outcome.record.lease_node is None
    stored = await store.get_task(owner, task.task_id)
    assert stored is not None and stored.status is TaskStatus.CANCELLED
    events = await store.admin_task_events(task.task_id)
    assert [(e.from_status, e.to_status) for e in events][-1] == (
        TaskStatus.INPUT_REQUIRED,
        TaskStatus.CANCELLED,
    )
    assert events[-1].message == f"{CANCELLED_BY_OPERATOR}: stuck for a week"


async def test_cancel_leaves_a_terminal_task_and_reports_an_unknown_one(
    operator: StoreAdmin, task_factory: TaskFactory
) -> None:
    done = await task_factory(status=TaskStatus.COMPLETED)

    outcome = await operator.cancel_task(done.task_id)

    assert outcome is not None and not outcome.cancelled
    assert outcome.record.status is TaskStatus.COMPLETED
    assert await operator.cancel_task("no-such-task") is None


async def test_cancel_without_a_reason_says_who(operator: StoreAdmin, task_factory: TaskFactory) -> None:
    task = await task_factory()
    outcome = await operator.cancel_task(task.task_id)
    assert outcome is not None and outcome.record.status_message == CANCELLED_BY_OPERATOR


async def test_cancel_stops_the_tool_running_in_a_server(
    operator: StoreAdmin,
    store: Store,
    leases: Leases,
    retention: Retention,
    owner_factory: OwnerFactory,
) -> None:
    """The server's executor runs the tool; the operator's separate store cancels it."""
    bus = TaskBus()
    executor = Executor(store, bus, leases=leases, retention=retention)
    await executor.start()
    manager = TaskManager(store, executor, bus, retention)
    started, stopped = asyncio.Event(), asyncio.Event()

    async def until_cancelled(ctx: TaskContext) -> Outcome:
        started.set()
        await ctx.wait_cancelled()
        stopped.set()
        return Completed({"content": []})

    owner = owner_factory()
    try:
        record = await manager.create(
            owner,
            wire="sep-2663",
            tool_name="tool",
            arguments={},
            requested_ttl_ms=None,
            progress_token=None,
            invoke=until_cancelled,
            client_capabilities=None,
        )
        await asyncio.wait_for(started.wait(), 5)
        begun = time.monotonic()
        outcome = await operator.cancel_task(record.task_id, "maintenance")
        assert outcome is not None and outcome.cancelled
        await asyncio.wait_for(stopped.wait(), STOP_WITHIN_S)
        assert time.monotonic() - begun < STOP_WITHIN_S
        # The server reads it cancelled, with the operator's message; the tool's late outcome lost.
        seen = await manager.get(owner, record.task_id)
        assert seen.status is TaskStatus.CANCELLED
        assert seen.status_message == f"{CANCELLED_BY_OPERATOR}: maintenance"
    finally:
        await executor.stop()


# -- purge ----------------------------------------------------------------------------------------


async def test_purge_deletes_old_terminal_tasks_in_batches(
    operator: StoreAdmin, store: Store, task_factory: TaskFactory, db: Any
) -> None:
    statuses = [TaskStatus.COMPLETED] * 3 + [TaskStatus.FAILED] * 2
    old = [await task_factory(status=status) for status in statuses]
    old_active = await task_factory(status=TaskStatus.WORKING)
    await asyncio.sleep(GAP_S)
    cut_off = await store.database_time()
    await asyncio.sleep(GAP_S)
    recent = await task_factory(status=TaskStatus.COMPLETED)

    async def older_than_cut_off() -> timedelta:
        # Each call fixes its cut-off a moment after this; GAP_S on both sides absorbs the drift.
        return await store.database_time() - cut_off

    assert await operator.count_purgeable([], await older_than_cut_off()) == 5
    assert await operator.count_purgeable([TaskStatus.FAILED], await older_than_cut_off()) == 2
    batches = await _purged(
        operator, [TaskStatus.COMPLETED, TaskStatus.FAILED], await older_than_cut_off(), batch=2
    )
    assert batches == [2, 2, 1]

    for task in old:
        assert await store.admin_get_task(task.task_id) is None
        assert await db.count("task_events", task_id=task.task_id) == 0
        assert await db.count("task_results", task_id=task.task_id) == 0
    assert await store.admin_get_task(old_active.task_id) is not None  # active: never purged
    assert await store.admin_get_task(recent.task_id) is not None  # too recent
    assert await operator.count_purgeable([], await older_than_cut_off()) == 0


async def test_purge_by_status_keeps_the_other_statuses(
    operator: StoreAdmin, task_factory: TaskFactory
) -> None:
    completed = await task_factory(status=TaskStatus.COMPLETED)
    cancelled = await task_factory(status=TaskStatus.CANCELLED)

    assert await _purged(operator, [TaskStatus.CANCELLED], timedelta(0)) == [1]

    assert await operator.store.admin_get_task(cancelled.task_id) is None
    assert await operator.store.admin_get_task(completed.task_id) is not None


async def test_purge_refuses_active_statuses(operator: StoreAdmin) -> None:
    with pytest.raises(ValueError, match="only terminal tasks can be purged, not working"):
        await _purged(operator, [TaskStatus.WORKING, TaskStatus.COMPLETED], timedelta(days=7))
    with pytest.raises(ValueError, match="input_required"):
        await operator.count_purgeable([TaskStatus.INPUT_REQUIRED], timedelta(days=7))
    with pytest.raises(ValueError, match="batch must be at least 1"):
        await _purged(operator, [], timedelta(days=7), batch=0)


# -- stats ----------------------------------------------------------------------------------------


async def test_stats_counts_statuses_tools_questions_and_durations(
    operator: StoreAdmin, store: Store, task_factory: TaskFactory
) -> None:
    first_active = await task_factory(tool_name="slow", status=TaskStatus.WORKING)
    asking = await task_factory(tool_name="ask", status=TaskStatus.INPUT_REQUIRED)
    node = asking.lease_node or ""
    asked = await store.request_input(
        asking.task_id, asking.attempt, node, "input-1", "elicitation/create", {}, utcnow()
    )
    assert asked is not None
    for _ in range(4):
        await task_factory(tool_name="echo", status=TaskStatus.COMPLETED)
    await task_factory(tool_name="echo", status=TaskStatus.FAILED)

    stats = await operator.stats()

    assert stats.counts == {
        ("completed", "echo"): 4,
        ("failed", "echo"): 1,
        ("input_required", "ask"): 1,
        ("working", "slow"): 1,
    }
    assert stats.by_status() == {
        "working": 1,
        "input_required": 1,
        "completed": 4,
        "failed": 1,
        "cancelled": 0,
    }
    assert stats.oldest_active is not None and stats.oldest_active[0] == first_active.task_id
    assert stats.pending_questions == 1
    assert stats.sampled == 5
    echo = stats.durations["echo"]
    assert echo.tasks == 5
    assert 0 <= echo.p50_ms <= echo.p95_ms


async def test_stats_of_an_empty_store(operator: StoreAdmin) -> None:
    stats = await operator.stats()
    assert stats.counts == {}
    assert stats.oldest_active is None
    assert stats.pending_questions == 0
    assert stats.durations == {}
    assert set(stats.by_status().values()) == {0}
