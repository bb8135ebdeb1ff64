"""The real `Executor` on a real store: outcomes, crashes, cancellation, stop, recovery, heartbeat, ttl."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from mcptasks.core.errors import TaskCancelled
from mcptasks.core.model import Completed, ErrorInfo, Failed, Outcome, TaskRecord, utcnow
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.runtime.bus import TaskBus
from mcptasks.runtime.context import TaskContext
from mcptasks.runtime.executor import Executor, new_node_id
from mcptasks.runtime.options import Leases
from mcptasks.runtime.outcomes import CRASH_MESSAGE, INTERRUPTED_MESSAGE, INTERRUPTED_WAITING_MESSAGE
from mcptasks.store.store import Store

TaskFactory = Callable[..., Awaitable[TaskRecord]]
StatusOf = Callable[[str], Awaitable[TaskStatus | None]]
Eventually = Callable[..., Awaitable[float]]
ExecutorFactory = Callable[..., Awaitable[Executor]]

RESULT = {"content": [{"type": "text", "text": "done"}]}
#: A secret the tool's exception carries: it must reach no table.
SECRET = "s3cr3t-db-password-in-traceback"
#: Tasks committed while heartbeats run back to back: enough that one commit lands mid-renewal.
HEARTBEAT_RACE_TASKS = 60


async def launch(
    store: Store,
    executor: Executor,
    invoke: Callable[[TaskContext], Awaitable[Outcome]],
    *,
    owner: Owner | None = None,
    ttl_ms: int | None = 3_600_000,
) -> TaskRecord:
    """Commit a task leased to `executor`, then run it there (what `TaskManager.create` does)."""
    now = utcnow()
    record = TaskRecord.new(
        owner=owner or Owner.session("executor-tests"),
        wire="2025-11-25",
        tool_name="tool",
        arguments={},
        ttl_ms=ttl_ms,
        poll_interval_ms=None,
        now=now,
    ).evolve(lease_node=executor.node, lease_expires_at=now + executor.lease_until(), attempt=1)
    await store.create_task(record, node=executor.node)
    executor.run(record, invoke)
    return record


def gone(executor: Executor, task_id: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return task_id not in executor.running_task_ids

    return check


def has_status(status_of: StatusOf, task_id: str, status: TaskStatus) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await status_of(task_id) is status

    return check


def test_node_ids_are_unique() -> None:
    ids = {new_node_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(node.split(":")) >= 3 for node in ids)


async def test_invoke_runs_to_completed(
    store: Store, executor: Executor, bus: TaskBus, eventually: Eventually, status_of: StatusOf
) -> None:
    published: list[TaskRecord] = []
    bus.on_status(published.append)
    seen: list[TaskContext] = []

    async def invoke(ctx: TaskContext) -> Outcome:
        seen.append(ctx)
        return Completed(RESULT)

    task = await launch(store, executor, invoke)
    await eventually(gone(executor, task.task_id))
    found = await store.admin_get_task(task.task_id)
    assert found is not None
    record, outcome = found
    assert record.status is TaskStatus.COMPLETED
    assert record.lease_node is None
    assert outcome is not None and outcome.result == RESULT
    assert seen[0].task_id == task.task_id and seen[0].attempt == 1
    assert [p.status for p in published] == [TaskStatus.COMPLETED]


async def test_a_failed_outcome_is_stored(store: Store, executor: Executor, eventually: Eventually) -> None:
    failure = Failed(ErrorInfo(-32602, "bad input", {"field": "n"}), "bad input")

    async def invoke(ctx: TaskContext) -> Outcome:
        return failure

    task = await launch(store, executor, invoke)
    await eventually(gone(executor, task.task_id))
    found = await store.admin_get_task(task.task_id)
    assert found is not None
    assert found[0].status is TaskStatus.FAILED and found[0].status_message == "bad input"
    assert found[1] is not None and found[1].error == failure.error


async def test_a_crash_fails_the_task_without_storing_the_exception(
    store: Store, executor: Executor, eventually: Eventually, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def invoke(ctx: TaskContext) -> Outcome:
        raise RuntimeError(f"connect failed: {SECRET}")

    task = await launch(store, executor, invoke)
    await eventually(gone(executor, task.task_id))
    found = await store.admin_get_task(task.task_id)
    assert found is not None
    record, outcome = found
    assert record.status is TaskStatus.FAILED
    assert record.status_message == CRASH_MESSAGE == "Tool execution failed"
    assert outcome is not None and outcome.error == ErrorInfo(-32603, "Tool execution failed")

    rows = await db.rows()
    for table, table_rows in rows.items():
        for row in table_rows:
            for column, value in row.items():
                assert SECRET not in str(value), f"{table}.{column} holds the exception text"
                assert "RuntimeError" not in str(value), f"{table}.{column} holds the exception type"
    # The detail goes to the server log only.
    assert any(r.exc_info and SECRET in str(r.exc_info[1]) for r in caplog.records)


async def test_task_cancelled_without_a_cancel_is_a_crash(
    store: Store, executor: Executor, eventually: Eventually
) -> None:
    async def invoke(ctx: TaskContext) -> Outcome:
        raise TaskCancelled()

    task = await launch(store, executor, invoke)
    await eventually(gone(executor, task.task_id))
    found = await store.admin_get_task(task.task_id)
    assert found is not None and found[0].status is TaskStatus.FAILED
    assert found[0].status_message == CRASH_MESSAGE


async def test_status_message_and_progress_from_the_tool(
    store: Store, executor: Executor, bus: TaskBus, eventually: Eventually
) -> None:
    progress: list[tuple[str, float, float | None, str | None]] = []
    bus.on_progress(lambda record, p, total, msg: progress.append((record.task_id, p, total, msg)))
    proceed = asyncio.Event()

    async def invoke(ctx: TaskContext) -> Outcome:
        await ctx.set_status_message("half way")
        await ctx.report_progress(1, total=2, message="step 1")
        await proceed.wait()
        return Completed(RESULT)

    task = await launch(store, executor, invoke)

    async def message_stored() -> bool:
        found = await store.admin_get_task(task.task_id)
        return found is not None and found[0].status_message == "half way"

    await eventually(message_stored)
    assert progress == [(task.task_id, 1, 2, "step 1")]
    proceed.set()
    await eventually(gone(executor, task.task_id))


async def test_cancel_local_fires_the_token(
    store: Store, executor: Executor, eventually: Eventually, status_of: StatusOf
) -> None:
    owner = Owner.session("canceller")
    saw_cancel = asyncio.Event()

    async def invoke(ctx: TaskContext) -> Outcome:
        await ctx.wait_cancelled()
        assert ctx.is_cancelled
        saw_cancel.set()
        with pytest.raises(TaskCancelled):
            ctx.check_cancelled()
        return Completed(RESULT)  # returned after the cancel: the fenced finish refuses it

    task = await launch(store, executor, invoke, owner=owner)
    assert await store.cancel_task(owner, task.task_id, "stop", utcnow())
    start = time.monotonic()
    executor.cancel_local(task.task_id)
    executor.cancel_local(task.task_id)  # twice is harmless
    await asyncio.wait_for(saw_cancel.wait(), 2)
    await eventually(gone(executor, task.task_id))
    assert time.monotonic() - start < executor.leases.cancel_grace_s  # no hard cancel was needed
    found = await store.admin_get_task(task.task_id)
    assert found is not None and found[0].status is TaskStatus.CANCELLED and found[1] is None


async def test_a_tool_that_raises_task_cancelled_after_cancel_stays_cancelled(
    store: Store, executor: Executor, eventually: Eventually, status_of: StatusOf
) -> None:
    owner = Owner.session("canceller")

    async def invoke(ctx: TaskContext) -> Outcome:
        while True:
            ctx.check_cancelled()
            await asyncio.sleep(0.01)

    task = await launch(store, executor, invoke, owner=owner)
    assert await store.cancel_task(owner, task.task_id, "stop", utcnow())
    executor.cancel_local(task.task_id)
    await eventually(gone(executor, task.task_id))
    assert await status_of(task.task_id) is TaskStatus.CANCELLED


async def test_a_tool_ignoring_the_token_is_cancelled_hard_after_the_grace(
    store: Store, executor: Executor, eventually: Eventually, status_of: StatusOf
) -> None:
    owner = Owner.session("canceller")
    hard_cancelled = asyncio.Event()

    async def invoke(ctx: TaskContext) -> Outcome:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            hard_cancelled.set()
            raise
        return Completed(RESULT)

    task = await launch(store, executor, invoke, owner=owner)
    assert await store.cancel_task(owner, task.task_id, "stop", utcnow())
    start = time.monotonic()
    executor.cancel_local(task.task_id)
    await asyncio.wait_for(hard_cancelled.wait(), 5)
    elapsed = time.monotonic() - start
    grace = executor.leases.cancel_grace_s
    assert grace * 0.9 <= elapsed < grace + 2
    await eventually(gone(executor, task.task_id))
    assert await status_of(task.task_id) is TaskStatus.CANCELLED
    # Still cancelled a heartbeat and a recovery pass later.
    await asyncio.sleep(executor.leases.recover_interval_s * 2)
    found = await store.admin_get_task(task.task_id)
    assert found is not None and found[0].status is TaskStatus.CANCELLED and found[1] is None


async def test_stop_fails_a_long_tool_as_interrupted(
    store: Store, executor_factory: Callable[..., Awaitable[Executor]], leases: Leases, db: Any
) -> None:
    executor = await executor_factory()
    started = asyncio.Event()

    async def invoke(ctx: TaskContext) -> Outcome:
        started.set()
        await asyncio.sleep(60)
        return Completed(RESULT)

    task = await launch(store, executor, invoke)
    await asyncio.wait_for(started.wait(), 5)
    start = time.monotonic()
    await executor.stop()
    elapsed = time.monotonic() - start
    assert leases.shutdown_grace_s * 0.9 <= elapsed < leases.shutdown_grace_s + 2
    assert executor.running_task_ids == frozenset()
    found = await store.admin_get_task(task.task_id)
    assert found is not None
    record, outcome = found
    assert record.status is TaskStatus.FAILED
    assert record.status_message == INTERRUPTED_MESSAGE
    assert outcome is not None and outcome.error == ErrorInfo(-32603, INTERRUPTED_MESSAGE)
    with pytest.raises(RuntimeError):
        executor.run(record, invoke)


async def test_stop_lets_a_tool_finish_within_the_grace(
    store: Store, executor_factory: Callable[..., Awaitable[Executor]]
) -> None:
    executor = await executor_factory()
    started = asyncio.Event()

    async def invoke(ctx: TaskContext) -> Outcome:
        started.set()
        await asyncio.sleep(0.05)
        return Completed(RESULT)

    task = await launch(store, executor, invoke)
    await asyncio.wait_for(started.wait(), 5)
    await executor.stop()
    found = await store.admin_get_task(task.task_id)
    assert found is not None and found[0].status is TaskStatus.COMPLETED


async def test_start_recovers_tasks_a_dead_node_left_behind(
    store: Store,
    task_factory: TaskFactory,
    executor_factory: Callable[..., Awaitable[Executor]],
    status_of: StatusOf,
) -> None:
    past = utcnow() - timedelta(seconds=10)
    dead_working = await task_factory(node="dead:1:000000", lease_expires_at=past)
    dead_asking = await task_factory(
        node="dead:1:000000", lease_expires_at=past, status=TaskStatus.INPUT_REQUIRED
    )
    alive_elsewhere = await task_factory(
        node="alive:2:000000", lease_expires_at=utcnow() + timedelta(seconds=60)
    )

    await executor_factory()  # start() recovers before it returns

    # A parked task says it was waiting for input: no one is asked a question whose answer is lost.
    for task, message in ((dead_working, INTERRUPTED_MESSAGE), (dead_asking, INTERRUPTED_WAITING_MESSAGE)):
        found = await store.admin_get_task(task.task_id)
        assert found is not None
        assert found[0].status is TaskStatus.FAILED
        assert found[0].status_message == message
        assert found[1] is not None and found[1].error == ErrorInfo(-32603, message)
    assert await status_of(alive_elsewhere.task_id) is TaskStatus.WORKING


async def test_a_cancel_recorded_while_no_worker_is_alive_still_wins(
    store: Store,
    task_factory: TaskFactory,
    executor_factory: Callable[..., Awaitable[Executor]],
    owner_factory: Callable[..., Owner],
) -> None:
    owner = owner_factory()
    task = await task_factory(
        owner=owner, node="dead:1:000000", lease_expires_at=utcnow() - timedelta(seconds=10)
    )
    cancelled = await store.cancel_task(owner, task.task_id, "stop", utcnow())
    assert cancelled is not None and cancelled.cancelled
    await executor_factory()
    assert await store.get_task(owner, task.task_id) == cancelled.record
    events = await store.admin_task_events(task.task_id)
    assert [e.to_status for e in events] == [TaskStatus.WORKING, TaskStatus.CANCELLED]
    found = await store.admin_get_task(task.task_id)
    assert found is not None and found[1] is None


async def test_the_recovery_loop_fails_a_lease_that_runs_out_later(
    store: Store, task_factory: TaskFactory, executor: Executor, eventually: Eventually, status_of: StatusOf
) -> None:
    task = await task_factory(node="dying:1:000000", lease_expires_at=utcnow() + timedelta(milliseconds=300))
    assert await status_of(task.task_id) is TaskStatus.WORKING
    await eventually(has_status(status_of, task.task_id, TaskStatus.FAILED))


async def test_heartbeat_renews_leases(store: Store, executor: Executor, eventually: Eventually) -> None:
    release = asyncio.Event()

    async def invoke(ctx: TaskContext) -> Outcome:
        await release.wait()
        return Completed(RESULT)

    task = await launch(store, executor, invoke)
    first = task.lease_expires_at
    assert first is not None

    async def renewed() -> bool:
        found = await store.admin_get_task(task.task_id)
        return (
            found is not None and found[0].lease_expires_at is not None and found[0].lease_expires_at > first
        )

    await eventually(renewed, timeout_s=3)
    # Outlives its original lease (1 s) while the heartbeat runs, and is never recovered.
    await asyncio.sleep(executor.leases.duration_s + 0.3)
    found = await store.admin_get_task(task.task_id)
    assert found is not None and found[0].status is TaskStatus.WORKING
    assert found[0].lease_expires_at is not None and found[0].lease_expires_at > utcnow()
    release.set()
    await eventually(gone(executor, task.task_id))
    found = await store.admin_get_task(task.task_id)
    assert found is not None and found[0].status is TaskStatus.COMPLETED


async def test_a_task_committed_while_a_heartbeat_renews_keeps_its_tool(
    store: Store, executor_factory: ExecutorFactory
) -> None:
    """A renewal that began before a task's commit does not return its lease; that must not read
    as "taken over" (it did: the tool was cancelled and its task left working for ever)."""
    executor = await executor_factory(start=False)
    release = asyncio.Event()
    cancelled: list[str] = []

    async def invoke(ctx: TaskContext) -> Outcome:
        cancelled_now = asyncio.ensure_future(ctx.wait_cancelled())
        released = asyncio.ensure_future(release.wait())
        await asyncio.wait({cancelled_now, released}, return_when=asyncio.FIRST_COMPLETED)
        cancelled_now.cancel()
        released.cancel()
        if ctx.is_cancelled:
            cancelled.append(ctx.task_id)
        return Completed(RESULT)

    async def beat_without_pause() -> None:
        while True:
            await executor.heartbeat()
            await asyncio.sleep(0)

    beating = asyncio.ensure_future(beat_without_pause())
    try:
        tasks = [await launch(store, executor, invoke) for _ in range(HEARTBEAT_RACE_TASKS)]
        await asyncio.sleep(executor.leases.cancel_grace_s)  # a wrongly fired token shows by now
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
    assert cancelled == []
    release.set()
    for task in tasks:
        await asyncio.wait_for(_finished(store, task.task_id), 10)


async def _finished(store: Store, task_id: str) -> None:
    while True:
        found = await store.admin_get_task(task_id)
        if found is not None and found[0].status is TaskStatus.COMPLETED:
            return
        await asyncio.sleep(0.02)


async def test_a_lease_held_with_no_tool_running_is_released_for_recovery(
    store: Store, task_factory: TaskFactory, executor: Executor, eventually: Eventually, status_of: StatusOf
) -> None:
    """A task leased to this node whose tool does not run here (a defect) is not kept alive by
    the heartbeat for ever: its lease is released and recovery applies the tool's policy."""
    task = await task_factory(node=executor.node, lease_expires_at=utcnow() + timedelta(seconds=60))
    assert task.task_id not in executor.running_task_ids
    await eventually(has_status(status_of, task.task_id, TaskStatus.FAILED), timeout_s=10)
    found = await store.admin_get_task(task.task_id)
    assert found is not None and found[0].status_message == INTERRUPTED_MESSAGE


async def test_heartbeat_fires_the_token_of_a_task_cancelled_elsewhere(
    store: Store, executor: Executor, eventually: Eventually, status_of: StatusOf
) -> None:
    owner = Owner.session("other-replica")
    saw_cancel = asyncio.Event()

    async def invoke(ctx: TaskContext) -> Outcome:
        await ctx.wait_cancelled()
        saw_cancel.set()
        return Completed(RESULT)

    task = await launch(store, executor, invoke, owner=owner)
    # Cancelled through the store only, as another replica would: no cancel_local here.
    assert await store.cancel_task(owner, task.task_id, "stop", utcnow())
    start = time.monotonic()
    await asyncio.wait_for(saw_cancel.wait(), 3)
    assert time.monotonic() - start < executor.leases.heartbeat_s * 3 + 0.5
    await eventually(gone(executor, task.task_id))
    assert await status_of(task.task_id) is TaskStatus.CANCELLED


async def test_sweep_fails_an_active_task_past_its_ttl(
    store: Store, executor: Executor, eventually: Eventually, status_of: StatusOf
) -> None:
    saw_cancel = asyncio.Event()

    async def invoke(ctx: TaskContext) -> Outcome:
        await ctx.wait_cancelled()
        saw_cancel.set()
        return Completed(RESULT)

    task = await launch(store, executor, invoke, ttl_ms=300)
    await eventually(has_status(status_of, task.task_id, TaskStatus.FAILED), timeout_s=3)
    await asyncio.wait_for(saw_cancel.wait(), 3)  # the sweeper stops the tool too
    await eventually(gone(executor, task.task_id))
    found = await store.admin_get_task(task.task_id)
    assert found is not None
    record, outcome = found
    assert record.status is TaskStatus.FAILED
    assert record.status_message is not None and "expired" in record.status_message.lower()
    assert outcome is not None and outcome.error == ErrorInfo(-32603, "Task expired")
    # Kept readable for `expired_keep_s` rather than deleted on the spot.
    assert record.expires_at is not None and record.expires_at > utcnow() + timedelta(seconds=30)


async def test_sweep_deletes_expired_terminal_tasks(
    store: Store, task_factory: TaskFactory, executor: Executor, eventually: Eventually, status_of: StatusOf
) -> None:
    old = utcnow() - timedelta(minutes=5)
    expired = [await task_factory(created_at=old, ttl_ms=1000, status=TaskStatus.COMPLETED) for _ in range(3)]
    kept = await task_factory(status=TaskStatus.COMPLETED)

    async def all_gone() -> bool:
        return [await status_of(t.task_id) for t in expired] == [None] * len(expired)

    await eventually(all_gone, timeout_s=3)
    assert await status_of(kept.task_id) is TaskStatus.COMPLETED


async def test_sweep_deletes_in_batches_until_done(
    store: Store,
    task_factory: TaskFactory,
    executor_factory: Callable[..., Awaitable[Executor]],
    db: Any,
) -> None:
    executor = await executor_factory(start=False)
    old = utcnow() - timedelta(minutes=5)
    count = executor.retention.sweep_batch * 2 + 3
    await asyncio.gather(
        *(task_factory(created_at=old, ttl_ms=1000, status=TaskStatus.COMPLETED) for _ in range(count))
    )
    assert await executor.sweep() == count
    assert await db.count("tasks") == 0
    assert await executor.sweep() == 0
