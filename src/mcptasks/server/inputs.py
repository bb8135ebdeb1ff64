"""Asking a 2025-11-25 client the questions a tool stored, and storing its answers.

A question (`elicitation/create`, `sampling/createMessage`) goes out as a JSON-RPC request tied to
its task by the related-task `_meta`: on the response stream of a `tasks/result` the client keeps
open for the task when there is one, else on the connection's own channel (stdio, the standalone
GET stream of stateful HTTP). The client's response is stored as the answer, which wakes the tool.
A question nobody could be asked stays outstanding and goes out with the next `tasks/result`.

Spec: 2025-11-25 tasks "Input Required Status" (A1.10: the request MUST carry the related-task
`_meta`; the requestor SHOULD call `tasks/result` on `input_required`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp.server.connection import Connection
from mcp.server.session import ServerSession
from mcp.shared.message import ServerMessageMetadata
from mcp_types import CreateMessageRequest, CreateMessageResult, ElicitRequest, ElicitResult, RequestId
from pydantic import BaseModel

from mcptasks.core.model import ELICITATION, InputRequest, TaskRecord
from mcptasks.core.owner import Owner
from mcptasks.server.streams import GetStreams
from mcptasks.wire import v2025_11_25

if TYPE_CHECKING:
    from mcptasks.server.app import Runtime

logger = logging.getLogger("mcptasks.server")


@dataclass(frozen=True, slots=True)
class _ResultStream:
    """A `tasks/result` request the client keeps open: questions can ride its response stream."""

    session: ServerSession
    request_id: RequestId
    owner: Owner


def request_params(task_id: str, request: InputRequest) -> dict[str, Any]:
    """The request params as sent: the stored params plus the related-task `_meta`."""
    return {**request.params, "_meta": v2025_11_25.related_task_meta(task_id)}


async def send_on_session(
    session: ServerSession, request_id: RequestId, method: str, params: dict[str, Any]
) -> dict[str, Any]:
    """Send a question on the response stream of request `request_id`; returns the result JSON."""
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
    result = await session.send_request(typed, result_type, metadata=metadata)
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


async def send_on_connection(connection: Connection, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Send a question on the connection's own channel; returns the validated result JSON."""
    raw = await connection.send_raw_request(method, params)
    result_type: type[BaseModel] = ElicitResult if method == ELICITATION else CreateMessageResult
    return result_type.model_validate(raw).model_dump(by_alias=True, mode="json", exclude_none=True)


def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()


class LegacyQuestions:
    """Delivers stored questions of 2025-11-25 tasks and stores the answers."""

    def __init__(self, runtime: Runtime, get_streams: GetStreams) -> None:
        self._runtime = runtime
        self._get_streams = get_streams
        self._streams: dict[str, list[_ResultStream]] = {}
        self._in_flight: set[tuple[str, str]] = set()
        self._sending: set[asyncio.Task[None]] = set()

    @contextlib.contextmanager
    def result_stream(
        self, task_id: str, session: ServerSession, request_id: RequestId, owner: Owner
    ) -> Iterator[None]:
        """While a `tasks/result` for `task_id` is open, send its task's questions on that stream."""
        stream = _ResultStream(session, request_id, owner)
        self._streams.setdefault(task_id, []).append(stream)
        try:
            yield
        finally:
            streams = self._streams.get(task_id, [])
            if stream in streams:
                streams.remove(stream)
            if not streams:
                self._streams.pop(task_id, None)

    def on_input(self, record: TaskRecord, request: InputRequest) -> None:
        """Bus listener: a tool asked a question; ask the client if it can be reached."""
        if record.wire == "2025-11-25":
            self._schedule(record.task_id, request)

    async def ask_outstanding(self, owner: Owner, task_id: str) -> None:
        """Send every unanswered question of the task (a client just opened `tasks/result`)."""
        for request in await self._runtime.manager.outstanding_inputs(owner, task_id):
            self._schedule(task_id, request)

    def _schedule(self, task_id: str, request: InputRequest) -> None:
        if (task_id, request.key) in self._in_flight:
            return
        task = asyncio.get_running_loop().create_task(self._ask(task_id, request))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _ask(self, task_id: str, request: InputRequest) -> None:
        flight = (task_id, request.key)
        if flight in self._in_flight:
            return
        streams = self._streams.get(task_id)
        channel = self._runtime.notifier.channel(task_id)
        params = request_params(task_id, request)
        self._in_flight.add(flight)
        forget: Callable[[], None] | None = None
        try:
            if streams:
                stream = streams[-1]
                owner = stream.owner
                result = await send_on_session(stream.session, stream.request_id, request.method, params)
            elif channel is not None and (
                channel.is_pipe or self._get_streams.is_open(channel.connection.session_id)
            ):
                owner = channel.owner
                session_id = channel.connection.session_id
                if not channel.is_pipe and session_id is not None:
                    # The GET stream may close before the answer comes: the question then waits again.
                    current = asyncio.current_task()
                    if current is not None:
                        forget = self._get_streams.on_close(session_id, functools.partial(_cancel, current))
                result = await send_on_connection(channel.connection, request.method, params)
            else:
                return  # nobody to ask now: the next GET stream or tasks/result asks
            await self._runtime.manager.answer(owner, task_id, {request.key: result})
        except asyncio.CancelledError:
            logger.info(
                "question %s went back to waiting: its stream closed",
                request.key,
                extra={"action": "ask", "task_id": task_id},
            )
        except Exception:
            # The client went away or answered with an error: the question stays outstanding.
            logger.info(
                "question %s of a task was not answered",
                request.key,
                exc_info=True,
                extra={"action": "ask", "task_id": task_id},
            )
        finally:
            if forget is not None:
                forget()
            self._in_flight.discard(flight)
