"""A replica cut off from PostgreSQL: it stops its tools before its leases can be taken over, and
an outcome it could not store is failed visibly once the database answers again.

The cut is a real one: replica A reaches the database through a TCP proxy on loopback that the test
pauses or severs (`support.proxy`); replica B connects directly. Leases are short (the `leases`
fixture: 1 s, renewed every 0.2 s, 0.3 s of cancel grace).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.engine import URL

from mcptasks.core.errors import StoreError
from mcptasks.core.model import Completed, Outcome, RecoveryPolicy, TaskRecord
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.runtime.bus import TaskBus
from mcptasks.runtime.context import TaskContext
from mcptasks.runtime.executor import Executor
from mcptasks.runtime.manager import TaskManager
from mcptasks.runtime.options import Leases, Retention
from mcptasks.runtime.outcomes import OUTCOME_LOST_MESSAGE
from mcptasks.runtime.running import Invoke
from mcptasks.store.store import Store
from support.proxy import PausableProxy, pausable_proxy

RESULT = {"content": [{"type": "text", "text": "done"}]}


@pytest.fixture
def engine() -> str:
    """A network cut between a replica and its database: PostgreSQL only."""
    return "postgres"


class Ticks:
    """Tools of one task append (replica, time) while they run: who ran it, when."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, float]] = []

    def tool(self, replica: str) -> Invoke:
        async def tick(ctx: TaskContext) -> Outcome:
            while not ctx.is_cancelled:
                self.seen.append((replica, time.monotonic()))
                await asyncio.sleep(0.02)
            return Completed(RESULT)

        return tick


class Resolver:
    """Every task's tool is "rerun" and ticks as the replica it runs on."""

    def __init__(self, ticks: Ticks, replica: str) -> None:
        self._ticks = ticks
        self._replica = replica

    def recovery_policy(self, tool_name: str) -> RecoveryPolicy | None:
        return "rerun"

    def invoker(self, record: TaskRecord) -> Invoke:
        return self._ticks.tool(self._replica)


async def _replica(
    url: URL, node: str, leases: Leases, retention: Retention, resolver: Any = None
) -> tuple[Store, Executor, TaskManager]:
    store = Store.for_url(url)
    await store.open()
    bus = TaskBus()
    executor = Executor(store, bus, node=node, leases=leases, retention=retention, resolver=resolver)
    await executor.start()
    return store, executor, TaskManager(store, executor, bus, retention)


@pytest.fixture
async def proxy(db_url: URL) -> AsyncIterator[PausableProxy]:
    assert db_url.host is not None and db_url.port is not None
    async with pausable_proxy(db_url.host, db_url.port) as started:
        yield started


async def test_a_replica_cut_off_stops_its_tool_before_another_takes_the_task_over(
    db_url: URL,
    proxy: PausableProxy,
    leases: Leases,
    retention: Retention,
    owner_factory: Callable[..., Owner],
    eventually: Callable[..., Awaitable[float]],
) -> None:
    ticks = Ticks()
    a_store, a_exec, a_manager = await _replica(
        db_url.set(port=proxy.port), "node-a:1:aaaaaa", leases, retention, Resolver(ticks, "a")
    )
    b_store, b_exec, b_manager = await _replica(
        db_url, "node-b:2:bbbbbb", leases, retention, Resolver(ticks, "b")
    )
    try:
        owner = owner_factory()
        record = await a_manager.create(
            owner,
            wire="sep-2663",
            tool_name="tick",
            arguments={},
            requested_ttl_ms=None,
            progress_token=None,
            invoke=ticks.tool("a"),
        )
        await asyncio.sleep(0.5)  # a few heartbeats: A holds the lease
        assert {who for who, _ in ticks.seen} == {"a"}
        proxy.pause()  # A's database connections hang from now on

        async def rerun_on_b() -> bool:
            return any(who == "b" for who, _ in ticks.seen)

        await eventually(rerun_on_b, timeout_s=10)
        last_a = max(at for who, at in ticks.seen if who == "a")
        first_b = min(at for who, at in ticks.seen if who == "b")
        # One runner at a time: A stopped (self-fenced) before B, which took the task over.
        assert last_a < first_b, (last_a, first_b)
        found = await b_manager.get(owner, record.task_id)
        assert found.attempt == 2 and found.lease_node == "node-b:2:bbbbbb"
        await b_manager.cancel(owner, record.task_id, reject_terminal=False)
    finally:
        proxy.resume()
        for executor, store in ((b_exec, b_store), (a_exec, a_store)):
            await executor.stop()
            await store.close()


async def test_an_outcome_that_could_not_be_stored_fails_the_task_visibly(
    db_url: URL,
    proxy: PausableProxy,
    leases: Leases,
    retention: Retention,
    owner_factory: Callable[..., Owner],
    eventually: Callable[..., Awaitable[float]],
) -> None:
    store, executor, manager = await _replica(
        db_url.set(port=proxy.port), "node-a:1:aaaaaa", leases, retention
    )
    try:
        owner = owner_factory()
        release = asyncio.Event()

        async def gated(ctx: TaskContext) -> Outcome:
            await release.wait()
            return Completed(RESULT)

        record = await manager.create(
            owner,
            wire="sep-2663",
            tool_name="gated",
            arguments={},
            requested_ttl_ms=None,
            progress_token=None,
            invoke=gated,
        )
        await proxy.sever()  # the database refuses this replica from now on
        release.set()  # the tool finishes: its outcome cannot be stored
        await asyncio.sleep(leases.duration_s * 1.5)  # retried while the lease lasted, then given up
        await proxy.restore()

        async def ended() -> bool:
            try:
                return (await manager.get(owner, record.task_id)).is_terminal
            except StoreError:
                return False  # the pool is still connecting again

        await eventually(ended, timeout_s=10)
        final = await manager.get(owner, record.task_id)
        assert final.status is TaskStatus.FAILED
        assert final.status_message == OUTCOME_LOST_MESSAGE
    finally:
        await executor.stop()
        await store.close()
