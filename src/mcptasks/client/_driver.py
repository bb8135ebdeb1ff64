"""The contract between `TaskHandle` and a task wire, and what both wires share.

A `Driver` speaks one wire (`_legacy.LegacyDriver` for 2025-11-25, `_modern.ModernDriver` for
SEP-2663 on 2026-07-28); `TaskHandle` and `TaskClient` only ever call these methods, so the
handle API is the same whichever wire the server offers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from mcp_types import CallToolResult

from mcptasks.client._config import DEFAULT_POLL_INTERVAL_MS, MIN_POLL_INTERVAL_MS, Wire
from mcptasks.client._errors import TaskCancelledError
from mcptasks.client._models import Answer, QuestionRequest, TaskPage, TaskSnapshot, TaskUpdate
from mcptasks.core.status import TaskStatus


@dataclass(frozen=True)
class Created:
    """What a `tools/call` made: a task, or (`result` set) a result given at once without one."""

    snapshot: TaskSnapshot
    result: CallToolResult | None = None


class Driver(Protocol):
    """One task wire, as the handle uses it. Every method raises `TaskClientError` subclasses."""

    wire: Wire

    async def create(self, name: str, arguments: dict[str, Any], ttl_ms: int | None) -> Created:
        """Call the tool as a task (`ttl_ms`: requested retention, where the wire has one)."""
        ...

    async def get(self, task_id: str) -> TaskSnapshot:
        """The task as the server describes it now."""
        ...

    async def cancel(self, task_id: str) -> TaskSnapshot:
        """Ask for cancellation; the task as it stands afterwards (a terminal task is left as is)."""
        ...

    async def outcome(self, final: TaskSnapshot) -> CallToolResult:
        """The result of the terminal task `final`, or its failure or cancellation as an exception."""
        ...

    async def input_requests(self, task_id: str) -> dict[str, QuestionRequest]:
        """The task's questions this client has not answered yet, by key."""
        ...

    async def answer(self, task_id: str, answers: Mapping[str, Answer | Mapping[str, Any]]) -> None:
        """Answer some or all of the task's questions; keys not outstanding are ignored."""
        ...

    def updates(self, task_id: str, poll_ms: int | None) -> AsyncGenerator[TaskUpdate, None]:
        """Status changes, progress and questions of the task until it is terminal."""
        ...

    async def list_tasks(self, cursor: str | None) -> TaskPage:
        """One page of the caller's tasks."""
        ...


def immediate_snapshot(wire: Wire) -> TaskSnapshot:
    """The snapshot of a result given at once: no task id, `completed`, now."""
    now = datetime.now(UTC)
    return TaskSnapshot(
        task_id=None,
        status=TaskStatus.COMPLETED,
        status_message=None,
        created_at=now,
        last_updated_at=now,
        ttl_ms=None,
        poll_interval_ms=None,
        wire=wire,
    )


def poll_interval_s(poll_ms: int | None, task: TaskSnapshot) -> float:
    """Seconds until the next poll: the caller's `poll_ms`, else the server's suggestion, else 1 s."""
    chosen = poll_ms if poll_ms is not None else task.poll_interval_ms
    return max(chosen if chosen is not None else DEFAULT_POLL_INTERVAL_MS, MIN_POLL_INTERVAL_MS) / 1000


def status_changed(before: TaskSnapshot | None, after: TaskSnapshot) -> bool:
    """Whether `after` is news after `before`: another status or another status message."""
    return before is None or (before.status, before.status_message) != (after.status, after.status_message)


def raise_if_cancelled(final: TaskSnapshot) -> None:
    """Raises: TaskCancelledError when `final` is cancelled."""
    if final.status is TaskStatus.CANCELLED:
        raise TaskCancelledError(final.task_id)
