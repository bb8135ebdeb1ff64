"""SEP-2663 tasks extension `io.modelcontextprotocol/tasks` on the 2026-07-28 wire.

Spec: SEP-2663 (Final) and ext-tasks `specification/draft/tasks.md` — flat `CreateTaskResult`
(`resultType: "task"`), `DetailedTask` for `tasks/get` (result, error or inputRequests inlined),
empty acknowledgements for `tasks/update` and `tasks/cancel`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from mcptasks.core.model import TaskRecord, TaskResult
from mcptasks.core.status import TaskStatus
from mcptasks.wire.render import task_fields

#: The extension identifier, advertised under `capabilities.extensions`.
EXTENSION_ID = "io.modelcontextprotocol/tasks"


class _Params(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=False)


class TaskIdParams(_Params):
    """Params of `tasks/get` and `tasks/cancel`: `{taskId}`."""

    task_id: StrictStr = Field(alias="taskId", min_length=1, max_length=256)


class UpdateParams(_Params):
    """Params of `tasks/update`: `{taskId, inputResponses}` (both required)."""

    task_id: StrictStr = Field(alias="taskId", min_length=1, max_length=256)
    input_responses: dict[str, Any] = Field(alias="inputResponses")


def render_task(record: TaskRecord) -> dict[str, Any]:
    """The SEP-2663 `Task` fields; `ttlMs` is always present (null = unlimited)."""
    return task_fields(record, ttl_key="ttlMs", poll_key="pollIntervalMs")


def create_task_result(record: TaskRecord) -> dict[str, Any]:
    """`CreateTaskResult`: the task fields flat, with `resultType: "task"`."""
    return {"resultType": "task", **render_task(record)}


def detailed_task(
    record: TaskRecord, outcome: TaskResult | None, input_requests: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`GetTaskResult`: the `DetailedTask` variant matching the status, `resultType: "complete"`.

    A completed task inlines `result`; a failed one `error`; an input_required one
    `inputRequests` (all outstanding requests).
    """
    out: dict[str, Any] = {"resultType": "complete", **render_task(record)}
    if record.status is TaskStatus.COMPLETED:
        # Stored results never carry the 2025 related-task `_meta` (it is added per response).
        out["result"] = (
            outcome.result if outcome is not None and outcome.result is not None else {"content": []}
        )
    elif record.status is TaskStatus.FAILED:
        if outcome is not None and outcome.error is not None:
            out["error"] = outcome.error.to_json()
        else:
            out["error"] = {"code": -32603, "message": record.status_message or "Task failed"}
    elif record.status is TaskStatus.INPUT_REQUIRED:
        out["inputRequests"] = input_requests or {}
    return out


def ack() -> dict[str, Any]:
    """The empty acknowledgement of `tasks/update` and `tasks/cancel`."""
    return {"resultType": "complete"}
