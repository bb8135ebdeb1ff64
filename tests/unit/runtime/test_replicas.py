"""Two servers on one database (two stores, two executors): what one does reaches the other.

On PostgreSQL the replicas hear each other through LISTEN/NOTIFY; on SQLite through the writer's
`PRAGMA data_version`, polled every 0.1 s. Races run across the two stores' own connections (two
SQLite writers take turns on the file's lock; two PostgreSQL transactions lock the task row).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.engine import URL

from mcptasks.core.errors import TaskError
from mcptasks.core.model import Completed, ElicitResult, Outcome, TaskRecord
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.runtime.bus import TaskBus
from mcptasks.runtime.context import TaskContext
from mcptasks.runtime.executor import Executor
from mcptasks.runtime.manager import TaskManager
from mcptasks.runtime.options import Leases, Retention
from mcptasks.store.store import Store

SCHEMA = {"type": "object", "properties": {"confirm": {"type": "boolean"}}, "required": ["confirm"]}
ACCEPT = {"action": "accept", "content": {"confirm": True}}
ASKABLE: dict[str, Any] = {"elicitation": {}}
RESULT = {"content": [{"type": "text", "text": "done"}]}
Eventually = Callable[..., Awaitable[float]]
#: How soon a change made through one replica must reach the other, in s (polling fallback: 1 s).
CROSS_REPLICA_S = 0.5
#: Trials of each race between the two replicas.
RACE_TRIALS = 200
#: How long one trial's steps may take on a loaded machine, in s (a deadline, not a sleep).
TRIAL_TIMEOUT_S = 15.0


@pytest.fixture
def leases() -> Leases:
    """Leases long enough that a loaded machine never fences a tool here: these races are about
    answers, cancels and outcomes, not lease expiry (tested in test_fencing.py)."""
    return Leases(
        duration_s=6, heartbeat_s=1, recover_interval_s=0.2, cancel_grace_s=0.3, shutdown_grace_s=0.3
    )


@dataclass
class Replica:
    store: Store
    bus: TaskBus
    executor: Executor
    manager: TaskManager


@pytest.fixture
async def replicas(
    db_url: URL, leases: Leases, retention: Retention
) -> AsyncIterator[tuple[Replica, Replica]]:
    made: list[Replica] = []
    try:
        for node in ("replica-a:1:aaaaaa", "replica-b:2:bbbbbb"):
            store = Store.for_url(db_url)
            await store.open()
            bus = TaskBus()
            executor = Executor(store, bus, node=node, leases=leases, retention=retention)
            await executor.start()
            made.append(Replica(store, bus, executor, TaskManager(store, executor, bus, retention)))
        yield made[0], made[1]
    finally:
        for replica in made:
            await replica.executor.stop()
            await replica.store.close()


async def create(
    replica: Replica, owner: Owner, invoke: Callable[[TaskContext], Awaitable[Outcome]]
) -> TaskRecord:
    return await replica.manager.create(
        owner,
        wire="sep-2663",
        tool_name="tool",
        arguments={},
        requested_ttl_ms=None,
        progress_token=None,
        invoke=invoke,
        client_capabilities=ASKABLE,
    )


async def test_a_cancel_through_one_replica_stops_the_tool_on_the_other(
    replicas: tuple[Replica, Replica], owner_factory: Callable[..., Owner]
) -> None:
    a, b = replicas
    owner = owner_factory()
    started, stopped = asyncio.Event(), asyncio.Event()

    async def until_cancelled(ctx: TaskContext) -> Outcome:
        started.set()
        await ctx.wait_cancelled()
        stopped.set()
        return Completed(RESULT)

    record = await create(a, owner, until_cancelled)
    await asyncio.wait_for(started.wait(), 5)
    begun = time.monotonic()
    cancelled = await b.manager.cancel(owner, record.task_id, reject_terminal=False)
    assert cancelled.status is TaskStatus.CANCELLED
    await asyncio.wait_for(stopped.wait(), 5)
    assert time.monotonic() - begun < CROSS_REPLICA_S
    # The replica that ran the tool reads it cancelled, and cancelled it stays.
    assert (await a.manager.get(owner, record.task_id)).status is TaskStatus.CANCELLED


async def test_a_completion_on_one_replica_wakes_a_waiter_on_the_other(
    replicas: tuple[Replica, Replica], owner_factory: Callable[..., Owner]
) -> None:
    a, b = replicas
    owner = owner_factory()
    release = asyncio.Event()

    async def gated(ctx: TaskContext) -> Outcome:
        await release.wait()
        return Completed(RESULT)

    record = await create(a, owner, gated)
    waiting = asyncio.ensure_future(b.manager.wait_terminal(owner, record.task_id))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    begun = time.monotonic()
    release.set()
    finished, outcome = await asyncio.wait_for(waiting, 5)
    assert time.monotonic() - begun < CROSS_REPLICA_S
    assert finished.status is TaskStatus.COMPLETED and outcome is not None and outcome.result == RESULT


async def test_an_answer_through_one_replica_wakes_the_tool_on_the_other(
    replicas: tuple[Replica, Replica], owner_factory: Callable[..., Owner], eventually: Eventually
) -> None:
    a, b = replicas
    owner = owner_factory()
    answered: list[tuple[float, ElicitResult]] = []

    async def asks(ctx: TaskContext) -> Outcome:
        answer = await ctx.elicit("Proceed?", SCHEMA)
        answered.append((time.monotonic(), answer))
        return Completed(RESULT)

    record = await create(a, owner, asks)

    async def parked() -> bool:
        return (await b.manager.get(owner, record.task_id)).status is TaskStatus.INPUT_REQUIRED

    await eventually(parked)
    begun = time.monotonic()
    outcome = await b.manager.answer(owner, record.task_id, {"input-1": ACCEPT})
    assert outcome.resumed and outcome.answered == {"input-1"}
    finished, _ = await asyncio.wait_for(b.manager.wait_terminal(owner, record.task_id), 5)
    assert finished.status is TaskStatus.COMPLETED
    assert answered and answered[0][0] - begun < CROSS_REPLICA_S
    assert answered[0][1].action == "accept"


async def test_concurrent_answers_on_two_replicas_never_leave_a_task_waiting_for_nothing(
    replicas: tuple[Replica, Replica], owner_factory: Callable[..., Owner], eventually: Eventually
) -> None:
    a, b = replicas
    owner = owner_factory()
    for _ in range(RACE_TRIALS):
        both_asked = asyncio.Event()

        async def asks_twice(ctx: TaskContext, both_asked: asyncio.Event = both_asked) -> Outcome:
            first = asyncio.ensure_future(ctx.elicit("first?", SCHEMA))
            second = asyncio.ensure_future(ctx.elicit("second?", SCHEMA))
            await asyncio.sleep(0)
            both_asked.set()
            await asyncio.gather(first, second)
            return Completed(RESULT)

        record = await create(a, owner, asks_twice)
        await asyncio.wait_for(both_asked.wait(), TRIAL_TIMEOUT_S)

        async def both_parked(task_id: str = record.task_id) -> bool:
            return len(await a.manager.outstanding_inputs(owner, task_id)) == 2

        await eventually(both_parked, timeout_s=TRIAL_TIMEOUT_S)
        # The two last answers arrive at once, one through each replica.
        await asyncio.gather(
            a.manager.answer(owner, record.task_id, {"input-1": ACCEPT}),
            b.manager.answer(owner, record.task_id, {"input-2": ACCEPT}),
        )
        # The database's truth once both answers are committed: never waiting for nothing.
        stored = await b.store.read_task(record.task_id)
        outstanding = await b.manager.outstanding_inputs(owner, record.task_id)
        assert stored is not None
        assert not (stored[0].status is TaskStatus.INPUT_REQUIRED and not outstanding), record.task_id

        # Each replica's own view agrees within the cross-replica delay (b may have served its
        # own answer's state until it hears of a's commit).
        async def agrees(task_id: str = record.task_id) -> bool:
            for replica in (a, b):
                seen = await replica.manager.get(owner, task_id)
                waiting = await replica.manager.outstanding_inputs(owner, task_id)
                if seen.status is TaskStatus.INPUT_REQUIRED and not waiting:
                    return False
            return True

        await eventually(agrees, timeout_s=CROSS_REPLICA_S * 4)
        finished, _ = await asyncio.wait_for(b.manager.wait_terminal(owner, record.task_id), TRIAL_TIMEOUT_S)
        assert finished.status is TaskStatus.COMPLETED


async def test_finish_racing_a_cancel_from_the_other_replica_keeps_exactly_one_outcome(
    replicas: tuple[Replica, Replica], owner_factory: Callable[..., Owner]
) -> None:
    a, b = replicas
    owner = owner_factory()
    outcomes: dict[TaskStatus, int] = {}
    for _ in range(RACE_TRIALS):
        release = asyncio.Event()

        async def gated(ctx: TaskContext, release: asyncio.Event = release) -> Outcome:
            await release.wait()
            return Completed(RESULT)

        record = await create(a, owner, gated)
        release.set()
        cancelled = await b.manager.cancel(owner, record.task_id, reject_terminal=False)
        finished, outcome = await asyncio.wait_for(a.manager.wait_terminal(owner, record.task_id), 5)
        # Whoever won, the task is terminal once and stays as the winner left it.
        assert finished.status in (TaskStatus.COMPLETED, TaskStatus.CANCELLED)
        assert cancelled.status is finished.status
        if finished.status is TaskStatus.COMPLETED:
            assert outcome is not None and outcome.result == RESULT  # a completion is never lost
        outcomes[finished.status] = outcomes.get(finished.status, 0) + 1
    assert sum(outcomes.values()) == RACE_TRIALS


async def test_finish_racing_an_answer_from_the_other_replica_keeps_the_outcome(
    replicas: tuple[Replica, Replica], owner_factory: Callable[..., Owner]
) -> None:
    # The tool stops waiting for its question and finishes while the answer arrives through B.
    a, b = replicas
    owner = owner_factory()
    for _ in range(RACE_TRIALS):
        asked, go = asyncio.Event(), asyncio.Event()

        async def finishes_unanswered(
            ctx: TaskContext, asked: asyncio.Event = asked, go: asyncio.Event = go
        ) -> Outcome:
            question = asyncio.ensure_future(ctx.elicit("first?", SCHEMA))
            await asyncio.sleep(0)
            asked.set()
            await go.wait()
            question.cancel()
            return Completed(RESULT)

        record = await create(a, owner, finishes_unanswered)
        await asyncio.wait_for(asked.wait(), 5)

        async def answer_through_b(task_id: str = record.task_id) -> None:
            with contextlib.suppress(TaskError):  # too late: the task is terminal
                await b.manager.answer(owner, task_id, {"input-1": ACCEPT})

        go.set()
        await answer_through_b()
        finished, outcome = await asyncio.wait_for(a.manager.wait_terminal(owner, record.task_id), 5)
        assert finished.status is TaskStatus.COMPLETED, finished.status_message
        assert outcome is not None and outcome.result == RESULT
        after = await b.manager.get(owner, record.task_id)
        assert after.status is TaskStatus.COMPLETED
