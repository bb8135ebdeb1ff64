"""Rows to domain objects and back: `TaskRecord`, `TaskResult`, `InputRequest`, `TaskEvent`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mcptasks.core.model import ErrorInfo, InputRequest, TaskEvent, TaskRecord, TaskResult, as_utc
from mcptasks.core.status import TaskStatus

Row = Mapping[str, Any]


def _opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def record_from_row(row: Row) -> TaskRecord:
    """Build a `TaskRecord` from a `tasks` row."""
    return TaskRecord(
        task_id=row["task_id"],
        owner_key=row["owner_key"],
        owner_kind=row["owner_kind"],
        owner_issuer=row["owner_issuer"],
        owner_subject=row["owner_subject"],
        owner_client_id=row["owner_client_id"],
        wire=row["wire"],
        tool_name=row["tool_name"],
        arguments=dict(row["arguments"] or {}),
        status=TaskStatus(row["status"]),
        status_message=row["status_message"],
        created_at=as_utc(row["created_at"]),
        last_updated_at=as_utc(row["last_updated_at"]),
        ttl_ms=row["ttl_ms"],
        expires_at=_opt_utc(row["expires_at"]),
        poll_interval_ms=row["poll_interval_ms"],
        progress_token=row["progress_token"],
        client_capabilities=row["client_capabilities"],
        lease_node=row["lease_node"],
        lease_expires_at=_opt_utc(row["lease_expires_at"]),
        attempt=row["attempt"],
        trace_context=row["trace_context"],
    )


def record_params(record: TaskRecord) -> dict[str, Any]:
    """The `insert_task` parameters of `record` (one per column of `tasks`)."""
    return {
        "task_id": record.task_id,
        "owner_kind": record.owner_kind,
        "owner_key": record.owner_key,
        "owner_issuer": record.owner_issuer,
        "owner_subject": record.owner_subject,
        "owner_client_id": record.owner_client_id,
        "wire": record.wire,
        "tool_name": record.tool_name,
        "arguments": record.arguments,
        "status": record.status.value,
        "status_message": record.status_message,
        "created_at": record.created_at,
        "last_updated_at": record.last_updated_at,
        "ttl_ms": record.ttl_ms,
        "expires_at": record.expires_at,
        "poll_interval_ms": record.poll_interval_ms,
        "progress_token": record.progress_token,
        "client_capabilities": record.client_capabilities,
        "lease_node": record.lease_node,
        "lease_expires_at": record.lease_expires_at,
        "attempt": record.attempt,
        "trace_context": record.trace_context,
    }


def result_from_row(row: Row) -> TaskResult | None:
    """The outcome columns (`result`, `error`) of a joined row; None when neither is set."""
    result, error = row.get("result"), row.get("error")
    if result is None and error is None:
        return None
    return TaskResult(result=result, error=None if error is None else ErrorInfo.from_json(error))


def input_request_from_row(row: Row) -> InputRequest:
    """Build an `InputRequest` from a `task_input_requests` row."""
    return InputRequest(
        task_id=row["task_id"],
        key=row["request_key"],
        method=row["method"],
        params=dict(row["params"] or {}),
        created_at=as_utc(row["created_at"]),
        response=row["response"],
        answered_at=_opt_utc(row["answered_at"]),
    )


def event_from_row(row: Row) -> TaskEvent:
    """Build a `TaskEvent` from a `task_events` row."""
    return TaskEvent(
        task_id=row["task_id"],
        from_status=None if row["from_status"] is None else TaskStatus(row["from_status"]),
        to_status=TaskStatus(row["to_status"]),
        at=as_utc(row["at"]),
        message=row["message"],
        attempt=row["attempt"],
    )


__all__ = [
    "Row",
    "event_from_row",
    "input_request_from_row",
    "record_from_row",
    "record_params",
    "result_from_row",
]
