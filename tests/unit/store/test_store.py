"""`Store` on a real SQLite file: owner scoping, paging, compare-and-set moves, leases, ttl."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from mcptasks.core.model import Completed, ErrorInfo, Failed, TaskRecord, utcnow
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.store.store import Store

TaskFactory = Callable[..., Awaitable[TaskRecord]]
OwnerFactory = Callable[..., Owner]


def holder(task: TaskRecord) -> str:
    """The node holding `task`'s lease (every `task_factory` task starts leased)."""
    assert task.lease_node is not None
    return task.lease_node


DONE = Completed({"content": [{"type": "text", "text": "ok"}]})
BOOM = Failed(ErrorInfo(-32603, "Tool execution failed"), "Tool execution failed")


# -- create and read ----------------------------------------------------------------------------


async def test_create_then_get(store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory) -> None:
    owner = owner_factory()
    created = await task_factory(owner=owner, arguments={"n": 3}, tool_name="count_to")
    got = await store.get_task(owner, created.task_id)
    assert got == created
    assert got.status is TaskStatus.WORKING
    assert got.arguments == {"n": 3}
    assert got.tool_name == "count_to"
    assert got.created_at.tzinfo is not None


async def test_create_task_returns_the_record_once_committed(
    store: Store, owner_factory: OwnerFactory, db: Any
) -> None:
    owner = owner_factory()
    record = TaskRecord.new(
        owner=owner, wire="sep-2663", tool_name="t", arguments={}, ttl_ms=None, poll_interval_ms=None
    )
    assert await store.create_task(record, node=None) == record
    assert await db.count("tasks", task_id=record.task_id) == 1
    assert await db.count("task_events", task_id=record.task_id) == 1


async def test_get_is_owner_scoped(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    owner, other = owner_factory(), owner_factory()
    principal = owner_factory("principal")
    task = await task_factory(owner=owner)
    assert await store.get_task(other, task.task_id) is None
    assert await store.get_task(principal, task.task_id) is None
    assert await store.get_task(Owner.capability(), task.task_id) is None
    assert await store.get_task_with_result(other, task.task_id) is None
    assert await store.get_task(owner, "no-such-task") is None


async def test_principal_tasks_are_per_client(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    alice_app1 = owner_factory("principal", subject="alice", client_id="app-1")
    alice_app2 = owner_factory("principal", subject="alice", client_id="app-2")
    task = await task_factory(owner=alice_app1)
    assert await store.get_task(alice_app1, task.task_id) is not None
    assert await store.get_task(alice_app2, task.task_id) is None


async def test_capability_task_is_visible_to_anonymous_callers_only(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    task = await task_factory(owner=Owner.capability())
    assert await store.get_task(Owner.capability(), task.task_id) is not None
    assert await store.get_task(owner_factory("session"), task.task_id) is not None
    assert await store.get_task(owner_factory("principal"), task.task_id) is None
    assert await store.get_task_with_result(owner_factory("principal"), task.task_id) is None


async def test_get_task_with_result(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    owner = owner_factory()
    working = await task_factory(owner=owner)
    completed = await task_factory(owner=owner, status=TaskStatus.COMPLETED, result={"content": [], "x": 1})
    failed = await task_factory(owner=owner, status=TaskStatus.FAILED)
    cancelled = await task_factory(owner=owner, status=TaskStatus.CANCELLED)

    found = await store.get_task_with_result(owner, working.task_id)
    assert found is not None and found[1] is None

    found = await store.get_task_with_result(owner, completed.task_id)
    assert found is not None
    record, outcome = found
    assert record.status is TaskStatus.COMPLETED
    assert outcome is not None and outcome.result == {"content": [], "x": 1} and outcome.error is None

    found = await store.get_task_with_result(owner, failed.task_id)
    assert found is not None and found[1] is not None
    assert found[1].error == ErrorInfo(-32603, "Tool execution failed")
    assert found[1].result is None

    found = await store.get_task_with_result(owner, cancelled.task_id)
    assert found is not None and found[0].status is TaskStatus.CANCELLED and found[1] is None


# -- list -----------------------------------------------------------------------------------------


async def test_list_is_newest_first_and_keyset_paged(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    owner, other = owner_factory(), owner_factory()
    base = utcnow() - timedelta(minutes=10)
    made = [await task_factory(owner=owner, created_at=base + timedelta(seconds=i)) for i in range(5)]
    # Two tasks created in the same microsecond are ordered by task id.
    twins = [await task_factory(owner=owner, created_at=base + timedelta(seconds=10)) for _ in range(2)]
    await task_factory(owner=other, created_at=base + timedelta(seconds=20))

    expected = [
        *sorted(twins, key=lambda r: r.task_id, reverse=True),
        *reversed(made),
    ]
    everything = await store.list_tasks(owner, None, 100)
    assert [r.task_id for r in everything] == [r.task_id for r in expected]

    pages: list[list[str]] = []
    after = None
    while True:
        page = await store.list_tasks(owner, after, 3)
        if not page:
            break
        pages.append([r.task_id for r in page])
        after = (page[-1].created_at, page[-1].task_id)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [task_id for p in pages for task_id in p] == [r.task_id for r in expected]


async def test_list_shows_only_the_owners_own_tasks(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    session = owner_factory("session")
    await task_factory(owner=Owner.capability())
    mine = await task_factory(owner=session)
    # Capability tasks are readable by id, but never listed to a session.
    assert [r.task_id for r in await store.list_tasks(session, None, 10)] == [mine.task_id]


# -- cancel ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [TaskStatus.WORKING, TaskStatus.INPUT_REQUIRED])
async def test_cancel_moves_an_active_task(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, status: TaskStatus
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner, status=status)
    now = utcnow()
    outcome = await store.cancel_task(owner, task.task_id, "cancelled by request", now)
    assert outcome is not None and outcome.cancelled
    assert outcome.record.status is TaskStatus.CANCELLED
    stored = await store.get_task(owner, task.task_id)
    assert stored == outcome.record
    assert stored.status_message == "cancelled by request"
    assert stored.last_updated_at == now
    assert stored.lease_node is None and stored.lease_expires_at is None
    events = await store.admin_task_events(task.task_id)
    assert (events[-1].from_status, events[-1].to_status) == (status, TaskStatus.CANCELLED)
    assert events[-1].message == "cancelled by request"


@pytest.mark.parametrize("status", [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED])
async def test_cancel_leaves_a_terminal_task_alone(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, status: TaskStatus
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner, status=status)
    events_before = await store.admin_task_events(task.task_id)
    outcome = await store.cancel_task(owner, task.task_id, "too late", utcnow())
    assert outcome is not None and not outcome.cancelled
    assert outcome.record == task
    assert await store.get_task(owner, task.task_id) == task
    assert await store.admin_task_events(task.task_id) == events_before


async def test_cancel_of_a_task_the_owner_cannot_see(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    task = await task_factory(owner=owner_factory())
    assert await store.cancel_task(owner_factory(), task.task_id, "nope", utcnow()) is None
    assert await store.cancel_task(owner_factory("principal"), task.task_id, "nope", utcnow()) is None
    assert await store.cancel_task(owner_factory(), "unknown-id", "nope", utcnow()) is None
    found = await store.admin_get_task(task.task_id)
    assert found is not None and found[0] == task


# -- fenced moves ---------------------------------------------------------------------------------


async def test_finish_by_the_lease_holder(store: Store, task_factory: TaskFactory, db: Any) -> None:
    task = await task_factory()
    now = utcnow()
    finished = await store.finish_task(task.task_id, task.attempt, holder(task), DONE, now)
    assert finished is not None
    assert finished.status is TaskStatus.COMPLETED
    assert finished.last_updated_at == now
    assert finished.lease_node is None and finished.lease_expires_at is None
    found = await store.admin_get_task(task.task_id)
    assert found is not None and found[1] is not None and found[1].result == DONE.result


async def test_finish_failed_stores_the_error_and_status_message(
    store: Store, task_factory: TaskFactory
) -> None:
    task = await task_factory()
    finished = await store.finish_task(task.task_id, task.attempt, holder(task), BOOM, utcnow())
    assert finished is not None and finished.status is TaskStatus.FAILED
    assert finished.status_message == "Tool execution failed"
    found = await store.admin_get_task(task.task_id)
    assert found is not None and found[1] is not None and found[1].error == BOOM.error


@pytest.mark.parametrize(("attempt_delta", "node"), [(1, None), (-1, None), (0, "someone-else:2:000000")])
async def test_finish_is_fenced_on_attempt_and_node(
    store: Store, task_factory: TaskFactory, db: Any, attempt_delta: int, node: str | None
) -> None:
    task = await task_factory(attempt=2)
    events = await store.admin_task_events(task.task_id)
    result = await store.finish_task(
        task.task_id, task.attempt + attempt_delta, node or holder(task), DONE, utcnow()
    )
    assert result is None
    found = await store.admin_get_task(task.task_id)
    assert found is not None
    assert found == (task, None)
    assert await store.admin_task_events(task.task_id) == events
    assert await db.count("task_results", task_id=task.task_id) == 0


async def test_finish_after_cancel_changes_nothing(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, db: Any
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner)
    cancelled = await store.cancel_task(owner, task.task_id, "stop", utcnow())
    assert cancelled is not None and cancelled.cancelled
    assert await store.finish_task(task.task_id, task.attempt, holder(task), DONE, utcnow()) is None
    assert await store.finish_task(task.task_id, task.attempt, holder(task), BOOM, utcnow()) is None
    assert await store.get_task(owner, task.task_id) == cancelled.record
    assert await db.count("task_results", task_id=task.task_id) == 0


async def test_finish_twice_keeps_the_first_outcome(store: Store, task_factory: TaskFactory) -> None:
    task = await task_factory()
    first = await store.finish_task(task.task_id, task.attempt, holder(task), DONE, utcnow())
    assert first is not None
    assert await store.finish_task(task.task_id, task.attempt, holder(task), BOOM, utcnow()) is None
    found = await store.admin_get_task(task.task_id)
    assert found is not None and found[0] == first
    assert found[1] is not None and found[1].result == DONE.result


async def test_finish_of_an_unknown_task(store: Store) -> None:
    assert await store.finish_task("unknown", 1, "node", DONE, utcnow()) is None


async def test_cancel_racing_finish_has_exactly_one_winner(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, db: Any
) -> None:
    owner = owner_factory()
    tasks = await asyncio.gather(*(task_factory(owner=owner) for _ in range(200)))

    async def race(i: int, task: TaskRecord) -> tuple[bool, bool]:
        cancel = store.cancel_task(owner, task.task_id, "cancelled by request", utcnow())
        finish = store.finish_task(task.task_id, task.attempt, holder(task), DONE, utcnow())
        if i % 2:
            finished, cancelled = await asyncio.gather(finish, cancel)
        else:
            cancelled, finished = await asyncio.gather(cancel, finish)
        assert cancelled is not None
        return cancelled.cancelled, finished is not None

    outcomes = await asyncio.gather(*(race(i, task) for i, task in enumerate(tasks)))
    # Exactly one of the two won each race, and both kinds of winner occurred.
    assert all(cancel_won != finish_won for cancel_won, finish_won in outcomes)
    assert {cancel_won for cancel_won, _ in outcomes} == {True, False}

    async def snapshot() -> list[Any]:
        return await asyncio.gather(*(store.admin_get_task(t.task_id) for t in tasks))

    before = await snapshot()
    histories = await asyncio.gather(*(store.admin_task_events(t.task_id) for t in tasks))
    for (cancel_won, _), (record, result), events in zip(outcomes, before, histories, strict=True):
        expected = TaskStatus.CANCELLED if cancel_won else TaskStatus.COMPLETED
        assert record.status is expected
        assert (result is not None) is (not cancel_won)
        assert [e.to_status for e in events if e.to_status.is_terminal] == [expected]

    # Nothing changes a terminal task afterwards.
    await asyncio.gather(
        *(store.cancel_task(owner, t.task_id, "again", utcnow()) for t in tasks),
        *(store.finish_task(t.task_id, t.attempt, holder(t), BOOM, utcnow()) for t in tasks),
    )
    assert await snapshot() == before
    assert await db.count("task_events") == 200 * 2
    assert await db.count("task_results") == sum(1 for cancel_won, _ in outcomes if not cancel_won)


async def test_set_status_moves_between_active_statuses(store: Store, task_factory: TaskFactory) -> None:
    task = await task_factory()
    node = holder(task)
    moved = await store.set_status(
        task.task_id, task.attempt, node, TaskStatus.INPUT_REQUIRED, "ask", utcnow()
    )
    assert moved is not None and moved.status is TaskStatus.INPUT_REQUIRED and moved.status_message == "ask"
    # Only the lease holder moves it; no status moves to itself.
    assert (
        await store.set_status(task.task_id, task.attempt + 1, node, TaskStatus.WORKING, None, utcnow())
        is None
    )
    assert (
        await store.set_status(task.task_id, task.attempt, node, TaskStatus.INPUT_REQUIRED, None, utcnow())
        is None
    )
    back = await store.set_status(task.task_id, task.attempt, node, TaskStatus.WORKING, None, utcnow())
    assert back is not None and back.status is TaskStatus.WORKING and back.lease_node == node


async def test_set_status_message_is_fenced_and_active_only(store: Store, task_factory: TaskFactory) -> None:
    task = await task_factory()
    updated = await store.set_status_message(task.task_id, task.attempt, holder(task), "half way", utcnow())
    assert updated is not None and updated.status_message == "half way"
    assert await store.set_status_message(task.task_id, task.attempt, "other-node", "x", utcnow()) is None
    await store.finish_task(task.task_id, task.attempt, holder(task), DONE, utcnow())
    assert await store.set_status_message(task.task_id, task.attempt, holder(task), "late", utcnow()) is None


async def test_events_record_every_transition(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner, attempt=3)
    node = holder(task)
    await store.set_status(task.task_id, 3, node, TaskStatus.INPUT_REQUIRED, "need input", utcnow())
    await store.set_status(task.task_id, 3, node, TaskStatus.WORKING, None, utcnow())
    await store.finish_task(task.task_id, 3, node, DONE, utcnow())
    await store.cancel_task(owner, task.task_id, "too late", utcnow())

    events = await store.admin_task_events(task.task_id)
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, TaskStatus.WORKING),
        (TaskStatus.WORKING, TaskStatus.INPUT_REQUIRED),
        (TaskStatus.INPUT_REQUIRED, TaskStatus.WORKING),
        (TaskStatus.WORKING, TaskStatus.COMPLETED),
    ]
    assert [e.message for e in events] == [None, "need input", None, None]
    assert {e.attempt for e in events} == {3}
    assert events[0].at == task.created_at
    assert all(a.at <= b.at for a, b in itertools.pairwise(events))


# -- leases and recovery --------------------------------------------------------------------------


async def test_renew_leases_renews_every_active_task_of_the_node(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    owner = owner_factory()
    node = "node-a:1:aaaaaa"
    held = await task_factory(owner=owner, node=node)
    asking = await task_factory(owner=owner, node=node, status=TaskStatus.INPUT_REQUIRED)
    cancelled = await task_factory(owner=owner, node=node)
    await store.cancel_task(owner, cancelled.task_id, "stop", utcnow())
    finished = await task_factory(owner=owner, node=node)
    await store.finish_task(finished.task_id, 1, node, DONE, utcnow())
    newer_attempt = await task_factory(owner=owner, node=node, attempt=2)
    elsewhere = await task_factory(owner=owner, node="node-b:1:bbbbbb")

    until = utcnow() + timedelta(seconds=90)
    renewed = await store.renew_leases(node, until)
    # By node, with the attempt each lease is at: the executor stops a worker of an older attempt.
    assert renewed == {held.task_id: 1, asking.task_id: 1, newer_attempt.task_id: 2}

    for task in (held, asking):
        found = await store.admin_get_task(task.task_id)
        assert found is not None and found[0].lease_expires_at == until
    found = await store.admin_get_task(elsewhere.task_id)
    assert found is not None and found[0].lease_expires_at == elsewhere.lease_expires_at


async def test_renew_nothing(store: Store) -> None:
    assert await store.renew_leases("node", utcnow()) == {}


async def test_expired_leases_and_fail_unleased(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, db: Any
) -> None:
    owner = owner_factory()
    past = utcnow() - timedelta(seconds=5)
    dead = await task_factory(owner=owner, node="dead:1:000000", lease_expires_at=past)
    dead_asking = await task_factory(
        owner=owner, node="dead:1:000000", lease_expires_at=past, status=TaskStatus.INPUT_REQUIRED
    )
    alive = await task_factory(owner=owner, lease_expires_at=utcnow() + timedelta(seconds=60))
    await task_factory(owner=owner, lease_expires_at=past, status=TaskStatus.COMPLETED)

    now = utcnow()
    expired = await store.expired_leases(now, 100)
    assert {r.task_id for r in expired} == {dead.task_id, dead_asking.task_id}
    assert alive.task_id not in {r.task_id for r in expired}
    assert len(await store.expired_leases(now, 1)) == 1

    for record in expired:
        failed = await store.fail_unleased(record, "Task interrupted", now)
        assert failed is not None and failed.status is TaskStatus.FAILED
        found = await store.get_task_with_result(owner, record.task_id)
        assert found is not None
        assert found[0].status is TaskStatus.FAILED and found[0].status_message == "Task interrupted"
        assert found[0].lease_node is None
        assert found[1] is not None and found[1].error == ErrorInfo(-32603, "Task interrupted")
        events = await store.admin_task_events(record.task_id)
        assert (events[-1].from_status, events[-1].to_status) == (record.status, TaskStatus.FAILED)
        # A second recovery of the same record finds nothing to do.
        assert await store.fail_unleased(record, "Task interrupted", now) is None

    assert await store.expired_leases(utcnow(), 100) == []
    assert await db.count("task_results") == 3


async def test_fail_unleased_loses_to_a_renewed_lease(store: Store, task_factory: TaskFactory) -> None:
    past = utcnow() - timedelta(seconds=5)
    task = await task_factory(lease_expires_at=past)
    [stale] = await store.expired_leases(utcnow(), 10)
    # The worker was only slow: its heartbeat renews before recovery acts on the stale read.
    assert await store.renew_leases(holder(task), utcnow() + timedelta(seconds=30))
    assert await store.fail_unleased(stale, "Task interrupted", utcnow()) is None
    assert (await store.admin_get_task(task.task_id))[0].status is TaskStatus.WORKING  # type: ignore[index]


# -- ttl ------------------------------------------------------------------------------------------


async def test_fail_expired_keeps_the_task_readable(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    owner = owner_factory()
    old = utcnow() - timedelta(minutes=5)
    expired = await task_factory(owner=owner, created_at=old, ttl_ms=1000)
    expired_asking = await task_factory(
        owner=owner, created_at=old, ttl_ms=1000, status=TaskStatus.INPUT_REQUIRED
    )
    fresh = await task_factory(owner=owner, ttl_ms=3_600_000)
    unlimited = await task_factory(owner=owner, created_at=old, ttl_ms=None)
    done = await task_factory(owner=owner, created_at=old, ttl_ms=1000, status=TaskStatus.COMPLETED)

    now = utcnow()
    keep = timedelta(seconds=60)
    failed = await store.fail_expired(now, keep, 100)
    assert {r.task_id for r in failed} == {expired.task_id, expired_asking.task_id}

    for task in (expired, expired_asking):
        found = await store.get_task_with_result(owner, task.task_id)
        assert found is not None
        record, outcome = found
        assert record.status is TaskStatus.FAILED
        assert record.status_message is not None and "expired" in record.status_message.lower()
        assert "1000 ms" in record.status_message
        assert record.expires_at == now + keep
        assert record.ttl_ms is not None
        assert abs(record.created_at + timedelta(milliseconds=record.ttl_ms) - record.expires_at) < timedelta(
            milliseconds=1
        )
        assert outcome is not None and outcome.error == ErrorInfo(-32603, "Task expired")
        events = await store.admin_task_events(task.task_id)
        assert events[-1].to_status is TaskStatus.FAILED

    for task in (fresh, unlimited):
        assert (await store.get_task(owner, task.task_id)).status is TaskStatus.WORKING  # type: ignore[union-attr]
    assert await store.get_task(owner, done.task_id) == done

    # Kept readable: the next deletion pass leaves it, and a second pass fails nothing more.
    assert await store.delete_expired(utcnow(), 100) == 1  # only `done`
    assert await store.get_task(owner, expired.task_id) is not None
    assert await store.fail_expired(utcnow(), keep, 100) == []


async def test_fail_expired_is_bounded(store: Store, task_factory: TaskFactory) -> None:
    old = utcnow() - timedelta(minutes=5)
    for _ in range(5):
        await task_factory(created_at=old, ttl_ms=1000)
    assert len(await store.fail_expired(utcnow(), timedelta(seconds=60), 2)) == 2
    assert len(await store.fail_expired(utcnow(), timedelta(seconds=60), 10)) == 3


async def test_delete_expired_deletes_expired_terminal_tasks_in_batches(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, db: Any
) -> None:
    owner = owner_factory()
    old = utcnow() - timedelta(minutes=5)
    doomed = [
        await task_factory(owner=owner, created_at=old, ttl_ms=1000, status=status)
        for status in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.COMPLETED)
    ]
    active_expired = await task_factory(owner=owner, created_at=old, ttl_ms=1000)
    live_terminal = await task_factory(owner=owner, status=TaskStatus.COMPLETED, ttl_ms=3_600_000)
    unlimited = await task_factory(owner=owner, created_at=old, status=TaskStatus.COMPLETED, ttl_ms=None)
    doomed_ids = {t.task_id for t in doomed}
    assert await db.count("task_events") > 0

    now = utcnow()
    assert [await store.delete_expired(now, 3) for _ in range(3)] == [3, 1, 0]

    remaining = await db.rows()
    assert {r["task_id"] for r in remaining["tasks"]} == {
        active_expired.task_id,
        live_terminal.task_id,
        unlimited.task_id,
    }
    for table in ("task_results", "task_events", "task_input_requests"):
        assert not doomed_ids & {r["task_id"] for r in remaining[table]}, table
    # The survivors keep their children.
    assert await db.count("task_results", task_id=live_terminal.task_id) == 1
    assert await db.count("task_events", task_id=active_expired.task_id) == 1


# -- statements bind the owner --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["session", "principal", "capability"])
async def test_owner_scoped_verbs_bind_the_owner_key(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, statements: Any, kind: str
) -> None:
    owner = owner_factory(kind)
    task = await task_factory(owner=owner)
    done = await task_factory(owner=owner, status=TaskStatus.COMPLETED)

    verbs: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("get_task", lambda: store.get_task(owner, task.task_id)),
        ("get_task_with_result", lambda: store.get_task_with_result(owner, done.task_id)),
        ("list_tasks", lambda: store.list_tasks(owner, None, 10)),
        ("list_tasks after", lambda: store.list_tasks(owner, (done.created_at, done.task_id), 10)),
        ("cancel_task", lambda: store.cancel_task(owner, task.task_id, "stop", utcnow())),
        ("cancel_task terminal", lambda: store.cancel_task(owner, done.task_id, "stop", utcnow())),
    ]
    for name, verb in verbs:
        store.view.clear()  # decided in SQL (the view applies `Owner.may_see`: test_view.py)
        statements.clear()
        await verb()
        ran = statements.touching_tasks()
        assert ran, name
        first, params = ran[0]
        assert first.endswith("_owned") or first.startswith("list_tasks"), f"{name}: starts with {first!r}"
        assert params["owner_key"] == owner.key, f"{name}: {first!r} binds {params!r}"
