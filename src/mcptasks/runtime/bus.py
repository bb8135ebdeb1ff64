"""In-process fan-out of task changes: status pushes and `tasks/result` waiters listen here.

A notification on this bus is only a wake-up: listeners re-read the store (with the owner) before
acting on anything. Replicas that do not share a process fall back to polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from mcptasks.core.model import InputRequest, TaskRecord

logger = logging.getLogger("mcptasks.runtime")

StatusListener = Callable[[TaskRecord], None]
ProgressListener = Callable[[TaskRecord, float, float | None, str | None], None]
InputListener = Callable[[TaskRecord, InputRequest], None]


class TaskBus:
    """Publishes task changes to listeners and wakes waiters."""

    def __init__(self) -> None:
        self._status_listeners: list[StatusListener] = []
        self._progress_listeners: list[ProgressListener] = []
        self._input_listeners: list[InputListener] = []
        self._changed: dict[str, asyncio.Event] = {}

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
        event = self._changed.pop(task_id, None)
        if event is not None:
            event.set()

    def publish_input(self, record: TaskRecord, request: InputRequest) -> None:
        """Announce a question a tool asked (2025-11-25 delivers it as a request to the client)."""
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

    def watch(self, task_id: str) -> asyncio.Event:
        """An event set by the next change of `task_id`; take it before reading the store."""
        return self._changed.setdefault(task_id, asyncio.Event())

    @staticmethod
    async def wait(event: asyncio.Event, timeout_s: float) -> None:
        """Return when `event` (from `watch`) is set, or after `timeout_s` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout_s)
