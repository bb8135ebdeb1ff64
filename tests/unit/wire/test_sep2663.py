"""The SEP-2663 wire: flat tasks with `ttlMs`, `DetailedTask` variants, params errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from mcptasks.core.errors import InvalidParams
from mcptasks.core.model import ErrorInfo, TaskRecord, TaskResult
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.wire import sep2663 as wire
from mcptasks.wire.params import parse_params

WIRE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
CREATED = datetime(2026, 7, 28, 23, 59, 59, 999999, tzinfo=UTC)
RESULT = {"content": [{"type": "text", "text": "done"}], "isError": False}
ERROR = ErrorInfo(-32602, "bad input", {"field": "n"})


def record(**changes: Any) -> TaskRecord:
    base = TaskRecord.new(
        owner=Owner.capability(),
        wire="sep-2663",
        tool_name="t",
        arguments={},
        ttl_ms=60_000,
        poll_interval_ms=500,
        now=CREATED,
    )
    return base.evolve(**changes)


def test_render_task() -> None:
    task = record(status_message="working on it")
    assert wire.render_task(task) == {
        "taskId": task.task_id,
        "status": "working",
        "createdAt": "2026-07-28T23:59:59.999Z",
        "lastUpdatedAt": "2026-07-28T23:59:59.999Z",
        "ttlMs": 60_000,
        "statusMessage": "working on it",
        "pollIntervalMs": 500,
    }


def test_ttl_ms_is_present_and_null_when_unlimited() -> None:
    rendered = wire.render_task(record(ttl_ms=None, expires_at=None))
    assert "ttlMs" in rendered and rendered["ttlMs"] is None
    assert "ttl" not in rendered


def test_optional_fields_are_omitted_when_none() -> None:
    rendered = wire.render_task(record(status_message=None, poll_interval_ms=None))
    assert "statusMessage" not in rendered and "pollIntervalMs" not in rendered


@pytest.mark.parametrize("status", list(TaskStatus))
def test_timestamps_end_with_z(status: TaskStatus) -> None:
    rendered = wire.render_task(record(status=status))
    assert WIRE_TIME.fullmatch(rendered["createdAt"]) and WIRE_TIME.fullmatch(rendered["lastUpdatedAt"])


def test_create_task_result_is_flat() -> None:
    task = record()
    assert wire.create_task_result(task) == {"resultType": "task", **wire.render_task(task)}


def test_ack() -> None:
    assert wire.ack() == {"resultType": "complete"}


class TestDetailedTask:
    def test_completed_inlines_the_result(self) -> None:
        task = record(status=TaskStatus.COMPLETED)
        detailed = wire.detailed_task(task, TaskResult(result=RESULT))
        assert detailed == {"resultType": "complete", **wire.render_task(task), "result": RESULT}
        assert "error" not in detailed and "inputRequests" not in detailed

    def test_completed_without_a_stored_result_has_empty_content(self) -> None:
        detailed = wire.detailed_task(record(status=TaskStatus.COMPLETED), None)
        assert detailed["result"] == {"content": []}

    def test_failed_inlines_the_error(self) -> None:
        task = record(status=TaskStatus.FAILED, status_message="bad input")
        detailed = wire.detailed_task(task, TaskResult(error=ERROR))
        assert detailed["error"] == {"code": -32602, "message": "bad input", "data": {"field": "n"}}
        assert "result" not in detailed and "inputRequests" not in detailed

    def test_failed_without_a_stored_error_uses_the_status_message(self) -> None:
        detailed = wire.detailed_task(record(status=TaskStatus.FAILED, status_message="Task expired"), None)
        assert detailed["error"] == {"code": -32603, "message": "Task expired"}
        detailed = wire.detailed_task(record(status=TaskStatus.FAILED), None)
        assert detailed["error"] == {"code": -32603, "message": "Task failed"}

    @pytest.mark.parametrize("status", [TaskStatus.WORKING, TaskStatus.CANCELLED])
    def test_working_and_cancelled_carry_neither(self, status: TaskStatus) -> None:
        task = record(status=status)
        detailed = wire.detailed_task(task, None)
        assert detailed == {"resultType": "complete", **wire.render_task(task)}
        assert not {"result", "error", "inputRequests"} & set(detailed)

    def test_input_required_carries_the_input_requests(self) -> None:
        requests = {"q1": {"method": "elicitation/create", "params": {"message": "name?"}}}
        detailed = wire.detailed_task(record(status=TaskStatus.INPUT_REQUIRED), None, requests)
        assert detailed["inputRequests"] == requests
        assert "result" not in detailed and "error" not in detailed
        assert wire.detailed_task(record(status=TaskStatus.INPUT_REQUIRED), None)["inputRequests"] == {}


REJECTED = "rejected-value-4242"


@pytest.mark.parametrize(
    ("model", "params", "field"),
    [
        (wire.TaskIdParams, {}, "taskId"),
        (wire.TaskIdParams, {"taskId": 4242}, "taskId"),
        (wire.TaskIdParams, {"taskId": [REJECTED]}, "taskId"),
        (wire.UpdateParams, {"taskId": "t"}, "inputResponses"),
        (wire.UpdateParams, {"taskId": "t", "inputResponses": [REJECTED]}, "inputResponses"),
        (wire.UpdateParams, {"taskId": "t", "inputResponses": REJECTED}, "inputResponses"),
        (wire.UpdateParams, {"taskId": "t", "inputResponses": 4242}, "inputResponses"),
        (wire.UpdateParams, {"inputResponses": {}}, "taskId"),
    ],
)
def test_params_errors_name_the_field_and_never_echo_the_value(
    model: Any, params: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidParams) as caught:
        parse_params(model, params)
    assert caught.value.field == field
    assert caught.value.data == {"field": field}
    assert REJECTED not in caught.value.message and "4242" not in caught.value.message


def test_valid_update_params() -> None:
    parsed = parse_params(wire.UpdateParams, {"taskId": "t", "inputResponses": {"q1": {"action": "accept"}}})
    assert parsed.task_id == "t" and parsed.input_responses == {"q1": {"action": "accept"}}


def test_extension_id() -> None:
    assert wire.EXTENSION_ID == "io.modelcontextprotocol/tasks"
