"""The SEP-2663 tasks extension on the 2026-07-28 wire, driven through the SDK's `ClientSession`.

- create: an ordinary `tools/call` whose capabilities declare the extension (every request of
  the client does, see `_extension`); the server answers the task (`resultType: "task"`) or, at
  its discretion, the result itself, which becomes a handle that is already terminal. Questions
  asked before a task exists (multi-round-trip `input_required`) are answered by the handlers.
- `get`: `tasks/get`, which inlines the outcome (`result` or `error`) and, while the task is
  `input_required`, every outstanding question in `inputRequests`.
- `answer`: `tasks/update {taskId, inputResponses: {key: answer}}`; the server may apply it
  after it acknowledges, so the client remembers which keys it answered and does not offer them
  again.
- `cancel`: `tasks/cancel` (an acknowledgement; the task ends `cancelled` eventually, or not at
  all when it finished first), then `tasks/get`.
- `updates`: polls `tasks/get` at `pollIntervalMs`; each new question is answered by the matching
  handler or offered to the caller. There is no `tasks/list` and no progress on this wire.

Spec: SEP-2663 "Task Polling", "Task Update Requests", "Task Cancellation", "Composition with
Multi Round-Trip Requests" (protocol reference part A2).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Any

import anyio
from mcp.client.session import ClientSession
from mcp_types import CallToolResult, InputRequiredResult, InputResponse

from mcptasks.client import sep2663
from mcptasks.client._config import MAX_INPUT_ROUNDS, MODERN_WIRE, Wire
from mcptasks.client._driver import (
    Created,
    immediate_snapshot,
    poll_interval_s,
    raise_if_cancelled,
    status_changed,
)
from mcptasks.client._errors import (
    MissingHandler,
    ProtocolError,
    UnsupportedOnWire,
    failed_outcome,
    map_errors,
)
from mcptasks.client._models import (
    Answer,
    Question,
    QuestionRequest,
    QuestionUpdate,
    StatusUpdate,
    TaskPage,
    TaskSnapshot,
    TaskUpdate,
)
from mcptasks.client._questions import Handlers, as_answer, is_question, method_of, wire_answer
from mcptasks.core.status import TaskStatus


class ModernDriver:
    """Tasks on a 2026-07-28 connection through the SEP-2663 extension (see the module docstring)."""

    wire: Wire = MODERN_WIRE

    def __init__(self, session: ClientSession, handlers: Handlers) -> None:
        self._session = session
        self._handlers = handlers
        #: Keys this client answered, per task, until the task is terminal (`tasks/update` is
        #: eventually consistent: a poll may still list an answered question).
        self._answered: dict[str, set[str]] = {}
        #: The questions of the last `tasks/get`, per task, to type answers given as mappings.
        self._asked: dict[str, dict[str, QuestionRequest]] = {}

    async def create(self, name: str, arguments: dict[str, Any], ttl_ms: int | None) -> Created:
        # SEP-2663 has no way to ask for a ttl: the server decides (`ttl_ms` is not sent).
        with map_errors("tools/call"):
            answer = await self._session.call_tool(
                name, arguments, allow_input_required=True, allow_claimed=True
            )
            for _ in range(MAX_INPUT_ROUNDS):
                if not isinstance(answer, InputRequiredResult):
                    break
                responses = await self._answer_before_task(answer)
                answer = await self._session.call_tool(
                    name,
                    arguments,
                    input_responses=responses,
                    request_state=answer.request_state,
                    allow_input_required=True,
                    allow_claimed=True,
                )
        if isinstance(answer, sep2663.CreateTaskResult):
            return Created(sep2663.snapshot(answer))
        if isinstance(answer, CallToolResult):
            return Created(immediate_snapshot(self.wire), answer)
        if isinstance(answer, InputRequiredResult):
            raise ProtocolError(f"the server still asked questions after {MAX_INPUT_ROUNDS} rounds")
        raise ProtocolError(f"tools/call answered an unexpected {type(answer).__name__}")

    async def _answer_before_task(self, asked: InputRequiredResult) -> dict[str, InputResponse]:
        """Answers to questions asked before the task exists, all by the handlers.

        Raises: MissingHandler when no handler answers one of them.
        """
        responses: dict[str, InputResponse] = {}
        for key, request in (asked.input_requests or {}).items():
            if not is_question(request):
                raise MissingHandler(f"the server asked {request.method}, which this client does not answer")
            answer = await self._handlers.answer(None, request)
            if answer is None:
                raise MissingHandler(
                    f"the server asked {request.method} before creating the task, and no handler "
                    "answers it (pass on_elicitation / on_sampling to TaskClient)"
                )
            responses[key] = answer
        return responses

    async def _get(self, task_id: str) -> sep2663.GetTaskResult:
        request = sep2663.GetTaskRequest(params=sep2663.TaskIdParams(task_id=task_id))
        with map_errors("tasks/get", names_task=True):
            detail = await self._session.send_request(request, sep2663.GetTaskResult)
        if detail.status == "input_required":
            self._asked[task_id] = {
                key: request for key, request in (detail.input_requests or {}).items() if is_question(request)
            }
        elif TaskStatus(detail.status).is_terminal:
            self._asked.pop(task_id, None)
            self._answered.pop(task_id, None)
        return detail

    async def get(self, task_id: str) -> TaskSnapshot:
        return sep2663.snapshot(await self._get(task_id))

    async def cancel(self, task_id: str) -> TaskSnapshot:
        request = sep2663.CancelTaskRequest(params=sep2663.TaskIdParams(task_id=task_id))
        with map_errors("tasks/cancel", names_task=True):
            await self._session.send_request(request, sep2663.TaskAck)
        return await self.get(task_id)

    async def outcome(self, final: TaskSnapshot) -> CallToolResult:
        raise_if_cancelled(final)
        assert final.task_id is not None
        detail = await self._get(final.task_id)
        raise_if_cancelled(sep2663.snapshot(detail))
        if detail.status == "failed":
            error = detail.error
            if error is None:
                raise failed_outcome(final.task_id, None, detail.status_message)
            raise failed_outcome(final.task_id, error.code, error.message, error.data)
        if detail.status == "completed" and detail.result is not None:
            return detail.result
        raise ProtocolError(f"tasks/get shows the task {detail.status} without its result")

    def _open_questions(self, task_id: str) -> dict[str, QuestionRequest]:
        answered = self._answered.get(task_id, set())
        return {key: request for key, request in self._asked.get(task_id, {}).items() if key not in answered}

    async def input_requests(self, task_id: str) -> dict[str, QuestionRequest]:
        await self._get(task_id)
        return self._open_questions(task_id)

    async def answer(self, task_id: str, answers: Mapping[str, Answer | Mapping[str, Any]]) -> None:
        asked = self._asked.get(task_id, {})
        responses = {
            key: wire_answer(as_answer(method_of(asked[key]) if key in asked else None, answer))
            for key, answer in answers.items()
        }
        request = sep2663.UpdateTaskRequest(
            params=sep2663.UpdateTaskParams(task_id=task_id, input_responses=responses)
        )
        with map_errors("tasks/update", names_task=True):
            await self._session.send_request(request, sep2663.TaskAck)
        self._answered.setdefault(task_id, set()).update(responses)

    async def updates(self, task_id: str, poll_ms: int | None) -> AsyncGenerator[TaskUpdate, None]:
        offered: set[str] = set()
        last: TaskSnapshot | None = None
        while True:
            current = await self.get(task_id)
            if status_changed(last, current):
                yield StatusUpdate(current)
                last = current
            if current.is_terminal:
                return
            for key, request in self._open_questions(task_id).items():
                if key in offered:
                    continue
                offered.add(key)
                answer = await self._handlers.answer(task_id, request)
                if answer is not None:
                    await self.answer(task_id, {key: answer})
                yield QuestionUpdate(Question(task_id=task_id, key=key, request=request), answer)
            await anyio.sleep(poll_interval_s(poll_ms, current))

    async def list_tasks(self, cursor: str | None) -> TaskPage:
        raise UnsupportedOnWire("tasks/list does not exist on the 2026-07-28 wire (SEP-2663 removed it)")
