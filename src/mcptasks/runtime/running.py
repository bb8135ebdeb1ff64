"""A tool running here for a task: its state (`RunningTool`), its admission before the task is
stored (`Admission`), and what it may tell or ask through its `TaskContext` (`TaskSink`).

A question (`TaskContext.elicit`) is stored before anyone is shown it and parks the task in
`input_required`; the tool then waits for the stored answer, woken in-process (`TaskBus`) or by
re-reading the store every `INPUT_POLL_S` (an answer through another replica).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mcptasks.core.errors import InputUnavailable, TaskCancelled
from mcptasks.core.model import ELICITATION, InputMethod, Outcome, TaskRecord
from mcptasks.observe import metrics, tracing
from mcptasks.runtime.bus import TaskBus
from mcptasks.runtime.context import TaskContext
from mcptasks.store.store import Store

Invoke = Callable[[TaskContext], Awaitable[Outcome]]

#: How often a worker waiting for an answer re-reads the store (answers from other replicas), in s.
INPUT_POLL_S = 1.0


@dataclass(eq=False)
class RunningTool:
    """One task's tool running in this process (`Executor.run`)."""

    record: TaskRecord
    context: TaskContext = field(init=False)
    #: The runner: the tool, then the storing of its outcome.
    task: asyncio.Task[None] | None = None
    #: Why the runner cancelled the tool hard: "cancelled", "stopping", "fenced" or "abandoned"
    #: (its row could not be stored).
    hard_reason: str | None = None
    #: How many questions the tool is waiting on right now.
    waiting_input: int = 0
    #: Set at stop for a tool that was waiting for input: its task stays parked for the next start.
    keep_on_stop: bool = False
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    #: Event-loop time until which this node surely holds the task's lease (self-fencing), in s.
    lease_valid_until: float = 0.0
    #: The tool itself, apart from `task` (which also stores the outcome): a hard cancel stops
    #: this one only, so the outcome's retries are never cut.
    tool: asyncio.Future[Outcome] | None = None


class Admission:
    """A task admitted by `Executor.admit()`: run it with `Executor.run(..., admission)` once
    stored, or `withdraw()` it when it could not be stored. Either may be called once."""

    __slots__ = ("_open", "_settle")

    def __init__(self, settle: Callable[[], None]) -> None:
        self._settle = settle
        self._open = True

    def close(self) -> bool:
        """Settle the admission; returns whether it was still open."""
        if not self._open:
            return False
        self._open = False
        self._settle()
        return True

    def withdraw(self) -> None:
        """The task was not stored: nothing will run (idempotent)."""
        self.close()


class TaskSink:
    """Progress, status messages and questions of one task running here (its `TaskContext`'s)."""

    def __init__(
        self, store: Store, bus: TaskBus, node: str, db_now: Callable[[], datetime], running: RunningTool
    ) -> None:
        self._store = store
        self._bus = bus
        self._node = node
        self._db_now = db_now
        self._running = running

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        """Publish a progress notification (not stored)."""
        self._bus.publish_progress(self._running.record, progress, total, message)

    async def status_message(self, message: str | None) -> None:
        """Store the task's statusMessage (fenced on this worker's lease) and publish it."""
        record = self._running.record
        updated = await self._store.set_status_message(
            record.task_id, record.attempt, self._node, message, self._db_now()
        )
        if updated is not None:
            self._running.record = updated
            self._bus.publish(updated)

    async def ask(self, key: str, method: InputMethod, params: dict[str, Any]) -> dict[str, Any]:
        """Store the question `key` (unless stored already), then wait for its answer.

        Returns the answer's result object. Raises: InputUnavailable when the task's client did
        not declare the capability `method` needs; TaskCancelled when the task was cancelled,
        finished, taken over or deleted meanwhile.
        Spec: 2025-11-25 tasks "Input Required Status"; SEP-2663 "Input Requests".
        """
        running = self._running
        record = running.record
        require_capability(record.client_capabilities or {}, method)
        stored = await self._store.request_input(
            record.task_id, record.attempt, self._node, key, method, params, self._db_now()
        )
        if stored is None:
            raise TaskCancelled()  # cancelled, finished or taken over meanwhile
        current, request = stored
        if request.response is not None:
            return request.response  # answered before (this is a re-run): not asked again
        if request.method != method:
            raise RuntimeError(f"question {key} was {request.method} before and is {method} now")
        if current.status is not record.status:
            self._bus.publish(current)
        running.record = current
        self._bus.publish_input(current, request)
        running.waiting_input += 1
        metrics.question_asked()
        input_span = tracing.start_input(method, key)
        asked_at = asyncio.get_running_loop().time()
        waited_s: float | None = None
        try:
            with self._bus.watching(record.task_id) as changed:
                while True:
                    latest = await self._store.get_input_request(record.task_id, key)
                    if latest is None:
                        raise TaskCancelled()  # the task was deleted
                    if latest.response is not None:
                        waited_s = asyncio.get_running_loop().time() - asked_at
                        return latest.response
                    running.context.check_cancelled()
                    cancelled = asyncio.ensure_future(running.context.wait_cancelled())
                    woken = asyncio.ensure_future(changed.wait(INPUT_POLL_S))
                    try:
                        await asyncio.wait({cancelled, woken}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        cancelled.cancel()
                        woken.cancel()
        finally:
            running.waiting_input -= 1
            metrics.question_settled(method, waited_s)
            input_span.end()


def capability_of(method: InputMethod) -> str:
    """The client capability a question needs: "elicitation" or "sampling"."""
    return "elicitation" if method == ELICITATION else "sampling"


def require_capability(declared: Mapping[str, Any], method: InputMethod) -> None:
    """Raise InputUnavailable (-32021, naming the capability) unless the client capabilities
    `declared` (a task's stored ones, or a request's) have what `method` needs."""
    capability = capability_of(method)
    if capability not in declared:
        raise InputUnavailable(
            capability,
            f"The tool asked the client a question ({method}), but the client did not declare "
            f"the {capability} capability",
        )


__all__ = [
    "INPUT_POLL_S",
    "Admission",
    "Invoke",
    "RunningTool",
    "TaskSink",
    "capability_of",
    "require_capability",
]
