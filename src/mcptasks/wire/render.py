"""The fields of a task that both wires render alike (timestamps, ids, status, ttl, polling).

Spec: 2025-11-25 tasks "Task" object; SEP-2663 "Task" (the same fields, other ttl/poll keys).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mcptasks.core.model import TaskRecord, as_utc


def datetime_to_wire(value: datetime) -> str:
    """An ISO 8601 UTC timestamp with millisecond precision and a `Z` suffix."""
    utc = as_utc(value)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def task_fields(record: TaskRecord, *, ttl_key: str, poll_key: str) -> dict[str, Any]:
    """The fields of a Task common to both wires; the ttl and polling keys differ per wire.

    The ttl key is always present (null = unlimited): it is required-nullable on both wires.
    """
    task: dict[str, Any] = {
        "taskId": record.task_id,
        "status": record.status.value,
        "createdAt": datetime_to_wire(record.created_at),
        "lastUpdatedAt": datetime_to_wire(record.last_updated_at),
        ttl_key: record.ttl_ms,
    }
    if record.status_message is not None:
        task["statusMessage"] = record.status_message
    if record.poll_interval_ms is not None:
        task[poll_key] = record.poll_interval_ms
    return task


__all__ = ["datetime_to_wire", "task_fields"]
