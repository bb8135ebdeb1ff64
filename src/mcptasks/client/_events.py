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

A server asks a question again, as a new request, when the copy it sent is lost with its stream
or withdrawn (`notifications/cancelled`), and may send it on several streams at once (mcptasks
sends a pending question on every new `tasks/result`, and every follower of a task opens one;
the first answer to any copy is stored). The client takes a copy with the same method and
params as an earlier one of the same task, parked or withdrawn, for that question: it keeps the
key first offered, so `input_requests()` and `answer()` stay stable, an answer settles every
copy, and an answer given while no copy was pending answers the next copy at once.

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

from mcptasks.client._config import INPUT_KEY_META_KEY, RELATED_TASK_META_KEY
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
#: Progress tokens (one per task created here) and ended tasks remembered; the oldest go first.
PROGRESS_TOKENS_KEPT = 1024


class Wake:
    """An internal event: look again now (e.g. the `tasks/result` call of the task returned)."""


Event = TaskUpdate | Wake
#: Both ends of one subscriber's stream (the send end publishes, the receive end drops the oldest).
_Subscriber = tuple[MemoryObjectSendStream[Event], MemoryObjectReceiveStream[Event]]


def _key_order(key: str) -> tuple[int, str]:
    """Sort keys (JSON-RPC request ids as text) by the number they are, when they are one."""
    return (int(key), "") if key.isdigit() else (1 << 62, key)


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
    #: Earlier copies of the question this one replaced (their requests are dead or withdrawn);
    #: answered along with it, the server drops their answers.
    superseded: list[_Parked] = field(default_factory=list)

    def settle(self, answer: Answer) -> None:
        """Answer this copy and the ones it replaced."""
        for copy in (self, *self.superseded):
            copy.answer = answer
            copy.answered.set()


@dataclass
class _Handling:
    """A question a handler is answering now: other copies of it wait for the same answer."""

    request: QuestionRequest
    done: anyio.Event = field(default_factory=anyio.Event)
    #: The handler's answer (None: no handler answers this kind, or it raised).
    answer: Answer | None = None


@dataclass
class _Withdrawn:
    """A parked question whose request the server withdrew: it will ask again, under a new id.

    The copy asked again keeps this question's key, so the key a caller was shown stays good; an
    answer given meanwhile is kept and answers the new copy as soon as it arrives.
    """

    question: Question
    answer: Answer | None = None


def input_key(request: QuestionRequest) -> str | None:
    """The server's own key for a question (`mcptasks/inputKey` in `_meta`), or None."""
    key = (request.params.meta or {}).get(INPUT_KEY_META_KEY)
    return key if isinstance(key, str) and key else None


def _same_question(first: QuestionRequest, second: QuestionRequest) -> bool:
    """Whether two requests ask the same thing: the same server key when both carry one (mcptasks),
    else the same method and params (`_meta` aside, which may differ from copy to copy)."""
    first_key, second_key = input_key(first), input_key(second)
    if first_key is not None and second_key is not None:
        return first_key == second_key
    return type(first) is type(second) and first.params.model_dump(
        exclude={"meta"}
    ) == second.params.model_dump(exclude={"meta"})


class LegacyEvents:
    """Routes 2025-11-25 task notifications and questions to the handles watching each task."""

    def __init__(self, handlers: Handlers) -> None:
        self._handlers = handlers
        self._subscribers: dict[str, list[_Subscriber]] = {}
        self._progress_tokens: dict[str | int, str] = {}
        self._parked: dict[str, dict[str, _Parked]] = {}
        self._withdrawn: dict[str, dict[str, _Withdrawn]] = {}
        #: Questions whose handler runs now, by task: a copy arriving meanwhile shares the answer.
        self._handling: dict[str, list[_Handling]] = {}
        #: Handler answers by task and server key: a copy sent on another stream gets the same.
        self._answered: dict[str, dict[str, Answer]] = {}
        #: Tasks seen ended (the oldest forgotten first): a copy withdrawn after the end is dropped.
        self._ended: dict[str, None] = {}

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
        key = str(context.request_id)
        earlier: _Parked | _Withdrawn | None = None
        if task_id is not None:
            # The server asks a question again when the copy it sent before is lost with its
            # stream or withdrawn (a new `tasks/result` opened): the new copy keeps the key the
            # question was first offered under, and an answer given meanwhile answers it.
            earlier = self._earlier_copy(task_id, request)
            if earlier is not None:
                key = earlier.question.key
                if isinstance(earlier, _Withdrawn) and earlier.answer is not None:
                    return earlier.answer
        if task_id is not None and task_id in self._ended:
            # A copy that crossed the end of its task: nothing waits for its answer any more.
            return ErrorData(code=INVALID_REQUEST, message="The task has ended")
        question = Question(task_id=task_id, key=key, request=request)
        server_key = input_key(request)
        if task_id is not None and server_key is not None:
            given = self._answered.get(task_id, {}).get(server_key)
            if given is not None:
                return given  # a copy of a question answered already (sent on another stream)
        running = None if task_id is None else self._handling_of(task_id, request)
        if running is not None:
            # Another copy of this question is being answered (a server may send a pending
            # question on several streams): the handler is asked once, both copies get its answer.
            await running.done.wait()
            if running.answer is not None:
                return running.answer
        try:
            answer = await self._run_handler(task_id, request)
        except Exception:
            # Left to the SDK, the exception's text would be sent to the server (as code 0).
            logger.exception("the %s handler raised; the server is told only that it failed", question.method)
            return ErrorData(code=INTERNAL_ERROR, message="The client could not answer the question")
        if answer is not None:
            if task_id is not None:
                if server_key is not None:
                    self._answered.setdefault(task_id, {})[server_key] = answer
                self.publish(task_id, QuestionUpdate(question, answer))
            return answer
        if task_id is None:
            # Not a task's question (e.g. a tool called without a task): nothing to park it on.
            return ErrorData(code=INVALID_REQUEST, message=f"{method_of(request)} is not supported here")
        if earlier is None:
            # Another copy may have been parked while the handlers were asked (a server sends a
            # pending question on every `tasks/result` stream): this copy joins it, under its key.
            earlier = self._earlier_copy(task_id, request)
            if earlier is not None:
                key = earlier.question.key
                question = Question(task_id=task_id, key=key, request=request)
                if isinstance(earlier, _Withdrawn) and earlier.answer is not None:
                    return earlier.answer
        parked = _Parked(question)
        if isinstance(earlier, _Parked):
            parked.superseded = [earlier, *earlier.superseded]
            earlier.superseded = []
        self._parked.setdefault(task_id, {})[key] = parked
        self.publish(task_id, QuestionUpdate(question))
        try:
            await parked.answered.wait()
        except anyio.get_cancelled_exc_class():
            # Withdrawn by the server (notifications/cancelled), or the connection closes: the
            # question stays outstanding under its key until the server asks it again.
            if self._parked.get(task_id, {}).get(key) is parked and task_id not in self._ended:
                self._withdrawn.setdefault(task_id, {})[key] = _Withdrawn(question)
            raise
        finally:
            questions = self._parked.get(task_id, {})
            if questions.get(key) is parked:
                del questions[key]
            if not questions:
                self._parked.pop(task_id, None)
        assert parked.answer is not None
        return parked.answer

    def _handling_of(self, task_id: str, request: QuestionRequest) -> _Handling | None:
        for running in self._handling.get(task_id, []):
            if _same_question(running.request, request):
                return running
        return None

    async def _run_handler(self, task_id: str | None, request: QuestionRequest) -> Answer | None:
        """The handler's answer to `request`; copies arriving meanwhile wait for it."""
        if task_id is None:
            return await self._handlers.answer(task_id, request)
        running = _Handling(request)
        self._handling.setdefault(task_id, []).append(running)
        try:
            running.answer = await self._handlers.answer(task_id, request)
            return running.answer
        finally:
            running.done.set()
            handling = self._handling.get(task_id, [])
            if running in handling:
                handling.remove(running)
            if not handling:
                self._handling.pop(task_id, None)

    def _earlier_copy(self, task_id: str, request: QuestionRequest) -> _Parked | _Withdrawn | None:
        """The question of the task that `request` asks again: parked, or withdrawn (then taken
        out of the withdrawn ones); None for a new question.

        Two questions of one task outstanding at once with the very same params are taken for one.
        """
        for parked in self._parked.get(task_id, {}).values():
            if _same_question(parked.question.request, request):
                return parked
        withdrawn = self._withdrawn.get(task_id, {})
        for key, entry in list(withdrawn.items()):
            if _same_question(entry.question.request, request):
                del withdrawn[key]
                if not withdrawn:
                    self._withdrawn.pop(task_id, None)
                return entry
        return None

    def forget(self, task_id: str) -> None:
        """Drop what is kept of an ended task's questions (withdrawn copies are asked no more)."""
        self._withdrawn.pop(task_id, None)
        self._answered.pop(task_id, None)
        self._ended[task_id] = None
        if len(self._ended) > PROGRESS_TOKENS_KEPT:
            del self._ended[next(iter(self._ended))]

    # -- answering by hand -------------------------------------------------------------------

    def parked(self, task_id: str) -> dict[str, QuestionRequest]:
        """The task's questions waiting for `TaskHandle.answer()`, by key."""
        return {question.key: question.request for question in self.parked_questions(task_id)}

    def parked_questions(self, task_id: str) -> list[Question]:
        """The task's questions waiting for `TaskHandle.answer()`, in the order they came
        (withdrawn ones, which the server asks again, included until answered)."""
        if task_id in self._ended:
            return []
        parked = [entry.question for entry in self._parked.get(task_id, {}).values()]
        withdrawn = [
            entry.question
            for key, entry in self._withdrawn.get(task_id, {}).items()
            if entry.answer is None and key not in self._parked.get(task_id, {})
        ]
        return sorted(parked + withdrawn, key=lambda question: _key_order(question.key))

    def resolve(self, task_id: str, answers: Mapping[str, Any]) -> None:
        """Answer parked questions of the task; keys not waiting are ignored.

        Raises: pydantic.ValidationError when an answer does not fit its question.
        """
        waiting = self._parked.get(task_id, {})
        withdrawn = self._withdrawn.get(task_id, {})
        # Every answer is checked before any is sent: a bad one leaves them all waiting.
        resolved = [
            (key, parked, as_answer(parked.question.method, answers[key]))
            for key, parked in waiting.items()
            if key in answers
        ]
        kept = [
            (entry, as_answer(entry.question.method, answers[key]))
            for key, entry in withdrawn.items()
            if key in answers and key not in waiting
        ]
        for key, parked, answer in resolved:
            if isinstance(answer, ElicitResult | CreateMessageResult | CreateMessageResultWithTools):
                parked.settle(answer)
                del waiting[key]
                server_key = input_key(parked.question.request)
                if server_key is not None:  # a copy still on its way gets the same answer
                    self._answered.setdefault(task_id, {})[server_key] = answer
        for entry, answer in kept:
            # Sent when the server asks this question again.
            if isinstance(answer, ElicitResult | CreateMessageResult | CreateMessageResultWithTools):
                entry.answer = answer
        if not waiting:
            self._parked.pop(task_id, None)
