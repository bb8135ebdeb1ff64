"""Pushes `notifications/tasks/status` and `notifications/progress` to 2025-11-25 clients.

A task created over a 2025-11-25 connection that has a channel of its own (stdio, or the standalone
GET stream of stateful HTTP) is remembered with that connection until it is terminal or the
connection closes; nothing of a task stays once it is terminal, and a connection that closes takes
its tasks' entries with it (one exit-stack callback per connection, not per task).

Notifications to one connection go through one bounded queue (`SEND_QUEUE_SIZE`) drained by a
single sender task, which exists only while something is queued: a slow client holds at most that
many notifications, whatever it is sent. Within the queue the status of a task is coalesced: a
newer status replaces the one still waiting (it moves to the back, after the progress queued
before it), since the latest status says all. When the queue is full, a new progress notification
is dropped; a new status notification makes room by dropping the oldest queued progress
notification, or else the oldest queued status. Nothing else is lost: notifications are advisory,
the client MUST NOT rely on them and polls anyway.

Spec: 2025-11-25 tasks "Task Status Notification" (params are the full Task, no related-task
`_meta`), "Task Progress Notifications" (the original `progressToken`, with related-task `_meta`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mcp.server.connection import Connection

from mcptasks.core.model import TaskRecord
from mcptasks.core.owner import Owner
from mcptasks.server.v2025_11_25.streams import GetStreams
from mcptasks.server.workarounds import notify_raw
from mcptasks.wire import v2025_11_25

logger = logging.getLogger("mcptasks.server")

#: Most notifications waiting to be sent to one connection (see the module docstring).
SEND_QUEUE_SIZE = 256

_STATUS = "notifications/tasks/status"
_PROGRESS = "notifications/progress"

#: A queued notification's key: ("status", taskId) for the coalesced status of a task,
#: ("progress", n) for each progress notification.
_Key = tuple[str, str | int]


@dataclass(eq=False)
class Channel:
    """The connection that created a task, and who it speaks for."""

    connection: Connection
    owner: Owner
    progress_token: str | int | None
    #: Whether the channel is a pipe (stdio), always open. On HTTP it is the standalone GET stream,
    #: which may or may not be open (see `streams.GetStreams`).
    is_pipe: bool = False
    #: `last_updated_at` of the task as last notified: the same change is not sent twice (a change
    #: made here and heard of again from another replica).
    last_sent: datetime | None = None
    #: While the task's CreateTaskResult is not answered yet: what it reported meanwhile, in
    #: order (sent by `TaskNotifier.release`); None once released.
    held: list[tuple[_Key, str, dict[str, Any]]] | None = None


@dataclass(eq=False)
class _Outbox:
    """One connection's queued notifications (in send order) and its sender, while it has any."""

    connection: Connection
    queue: dict[_Key, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    sender: asyncio.Task[None] | None = None


class TaskNotifier:
    """Remembers which connection created which task and pushes its changes there."""

    def __init__(self, get_streams: GetStreams, *, queue_size: int = SEND_QUEUE_SIZE) -> None:
        self._get_streams = get_streams
        self._queue_size = queue_size
        self._channels: dict[str, Channel] = {}
        #: Channels held until their task's CreateTaskResult is answered (`release`).
        self._held: dict[str, Channel] = {}
        #: The tasks attached to each connection (by `id`) that has an active one.
        self._by_connection: dict[int, set[str]] = {}
        #: Connections (by `id`) whose exit stack forgets them: one callback per connection.
        self._watched: set[int] = set()
        #: Connections (by `id`) with notifications waiting.
        self._outboxes: dict[int, _Outbox] = {}
        self._numbers = itertools.count()
        #: Notifications dropped because a connection's queue was full (since start).
        self.dropped = 0

    def attach(
        self, record: TaskRecord, connection: Connection, owner: Owner, *, is_pipe: bool, held: bool = False
    ) -> None:
        """Push future changes of `record` to `connection` (until terminal or closed).

        `held=True`: keep them until `release(taskId)`, so a client hears of the task only after
        its CreateTaskResult (the tool may start before the task's row is committed); `drop` if
        the task is not created after all.
        """
        if record.is_terminal:
            return
        channel = Channel(connection, owner, record.progress_token, is_pipe=is_pipe)
        self._channels[record.task_id] = channel
        if held:
            channel.held = []
            self._held[record.task_id] = channel
        key = id(connection)
        self._by_connection.setdefault(key, set()).add(record.task_id)
        if key not in self._watched:
            self._watched.add(key)

            async def forget() -> None:
                self._watched.discard(key)
                for task_id in self._by_connection.pop(key, set()):
                    self._channels.pop(task_id, None)
                outbox = self._outboxes.pop(key, None)
                if outbox is not None and outbox.sender is not None:
                    outbox.sender.cancel()

            connection.exit_stack.push_async_callback(forget)

    def release(self, task_id: str) -> None:
        """Send what `task_id` reported while held, in order; from now on its changes go out as
        they happen."""
        channel = self._held.pop(task_id, None)
        if channel is None or channel.held is None:
            return
        held, channel.held = channel.held, None
        for key, method, params in held:
            self._send(channel, key, method, params)

    def drop(self, task_id: str) -> None:
        """Push nothing of `task_id`, held or not (its creation failed after `attach`)."""
        self._held.pop(task_id, None)
        self.detach(task_id)

    def detach(self, task_id: str) -> None:
        """Push nothing more of `task_id` (what it reported while held still goes at `release`)."""
        channel = self._channels.pop(task_id, None)
        if channel is not None:
            key = id(channel.connection)
            attached = self._by_connection.get(key)
            if attached is not None:
                attached.discard(task_id)
                if not attached:
                    del self._by_connection[key]

    @property
    def attached(self) -> int:
        """How many tasks have a channel now (the notifier's per-task state)."""
        return len(self._channels)

    def sizes(self) -> dict[str, int]:
        """Sizes of the notifier's state: tasks with a channel, connections with an active task,
        connections open with a close callback, connections with notifications queued, and the
        notifications queued."""
        return {
            "notify_channels": len(self._channels),
            "notify_connections_active": len(self._by_connection),
            "notify_connections_watched": len(self._watched),
            "notify_outboxes": len(self._outboxes),
            "notify_queued": sum(len(outbox.queue) for outbox in self._outboxes.values()),
        }

    def has_channel(self, task_id: str) -> bool:
        """Whether changes of `task_id` are pushed to a connection of this process."""
        return task_id in self._channels

    def channel(self, task_id: str) -> Channel | None:
        """The live connection that created `task_id`, if any."""
        return self._channels.get(task_id)

    def tasks_of_session(self, session_id: str) -> list[tuple[str, Owner]]:
        """The active tasks (taskId, owner) created over HTTP session `session_id`."""
        return [
            (task_id, channel.owner)
            for task_id, channel in self._channels.items()
            if not channel.is_pipe and channel.connection.session_id == session_id
        ]

    def on_status(self, record: TaskRecord) -> None:
        """Bus listener: send the full Task as `notifications/tasks/status`."""
        channel = self._channels.get(record.task_id)
        if channel is None or channel.last_sent == record.last_updated_at:
            return
        channel.last_sent = record.last_updated_at
        if record.is_terminal:
            self.detach(record.task_id)
        self._send(channel, ("status", record.task_id), _STATUS, v2025_11_25.render_task(record))

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
        self._send(channel, ("progress", next(self._numbers)), _PROGRESS, params)

    def _send(self, channel: Channel, key: _Key, method: str, params: dict[str, Any]) -> None:
        held = channel.held
        if held is not None:
            if key[0] == "status":
                held[:] = [entry for entry in held if entry[0] != key]  # the latest status says all
            if len(held) < self._queue_size or method != _PROGRESS:
                held.append((key, method, params))
            else:
                self.dropped += 1
            return
        if not channel.is_pipe and not self._get_streams.is_open(channel.connection.session_id):
            return  # no GET stream open: the SDK would drop it anyway
        connection_key = id(channel.connection)
        outbox = self._outboxes.get(connection_key)
        if outbox is None:
            outbox = self._outboxes[connection_key] = _Outbox(channel.connection)
        queue = outbox.queue
        queue.pop(key, None)  # a status waiting for this task is replaced, at the back
        if len(queue) >= self._queue_size and not self._make_room(queue, method):
            self.dropped += 1
            return
        queue[key] = (method, params)
        if outbox.sender is None:
            outbox.sender = asyncio.get_running_loop().create_task(self._drain(connection_key, outbox))

    def _make_room(self, queue: dict[_Key, tuple[str, dict[str, Any]]], method: str) -> bool:
        """Drop one queued notification for a new `method` one; False if the new one is dropped."""
        if method == _PROGRESS:
            return False
        victim = next((key for key in queue if key[0] == "progress"), None)
        if victim is None:
            victim = next(iter(queue))
        del queue[victim]
        self.dropped += 1
        return True

    async def _drain(self, connection_key: int, outbox: _Outbox) -> None:
        """Send `outbox`'s notifications in order until it is empty, then forget it."""
        queue = outbox.queue
        try:
            while queue:
                key = next(iter(queue))
                method, params = queue.pop(key)
                try:
                    await notify_raw(outbox.connection, method, params)
                except Exception:
                    logger.debug("could not deliver %s", method, exc_info=True)
        finally:
            outbox.sender = None
            if self._outboxes.get(connection_key) is outbox and not queue:
                del self._outboxes[connection_key]
