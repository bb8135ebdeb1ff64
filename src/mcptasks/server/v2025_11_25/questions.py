"""Asking a 2025-11-25 client the questions a tool stored, and storing its answers.

A question (`elicitation/create`, `sampling/createMessage`) goes out as a JSON-RPC request tied to
its task by the related-task `_meta`: on the response stream of the newest `tasks/result` the
client keeps open for the task when there is one, else on the connection's own channel (stdio, the
standalone GET stream of stateful HTTP). The client's response is stored as the answer, which wakes
the tool.

A question is never lost with the stream it rode. It goes back to waiting, and is asked again,
when:

- the stream it rode closes (the client dropped its `tasks/result` or its GET stream): it is asked
  at once on another open stream of the task, if there is one;
- the client does not answer within `timeout_s` (`Settings.client_request_timeout_s`);
- a new `tasks/result` for the task opens: every unanswered question is sent on it too, unless a
  copy is pending on the session's own GET stream or pipe (which the client reads); a copy
  pending on an older `tasks/result` stays answerable (a client may be answering it now), and the
  first answer to any copy is stored: the other copies are then withdrawn (their requests
  cancelled), and an answer that still reaches one is ignored, since a stored answer never
  changes;
- the session's GET stream opens again: the questions of the tasks it created are sent on it.

State is per question in flight (`(taskId, key)` -> its pending copies) and per open
`tasks/result`; both are removed when their stream closes, so nothing of a task stays once no one
can be asked.

Spec: 2025-11-25 tasks "Input Required Status" (A1.10: the request MUST carry the related-task
`_meta`; the requestor SHOULD call `tasks/result` on `input_required`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mcp.server.connection import Connection
from mcp.server.session import ServerSession
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp_types import CreateMessageRequest, CreateMessageResult, ElicitRequest, ElicitResult, RequestId
from pydantic import BaseModel

from mcptasks.core.model import ELICITATION, InputRequest, TaskRecord
from mcptasks.core.owner import Owner
from mcptasks.runtime.manager import TaskManager
from mcptasks.server.v2025_11_25.notify import TaskNotifier
from mcptasks.server.v2025_11_25.streams import GetStreams
from mcptasks.server.workarounds import connection_of
from mcptasks.wire import v2025_11_25

logger = logging.getLogger("mcptasks.server")

#: How long a client may take to answer a question before it goes back to waiting, in seconds.
CLIENT_REQUEST_TIMEOUT_S = 300.0


@dataclass(eq=False, slots=True)
class _ResultStream:
    """A `tasks/result` request the client keeps open: questions can ride its response stream."""

    session: ServerSession
    request_id: RequestId
    owner: Owner
    #: The HTTP session the request came on (None on stdio): to match the close of its stream.
    session_id: str | None
    #: The task the stream is for.
    task_id: str
    #: Set when the stream closed before its answer (the client went away).
    closed: asyncio.Event


@dataclass(eq=False, slots=True)
class _Flight:
    """A question sent and not answered yet: the task awaiting the answer, and where it went."""

    request: InputRequest
    #: The `tasks/result` stream it rides, or None when it went on the connection's channel.
    stream: _ResultStream | None
    #: The HTTP session whose GET stream it rides (None for a result stream or a pipe).
    get_session_id: str | None
    sender: asyncio.Task[None] | None = None


def request_params(task_id: str, request: InputRequest) -> dict[str, Any]:
    """The request params as sent: the stored params plus the related-task `_meta`."""
    meta = {**v2025_11_25.related_task_meta(task_id), v2025_11_25.INPUT_KEY_META_KEY: request.key}
    return {**request.params, "_meta": meta}


async def send_on_session(
    session: ServerSession,
    request_id: RequestId,
    method: str,
    params: dict[str, Any],
    *,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Send a question on the response stream of request `request_id`; returns the result JSON.

    Raises: MCPError (the client answered with an error, or none came within `timeout_s` seconds),
    pydantic.ValidationError (the result has the wrong shape).
    """
    typed: BaseModel
    result_type: type[BaseModel]
    if method == ELICITATION:
        typed, result_type = ElicitRequest.model_validate({"method": method, "params": params}), ElicitResult
    else:
        typed, result_type = (
            CreateMessageRequest.model_validate({"method": method, "params": params}),
            CreateMessageResult,
        )
    metadata = ServerMessageMetadata(related_request_id=request_id)
    result = await session.send_request(
        typed, result_type, request_read_timeout_seconds=timeout_s, metadata=metadata
    )
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


async def send_on_connection(
    connection: Connection, method: str, params: dict[str, Any], *, timeout_s: float | None = None
) -> dict[str, Any]:
    """Send a question on the connection's own channel; returns the validated result JSON.

    Raises: as `send_on_session`.
    """
    raw = await connection.send_raw_request(
        method, params, None if timeout_s is None else {"timeout": timeout_s}
    )
    result_type: type[BaseModel] = ElicitResult if method == ELICITATION else CreateMessageResult
    return result_type.model_validate(raw).model_dump(by_alias=True, mode="json", exclude_none=True)


class TaskQuestions:
    """Delivers stored questions of 2025-11-25 tasks and stores the answers (module docstring)."""

    def __init__(
        self, manager: Callable[[], TaskManager], notifier: TaskNotifier, get_streams: GetStreams
    ) -> None:
        #: The task manager of the open server (raises RuntimeError while it is not open).
        self._manager = manager
        self._notifier = notifier
        self._get_streams = get_streams
        #: How long a client may take to answer one question, in seconds.
        self.timeout_s = CLIENT_REQUEST_TIMEOUT_S
        self._streams: dict[str, list[_ResultStream]] = {}
        #: The same streams by (HTTP session id, request id as a string), to find one that closed.
        self._by_request: dict[tuple[str, str], _ResultStream] = {}
        #: The pending copies of each question sent and not answered yet, oldest first.
        self._in_flight: dict[tuple[str, str], list[_Flight]] = {}
        get_streams.add_listeners(
            on_open=self._get_stream_opened,
            on_close=self._get_stream_closed,
            on_result_closed=self.result_stream_closed,
        )

    def sizes(self) -> dict[str, int]:
        """Sizes of the per-task state: tasks with an open `tasks/result`, questions in flight."""
        return {"result_streams": len(self._streams), "questions_in_flight": len(self._in_flight)}

    @contextlib.contextmanager
    def result_stream(
        self, task_id: str, session: ServerSession, request_id: RequestId, owner: Owner
    ) -> Iterator[asyncio.Event]:
        """While a `tasks/result` for `task_id` is open, send its task's questions on that stream.

        Yields an event set when the stream closes first (the client dropped it): the request's
        handler may stop waiting, nobody reads its answer.
        """
        session_id = connection_of(session).session_id
        stream = _ResultStream(session, request_id, owner, session_id, task_id, asyncio.Event())
        self._streams.setdefault(task_id, []).append(stream)
        if session_id is not None:
            self._by_request[(session_id, str(request_id))] = stream
        try:
            yield stream.closed
        finally:
            self._forget_stream(stream)

    def result_stream_closed(self, session_id: str, request_id: str) -> None:
        """The response stream of `tasks/result` request `request_id` of HTTP session `session_id`
        closed (answered, or dropped by the client): its questions are asked elsewhere or wait."""
        stream = self._by_request.get((session_id, request_id))
        if stream is not None:
            stream.closed.set()
            self._forget_stream(stream)

    def _forget_stream(self, stream: _ResultStream) -> None:
        if stream.session_id is not None:
            key = (stream.session_id, str(stream.request_id))
            if self._by_request.get(key) is stream:
                del self._by_request[key]
        task_id = stream.task_id
        streams = self._streams.get(task_id)
        if streams is None or stream not in streams:
            return
        streams.remove(stream)
        if not streams:
            del self._streams[task_id]
        withdrawn = [
            flight
            for (flight_task, _), flights in self._in_flight.items()
            if flight_task == task_id
            for flight in flights
            if flight.stream is stream
        ]
        for flight in withdrawn:
            self._withdraw(task_id, flight)
            self._schedule(task_id, flight.request)  # on another open stream, if there is one

    def on_input(self, record: TaskRecord, request: InputRequest) -> None:
        """Bus listener: a tool asked a question; ask the client if it can be reached."""
        if record.wire == "2025-11-25":
            self._schedule(record.task_id, request)

    async def ask_outstanding(self, owner: Owner, task_id: str) -> None:
        """Send every unanswered question of the task on its newest route (a client just opened
        `tasks/result`); copies pending on other streams stay answerable."""
        for request in await self._manager().outstanding_inputs(owner, task_id):
            self._schedule(task_id, request, renew=True)

    def _get_stream_opened(self, session_id: str) -> None:
        for task_id, owner in self._notifier.tasks_of_session(session_id):
            if task_id not in self._streams:  # a tasks/result stream is preferred, and has them
                sender = asyncio.get_running_loop().create_task(self._ask_outstanding_quietly(owner, task_id))
                _keep(sender)

    def _get_stream_closed(self, session_id: str) -> None:
        for (task_id, _), flights in list(self._in_flight.items()):
            for flight in list(flights):
                if flight.get_session_id == session_id:
                    self._withdraw(task_id, flight)

    async def _ask_outstanding_quietly(self, owner: Owner, task_id: str) -> None:
        try:
            for request in await self._manager().outstanding_inputs(owner, task_id):
                self._schedule(task_id, request)
        except Exception:
            # The task ended or the store is unavailable: the next tasks/result asks.
            logger.info("could not re-ask the questions of a task", exc_info=True, extra={"task_id": task_id})

    def _withdraw(self, task_id: str, flight: _Flight) -> None:
        self._drop(task_id, flight)
        if flight.sender is not None:
            flight.sender.cancel()

    def _drop(self, task_id: str, flight: _Flight) -> None:
        key = (task_id, flight.request.key)
        flights = self._in_flight.get(key)
        if flights is not None and flight in flights:
            flights.remove(flight)
            if not flights:
                del self._in_flight[key]

    def _schedule(self, task_id: str, request: InputRequest, *, renew: bool = False) -> None:
        """Send `request` on the task's newest route unless a copy is pending there already (or
        anywhere, unless `renew`); nobody to ask now leaves it waiting."""
        key = (task_id, request.key)
        streams = self._streams.get(task_id)
        flight: _Flight
        if streams:
            flight = _Flight(request, streams[-1], None)
        else:
            channel = self._notifier.channel(task_id)
            if channel is None:
                return  # nobody to ask now: the next tasks/result asks
            session_id = channel.connection.session_id
            if not channel.is_pipe and not self._get_streams.is_open(session_id):
                return  # the next GET stream or tasks/result asks
            flight = _Flight(request, None, None if channel.is_pipe else session_id)
        pending = self._in_flight.get(key, [])
        if pending and not renew:
            return
        session_id = None if flight.stream is None else flight.stream.session_id
        for previous in pending:
            # A copy on a pipe (stdio) is enough: a pipe does not close under a live connection;
            # so is one on the GET stream of the same session (the client reads it; were it to
            # close, the question moves here). A second copy would ask the user twice.
            on_pipe = previous.stream is None and previous.get_session_id is None
            on_own_get = previous.get_session_id is not None and previous.get_session_id == session_id
            same_route = previous.stream is flight.stream and previous.get_session_id == flight.get_session_id
            if on_pipe or on_own_get or same_route:
                return
        self._in_flight.setdefault(key, []).append(flight)
        flight.sender = asyncio.get_running_loop().create_task(self._ask(task_id, flight))
        _keep(flight.sender)

    async def _ask(self, task_id: str, flight: _Flight) -> None:
        request = flight.request
        params = request_params(task_id, request)
        try:
            if flight.stream is not None:
                owner = flight.stream.owner
                result = await send_on_session(
                    flight.stream.session,
                    flight.stream.request_id,
                    request.method,
                    params,
                    timeout_s=self.timeout_s,
                )
            else:
                channel = self._notifier.channel(task_id)
                if channel is None:
                    return  # the task ended meanwhile
                owner = channel.owner
                result = await send_on_connection(
                    channel.connection, request.method, params, timeout_s=self.timeout_s
                )
            # The first answer to any copy is stored (a stored answer never changes); the other
            # copies are withdrawn.
            for other in list(self._in_flight.get((task_id, request.key), [])):
                if other is not flight:
                    self._withdraw(task_id, other)
            await self._manager().answer(owner, task_id, {request.key: result})
        except asyncio.CancelledError:
            logger.info(
                "question %s went back to waiting: its stream closed or a newer one opened",
                request.key,
                extra={"action": "ask", "task_id": task_id},
            )
        except MCPError as error:
            # No answer within the timeout, the client answered with an error, or it went away:
            # the question stays outstanding and is asked again on the next stream.
            logger.info(
                "question %s of a task was not answered: %s",
                request.key,
                error.error.message,
                extra={"action": "ask", "task_id": task_id},
            )
        except Exception:
            logger.info(
                "question %s of a task was not answered",
                request.key,
                exc_info=True,
                extra={"action": "ask", "task_id": task_id},
            )
        finally:
            self._drop(task_id, flight)


#: Asking tasks running now: the event loop keeps only weak references to tasks.
_RUNNING: set[asyncio.Task[None]] = set()


def _keep(task: asyncio.Task[None]) -> None:
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
