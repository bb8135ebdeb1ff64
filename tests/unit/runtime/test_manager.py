"""`TaskManager`: ttl, durable creation, waiting, cancellation and owner-bound list cursors."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import apsw
import pytest
from sqlalchemy.engine import URL

from mcptasks.core.errors import InvalidParams, InvalidTaskState, StoreError, TaskNotFound
from mcptasks.core.model import Completed, Outcome, TaskRecord, utcnow
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.runtime.bus import TaskBus
from mcptasks.runtime.context import TaskContext
from mcptasks.runtime.manager import CANCELLED_MESSAGE, TaskManager, decode_cursor, encode_cursor
from mcptasks.runtime.options import DEFAULT_TTL_MS, MAX_TTL_MS
from mcptasks.store.store import Store

TaskFactory = Callable[..., Awaitable[TaskRecord]]
OwnerFactory = Callable[..., Owner]
Eventually = Callable[..., Awaitable[float]]

RESULT = {"content": [{"type": "text", "text": "done"}]}


def completes(result: dict[str, Any] = RESULT) -> Callable[[TaskContext], Awaitable[Outcome]]:
    async def invoke(ctx: TaskContext) -> Outcome:
        return Completed(result)

    return invoke


def blocks(release: asyncio.Event) -> Callable[[TaskContext], Awaitable[Outcome]]:
    async def invoke(ctx: TaskContext) -> Outcome:
        waiter = asyncio.ensure_future(ctx.wait_cancelled())
        releaser = asyncio.ensure_future(release.wait())
        await asyncio.wait({waiter, releaser}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        releaser.cancel()
        return Completed(RESULT)

    return invoke


async def create(
    manager: TaskManager,
    owner: Owner,
    invoke: Callable[[TaskContext], Awaitable[Outcome]],
    *,
    ttl_ms: int | None = None,
) -> TaskRecord:
    return await manager.create(
        owner,
        wire="2025-11-25",
        tool_name="tool",
        arguments={"x": 1},
        requested_ttl_ms=ttl_ms,
        progress_token="tok-1",
        invoke=invoke,
    )


# -- create ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        (None, DEFAULT_TTL_MS),
        (5000, 5000),
        (MAX_TTL_MS, MAX_TTL_MS),
        (MAX_TTL_MS + 1, MAX_TTL_MS),
        (2**53 - 1, MAX_TTL_MS),
    ],
)
async def test_create_grants_the_default_or_capped_ttl(
    manager: TaskManager, owner_factory: OwnerFactory, requested: int | None, granted: int
) -> None:
    record = await create(manager, owner_factory(), completes(), ttl_ms=requested)
    assert record.ttl_ms == granted
    assert record.expires_at == record.created_at + timedelta(milliseconds=granted)
    assert record.poll_interval_ms == manager.retention.poll_interval_ms


async def test_create_is_durable_before_its_answer_and_the_tool_sees_its_task(
    manager: TaskManager, store: Store, owner_factory: OwnerFactory, eventually: Eventually
) -> None:
    owner = owner_factory()
    seen_by_tool: list[TaskRecord | None] = []
    release = asyncio.Event()

    async def invoke(ctx: TaskContext) -> Outcome:
        assert ctx.task_id is not None
        seen_by_tool.append(await store.get_task(owner, ctx.task_id))
        await release.wait()
        return Completed(RESULT)

    record = await create(manager, owner, invoke)
    # Readable the moment create returns, on the reader engine, by its owner only.
    got = await manager.get(owner, record.task_id)
    assert got.status is TaskStatus.WORKING
    assert got.arguments == {"x": 1} and got.progress_token == "tok-1"
    assert got.lease_node == manager.executor.node and got.attempt == 1
    with pytest.raises(TaskNotFound):
        await manager.get(owner_factory(), record.task_id)

    async def tool_ran() -> bool:
        return bool(seen_by_tool)

    await eventually(tool_ran)
    assert seen_by_tool[0] is not None and seen_by_tool[0].task_id == record.task_id
    release.set()
    record_after, outcome = await asyncio.wait_for(manager.wait_terminal(owner, record.task_id), 5)
    assert record_after.status is TaskStatus.COMPLETED and outcome is not None


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
async def test_on_sqlite_the_tool_starts_while_its_row_is_being_committed(
    manager: TaskManager, store: Store, db_url: URL, owner_factory: OwnerFactory
) -> None:
    # Another connection holds the write lock: the row cannot be committed, yet the tool runs,
    # and the answer waits for the COMMIT.
    assert db_url.database is not None
    owner = owner_factory()
    started = asyncio.Event()

    async def invoke(ctx: TaskContext) -> Outcome:
        started.set()
        return Completed(RESULT)

    other = apsw.Connection(db_url.database)
    other.execute("BEGIN IMMEDIATE")
    try:
        creating = asyncio.ensure_future(create(manager, owner, invoke))
        await asyncio.wait_for(started.wait(), 5)
        await asyncio.sleep(0.1)
        assert not creating.done()  # not answered before the row is durable
    finally:
        other.execute("COMMIT")
        other.close()
    record = await asyncio.wait_for(creating, 5)
    done, outcome = await asyncio.wait_for(manager.wait_terminal(owner, record.task_id), 5)
    assert done.status is TaskStatus.COMPLETED
    assert outcome is not None and outcome.result == RESULT


async def test_a_create_whose_row_cannot_be_stored_stops_its_tool_and_stores_nothing(
    manager: TaskManager, db: Any, owner_factory: OwnerFactory
) -> None:
    owner = owner_factory()
    release = asyncio.Event()
    first = await create(manager, owner, blocks(release))
    await db.refuse_inserts("tasks", when="NEW.tool_name = 'refused'")
    seen: list[str] = []

    async def invoke(ctx: TaskContext) -> Outcome:
        seen.append("started")
        try:
            await ctx.wait_cancelled()
            seen.append("token fired")
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return Completed({"content": [{"type": "text", "text": "must not be stored"}]})

    with pytest.raises(StoreError):
        await manager.create(
            owner,
            wire="2025-11-25",
            tool_name="refused",
            arguments={},
            requested_ttl_ms=None,
            progress_token=None,
            invoke=invoke,
        )
    await asyncio.sleep(0.1)
    # SQLite starts the tool before the COMMIT and stops it; PostgreSQL never starts it.
    assert seen in ([], ["started", "token fired", "cancelled"])
    assert manager.executor.running_task_ids == frozenset({first.task_id})
    assert await db.count("tasks", tool_name="refused") == 0
    release.set()
    done, outcome = await asyncio.wait_for(manager.wait_terminal(owner, first.task_id), 5)
    assert done.status is TaskStatus.COMPLETED and outcome is not None and outcome.result == RESULT


# -- wait_terminal --------------------------------------------------------------------------------


async def test_wait_terminal_returns_once_finished(manager: TaskManager, owner_factory: OwnerFactory) -> None:
    owner = owner_factory()
    release = asyncio.Event()
    record = await create(manager, owner, blocks(release))
    waiter = asyncio.ensure_future(manager.wait_terminal(owner, record.task_id))
    await asyncio.sleep(0.2)
    assert not waiter.done()
    start = time.monotonic()
    release.set()
    done, outcome = await asyncio.wait_for(waiter, 5)
    # Woken by the bus, not by the 1 s re-read.
    assert time.monotonic() - start < 0.9
    assert done.status is TaskStatus.COMPLETED
    assert outcome is not None and outcome.result == RESULT


async def test_wait_terminal_of_a_terminal_task_returns_at_once(
    manager: TaskManager, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner, status=TaskStatus.FAILED)
    record, outcome = await asyncio.wait_for(manager.wait_terminal(owner, task.task_id), 1)
    assert record.status is TaskStatus.FAILED and outcome is not None and outcome.error is not None


async def test_wait_terminal_notices_a_change_made_elsewhere(
    manager: TaskManager, store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner)  # leased to another node: nothing publishes here
    waiter = asyncio.ensure_future(manager.wait_terminal(owner, task.task_id))
    await asyncio.sleep(0.1)
    assert task.lease_node is not None
    await store.finish_task(task.task_id, task.attempt, task.lease_node, Completed(RESULT), utcnow())
    record, _ = await asyncio.wait_for(waiter, 3)  # the periodic re-read finds it
    assert record.status is TaskStatus.COMPLETED


async def test_wait_terminal_of_a_foreign_task(
    manager: TaskManager, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    task = await task_factory(owner=owner_factory())
    with pytest.raises(TaskNotFound):
        await manager.wait_terminal(owner_factory(), task.task_id)


# -- cancel ---------------------------------------------------------------------------------------


async def test_cancel_a_running_task(
    manager: TaskManager, bus: TaskBus, owner_factory: OwnerFactory, eventually: Eventually
) -> None:
    owner = owner_factory()
    published: list[TaskRecord] = []
    bus.on_status(published.append)
    record = await create(manager, owner, blocks(asyncio.Event()))
    cancelled = await manager.cancel(owner, record.task_id, reject_terminal=True)
    assert cancelled.status is TaskStatus.CANCELLED
    assert cancelled.status_message == CANCELLED_MESSAGE
    # Durable before cancel returned.
    assert (await manager.get(owner, record.task_id)).status is TaskStatus.CANCELLED
    assert published[0] == cancelled

    async def stopped() -> bool:
        return record.task_id not in manager.executor.running_task_ids

    await eventually(stopped)  # the token fired; the tool returned; its outcome was refused
    again, outcome = await manager.get_with_result(owner, record.task_id)
    assert again.status is TaskStatus.CANCELLED and outcome is None


@pytest.mark.parametrize("status", [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED])
async def test_cancel_of_a_terminal_task(
    manager: TaskManager, task_factory: TaskFactory, owner_factory: OwnerFactory, status: TaskStatus
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner, status=status)
    with pytest.raises(InvalidTaskState) as caught:
        await manager.cancel(owner, task.task_id, reject_terminal=True)
    assert status.value in caught.value.message
    assert task.task_id not in caught.value.message
    assert await manager.cancel(owner, task.task_id, reject_terminal=False) == task
    assert await manager.get(owner, task.task_id) == task


@pytest.mark.parametrize("reject_terminal", [True, False])
async def test_cancel_of_an_unknown_or_foreign_task(
    manager: TaskManager, task_factory: TaskFactory, owner_factory: OwnerFactory, reject_terminal: bool
) -> None:
    task = await task_factory(owner=owner_factory())
    with pytest.raises(TaskNotFound):
        await manager.cancel(owner_factory(), task.task_id, reject_terminal=reject_terminal)
    with pytest.raises(TaskNotFound):
        await manager.cancel(owner_factory(), "no-such-id", reject_terminal=reject_terminal)
    with pytest.raises(TaskNotFound):
        await manager.get_with_result(owner_factory(), task.task_id)


# -- list -----------------------------------------------------------------------------------------


async def test_list_cursor_round_trip(
    manager: TaskManager, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    owner, other = owner_factory(), owner_factory()
    base = utcnow() - timedelta(minutes=1)
    made = [await task_factory(owner=owner, created_at=base + timedelta(seconds=i)) for i in range(5)]
    await task_factory(owner=other)

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await manager.list_tasks(owner, cursor, limit=2)
        pages += 1
        seen.extend(r.task_id for r in page.tasks)
        if page.next_cursor is None:
            break
        assert page.next_cursor.isascii() and "=" not in page.next_cursor
        cursor = page.next_cursor
    assert pages == 3
    assert seen == [r.task_id for r in reversed(made)]


async def test_list_last_full_page_has_no_next_cursor(
    manager: TaskManager, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    owner = owner_factory()
    for _ in range(4):
        await task_factory(owner=owner)
    first = await manager.list_tasks(owner, None, limit=2)
    assert first.next_cursor is not None
    second = await manager.list_tasks(owner, first.next_cursor, limit=2)
    assert len(second.tasks) == 2 and second.next_cursor is None
    empty = await manager.list_tasks(owner_factory(), None, limit=2)
    assert empty.tasks == [] and empty.next_cursor is None


async def test_a_cursor_of_another_owner_is_refused(
    manager: TaskManager, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    owner, other = owner_factory(), owner_factory()
    for _ in range(3):
        await task_factory(owner=owner)
    page = await manager.list_tasks(owner, None, limit=1)
    assert page.next_cursor is not None
    with pytest.raises(InvalidParams) as caught:
        await manager.list_tasks(other, page.next_cursor)
    assert caught.value.field == "cursor"
    assert page.next_cursor not in caught.value.message


def _b64(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


GARBAGE = [
    "not a cursor!",
    "%%%",
    "caf\u00e9",
    "",
    _b64(b"\xff\xfe\x00garbage"),
    _b64([1, 2]),
    _b64(1),
    _b64({}),
    _b64({"v": 2}),
    _b64({"v": 1, "o": "0" * 16, "c": "2025-01-01T00:00:00+00:00", "t": "x"}),
]


@pytest.mark.parametrize("cursor", GARBAGE)
async def test_a_garbage_cursor_is_invalid_params(
    manager: TaskManager, owner_factory: OwnerFactory, cursor: str
) -> None:
    with pytest.raises(InvalidParams) as caught:
        await manager.list_tasks(owner_factory(), cursor)
    assert caught.value.field == "cursor"
    assert caught.value.message == "Invalid params: cursor: unknown or invalid cursor"


@pytest.mark.parametrize(
    "payload",
    [
        {"c": "2025-01-01T00:00:00", "t": "x"},  # naive time
        {"c": "yesterday", "t": "x"},
        {"c": 5, "t": "x"},
        {"c": "2025-01-01T00:00:00+00:00", "t": 7},
        {"c": "2025-01-01T00:00:00+00:00"},
    ],
)
def test_a_malformed_cursor_of_the_right_owner_is_refused(payload: dict[str, Any]) -> None:
    owner = Owner.session("me")
    valid = encode_cursor(
        owner,
        TaskRecord.new(
            owner=owner, wire="2025-11-25", tool_name="t", arguments={}, ttl_ms=None, poll_interval_ms=None
        ),
    )
    tag = json.loads(base64.urlsafe_b64decode(valid + "=" * (-len(valid) % 4)))["o"]
    with pytest.raises(InvalidParams):
        decode_cursor(owner, _b64({"v": 1, "o": tag, **payload}))


def test_cursor_round_trip_without_the_store() -> None:
    owner = Owner.principal("iss", "alice", "app")
    record = TaskRecord.new(
        owner=owner, wire="2025-11-25", tool_name="t", arguments={}, ttl_ms=None, poll_interval_ms=None
    )
    assert decode_cursor(owner, encode_cursor(owner, record)) == (record.created_at, record.task_id)
    # The cursor names neither the owner key nor the session.
    raw = base64.urlsafe_b64decode(encode_cursor(owner, record) + "==").decode()
    assert owner.key not in raw and "alice" not in raw


# -- polling ----------------------------------------------------------------------------------------


async def test_a_poll_faster_than_the_poll_interval_waits_for_the_next_change(
    manager: TaskManager, owner_factory: OwnerFactory
) -> None:
    owner = owner_factory()
    release = asyncio.Event()
    record = await create(manager, owner, blocks(release))
    interval_s = (record.poll_interval_ms or 0) / 1000
    assert interval_s >= 0.2  # the fixture's retention

    # The CreateTaskResult was the first answer: a poll sooner than the interval is held until the
    # task changes, then answered at once.
    started = time.monotonic()
    second = asyncio.ensure_future(manager.poll(owner, record.task_id))
    await asyncio.sleep(interval_s / 4)
    assert not second.done()
    release.set()
    finished, outcome = await asyncio.wait_for(second, interval_s)
    assert finished.status is TaskStatus.COMPLETED and outcome is not None
    assert time.monotonic() - started < interval_s


async def test_a_held_poll_is_answered_when_the_interval_has_passed(
    manager: TaskManager, owner_factory: OwnerFactory
) -> None:
    owner = owner_factory()
    release = asyncio.Event()
    record = await create(manager, owner, blocks(release))
    interval_s = (record.poll_interval_ms or 0) / 1000
    started = time.monotonic()
    again, _ = await asyncio.wait_for(manager.poll(owner, record.task_id), interval_s * 3)
    waited = time.monotonic() - started
    assert again.status is TaskStatus.WORKING
    assert interval_s * 0.8 <= waited < interval_s * 2
    # A poll that respects the interval is never held.
    await asyncio.sleep(interval_s)
    started = time.monotonic()
    await manager.poll(owner, record.task_id)
    assert time.monotonic() - started < interval_s / 2
    release.set()


async def test_polls_at_the_interval_and_of_finished_tasks_are_not_held(
    manager: TaskManager, owner_factory: OwnerFactory, eventually: Eventually
) -> None:
    owner = owner_factory()
    release = asyncio.Event()
    a = await create(manager, owner, blocks(release))
    b = await create(manager, owner, blocks(release))
    done = await create(manager, owner, completes())
    await eventually(lambda: _is_terminal(manager, owner, done.task_id))
    interval_s = (a.poll_interval_ms or 0) / 1000
    await asyncio.sleep(interval_s)  # a and b were last answered (created) an interval ago
    started = time.monotonic()
    for task_id in (a.task_id, b.task_id, done.task_id, done.task_id, done.task_id):
        await manager.poll(owner, task_id)
    assert time.monotonic() - started < interval_s / 2
    assert manager.tracked_polls == 2  # the finished task is not remembered
    release.set()
    await eventually(lambda: _is_terminal(manager, owner, b.task_id))
    await eventually(lambda: _is_terminal(manager, owner, a.task_id))
    assert manager.tracked_polls == 0


async def _is_terminal(manager: TaskManager, owner: Owner, task_id: str) -> bool:
    record, _ = await manager.get_with_result(owner, task_id)
    return record.is_terminal


async def test_waiting_leaves_no_state_behind(manager: TaskManager, owner_factory: OwnerFactory) -> None:
    owner = owner_factory()
    for _ in range(50):
        record = await create(manager, owner, completes())
        await asyncio.wait_for(manager.wait_terminal(owner, record.task_id), 5)
        await manager.poll(owner, record.task_id)
    # No waiter stays registered on the bus for a task nobody waits on.
    assert manager.bus.watched == 0
