"""The executor: runs tools as background asyncio tasks under leases.

Shaped like procrastinate's worker: one `start()`/`stop()`, named side tasks (`heartbeat`,
`recover_leases`, `sweep_ttl`), and `_running` mapping each task id to its asyncio task and context.

- A worker holds a lease `(node, attempt, expiry)` on its task, renewed every heartbeat. Every write
  it makes is fenced on that lease and on the task being active (`Store.finish_task`), so a cancel
  racing a completion, or a zombie worker after a restart, cannot overwrite the outcome.
- A lease that is not renewed means the task was cancelled or taken over: the worker's token fires.
- Leases that ran out (the process died) are recovered: the task is failed as interrupted.
- Cancellation fires the tool's token first and cancels it hard after `Leases.cancel_grace_s`.
- At stop, tools get `Leases.shutdown_grace_s` to finish; the rest are cancelled and failed with a
  `statusMessage` saying a server stop interrupted them.
- The ttl sweeper fails active tasks whose ttl ran out (visibly), then deletes expired terminal tasks
  in bounded batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from mcptasks.core.errors import StoreError, TaskCancelled
from mcptasks.core.model import ErrorInfo, Failed, Outcome, TaskRecord, utcnow
from mcptasks.core.status import TaskStatus
from mcptasks.runtime.bus import TaskBus
from mcptasks.runtime.context import TaskContext
from mcptasks.runtime.options import Leases, Retention
from mcptasks.store.store import Store

logger = logging.getLogger("mcptasks.runtime")

Invoke = Callable[[TaskContext], Awaitable[Outcome]]

#: statusMessage of a task whose tool crashed (the detail is in the server log only).
CRASH_MESSAGE = "Tool execution failed"
#: statusMessage of a task interrupted by a server stop or by a worker that died.
INTERRUPTED_MESSAGE = "Task interrupted: the server stopped while it was running"


def new_node_id() -> str:
    """This process's node id: `host:pid:random`, unique across restarts and replicas."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(eq=False)
class _Running:
    record: TaskRecord
    context: TaskContext = field(init=False)
    task: asyncio.Task[None] | None = None
    #: Why the runner cancelled the asyncio task hard: "cancelled" or "stopping".
    hard_reason: str | None = None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)


class _TaskSink:
    """Progress and status messages of a task running here."""

    def __init__(self, executor: Executor, running: _Running) -> None:
        self._executor = executor
        self._running = running

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        self._executor.bus.publish_progress(self._running.record, progress, total, message)

    async def status_message(self, message: str | None) -> None:
        record = self._running.record
        updated = await self._executor.store.set_status_message(
            record.task_id, record.attempt, self._executor.node, message, utcnow()
        )
        if updated is not None:
            self._running.record = updated
            self._executor.bus.publish(updated)


class Executor:
    """Runs tools for tasks created on this node, and keeps leases, recovery and ttl in order."""

    def __init__(
        self,
        store: Store,
        bus: TaskBus,
        *,
        node: str | None = None,
        leases: Leases | None = None,
        retention: Retention | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.node = node or new_node_id()
        self.leases = leases or Leases()
        self.retention = retention or Retention()
        self._running: dict[str, _Running] = {}
        self._side_tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover what a previous process left behind, then start the side tasks."""
        await self._recover_once()
        for name, loop in (
            ("heartbeat", self._heartbeat_loop),
            ("recover_leases", self._recover_loop),
            ("sweep_ttl", self._sweep_loop),
        ):
            self._side_tasks.append(asyncio.create_task(loop(), name=f"mcptasks.{name}"))

    async def stop(self) -> None:
        """Stop claiming, give running tools the shutdown grace, then cancel and fail the rest.

        Idempotent: a second call waits for nothing new.
        """
        self._stopping = True
        for side in self._side_tasks:
            side.cancel()
        for side in self._side_tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await side
        self._side_tasks.clear()
        pending = [r.task for r in self._running.values() if r.task is not None]
        for running in self._running.values():
            # The token first, so a cooperative tool can end cleanly within the grace period.
            running.hard_reason = "stopping"
            running.context._cancel()
        if pending:
            _, still = await asyncio.wait(pending, timeout=self.leases.shutdown_grace_s)
            for running in list(self._running.values()):
                if running.task in still:
                    running.task.cancel()
            if still:
                await asyncio.wait(still)

    @property
    def stopping(self) -> bool:
        """Whether `stop()` was called: no new task may start."""
        return self._stopping

    @property
    def running_task_ids(self) -> frozenset[str]:
        """Ids of the tasks whose tools run in this process now."""
        return frozenset(self._running)

    # -- running tools ---------------------------------------------------------------------------

    def lease_until(self) -> timedelta:
        """The lease length as a timedelta."""
        return timedelta(seconds=self.leases.duration_s)

    def run(self, record: TaskRecord, invoke: Invoke) -> None:
        """Start `invoke` for `record`, a task already committed with this node's lease.

        Raises: RuntimeError when the executor is stopping.
        """
        if self._stopping:
            raise RuntimeError("the executor is stopping")
        running = _Running(record=record)
        running.context = TaskContext(record.task_id, _TaskSink(self, running), attempt=record.attempt)
        self._running[record.task_id] = running
        running.task = asyncio.create_task(
            self._run_one(running, invoke), name=f"mcptasks.task.{record.task_id}"
        )

    def cancel_local(self, task_id: str) -> None:
        """Fire the token of a tool running here, and cancel it hard after the grace period."""
        running = self._running.get(task_id)
        if running is None or running.context.is_cancelled:
            return
        running.context._cancel()
        loop = asyncio.get_running_loop()
        running.timers.append(loop.call_later(self.leases.cancel_grace_s, self._hard_cancel, running))

    def _hard_cancel(self, running: _Running) -> None:
        if running.task is not None and not running.task.done():
            logger.info(
                "tool ignored cancellation for %.1fs; cancelling it",
                self.leases.cancel_grace_s,
                extra={"action": "hard_cancel", "task_id": running.record.task_id},
            )
            running.hard_reason = running.hard_reason or "cancelled"
            running.task.cancel()

    async def _run_one(self, running: _Running, invoke: Invoke) -> None:
        record = running.record
        try:
            outcome: Outcome | None
            try:
                outcome = await invoke(running.context)
            except TaskCancelled:
                outcome = None if running.context.is_cancelled else _crash()
            except asyncio.CancelledError:
                if running.hard_reason != "stopping":
                    return
                outcome = Failed(ErrorInfo(-32603, INTERRUPTED_MESSAGE), INTERRUPTED_MESSAGE)
            except Exception:
                logger.exception(
                    "tool %r raised",
                    record.tool_name,
                    extra={"action": "tool_crash", "task_id": record.task_id},
                )
                outcome = _crash()
            if outcome is None:
                if running.hard_reason == "stopping" or (self._stopping and running.context.is_cancelled):
                    outcome = Failed(ErrorInfo(-32603, INTERRUPTED_MESSAGE), INTERRUPTED_MESSAGE)
                else:
                    return  # cancelled by the client: the store already says so
            # Shielded: a commit must not be interrupted half-way by our own cancellation.
            finished = await asyncio.shield(
                self.store.finish_task(record.task_id, record.attempt, self.node, outcome, utcnow())
            )
            if finished is not None:
                self.bus.publish(finished)
        except StoreError:
            logger.exception(
                "could not store the outcome", extra={"action": "finish", "task_id": record.task_id}
            )
        finally:
            for timer in running.timers:
                timer.cancel()
            self._running.pop(record.task_id, None)

    # -- side tasks ------------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.leases.heartbeat_s)
            try:
                await self.heartbeat()
            except Exception:
                logger.exception("heartbeat failed", extra={"action": "heartbeat"})

    async def heartbeat(self) -> None:
        """Renew this node's leases; fire the token of every task whose lease was not renewed."""
        held = [(r.record.task_id, r.record.attempt) for r in self._running.values()]
        if not held:
            return
        renewed = await self.store.renew_leases(self.node, held, utcnow() + self.lease_until())
        for task_id, _ in held:
            if task_id not in renewed:
                self.cancel_local(task_id)

    async def _recover_loop(self) -> None:
        while True:
            await asyncio.sleep(self.leases.recover_interval_s)
            try:
                await self._recover_once()
            except Exception:
                logger.exception("lease recovery failed", extra={"action": "recover_leases"})

    async def _recover_once(self) -> None:
        """Fail active tasks whose lease ran out (their worker is gone)."""
        now = utcnow()
        for record in await self.store.expired_leases(now, 100):
            if record.task_id in self._running:
                continue
            failed = await self.store.fail_unleased(record, INTERRUPTED_MESSAGE, now)
            if failed is not None:
                logger.info(
                    "failed task interrupted by a stop",
                    extra={"action": "recover", "task_id": record.task_id},
                )
                self.bus.publish(failed)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.retention.sweep_interval_s)
            try:
                await self.sweep()
            except Exception:
                logger.exception("ttl sweep failed", extra={"action": "sweep_ttl"})

    async def sweep(self) -> int:
        """Fail active tasks past their ttl, then delete expired terminal tasks; returns deletions."""
        now = utcnow()
        keep = timedelta(seconds=self.retention.expired_keep_s)
        for record in await self.store.fail_expired(now, keep, self.retention.sweep_batch):
            self.bus.publish(record)
            self.cancel_local(record.task_id)
        deleted = 0
        while True:
            count = await self.store.delete_expired(now, self.retention.sweep_batch)
            deleted += count
            if count < self.retention.sweep_batch:
                return deleted


def _crash() -> Failed:
    return Failed(ErrorInfo(-32603, CRASH_MESSAGE), CRASH_MESSAGE)


__all__ = ["CRASH_MESSAGE", "INTERRUPTED_MESSAGE", "Executor", "Invoke", "TaskStatus", "new_node_id"]
