"""`TaskView` and how the `Store` answers reads from it: after commits only, bounded, owner-checked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from mcptasks.core.model import Completed, TaskRecord, TaskResult, utcnow
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.store.store import Store
from mcptasks.store.view import TaskView

TaskFactory = Callable[..., Awaitable[TaskRecord]]
OwnerFactory = Callable[..., Owner]

DONE = Completed({"content": [{"type": "text", "text": "done"}]})


def _record(task_id: str, status: TaskStatus = TaskStatus.WORKING, **changes: Any) -> TaskRecord:
    now = utcnow()
    return TaskRecord.new(
        owner=Owner.session("view"),
        wire="sep-2663",
        tool_name="t",
        arguments={},
        ttl_ms=60_000,
        poll_interval_ms=1000,
        now=now,
    ).evolve(task_id=task_id, status=status, **changes)


def test_the_view_is_bounded_and_evicts_the_oldest_first() -> None:
    view = TaskView(capacity=3)
    for n in range(5):
        view.put(_record(f"t{n}", TaskStatus.COMPLETED), result=TaskResult(result={"n": n}))
    assert len(view) == 3
    now = utcnow()
    assert [view.get(f"t{n}", now) is not None for n in range(5)] == [False, False, True, True, True]
    # A changed entry counts as new: it is evicted last.
    view.put(_record("t2", TaskStatus.COMPLETED))
    view.put(_record("t5", TaskStatus.COMPLETED))
    assert view.get("t3", now) is None and view.get("t2", now) is not None


def test_a_terminal_entry_past_its_expiry_is_not_answered() -> None:
    view = TaskView()
    expired = _record("old", TaskStatus.COMPLETED).evolve(expires_at=utcnow() - timedelta(seconds=1))
    view.put(expired)
    assert view.get("old", utcnow()) is None
    assert view.peek("old") is None  # and it is gone


def test_drop_active_keeps_terminal_entries() -> None:
    view = TaskView()
    view.put(_record("running"))
    view.put(_record("asking", TaskStatus.INPUT_REQUIRED))
    view.put(_record("done", TaskStatus.COMPLETED))
    assert view.drop_active() == 2
    assert view.peek("running") is None and view.peek("asking") is None
    assert view.peek("done") is not None


async def test_reads_of_a_finished_task_need_no_sql(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, statements: Any
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner)
    await store.finish_task(task.task_id, 1, task.lease_node or "", DONE, utcnow())
    statements.clear()

    for _ in range(3):
        found = await store.get_task_with_result(owner, task.task_id)
        assert found is not None
        record, result = found
        assert record.status is TaskStatus.COMPLETED and result == TaskResult(result=DONE.result)
    assert statements.ran == []


async def test_the_view_applies_the_owner_rule(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, statements: Any
) -> None:
    owner, other = owner_factory(), owner_factory()
    principal = owner_factory("principal")
    task = await task_factory(owner=owner, status=TaskStatus.COMPLETED)
    anonymous = await task_factory(owner=Owner.capability(), status=TaskStatus.COMPLETED)
    assert store.view.peek(task.task_id) is not None and store.view.peek(anonymous.task_id) is not None
    statements.clear()

    assert await store.get_task(other, task.task_id) is None
    assert await store.get_task(principal, task.task_id) is None
    # A capability task: any anonymous caller holding the id reads it; a principal never does.
    assert await store.get_task(other, anonymous.task_id) is not None
    assert await store.get_task(Owner.capability(), anonymous.task_id) is not None
    assert await store.get_task(principal, anonymous.task_id) is None
    assert statements.ran == []  # all decided by `Owner.may_see`, as the SQL predicate would


@pytest.mark.parametrize(
    ("reader", "task_owner", "visible"),
    [
        ("session-a", "session-a", True),
        ("session-a", "session-b", False),
        ("session-a", "capability", True),
        ("capability", "capability", True),
        ("capability", "session-a", False),
        ("principal-a", "principal-a", True),
        ("principal-a", "principal-b", False),
        ("principal-a", "capability", False),
        ("principal-a", "session-a", False),
    ],
)
async def test_the_view_and_the_sql_predicate_agree(
    store: Store, task_factory: TaskFactory, reader: str, task_owner: str, visible: bool
) -> None:
    owners = {
        "session-a": Owner.session("a"),
        "session-b": Owner.session("b"),
        "capability": Owner.capability(),
        "principal-a": Owner.principal("https://issuer.example", "a", "client"),
        "principal-b": Owner.principal("https://issuer.example", "b", "client"),
    }
    task = await task_factory(owner=owners[task_owner], status=TaskStatus.COMPLETED)
    from_view = await store.get_task(owners[reader], task.task_id)
    store.view.clear()
    from_sql = await store.get_task(owners[reader], task.task_id)
    assert (from_view is not None) is visible
    assert (from_sql is not None) is visible


async def test_a_read_during_the_commit_of_a_change_waits_for_it(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner)
    # The worker submits its outcome; a poll arriving before the COMMIT returns sees the outcome.
    import asyncio

    finishing = asyncio.ensure_future(
        store.finish_task(task.task_id, 1, task.lease_node or "", DONE, utcnow())
    )
    await asyncio.sleep(0)  # submitted, not yet committed
    record = await store.get_task(owner, task.task_id)
    assert record is not None and record.status is TaskStatus.COMPLETED
    assert await finishing is not None


async def test_active_tasks_are_read_from_sql_when_another_process_may_have_changed_them(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, statements: Any, engine: str
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner)
    statements.clear()
    await store.get_task(owner, task.task_id)
    if engine == "sqlite":
        # One process writes this file: its view answers for active tasks too.
        assert statements.ran == []
    else:
        # Other replicas may write: an active task is always read.
        assert [name for name, _ in statements.ran] == ["get_task_owned"]
