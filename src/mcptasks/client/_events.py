"""What a 2025-11-25 server pushes about tasks, routed to the handles watching each task.

On 2025-11-25 the server pushes three things about a task over the connection (the stdio pipe,
the standalone GET stream or a `tasks/result` response stream of Streamable HTTP):

- `notifications/tasks/status`, a full `Task` (delivered to `on_status` by the client extension's
  notification binding: the SDK's 2025-11-25 tables leave it out on purpose);
- `notifications/progress` with the progress token of the `tools/call` that created the task and
  the related-task `_meta` (delivered to `on_message`, the session's `message_handler`);
- questions, `elicitation/create` and `sampling/createMessage` with the related-task `_meta`
  (delivered to `on_elicitation` / `on_sampling`, the session's callbacks): answered by the
  caller's handler when there is one, else parked until `TaskHandle.answer()` resolves them.

`LegacyEvents` fans each of them out to the subscribers of its task (`subscribe`); nothing is
kept for a task nobody watches, except parked questions, which wait for an answer. A subscriber
that falls behind loses the oldest updates (polling still catches the status).

Spec: 2025-11-25 tasks "Task Status Notification", "Task Progress Notifications", "Input Required
Status" (A1.9, A1.10, A1.12).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.client.context import ClientRequestContext
from mcp.client.session import IncomingMessage
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    CreateMessageResultWithTools,
    ElicitRequest,
    ElicitRequestParams,
    ElicitResult,
    ErrorData,
    ProgressNotification,
)

from mcptasks.client._config import RELATED_TASK_META_KEY
from mcptasks.client._models import (
    Answer,
    ProgressUpdate,
    Question,
    QuestionRequest,
    QuestionUpdate,
    StatusUpdate,
    TaskUpdate,
)
from mcptasks.client._questions import Handlers, as_answer, method_of
from mcptasks.client.v2025_11_25 import TaskStatusNotificationParams, snapshot

logger = logging.getLogger("mcptasks.client")

#: Updates a subscriber may hold before the oldest is dropped.
SUBSCRIBER_BUFFER = 256
#: Progress tokens remembered (one per task created here); the oldest is forgotten first.
PROGRESS_TOKENS_KEPT = 1024


class Wake:
    """An internal event: look again now (e.g. the `tasks/result` call of the task returned)."""


Event = TaskUpdate | Wake
#: Both ends of one subscriber's stream (the send end publishes, the receive end drops the oldest).
_Subscriber = tuple[MemoryObjectSendStream[Event], MemoryObjectReceiveStream[Event]]


def related_task_id(meta: Mapping[str, Any] | None) -> str | None:
    """The task id of a message's related-task `_meta`, or None."""
    related = (meta or {}).get(RELATED_TASK_META_KEY)
    if isinstance(related, Mapping):
        task_id = related.get("taskId")
        if isinstance(task_id, str) and task_id:
            return task_id
    return None


@dataclass
class _Parked:
    """A question with no handler, waiting for `TaskHandle.answer()`."""

    question: Question
    answered: anyio.Event = field(default_factory=anyio.Event)
    answer: Answer | None = None


class LegacyEvents:
    """Routes 2025-11-25 task notifications and questions to the handles watching each task."""

    def __init__(self, handlers: Handlers) -> None:
        self._handlers = handlers
        self._subscribers: dict[str, list[_Subscriber]] = {}
        self._progress_tokens: dict[str | int, str] = {}
        self._parked: dict[str, dict[str, _Parked]] = {}

    # -- subscriptions -----------------------------------------------------------------------

    @contextmanager
    def subscribe(self, task_id: str) -> Iterator[MemoryObjectReceiveStream[Event]]:
        """Receive the task's updates (and `Wake`s) while the block runs."""
        send, receive = anyio.create_memory_object_stream[Event](SUBSCRIBER_BUFFER)
        pair = (send, receive)
        self._subscribers.setdefault(task_id, []).append(pair)
        try:
            yield receive
        finally:
            pairs = self._subscribers.get(task_id, [])
            if pair in pairs:
                pairs.remove(pair)
            if not pairs:
                self._subscribers.pop(task_id, None)
            send.close()
            receive.close()

    def publish(self, task_id: str, event: Event) -> None:
        """Hand `event` to every subscriber of the task; a full subscriber loses its oldest event."""
        for send, receive in list(self._subscribers.get(task_id, [])):
            try:
                send.send_nowait(event)
            except anyio.WouldBlock:
                receive.receive_nowait()
                logger.warning("updates of task %s are not read fast enough; dropped the oldest", task_id)
                send.send_nowait(event)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass

    def track_progress(self, token: str | int, task_id: str) -> None:
        """Route `notifications/progress` carrying `token` to the task `task_id`."""
        self._progress_tokens[token] = task_id
        if len(self._progress_tokens) > PROGRESS_TOKENS_KEPT:
            del self._progress_tokens[next(iter(self._progress_tokens))]

    # -- what the server pushes --------------------------------------------------------------

    async def on_status(self, params: TaskStatusNotificationParams) -> None:
        """`notifications/tasks/status` (a full `Task`): a status update of its task."""
        self.publish(params.task_id, StatusUpdate(snapshot(params)))

    async def on_message(self, message: IncomingMessage) -> None:
        """The session's `message_handler`: `notifications/progress` of a task becomes its update."""
        if not isinstance(message, ProgressNotification):
            return
        params = message.params
        task_id = related_task_id(params.meta) or self._progress_tokens.get(params.progress_token)
        if task_id is not None:
            self.publish(task_id, ProgressUpdate(params.progress, params.total, params.message))

    async def on_elicitation(
        self, context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult | ErrorData:
        """The session's `elicitation_callback`: a question, answered or parked."""
        answer = await self._ask(context, ElicitRequest(params=params))
        if isinstance(answer, ErrorData | ElicitResult):
            return answer
        return ErrorData(code=INTERNAL_ERROR, message="The answer is not an ElicitResult")

    async def on_sampling(
        self, context: ClientRequestContext, params: CreateMessageRequestParams
    ) -> CreateMessageResult | CreateMessageResultWithTools | ErrorData:
        """The session's `sampling_callback`: a question, answered or parked."""
        answer = await self._ask(context, CreateMessageRequest(params=params))
        if isinstance(answer, ErrorData | CreateMessageResult | CreateMessageResultWithTools):
            return answer
        return ErrorData(code=INTERNAL_ERROR, message="The answer is not a CreateMessageResult")

    async def _ask(self, context: ClientRequestContext, request: QuestionRequest) -> Answer | ErrorData:
        task_id = related_task_id(request.params.meta)
        question = Question(task_id=task_id, key=str(context.request_id), request=request)
        try:
            answer = await self._handlers.answer(task_id, request)
        except Exception:
            # Left to the SDK, the exception's text would be sent to the server (as code 0).
            logger.exception("the %s handler raised; the server is told only that it failed", question.method)
            return ErrorData(code=INTERNAL_ERROR, message="The client could not answer the question")
        if answer is not None:
            if task_id is not None:
                self.publish(task_id, QuestionUpdate(question, answer))
            return answer
        if task_id is None:
            # Not a task's question (e.g. a tool called without a task): nothing to park it on.
            return ErrorData(code=INVALID_REQUEST, message=f"{method_of(request)} is not supported here")
        parked = _Parked(question)
        self._parked.setdefault(task_id, {})[question.key] = parked
        self.publish(task_id, QuestionUpdate(question))
        try:
            await parked.answered.wait()
        finally:
            questions = self._parked.get(task_id, {})
            questions.pop(question.key, None)
            if not questions:
                self._parked.pop(task_id, None)
        assert parked.answer is not None
        return parked.answer

    # -- answering by hand -------------------------------------------------------------------

    def parked(self, task_id: str) -> dict[str, QuestionRequest]:
        """The task's questions waiting for `TaskHandle.answer()`, by key."""
        return {key: parked.question.request for key, parked in self._parked.get(task_id, {}).items()}

    def parked_questions(self, task_id: str) -> list[Question]:
        """The task's questions waiting for `TaskHandle.answer()`, in the order they came."""
        return [parked.question for parked in self._parked.get(task_id, {}).values()]

    def resolve(self, task_id: str, answers: Mapping[str, Any]) -> None:
        """Answer parked questions of the task; keys not waiting are ignored.

        Raises: pydantic.ValidationError when an answer does not fit its question.
        """
        waiting = self._parked.get(task_id, {})
        # Every answer is checked before any is sent: a bad one leaves them all waiting.
        resolved = [
            (key, parked, as_answer(parked.question.method, answers[key]))
            for key, parked in waiting.items()
            if key in answers
        ]
        for key, parked, answer in resolved:
            if isinstance(answer, ElicitResult | CreateMessageResult | CreateMessageResultWithTools):
                parked.answer = answer
                parked.answered.set()
                del waiting[key]
        if not waiting:
            self._parked.pop(task_id, None)
