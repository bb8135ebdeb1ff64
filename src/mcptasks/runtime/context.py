"""`TaskContext`: what a tool receives when it annotates a parameter with `TaskContext`.

The same class serves a tool running as a durable task (progress and status go to the store and to
the client's channel) and a tool called inline without a task (progress goes to the request's own
channel). A tool never learns which wire the client speaks.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from mcptasks.core.errors import TaskCancelled


class ProgressSink(Protocol):
    """Where `TaskContext.report_progress` and `set_status_message` go (supplied by the runner)."""

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        """Deliver one progress report."""
        ...

    async def status_message(self, message: str | None) -> None:
        """Store and announce a new status message."""
        ...


class TaskContext:
    """The task a tool runs as, handed to the tool through a parameter annotated `TaskContext`.

    ```python
    @server.tool(task_support="optional")
    async def count_to(n: int, delay_ms: int, task: TaskContext) -> str:
        for i in range(1, n + 1):
            task.check_cancelled()
            await task.report_progress(i, total=n, message=f"step {i}")
            await asyncio.sleep(delay_ms / 1000)
        return f"counted to {n}"
    ```

    Cancellation is cooperative first: `tasks/cancel` sets the token (`is_cancelled`,
    `check_cancelled()`, `await wait_cancelled()`); a tool that ignores it is cancelled hard
    (`asyncio.CancelledError` at its next `await`) after the cancel grace period.
    """

    def __init__(self, task_id: str | None, sink: ProgressSink, *, attempt: int = 0) -> None:
        self._task_id = task_id
        self._sink = sink
        self._attempt = attempt
        self._cancelled = asyncio.Event()

    @property
    def task_id(self) -> str | None:
        """The task's id; None when the tool was called inline, without a task."""
        return self._task_id

    @property
    def attempt(self) -> int:
        """How many times a worker started this task's tool (1 on the first run, 0 inline)."""
        return self._attempt

    @property
    def is_cancelled(self) -> bool:
        """Whether the task was cancelled (or the server is stopping and needs the tool to end)."""
        return self._cancelled.is_set()

    def check_cancelled(self) -> None:
        """Raise `TaskCancelled` if the task was cancelled; otherwise return at once.

        Raises: TaskCancelled.
        """
        if self._cancelled.is_set():
            raise TaskCancelled()

    async def wait_cancelled(self) -> None:
        """Wait until the task is cancelled (race it against work with `asyncio.wait`)."""
        await self._cancelled.wait()

    async def report_progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Report progress: `progress` of `total` units so far (both floats), with an optional message.

        Sent as `notifications/progress` with the original `progressToken` while the client has a
        channel (2025-11-25); dropped silently otherwise. Never raises for delivery problems.
        Spec: 2025-11-25 tasks "Task Progress Notifications".
        """
        await self._sink.progress(progress, total, message)

    async def set_status_message(self, text: str | None) -> None:
        """Set the task's `statusMessage` (stored; pushed in `notifications/tasks/status`).

        A no-op when the tool runs inline without a task (there is no status to show).
        """
        await self._sink.status_message(text)

    def _cancel(self) -> None:
        """Fire the cancellation token (runner use only)."""
        self._cancelled.set()
