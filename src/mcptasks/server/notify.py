"""Pushes `notifications/tasks/status` and `notifications/progress` to 2025-11-25 clients.

A task created over a 2025-11-25 connection that has a channel of its own (stdio, or the standalone
GET stream of stateful HTTP) is remembered with that connection until it is terminal or the
connection closes; nothing of a task stays once it is terminal, and a connection that closes takes
its tasks' entries with it (one callback per connection, not per task). Notifications are advisory:
the client MUST NOT rely on them and polls anyway.

Spec: 2025-11-25 tasks "Task Status Notification" (params are the full Task, no related-task
`_meta`), "Task Progress Notifications" (the original `progressToken`, with related-task `_meta`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mcp.server.connection import Connection

from mcptasks.core.model import TaskRecord
from mcptasks.core.owner import Owner
from mcptasks.server.streams import GetStreams
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
    #: `last_updated_at` of the task as last notified: the same change is not sent twice (a change
    #: made here and heard of again from another replica).
    last_sent: datetime | None = None


class LegacyNotifier:
    """Remembers which connection created which task and pushes its changes there."""

    def __init__(self, get_streams: GetStreams) -> None:
        self._get_streams = get_streams
        self._channels: dict[str, Channel] = {}
        #: The tasks attached to each open connection (by `id`), to forget them when it closes.
        self._by_connection: dict[int, set[str]] = {}
        self._sending: set[asyncio.Task[None]] = set()

    def attach(self, record: TaskRecord, connection: Connection, owner: Owner, *, is_pipe: bool) -> None:
        """Push future changes of `record` to `connection` (until terminal or closed)."""
        if record.is_terminal:
            return
        self._channels[record.task_id] = Channel(connection, owner, record.progress_token, is_pipe=is_pipe)
        key = id(connection)
        attached = self._by_connection.get(key)
        if attached is None:
            attached = self._by_connection[key] = set()

            async def forget() -> None:
                for task_id in self._by_connection.pop(key, set()):
                    self._channels.pop(task_id, None)

            connection.exit_stack.push_async_callback(forget)
        attached.add(record.task_id)

    def _detach(self, task_id: str) -> None:
        channel = self._channels.pop(task_id, None)
        if channel is not None:
            attached = self._by_connection.get(id(channel.connection))
            if attached is not None:
                attached.discard(task_id)

    @property
    def attached(self) -> int:
        """How many tasks have a channel now (the notifier's per-task state)."""
        return len(self._channels)

    def has_channel(self, task_id: str) -> bool:
        """Whether changes of `task_id` are pushed to a connection of this process."""
        return task_id in self._channels

    def channel(self, task_id: str) -> Channel | None:
        """The live connection that created `task_id`, if any."""
        return self._channels.get(task_id)

    def on_status(self, record: TaskRecord) -> None:
        """Bus listener: send the full Task as `notifications/tasks/status`."""
        channel = self._channels.get(record.task_id)
        if channel is None or channel.last_sent == record.last_updated_at:
            return
        channel.last_sent = record.last_updated_at
        if record.is_terminal:
            self._detach(record.task_id)
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
        if not channel.is_pipe and not self._get_streams.is_open(channel.connection.session_id):
            return  # no GET stream open: the SDK would drop it anyway

        async def send() -> None:
            async with channel.lock:
                try:
                    await notify_raw(channel.connection, method, params)
                except Exception:
                    logger.debug("could not deliver %s", method, exc_info=True)

        task = asyncio.get_running_loop().create_task(send())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
