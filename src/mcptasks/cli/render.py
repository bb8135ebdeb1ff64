"""How `mcptasks tasks list` and `tasks show` print: a plain-text table, labelled fields, or JSON.

Plain text on purpose: the output is read in terminals and piped into `grep`, `cut` and `head`, so
it is never wrapped to a terminal width nor coloured. Times are UTC.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mcptasks.core.model import TaskEvent, TaskRecord, TaskResult, as_utc

#: Widest status message in the `tasks list` table, in characters.
LIST_MESSAGE_WIDTH = 40


@dataclasses.dataclass(frozen=True, slots=True)
class Shown:
    """Everything `tasks show` prints about one task."""

    record: TaskRecord
    result: TaskResult | None
    events: list[TaskEvent]
    input_requests: list[dict[str, Any]]


def json_default(value: object) -> object:
    """`json.dumps(default=…)`: a datetime as ISO 8601 in UTC. Raises: TypeError for anything else."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def record_json(record: TaskRecord) -> dict[str, Any]:
    """One task as a JSON object: every `TaskRecord` field by its name (times stay datetimes)."""
    out = dataclasses.asdict(record)
    out["status"] = record.status.value
    return out


def shown_json(shown: Shown) -> dict[str, Any]:
    """`tasks show --json`: {task, result, error, events, input_requests}."""
    result = shown.result
    return {
        "task": record_json(shown.record),
        "result": None if result is None else result.result,
        "error": None if result is None or result.error is None else result.error.to_json(),
        "events": [
            {
                "from_status": None if event.from_status is None else event.from_status.value,
                "to_status": event.to_status.value,
                "at": event.at,
                "message": event.message,
                "attempt": event.attempt,
            }
            for event in shown.events
        ],
        "input_requests": shown.input_requests,
    }


def _when(value: datetime | None) -> str:
    return "-" if value is None else as_utc(value).strftime("%Y-%m-%d %H:%M:%S")


def _truncate(text: str | None, width: int) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def _owner_label(record: TaskRecord) -> str:
    """`NAME (local)` for the local user of stdio servers, the subject for another principal, a
    short key for a session, else the kind."""
    if record.owner_key.startswith("local:"):
        return f"{record.owner_subject} (local)"
    if record.owner_kind == "principal":
        return record.owner_subject or record.owner_key
    if record.owner_kind == "session":
        return record.owner_key[: len("session:") + 8]
    return record.owner_kind


def print_table(records: Sequence[TaskRecord]) -> None:
    """`tasks list`: a header and one row per task, columns padded with two spaces."""
    header = ("TASK ID", "STATUS", "TOOL", "OWNER", "CREATED (UTC)", "UPDATED (UTC)", "MESSAGE")
    rows = [
        (
            record.task_id,
            record.status.value,
            record.tool_name,
            _owner_label(record),
            _when(record.created_at),
            _when(record.last_updated_at),
            _truncate(record.status_message, LIST_MESSAGE_WIDTH),
        )
        for record in records
    ]
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(len(header) - 1)]
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=json_default)


def _indented(value: Any, prefix: str = "    ") -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=json_default)
    return "\n".join(prefix + line for line in text.splitlines())


def _print_tool_result(result: dict[str, Any]) -> None:
    """A stored `CallToolResult`: its structured content, else its content blocks (text as is)."""
    print("result (isError: true):" if result.get("isError") else "result:")
    if result.get("structuredContent") is not None:
        print(_indented(result["structuredContent"]))
        return
    for block in result.get("content") or []:
        if isinstance(block, dict) and block.get("type") == "text":
            print("\n".join("    " + line for line in str(block.get("text", "")).splitlines()))
        elif isinstance(block, dict):
            print(f"    [{block.get('type')} content: {block.get('mimeType') or block.get('uri') or '-'}]")


def print_shown(shown: Shown) -> None:
    """`tasks show`: labelled fields, then the outcome, the history and the input requests."""
    record = shown.record
    if record.owner_key.startswith("local:"):
        owner = f"local user {record.owner_subject} ({record.owner_key}, stdio)"
    elif record.owner_kind == "principal":
        owner = (
            f"principal subject={record.owner_subject} client={record.owner_client_id} "
            f"issuer={record.owner_issuer}"
        )
    elif record.owner_kind == "session":
        owner = f"session {record.owner_key}"
    else:
        owner = "capability (anonymous: the task id is the key)"
    if record.ttl_ms is None:
        expires = "never (unlimited ttl)"
    else:
        expires = f"{_when(record.expires_at)} UTC (ttl {record.ttl_ms} ms)"
    lease = (
        "none"
        if record.lease_node is None
        else f"{record.lease_node} until {_when(record.lease_expires_at)} UTC"
    )
    fields = [
        ("task", record.task_id),
        ("tool", record.tool_name),
        ("status", f"{record.status.value} (attempt {record.attempt})"),
        ("message", record.status_message or "-"),
        ("owner", owner),
        ("wire", record.wire),
        ("created", f"{_when(record.created_at)} UTC"),
        ("updated", f"{_when(record.last_updated_at)} UTC"),
        ("expires", expires),
        ("poll every", "-" if record.poll_interval_ms is None else f"{record.poll_interval_ms} ms"),
        ("lease", lease),
        ("progress token", "-" if record.progress_token is None else _compact(record.progress_token)),
        ("arguments", _compact(record.arguments)),
    ]
    width = max(len(label) for label, _ in fields)
    for label, value in fields:
        print(f"{label.ljust(width)}  {value}")

    print()
    result = shown.result
    if result is None:
        print("outcome: none" + ("" if record.is_terminal else " yet (the task is still active)"))
    else:
        if result.result is not None:
            _print_tool_result(result.result)
        if result.error is not None:
            print(f"error: {result.error.code} {result.error.message}")
            if result.error.data is not None:
                print(_indented(result.error.data))

    print()
    print("history:")
    for event in shown.events:
        source = "(created)" if event.from_status is None else event.from_status.value
        line = f"  {_when(event.at)}  {source} -> {event.to_status.value}  attempt {event.attempt}"
        print(line + (f"  {_truncate(event.message, 80)}" if event.message else ""))
    if not shown.events:
        print("  (none)")

    print()
    print("input requests:")
    for request in shown.input_requests:
        answered = request.get("answered_at")
        state = "pending" if answered is None else f"answered {_when(answered)}"
        asked = _when(request.get("created_at"))
        print(f"  {request.get('request_key')}  {request.get('method')}  asked {asked}  {state}")
        print(f"    params:   {_compact(request.get('params'))}")
        if answered is not None:
            print(f"    response: {_compact(request.get('response'))}")
    if not shown.input_requests:
        print("  (none)")
