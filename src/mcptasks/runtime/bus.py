"""In-process fan-out of task changes: status pushes and the waiters of a task listen here.

A notification on this bus is only a wake-up: listeners re-read the store (with the owner) before
acting on anything. Changes made by another process (a replica on PostgreSQL, another server on
the same SQLite file) are published here by the executor, for the tasks this process has an
interest in (`is_watched`): the others cost nothing.

Waiting is scoped: `with bus.watching(task_id) as changed:` registers a waiter before the
caller reads the store (so a change committed during the read still wakes it) and removes it on
exit, so the bus holds state only for tasks someone is waiting on right now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

from mcptasks.core.model import InputRequest, TaskRecord

logger = logging.getLogger("mcptasks.runtime")

StatusListener = Callable[[TaskRecord], None]
ProgressListener = Callable[[TaskRecord, float, float | None, str | None], None]
InputListener = Callable[[TaskRecord, InputRequest], None]


class Changed:
    """A wake-up for one waiter of one task: `wait(timeout_s)` returns at the next change."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        """Mark a change (the waiter's next `wait` returns at once)."""
        self._event.set()

    @property
    def is_set(self) -> bool:
        """Whether a change arrived since the last `wait` returned."""
        return self._event.is_set()

    async def wait(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` seconds for a change; True if one arrived. Re-arms itself."""
        if not self._event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout_s)
        arrived = self._event.is_set()
        self._event.clear()
        return arrived


class TaskBus:
    """Publishes task changes to listeners and wakes waiters."""

    def __init__(self) -> None:
        self._status_listeners: list[StatusListener] = []
        self._progress_listeners: list[ProgressListener] = []
        self._input_listeners: list[InputListener] = []
        self._waiters: dict[str, set[Changed]] = {}
        self._interests: list[Callable[[str], bool]] = []

    def add_interest(self, interested: Callable[[str], bool]) -> None:
        """Register `interested(task_id)`: whether a listener keeps state about that task (a
        notification channel, a poll's pacing), so changes made elsewhere must be published."""
        self._interests.append(interested)

    def is_watched(self, task_id: str) -> bool:
        """Whether anyone here waits on `task_id` or keeps state about it."""
        return task_id in self._waiters or any(interested(task_id) for interested in self._interests)

    def on_status(self, listener: StatusListener) -> None:
        """Call `listener(record)` after every committed status or status-message change."""
        self._status_listeners.append(listener)

    def on_progress(self, listener: ProgressListener) -> None:
        """Call `listener(record, progress, total, message)` when a tool reports progress."""
        self._progress_listeners.append(listener)

    def on_input(self, listener: InputListener) -> None:
        """Call `listener(record, request)` when a tool stores a question for its client."""
        self._input_listeners.append(listener)

    def publish(self, record: TaskRecord) -> None:
        """Announce that `record` was committed."""
        self.wake(record.task_id)
        for listener in self._status_listeners:
            try:
                listener(record)
            except Exception:
                logger.exception("status listener failed", extra={"action": "publish_status"})

    def wake(self, task_id: str) -> None:
        """Wake whoever waits on `task_id` (a status change, or answers stored for it)."""
        for changed in self._waiters.get(task_id, ()):
            changed.set()

    def wake_all(self) -> None:
        """Wake every waiter (another process changed the database: each re-reads its task)."""
        for waiters in self._waiters.values():
            for changed in waiters:
                changed.set()

    def publish_input(self, record: TaskRecord, request: InputRequest) -> None:
        """Announce a question a tool asked (2025-11-25 delivers it as a request to the client)."""
        self.wake(record.task_id)
        for listener in self._input_listeners:
            try:
                listener(record, request)
            except Exception:
                logger.exception("input listener failed", extra={"action": "publish_input"})

    def publish_progress(
        self, record: TaskRecord, progress: float, total: float | None, message: str | None
    ) -> None:
        """Announce progress of a running task."""
        for listener in self._progress_listeners:
            try:
                listener(record, progress, total, message)
            except Exception:
                logger.exception("progress listener failed", extra={"action": "publish_progress"})

    @contextlib.contextmanager
    def watching(self, task_id: str) -> Iterator[Changed]:
        """Be woken by changes of `task_id` for the duration of the block (enter before reading)."""
        changed = Changed()
        waiters = self._waiters.setdefault(task_id, set())
        waiters.add(changed)
        try:
            yield changed
        finally:
            waiters.discard(changed)
            if not waiters and self._waiters.get(task_id) is waiters:
                del self._waiters[task_id]

    @property
    def watched(self) -> int:
        """How many tasks have a waiter now (the bus's only per-task state)."""
        return len(self._waiters)

    @property
    def waiting(self) -> int:
        """How many waiters there are now, over all tasks."""
        return sum(len(waiters) for waiters in self._waiters.values())
