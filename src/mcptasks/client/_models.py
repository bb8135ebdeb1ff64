"""What the client reports about a task, the same on both wires.

`TaskSnapshot` is a task as the server last described it; `Question` is one question a tool asked;
`StatusUpdate`, `ProgressUpdate` and `QuestionUpdate` are what `async for update in handle` yields;
`TaskPage` is one page of `tasks/list`. The typed shapes of each wire are in
`mcptasks.client.v2025_11_25` and `mcptasks.client.sep2663`; this module holds what both have in
common, so code written against it runs on either wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from mcp_types import (
    CreateMessageRequest,
    CreateMessageResult,
    CreateMessageResultWithTools,
    ElicitRequest,
    ElicitResult,
)

from mcptasks.client._config import Wire
from mcptasks.core.status import TaskStatus

__all__ = [
    "Answer",
    "ProgressUpdate",
    "Question",
    "QuestionRequest",
    "QuestionUpdate",
    "StatusUpdate",
    "TaskPage",
    "TaskSnapshot",
    "TaskUpdate",
]

#: A question's request: an elicitation (a form for the user) or a sampling request (for the model).
QuestionRequest = ElicitRequest | CreateMessageRequest

#: An answer to a question: the `ElicitResult` or the `CreateMessageResult` it asks for.
Answer = ElicitResult | CreateMessageResult | CreateMessageResultWithTools


def parse_timestamp(value: str) -> datetime:
    """An ISO 8601 wire timestamp as a timezone-aware datetime (a naive one is taken as UTC)."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, kw_only=True)
class TaskSnapshot:
    """A task as the server last described it (`tasks/get`, `tasks/cancel`, a status notification).

    Spec: 2025-11-25 `Task` (`ttl`, `pollInterval`); SEP-2663 `Task` (`ttlMs`, `pollIntervalMs`).
    """

    #: The task's id; None only for a result the server gave at once instead of a task (2026-07-28).
    task_id: str | None
    #: `working`, `input_required`, `completed`, `failed` or `cancelled`.
    status: TaskStatus
    #: The server's human-readable note on the current status, or None.
    status_message: str | None
    #: When the task was created (timezone-aware).
    created_at: datetime
    #: When the task last changed (timezone-aware).
    last_updated_at: datetime
    #: How long the server keeps the task after its creation, in ms; None means unlimited.
    ttl_ms: int | None
    #: How often the server suggests polling, in ms; None when it suggests nothing.
    poll_interval_ms: int | None
    #: The wire the task was read on.
    wire: Wire

    @property
    def is_terminal(self) -> bool:
        """True for `completed`, `failed` and `cancelled`: the status never changes again."""
        return self.status.is_terminal


@dataclass(frozen=True, kw_only=True)
class Question:
    """A question a tool asked its client while its task runs (or, on 2026-07-28, before it exists).

    Spec: 2025-11-25 `elicitation/create` / `sampling/createMessage` with the related-task `_meta`;
    SEP-2663 `inputRequests` entries, answered with `tasks/update`.
    """

    #: The task that asks; None for a question asked before the task exists (2026-07-28).
    task_id: str | None
    #: The key to answer it under with `TaskHandle.answer({key: ...})`: the server's
    #: `inputRequests` key on 2026-07-28, the JSON-RPC request id (as text) on 2025-11-25.
    key: str
    #: The request: `ElicitRequest` (a form) or `CreateMessageRequest` (sampling).
    request: QuestionRequest

    @property
    def method(self) -> str:
        """`"elicitation/create"` or `"sampling/createMessage"`."""
        return self.request.method


@dataclass(frozen=True)
class StatusUpdate:
    """The task's status or status message changed; the last update of a task is a terminal one."""

    #: The task as now described.
    task: TaskSnapshot


@dataclass(frozen=True)
class ProgressUpdate:
    """The tool reported progress (2025-11-25 `notifications/progress`; SEP-2663 has none)."""

    #: Progress so far (grows with each update).
    progress: float
    #: The total, when the tool knows it.
    total: float | None = None
    #: The tool's note on this step, or None.
    message: str | None = None


@dataclass(frozen=True)
class QuestionUpdate:
    """The tool asked a question; `answer` is the handler's answer, None when it waits for one."""

    #: The question.
    question: Question
    #: The answer a handler sent, or None: then answer with `TaskHandle.answer()`.
    answer: Answer | None = None


#: One item of `async for update in handle`.
TaskUpdate = StatusUpdate | ProgressUpdate | QuestionUpdate


@dataclass(frozen=True)
class TaskPage:
    """One page of `tasks/list` (2025-11-25): the caller's tasks, newest first on mcptasks."""

    #: The tasks of this page.
    tasks: list[TaskSnapshot] = field(default_factory=list)
    #: Pass to `list_tasks(cursor=...)` for the next page; None on the last page.
    next_cursor: str | None = None
