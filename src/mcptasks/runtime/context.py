"""`TaskContext`: what a tool receives when it annotates a parameter with `TaskContext`.

The same class serves a tool running as a durable task (progress and status go to the store and to
the client's channel) and a tool called inline without a task (progress goes to the request's own
channel). A tool never learns which wire the client speaks.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from mcptasks.core.errors import TaskCancelled
from mcptasks.core.model import ELICITATION, SAMPLING, ElicitResult, InputMethod


class TaskSink(Protocol):
    """Where a `TaskContext` sends progress, status messages and questions (supplied by the runner)."""

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        """Deliver one progress report."""
        ...

    async def status_message(self, message: str | None) -> None:
        """Store and announce a new status message."""
        ...

    async def ask(self, key: str, method: InputMethod, params: dict[str, Any]) -> dict[str, Any]:
        """Ask the client `method(params)` under `key` and return its result JSON once answered."""
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

    def __init__(self, task_id: str | None, sink: TaskSink, *, attempt: int = 0) -> None:
        self._task_id = task_id
        self._sink = sink
        self._attempt = attempt
        self._cancelled = asyncio.Event()
        self._asked = 0
        #: Contexts of tools that went on as this task (`_continue_as`): cancelled with it.
        self._followers: list[TaskContext] = []

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

    async def elicit(self, message: str, requested_schema: dict[str, Any]) -> ElicitResult:
        """Ask the user a question (a form) and wait, durably, for the answer.

        `requested_schema` is the form's JSON Schema (an object of primitive properties). The
        request is stored (key `input-N`, N counting this task's questions in the order asked) and
        the task turns `input_required` until the answer arrives — on 2025-11-25 as the response to
        an `elicitation/create` request tied to the task, on SEP-2663 through `tasks/update`. Several
        questions may be outstanding at once (`asyncio.gather`). When the tool runs again after a
        restart, a question answered before returns its stored answer at once, unasked.
        Returns the client's `ElicitResult` (`action` accept/decline/cancel, `content`).
        Raises: InputUnavailable when the client did not declare the elicitation capability;
        TaskCancelled when the task is cancelled while waiting.
        Spec: 2025-11-25 tasks "Input Required Status"; SEP-2663 `inputRequests` / `tasks/update`.
        """
        params: dict[str, Any] = {"mode": "form", "message": message, "requestedSchema": requested_schema}
        return ElicitResult.from_json(await self._ask(ELICITATION, params))

    async def create_message(
        self, messages: list[dict[str, Any]], max_tokens: int, **options: Any
    ) -> dict[str, Any]:
        """Ask the client's model for a completion (sampling) and wait, durably, for the result.

        `messages` are `SamplingMessage` JSON objects (`{"role", "content"}`); `options` are further
        `CreateMessageRequest` params in wire spelling (`systemPrompt`, `temperature`, ...).
        Returns the client's `CreateMessageResult` JSON. Stored and answered like `elicit`.
        Raises: InputUnavailable (no sampling capability), TaskCancelled.
        """
        params: dict[str, Any] = {"messages": messages, "maxTokens": max_tokens, **options}
        return await self._ask(SAMPLING, params)

    async def _ask(self, method: InputMethod, params: dict[str, Any]) -> dict[str, Any]:
        self.check_cancelled()
        # Assigned before the first await, so concurrent questions get keys in the order asked.
        self._asked += 1
        return await self._sink.ask(f"input-{self._asked}", method, params)

    def _cancel(self) -> None:
        """Fire the cancellation token (runner use only)."""
        self._cancelled.set()
        for follower in self._followers:
            follower._cancel()

    def _continue_as(self, task: TaskContext) -> TaskSink:
        """Runner use only: the tool holding this context, started without a task, goes on as
        `task` (the executor's context of the task it became; `inline_grace_ms`).

        From now on `task_id` and `attempt` are the task's, progress, status messages and questions
        go to the task's sink (returned, for a question already on its way), and cancelling the
        task cancels this context. Question keys keep counting from the questions asked before.
        """
        self._task_id = task._task_id
        self._attempt = task._attempt
        self._sink = task._sink
        task._followers.append(self)
        if task.is_cancelled:
            self._cancel()
        return task._sink
