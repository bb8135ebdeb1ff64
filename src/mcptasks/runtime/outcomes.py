"""What the executor stores when a tool cannot end by itself, and how a task's end is counted.

The statusMessages below reach clients (`tasks/get`): they say what happened without internal
detail; the server log has the rest.
"""

from __future__ import annotations

from mcptasks.core.model import ErrorInfo, Failed, TaskRecord
from mcptasks.observe import metrics

#: statusMessage of a task whose tool crashed (the detail is in the server log only).
CRASH_MESSAGE = "Tool execution failed"
#: statusMessage of a task interrupted by a server stop or by a worker that died.
INTERRUPTED_MESSAGE = "Task interrupted: the server stopped while it was running"
#: statusMessage of a parked task whose tool cannot resume ("fail" policy) after a stop.
INTERRUPTED_WAITING_MESSAGE = (
    "Task interrupted while waiting for input: the server stopped and this tool cannot resume"
)
#: statusMessage of a task whose tool this server no longer serves.
UNKNOWN_TOOL_MESSAGE = "Task interrupted: its tool is not served any more"
#: statusMessage of a task whose outcome could not be stored while its worker held the lease.
OUTCOME_LOST_MESSAGE = (
    "Task failed: the tool finished, but its outcome could not be stored while the task store was unavailable"
)


def failure(message: str) -> Failed:
    """The `Failed` outcome with JSON-RPC code -32603 (internal error) and `message` as both the
    error's message and the task's statusMessage."""
    return Failed(ErrorInfo(-32603, message), message)


def finished_metrics(record: TaskRecord) -> None:
    """Count a task this process just made terminal (`observe.metrics.task_finished`)."""
    elapsed = (record.last_updated_at - record.created_at).total_seconds()
    metrics.task_finished(record.tool_name, record.status.value, elapsed)


__all__ = [
    "CRASH_MESSAGE",
    "INTERRUPTED_MESSAGE",
    "INTERRUPTED_WAITING_MESSAGE",
    "OUTCOME_LOST_MESSAGE",
    "UNKNOWN_TOOL_MESSAGE",
    "failure",
    "finished_metrics",
]
