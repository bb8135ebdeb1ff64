"""A task is admitted by the executor before its row is stored: a create racing a stop is either
refused with nothing stored, or stored and answered, never stored and answered with an error."""

from __future__ import annotations

import asyncio

import pytest

from mcptasks.core.errors import ServerStopping, StoreError
from mcptasks.core.model import Completed, Outcome
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.runtime.context import TaskContext
from mcptasks.runtime.executor import Executor
from mcptasks.runtime.manager import TaskManager
from mcptasks.runtime.outcomes import INTERRUPTED_MESSAGE
from mcptasks.store.store import Store

OWNER = Owner.session("admission-tests")


STARTED: list[str] = []


async def runs_until_stopped(context: TaskContext) -> Outcome:
    STARTED.append("started")
    await asyncio.sleep(60)  # ignores its token: the stop cancels it when its grace is over
    return Completed({"content": []})


async def done(context: TaskContext) -> Outcome:
    return Completed({"content": []})


async def create(manager: TaskManager, invoke: object) -> str:
    record = await manager.create(
        OWNER,
        wire="2025-11-25",
        tool_name="tool",
        arguments={},
        requested_ttl_ms=None,
        progress_token=None,
        invoke=invoke,  # type: ignore[arg-type]
    )
    return record.task_id


async def stored(store: Store) -> int:
    return len(await store.admin_list_tasks(limit=1000))


async def test_a_create_after_the_stop_began_is_refused_and_not_stored(
    store: Store, executor: Executor, manager: TaskManager
) -> None:
    await executor.stop()
    with pytest.raises(ServerStopping) as refused:
        await create(manager, done)
    assert refused.value.data == {"retryAfterMs": 5000}
    assert await stored(store) == 0


async def test_a_create_admitted_before_the_stop_is_answered_and_its_task_ends(
    store: Store, executor: Executor, manager: TaskManager
) -> None:
    STARTED.clear()
    creating = asyncio.ensure_future(create(manager, runs_until_stopped))
    await asyncio.sleep(0)  # admitted, its row being stored
    stopping = asyncio.ensure_future(executor.stop())
    task_id = await creating  # answered: a CreateTaskResult, not an error
    await stopping
    found = await store.admin_get_task(task_id)
    assert found is not None
    record = found[0]
    # The stop interrupted it (SQLite started its tool with the row's commit, PostgreSQL after
    # the commit, when the stop had begun: not at all): failed as interrupted (a "fail" tool).
    assert record.status is TaskStatus.FAILED
    assert record.status_message == INTERRUPTED_MESSAGE
    assert (["started"] if store.commits_in_order else []) == STARTED


async def test_a_create_whose_row_cannot_be_stored_is_withdrawn(
    store: Store, executor: Executor, manager: TaskManager
) -> None:
    await store.close()  # every write now fails
    with pytest.raises(StoreError):
        await create(manager, done)
    # The stop does not wait for the withdrawn admission.
    await asyncio.wait_for(executor.stop(), 5)
