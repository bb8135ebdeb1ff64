"""MCP 2025-11-25 in-core tasks (SEP-1686): params models and record rendering.

Spec: `basic/utilities/tasks` of revision 2025-11-25 — `Task` (ttl required-nullable),
`CreateTaskResult {task}`, `tasks/get|result|list|cancel`, `notifications/tasks/status`,
related-task `_meta`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from mcptasks.core.model import TaskRecord
from mcptasks.wire.render import task_fields

#: `_meta` key tying a message to a task.
RELATED_TASK_META_KEY = "io.modelcontextprotocol/related-task"


class _Params(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=False)


class TaskMetadata(_Params):
    """`params.task` of a task-augmented `tools/call`: the requested ttl in ms."""

    ttl: StrictInt | None = Field(default=None, ge=1, le=2**53 - 1)


class CallToolTaskParams(_Params):
    """The parts of a task-augmented `tools/call` mcptasks reads before running the tool."""

    name: StrictStr = Field(min_length=1)
    arguments: dict[str, Any] | None = None
    task: TaskMetadata


class TaskIdParams(_Params):
    """Params of `tasks/get`, `tasks/result` and `tasks/cancel`: `{taskId}`."""

    task_id: StrictStr = Field(alias="taskId", min_length=1, max_length=256)


class ListParams(_Params):
    """Params of `tasks/list`: an optional opaque `cursor`."""

    cursor: StrictStr | None = Field(default=None, max_length=4096)


def render_task(record: TaskRecord) -> dict[str, Any]:
    """The 2025-11-25 `Task` object; `ttl` is always present (null = unlimited)."""
    return task_fields(record, ttl_key="ttl", poll_key="pollInterval")


def create_task_result(record: TaskRecord) -> dict[str, Any]:
    """`CreateTaskResult`: the task nested under `task`."""
    return {"task": render_task(record)}


def list_result(records: list[TaskRecord], next_cursor: str | None) -> dict[str, Any]:
    """`ListTasksResult`: full tasks, plus `nextCursor` when more exist."""
    out: dict[str, Any] = {"tasks": [render_task(r) for r in records]}
    if next_cursor is not None:
        out["nextCursor"] = next_cursor
    return out


#: `_meta` key of a question mcptasks sends (2025-11-25): the task's own key for it (`input-1`, ...).
#: A question may be sent on several streams, as several requests: copies carry the same key, so a
#: client can answer once (mcptasks stores the first answer to any copy).
INPUT_KEY_META_KEY = "mcptasks/inputKey"


def related_task_meta(task_id: str) -> dict[str, Any]:
    """The `_meta` entry tying a message to `task_id`."""
    return {RELATED_TASK_META_KEY: {"taskId": task_id}}


def with_related_task(result: dict[str, Any], task_id: str) -> dict[str, Any]:
    """`result` with the related-task `_meta` added (the `tasks/result` response MUST carry it)."""
    meta = dict(result.get("_meta") or {})
    meta.update(related_task_meta(task_id))
    return {**result, "_meta": meta}
