"""Typed shapes of MCP 2025-11-25 in-core tasks, as the client sends and reads them.

`mcp-types` 2.3 carries the 2025-11-25 task types ("types only": the SDK sends none of these
requests itself), so this module re-exports its requests, and reads answers with subclasses of
its results that accept a `Task` without `ttl`: the spec makes `ttl` required (null meaning
unlimited), but servers that serialise without nulls drop it, the `mcp` 1.x SDK among them
(protocol reference E11), and such a task is read as unlimited. On top: `RawResult` (a
`tasks/result` answer before it is known to be a `CallToolResult`) and `snapshot()` (a `Task` as
a wire-neutral `TaskSnapshot`).

Methods: `tools/call` with `params.task` answers `CreateTaskResult {task}`; `tasks/get` and
`tasks/cancel` answer a flat `Task`; `tasks/result` blocks until the task is terminal and answers
its `CallToolResult` (or its JSON-RPC error); `tasks/list` answers `{tasks, nextCursor}`;
`notifications/tasks/status` carries a full `Task`. `ttl` and `pollInterval` are in ms.

Spec: MCP 2025-11-25 `basic/utilities/tasks` (protocol reference part A1).
"""

from __future__ import annotations

import mcp_types
from mcp_types import (
    CancelTaskRequest,
    CancelTaskRequestParams,
    GetTaskPayloadRequest,
    GetTaskPayloadRequestParams,
    GetTaskRequest,
    GetTaskRequestParams,
    ListTasksRequest,
    TaskMetadata,
)
from pydantic import BaseModel, ConfigDict

from mcptasks.client._config import LEGACY_WIRE
from mcptasks.client._models import TaskSnapshot, parse_timestamp
from mcptasks.core.status import TaskStatus

__all__ = [
    "CancelTaskRequest",
    "CancelTaskRequestParams",
    "CancelTaskResult",
    "CreateTaskResult",
    "GetTaskPayloadRequest",
    "GetTaskPayloadRequestParams",
    "GetTaskRequest",
    "GetTaskRequestParams",
    "GetTaskResult",
    "ListTasksRequest",
    "ListTasksResult",
    "RawResult",
    "Task",
    "TaskMetadata",
    "TaskStatusNotificationParams",
    "snapshot",
]


class Task(mcp_types.Task):
    """A 2025-11-25 `Task`: `taskId`, `status`, `statusMessage`, `createdAt`, `lastUpdatedAt`,
    `ttl` (ms from creation; null or absent: unlimited), `pollInterval` (ms)."""

    ttl: int | None = None


class CreateTaskResult(mcp_types.CreateTaskResult):
    """The answer of a task-augmented `tools/call`: `{task}`."""

    task: Task


class GetTaskResult(mcp_types.GetTaskResult):
    """The answer of `tasks/get`: the `Task`, flat."""

    ttl: int | None = None


class CancelTaskResult(mcp_types.CancelTaskResult):
    """The answer of `tasks/cancel`: the `Task`, flat, already `cancelled`."""

    ttl: int | None = None


class ListTasksResult(mcp_types.PaginatedResult):
    """The answer of `tasks/list`: `{tasks, nextCursor}`."""

    tasks: list[Task]


class TaskStatusNotificationParams(mcp_types.TaskStatusNotificationParams):
    """The params of `notifications/tasks/status`: a full `Task`."""

    ttl: int | None = None


class RawResult(BaseModel):
    """Any JSON-RPC result object, every key kept (`model_extra`): read before its shape is known.

    `tasks/result` answers "what the original request would have returned", which is only known
    once the task's status is: a `CallToolResult`, or (some servers, for a failed task) an empty
    result carrying only the related-task `_meta`.
    """

    model_config = ConfigDict(extra="allow")


def snapshot(task: mcp_types.Task) -> TaskSnapshot:
    """A 2025-11-25 `Task` (or anything shaped like one) as a `TaskSnapshot`."""
    return TaskSnapshot(
        task_id=task.task_id,
        status=TaskStatus(task.status),
        status_message=task.status_message,
        created_at=parse_timestamp(task.created_at),
        last_updated_at=parse_timestamp(task.last_updated_at),
        ttl_ms=task.ttl,
        poll_interval_ms=task.poll_interval,
        wire=LEGACY_WIRE,
    )
