"""Pushes `notifications/tasks/status` and `notifications/progress` to 2025-11-25 clients.

A task created over a 2025-11-25 connection that has a channel of its own (stdio, or the standalone
GET stream of stateful HTTP) is remembered with that connection until it is terminal or the
connection closes. Notifications are advisory: the client MUST NOT rely on them and polls anyway.

Spec: 2025-11-25 tasks "Task Status Notification" (params are the full Task, no related-task
`_meta`), "Task Progress Notifications" (the original `progressToken`, with related-task `_meta`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from mcp.server.connection import Connection

from mcptasks.core.model import TaskRecord
from mcptasks.core.owner import Owner
from mcptasks.server.workarounds import notify_raw
from mcptasks.wire import v2025_11_25

logger = logging.getLogger("mcptasks.server")


@dataclass(eq=False)
class Channel:
    """The connection that created a task, and who it speaks for."""

    connection: Connection
    owner: Owner
    progress_token: str | int | None
    #: Whether the channel is a pipe (stdio), always open. On HTTP it is the standalone GET stream,
    #: which may or may not be open (see `streams.GetStreams`).
    is_pipe: bool = False
    #: Keeps notifications of one task in order.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class LegacyNotifier:
    """Remembers which connection created which task and pushes its changes there."""

    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}
        self._sending: set[asyncio.Task[None]] = set()

    def attach(self, record: TaskRecord, connection: Connection, owner: Owner, *, is_pipe: bool) -> None:
        """Push future changes of `record` to `connection` (until terminal or closed)."""
        self._channels[record.task_id] = Channel(connection, owner, record.progress_token, is_pipe=is_pipe)
        task_id = record.task_id

        async def forget() -> None:
            self._channels.pop(task_id, None)

        connection.exit_stack.push_async_callback(forget)

    def channel(self, task_id: str) -> Channel | None:
        """The live connection that created `task_id`, if any."""
        return self._channels.get(task_id)

    def on_status(self, record: TaskRecord) -> None:
        """Bus listener: send the full Task as `notifications/tasks/status`."""
        channel = self._channels.get(record.task_id)
        if channel is None:
            return
        if record.is_terminal:
            self._channels.pop(record.task_id, None)
        self._send(channel, "notifications/tasks/status", v2025_11_25.render_task(record))

    def on_progress(
        self, record: TaskRecord, progress: float, total: float | None, message: str | None
    ) -> None:
        """Bus listener: send `notifications/progress` with the creating request's token."""
        channel = self._channels.get(record.task_id)
        if channel is None or channel.progress_token is None:
            return
        params: dict[str, Any] = {"progressToken": channel.progress_token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        params["_meta"] = v2025_11_25.related_task_meta(record.task_id)
        self._send(channel, "notifications/progress", params)

    def _send(self, channel: Channel, method: str, params: dict[str, Any]) -> None:
        async def send() -> None:
            async with channel.lock:
                try:
                    await notify_raw(channel.connection, method, params)
                except Exception:
                    logger.debug("could not deliver %s", method, exc_info=True)

        task = asyncio.get_running_loop().create_task(send())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
