"""`TaskHandle`: one task, the same API on both wires."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

from mcp_types import CallToolResult

from mcptasks.client._config import Wire
from mcptasks.client._driver import Driver
from mcptasks.client._models import Answer, QuestionRequest, StatusUpdate, TaskSnapshot, TaskUpdate

__all__ = ["TaskHandle"]


class TaskHandle:
    """One task on the server: its status, its questions, its result; cancel it.

    Made by `TaskClient.call_tool_as_task()` (a new task) or `TaskClient.task(task_id)` (a task
    made earlier, maybe by another process: resume it by id). A handle holds no connection of its
    own; it is usable while its client is open. When the server answered a `tools/call` at once
    instead of creating a task (allowed on 2026-07-28), the handle is already terminal: `task_id`
    is None, `result()` returns the result and `cancel()` changes nothing.

    Durations are in ms. Every method raises `TaskNotFoundError` when the server knows no such task
    (unknown, expired, or another owner's), `TransportError` when the connection fails, and
    `RequestError` for any other JSON-RPC error.
    """

    def __init__(
        self,
        driver: Driver,
        task_id: str | None,
        *,
        snapshot: TaskSnapshot | None = None,
        immediate: CallToolResult | None = None,
    ) -> None:
        self._driver = driver
        self._task_id = task_id
        self._last = snapshot
        self._immediate = immediate

    @property
    def task_id(self) -> str | None:
        """The task's id (keep it to resume the task later); None for a result given at once."""
        return self._task_id

    @property
    def wire(self) -> Wire:
        """The task wire the handle speaks: `"2025-11-25"` or `"2026-07-28"`."""
        return self._driver.wire

    @property
    def last_snapshot(self) -> TaskSnapshot | None:
        """The task as last seen by this handle (no request); None before anything was read."""
        return self._last

    async def status(self) -> TaskSnapshot:
        """The task as the server describes it now (`tasks/get`)."""
        if self._task_id is None:
            assert self._last is not None
            return self._last
        self._last = await self._driver.get(self._task_id)
        return self._last

    async def wait(self, *, poll_ms: int | None = None) -> TaskSnapshot:
        """Wait until the task is terminal; return it as it ended.

        Polls every `poll_ms` ms (default: the server's `pollInterval`/`pollIntervalMs`, else
        1000 ms); on 2025-11-25 it also follows the status notifications the server pushes. The
        client's handlers answer the task's questions meanwhile; a question no handler answers
        waits for `answer()` (from another coroutine or process), so `wait()` keeps waiting. Bound
        the wait with `anyio.fail_after()` / `asyncio.timeout()`.
        """
        async with aclosing(self.updates(poll_ms=poll_ms)) as updates:
            async for update in updates:
                if isinstance(update, StatusUpdate):
                    self._last = update.task
        assert self._last is not None and self._last.is_terminal
        return self._last

    async def result(self, *, poll_ms: int | None = None) -> CallToolResult:
        """Wait until the task is terminal (as `wait()` does); return the tool's `CallToolResult`.

        A tool that reported an error (`isError: true`) still returns its result here.
        Raises: TaskFailedError (the task failed: its JSON-RPC error's `code`, `message`, `data`);
        TaskCancelledError (the task was cancelled).
        Spec: 2025-11-25 `tasks/result`; SEP-2663 `tasks/get` (`result` / `error` inlined).
        """
        if self._immediate is not None:
            return self._immediate
        final = await self.wait(poll_ms=poll_ms)
        return await self._driver.outcome(final)

    async def cancel(self) -> TaskSnapshot:
        """Ask the server to cancel the task; return the task as it stands afterwards.

        On 2025-11-25 the answer is the task, already `cancelled`; on 2026-07-28 the server only
        acknowledges, and the task turns `cancelled` eventually (or ends otherwise, when it
        finished first). Cancelling a terminal task changes nothing and returns it.
        """
        if self._task_id is None:
            assert self._last is not None
            return self._last
        self._last = await self._driver.cancel(self._task_id)
        return self._last

    async def input_requests(self) -> dict[str, QuestionRequest]:
        """The task's questions waiting for an answer from this client, by key.

        2026-07-28: the `inputRequests` of a fresh `tasks/get`, less those this client answered.
        2025-11-25: the questions the server sent this client that no handler answered.
        Each is an `ElicitRequest` or a `CreateMessageRequest`; answer with `answer()`.
        """
        if self._task_id is None:
            return {}
        return await self._driver.input_requests(self._task_id)

    async def answer(self, answers: Mapping[str, Answer | Mapping[str, Any]]) -> None:
        """Answer some or all of the task's questions: `{key: ElicitResult | CreateMessageResult}`.

        A mapping is accepted for an answer too (wire spelling, e.g. `{"action": "accept",
        "content": {...}}`). Keys that are not waiting are ignored. 2026-07-28 sends
        `tasks/update`; 2025-11-25 sends each answer as the response to its question.
        Raises: pydantic.ValidationError when an answer does not fit its question.
        """
        if self._task_id is None or not answers:
            return
        await self._driver.answer(self._task_id, answers)

    async def updates(self, *, poll_ms: int | None = None) -> AsyncGenerator[TaskUpdate, None]:
        """What happens to the task, until it is terminal: `async for update in handle.updates()`.

        Yields `StatusUpdate` (a new status or status message; the first one is the current
        state, the last one terminal), `ProgressUpdate` (2025-11-25) and `QuestionUpdate` (a
        question, with the handler's answer, or None: then answer it with `answer()`).
        They come in the order they happened: a status after the progress and questions pushed
        before it was read, the terminal status after everything the server sent about the task
        (on 2025-11-25 the client waits up to 2 s for the server's last pushes when a poll learns
        of the end first). `poll_ms` as for `wait()`.
        """
        if self._task_id is None:
            assert self._last is not None
            yield StatusUpdate(self._last)
            return
        async with aclosing(self._driver.updates(self._task_id, poll_ms)) as updates:
            async for update in updates:
                if isinstance(update, StatusUpdate):
                    self._last = update.task
                yield update

    def __aiter__(self) -> AsyncIterator[TaskUpdate]:
        """`async for update in handle`: `updates()` at the server's polling interval."""
        return self.updates()

    def __repr__(self) -> str:
        status = self._last.status.value if self._last is not None else "unknown"
        return f"<TaskHandle {self._task_id!r} {status} on {self.wire}>"
