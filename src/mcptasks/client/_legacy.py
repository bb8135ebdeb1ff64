"""MCP 2025-11-25 in-core tasks, driven through the SDK's `ClientSession`.

- create: `tools/call` with `params.task` (`{ttl}` in ms when asked) and a progress token of its
  own in `_meta`; the answer is `{task}`, or a plain `CallToolResult` from a server that ran the
  tool at once (it may ignore `params.task`).
- `get`, `cancel` and `list_tasks`: `tasks/get`, `tasks/cancel`, `tasks/list`.
- `outcome`: `tasks/result` of the terminal task: its `CallToolResult`, or its JSON-RPC error
  raised as `TaskFailedError`.
- `updates`: polls `tasks/get` at the server's `pollInterval`, merged with what the server pushes
  (`_events.LegacyEvents`: status notifications, progress, questions), in the order it happened:
  the terminal status comes last, after every progress report and question sent before it.
  While it runs, a `tasks/result` request is kept open for the task, as the spec asks of a
  requestor, so that a server may deliver the task's questions on its response stream; it also
  ends the wait at once when the task finishes.

Spec: MCP 2025-11-25 `basic/utilities/tasks` (protocol reference part A1).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any, TypeGuard

import anyio
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, PaginatedRequestParams
from pydantic import ValidationError

from mcptasks.client._config import LEGACY_WIRE, Wire
from mcptasks.client._driver import (
    Created,
    immediate_snapshot,
    poll_interval_s,
    raise_if_cancelled,
    status_changed,
)
from mcptasks.client._errors import (
    ProtocolError,
    TaskNotFoundError,
    UnsupportedOnWire,
    failed_outcome,
    is_transport_failure,
    map_errors,
    request_error,
)
from mcptasks.client._events import Event, LegacyEvents, Wake
from mcptasks.client._models import (
    Answer,
    ProgressUpdate,
    QuestionRequest,
    QuestionUpdate,
    StatusUpdate,
    TaskPage,
    TaskSnapshot,
    TaskUpdate,
)
from mcptasks.client._sdk_workarounds import send_task_augmented_call
from mcptasks.client.v2025_11_25 import (
    CancelTaskRequest,
    CancelTaskRequestParams,
    CancelTaskResult,
    CreateTaskResult,
    GetTaskPayloadRequest,
    GetTaskPayloadRequestParams,
    GetTaskRequest,
    GetTaskRequestParams,
    GetTaskResult,
    ListTasksRequest,
    ListTasksResult,
    RawResult,
    snapshot,
)
from mcptasks.core.status import TaskStatus

logger = logging.getLogger("mcptasks.client")

#: How long a follower waits for the `tasks/result` it kept open once the task is over, in s.
RESULT_DRAIN_S = 5.0
#: How long a follower waits for the pushed terminal status of a task whose end a poll found
#: first, in s, when the server pushes that task's updates (its last progress comes before it).
PUSHED_END_WAIT_S = 2.0
#: Starts `fn()` in the client's task group; cancelling the returned scope stops it.
Spawn = Callable[[Callable[[], Awaitable[None]]], anyio.CancelScope]


class LegacyDriver:
    """Tasks on a 2025-11-25 connection (see the module docstring)."""

    wire: Wire = LEGACY_WIRE

    def __init__(self, session: ClientSession, events: LegacyEvents, spawn: Spawn, *, can_list: bool) -> None:
        self._session = session
        self._events = events
        self._spawn = spawn
        self._can_list = can_list

    async def create(self, name: str, arguments: dict[str, Any], ttl_ms: int | None) -> Created:
        token = f"mcptasks-{secrets.token_hex(8)}"
        params: dict[str, Any] = {
            "name": name,
            "arguments": arguments,
            "task": {} if ttl_ms is None else {"ttl": ttl_ms},
            "_meta": {"progressToken": token},
        }
        with map_errors("tools/call"):
            raw = await send_task_augmented_call(self._session, params)
            if "task" not in raw:
                # A server that does not run this tool as a task answers its result (C6).
                return Created(immediate_snapshot(self.wire), CallToolResult.model_validate(raw))
            task = CreateTaskResult.model_validate(raw).task
        self._events.track_progress(token, task.task_id)
        return Created(snapshot(task))

    async def get(self, task_id: str) -> TaskSnapshot:
        request = GetTaskRequest(params=GetTaskRequestParams(task_id=task_id))
        with map_errors("tasks/get", names_task=True):
            return snapshot(await self._session.send_request(request, GetTaskResult))

    async def cancel(self, task_id: str) -> TaskSnapshot:
        request = CancelTaskRequest(params=CancelTaskRequestParams(task_id=task_id))
        try:
            with map_errors("tasks/cancel", names_task=True):
                return snapshot(await self._session.send_request(request, CancelTaskResult))
        except TaskNotFoundError:
            # -32602 also answers the cancel of a terminal task (a 2025-11-25 MUST); that is no
            # error to the caller, who gets the task as it ended (the other wire acknowledges).
            current = await self.get(task_id)
            if current.is_terminal:
                return current
            raise

    async def outcome(self, final: TaskSnapshot) -> CallToolResult:
        assert final.task_id is not None
        self._events.forget(final.task_id)
        raise_if_cancelled(final)
        request = GetTaskPayloadRequest(params=GetTaskPayloadRequestParams(task_id=final.task_id))
        try:
            raw = await self._session.send_request(request, RawResult)
        except MCPError as exc:
            if is_transport_failure(exc):
                raise request_error("tasks/result", exc, names_task=True) from exc
            # The task's own outcome: `tasks/result` answers the error the tool call ended with.
            raise failed_outcome(final.task_id, exc.code, exc.message, exc.data) from exc
        try:
            return CallToolResult.model_validate(raw.model_dump(by_alias=True))
        except ValidationError as exc:
            if final.status is TaskStatus.FAILED:
                # Some servers answer a failed task with an empty result (only the related-task
                # `_meta`): the failure is all there is to report.
                raise failed_outcome(final.task_id, None, final.status_message) from exc
            raise ProtocolError("the answer to tasks/result is not a CallToolResult") from exc

    async def input_requests(self, task_id: str) -> dict[str, QuestionRequest]:
        return self._events.parked(task_id)

    async def answer(self, task_id: str, answers: Mapping[str, Answer | Mapping[str, Any]]) -> None:
        self._events.resolve(task_id, answers)

    async def updates(self, task_id: str, poll_ms: int | None) -> AsyncGenerator[TaskUpdate, None]:
        # Updates come out in the order they happened: what the server pushed before a poll was
        # answered comes before that poll's status, and everything it pushed about the task comes
        # before the terminal status, which is the last update. A poll can learn of the end before
        # the last pushes arrive (they travel on another stream, or behind the answer), so when
        # the server pushes this task's updates, the terminal status waits for the pushed one
        # (sent after the task's last progress) and for the `tasks/result` kept open (the server
        # sends the task's questions on that stream before its answer), each for a bounded time.
        with self._events.subscribe(task_id) as events:
            returned = anyio.Event()

            async def hold() -> None:
                try:
                    await self._hold_result_open(task_id)
                finally:
                    returned.set()

            waiting = self._spawn(hold)
            ended = False
            # Questions are offered once per key, whichever way they came.
            offered: set[str] = set()
            # Whether the server pushed a status or progress of the task, and its terminal status.
            pushed = pushed_end = False

            def news(event: Event) -> TypeGuard[ProgressUpdate | QuestionUpdate]:
                """Whether `event` is to be yielded (progress, or a question not offered yet)."""
                nonlocal pushed
                if isinstance(event, ProgressUpdate):
                    pushed = True
                    return True
                if isinstance(event, QuestionUpdate) and event.question.key not in offered:
                    offered.add(event.question.key)
                    return True
                return False

            def pushed_status(event: StatusUpdate, current: TaskSnapshot) -> TaskSnapshot | None:
                """The pushed status, when it is newer than `current` (which it then replaces)."""
                nonlocal pushed, pushed_end
                pushed = True
                pushed_end = pushed_end or event.task.is_terminal
                if current.is_terminal or event.task.last_updated_at < current.last_updated_at:
                    return None
                return event.task

            def queued(current: TaskSnapshot) -> tuple[list[TaskUpdate], TaskSnapshot]:
                """Events already received, without waiting; a newer pushed status replaces `current`."""
                drained: list[TaskUpdate] = []
                while True:
                    try:
                        event = events.receive_nowait()
                    except anyio.WouldBlock:
                        return drained, current
                    if isinstance(event, StatusUpdate):
                        current = pushed_status(event, current) or current
                    elif news(event):
                        drained.append(event)

            async def last_pushes(current: TaskSnapshot) -> list[TaskUpdate]:
                """What the server still pushes about the ended task, until its terminal status."""
                drained: list[TaskUpdate] = []
                with anyio.move_on_after(PUSHED_END_WAIT_S):
                    while pushed and not pushed_end:
                        event = await events.receive()
                        if isinstance(event, StatusUpdate):
                            pushed_status(event, current)
                        elif news(event):
                            drained.append(event)
                with anyio.move_on_after(RESULT_DRAIN_S):
                    await returned.wait()
                return drained + queued(current)[0]

            try:
                last: TaskSnapshot | None = None
                current = await self.get(task_id)
                # Questions that came before anyone watched are offered first.
                early = [QuestionUpdate(question) for question in self._events.parked_questions(task_id)]
                while True:
                    before, current = queued(current)
                    if current.is_terminal:
                        ended = True
                        before += await last_pushes(current)
                        self._events.forget(task_id)
                    for update in before:
                        yield update
                    if status_changed(last, current):
                        yield StatusUpdate(current)
                        last = current
                    if current.is_terminal:
                        return
                    for question in early:
                        if news(question):
                            yield question
                    early = []
                    next_poll = anyio.current_time() + poll_interval_s(poll_ms, current)
                    fresh: TaskSnapshot | None = None
                    while fresh is None:
                        event: Event | None = None
                        left = next_poll - anyio.current_time()
                        if left > 0:
                            with anyio.move_on_after(left):
                                event = await events.receive()
                        if event is None or isinstance(event, Wake):
                            # Time to poll, or the task's `tasks/result` returned: it is terminal.
                            fresh = await self.get(task_id)
                        elif isinstance(event, StatusUpdate):
                            # A pushed status is a full Task, as good as a poll (unless stale).
                            fresh = pushed_status(event, current)
                        elif news(event):
                            yield event
                    current = fresh
            finally:
                if ended:
                    # The task is over, so its `tasks/result` answers at once: let the answer land
                    # rather than leave a request in flight that the connection would be closed
                    # under (the SDK's transport cannot take an answer after that).
                    with anyio.move_on_after(RESULT_DRAIN_S):
                        await returned.wait()
                waiting.cancel()

    async def _hold_result_open(self, task_id: str) -> None:
        """Keep `tasks/result` open for the task; wake its watchers when it returns."""
        request = GetTaskPayloadRequest(params=GetTaskPayloadRequestParams(task_id=task_id))
        try:
            await self._session.send_request(request, RawResult)
        except Exception:  # the outcome is read again by `outcome()`; here only the timing counts
            logger.debug("tasks/result of a watched task ended with an error", exc_info=True)
        self._events.publish(task_id, Wake())

    async def list_tasks(self, cursor: str | None) -> TaskPage:
        if not self._can_list:
            raise UnsupportedOnWire("this server does not offer tasks/list (capabilities.tasks.list)")
        params = PaginatedRequestParams(cursor=cursor) if cursor is not None else None
        with map_errors("tasks/list"):
            page = await self._session.send_request(ListTasksRequest(params=params), ListTasksResult)
        return TaskPage([snapshot(task) for task in page.tasks], page.next_cursor)
