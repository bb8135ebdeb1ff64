"""The 2025-11-25 wire: `Task` rendering (ttl always present) and params that name bad fields."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mcptasks.core.errors import InvalidParams
from mcptasks.core.model import TaskRecord
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.wire import v2025_11_25 as wire
from mcptasks.wire.params import parse_params
from mcptasks.wire.render import datetime_to_wire

WIRE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
CREATED = datetime(2025, 11, 25, 8, 30, 15, 123456, tzinfo=UTC)


def record(**changes: Any) -> TaskRecord:
    base = TaskRecord.new(
        owner=Owner.session("s"),
        wire="2025-11-25",
        tool_name="t",
        arguments={},
        ttl_ms=60_000,
        poll_interval_ms=1000,
        now=CREATED,
    )
    return base.evolve(**changes)


def test_render_task() -> None:
    task = record(status_message="half way", last_updated_at=CREATED + timedelta(seconds=2))
    assert wire.render_task(task) == {
        "taskId": task.task_id,
        "status": "working",
        "createdAt": "2025-11-25T08:30:15.123Z",
        "lastUpdatedAt": "2025-11-25T08:30:17.123Z",
        "ttl": 60_000,
        "statusMessage": "half way",
        "pollInterval": 1000,
    }


def test_ttl_is_present_and_null_when_unlimited() -> None:
    rendered = wire.render_task(record(ttl_ms=None, expires_at=None))
    assert "ttl" in rendered and rendered["ttl"] is None


def test_optional_fields_are_omitted_when_none() -> None:
    rendered = wire.render_task(record(status_message=None, poll_interval_ms=None))
    assert "statusMessage" not in rendered
    assert "pollInterval" not in rendered
    assert None not in {v for k, v in rendered.items() if k != "ttl"}


@pytest.mark.parametrize("status", list(TaskStatus))
def test_timestamps_end_with_z(status: TaskStatus) -> None:
    rendered = wire.render_task(record(status=status))
    assert rendered["status"] == status.value
    assert WIRE_TIME.fullmatch(rendered["createdAt"])
    assert WIRE_TIME.fullmatch(rendered["lastUpdatedAt"])


def test_datetime_to_wire_keeps_milliseconds() -> None:
    assert datetime_to_wire(datetime(2025, 1, 2, 3, 4, 5, 999, tzinfo=UTC)) == "2025-01-02T03:04:05.000Z"
    assert datetime_to_wire(datetime(2025, 1, 2, 3, 4, 5, 999999, tzinfo=UTC)) == "2025-01-02T03:04:05.999Z"


def test_create_task_result_nests_the_task() -> None:
    task = record()
    assert wire.create_task_result(task) == {"task": wire.render_task(task)}


def test_list_result() -> None:
    tasks = [record(), record()]
    assert wire.list_result(tasks, None) == {"tasks": [wire.render_task(t) for t in tasks]}
    assert wire.list_result([], "abc") == {"tasks": [], "nextCursor": "abc"}


def test_related_task_meta() -> None:
    result = {"content": [], "_meta": {"other": 1}}
    with_meta = wire.with_related_task(result, "task-1")
    assert with_meta["_meta"] == {"other": 1, "io.modelcontextprotocol/related-task": {"taskId": "task-1"}}
    assert result == {"content": [], "_meta": {"other": 1}}  # not mutated
    assert wire.with_related_task({"content": []}, "t")["_meta"] == wire.related_task_meta("t")


# -- params ---------------------------------------------------------------------------------------


def test_parse_task_id() -> None:
    assert parse_params(wire.TaskIdParams, {"taskId": "abc", "extra": 1}).task_id == "abc"


REJECTED = "rejected-value-7731"


@pytest.mark.parametrize(
    ("model", "params", "field"),
    [
        (wire.TaskIdParams, None, "taskId"),
        (wire.TaskIdParams, {}, "taskId"),
        (wire.TaskIdParams, {"taskId": 7731}, "taskId"),
        (wire.TaskIdParams, {"taskId": ""}, "taskId"),
        (wire.TaskIdParams, {"taskId": REJECTED * 40}, "taskId"),
        (wire.TaskIdParams, {"task_id": REJECTED}, "taskId"),  # the wire spelling only
        (wire.CallToolTaskParams, {"name": "t", "task": {"ttl": REJECTED}}, "task.ttl"),
        (wire.CallToolTaskParams, {"name": "t", "task": {"ttl": -7731}}, "task.ttl"),
        (wire.CallToolTaskParams, {"name": "t", "task": {"ttl": 0}}, "task.ttl"),
        (wire.CallToolTaskParams, {"name": "t", "task": {"ttl": 7731.5}}, "task.ttl"),
        (wire.CallToolTaskParams, {"name": "t", "task": {"ttl": 2**53}}, "task.ttl"),
        (wire.CallToolTaskParams, {"name": "t", "task": REJECTED}, "task"),
        (wire.CallToolTaskParams, {"name": "t"}, "task"),
        (wire.CallToolTaskParams, {"task": {}}, "name"),
        (wire.CallToolTaskParams, {"name": "t", "task": {}, "arguments": [REJECTED]}, "arguments"),
        (wire.ListParams, {"cursor": 7731}, "cursor"),
        (wire.ListParams, {"cursor": REJECTED * 300}, "cursor"),
    ],
)
def test_params_errors_name_the_field_and_never_echo_the_value(
    model: Any, params: dict[str, Any] | None, field: str
) -> None:
    with pytest.raises(InvalidParams) as caught:
        parse_params(model, params)
    error = caught.value
    assert error.field == field
    assert error.data == {"field": field}
    assert error.message.startswith(f"Invalid params: {field}: ")
    assert REJECTED not in error.message and "7731" not in error.message
    assert error.__cause__ is None and error.__suppress_context__


def test_valid_call_params() -> None:
    parsed = parse_params(
        wire.CallToolTaskParams, {"name": "t", "arguments": {"a": 1}, "task": {"ttl": 5000}}
    )
    assert (parsed.name, parsed.arguments, parsed.task.ttl) == ("t", {"a": 1}, 5000)
    assert parse_params(wire.CallToolTaskParams, {"name": "t", "task": {}}).task.ttl is None
    assert parse_params(wire.ListParams, None).cursor is None
