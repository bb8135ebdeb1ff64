"""The client's wire shapes, errors and public surface, without a server."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from types import ModuleType

import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitRequest, ElicitResult
from pydantic import BaseModel, ValidationError

import mcptasks
import mcptasks.client
from mcptasks.client import (
    ProtocolError,
    RequestError,
    TaskClient,
    TaskClientError,
    TaskFailedError,
    TaskNotFoundError,
    TransportError,
    sep2663,
    v2025_11_25,
)
from mcptasks.client._errors import map_errors
from mcptasks.client._questions import as_answer, wire_answer
from mcptasks.core.status import TaskStatus

TASK_2025 = {
    "taskId": "t-1",
    "status": "working",
    "createdAt": "2025-11-25T10:30:00Z",
    "lastUpdatedAt": "2025-11-25T10:30:01.500Z",
    "ttl": 60000,
    "pollInterval": 500,
}


def test_a_2025_task_reads_as_a_snapshot() -> None:
    snapshot = v2025_11_25.snapshot(v2025_11_25.GetTaskResult.model_validate(TASK_2025))
    assert snapshot.task_id == "t-1"
    assert snapshot.status is TaskStatus.WORKING and not snapshot.is_terminal
    assert snapshot.created_at == datetime(2025, 11, 25, 10, 30, tzinfo=UTC)
    assert snapshot.last_updated_at.microsecond == 500_000
    assert (snapshot.ttl_ms, snapshot.poll_interval_ms, snapshot.wire) == (60000, 500, "2025-11-25")


def test_a_2025_task_without_ttl_is_unlimited() -> None:
    # `ttl` is required-nullable, but servers that drop nulls (mcp 1.x) leave it out.
    body = {key: value for key, value in TASK_2025.items() if key != "ttl"}
    created = v2025_11_25.CreateTaskResult.model_validate({"task": body})
    assert v2025_11_25.snapshot(created.task).ttl_ms is None
    assert v2025_11_25.ListTasksResult.model_validate({"tasks": [body]}).tasks[0].ttl is None


def test_a_sep2663_task_inlines_its_questions() -> None:
    detail = sep2663.GetTaskResult.model_validate(
        {
            "resultType": "complete",
            "taskId": "t-2",
            "status": "input_required",
            "createdAt": "2026-07-28T00:00:00Z",
            "lastUpdatedAt": "2026-07-28T00:00:00Z",
            "ttlMs": None,
            "inputRequests": {
                "input-1": {
                    "method": "elicitation/create",
                    "params": {"mode": "form", "message": "Sure?", "requestedSchema": {"type": "object"}},
                }
            },
        }
    )
    assert isinstance((detail.input_requests or {})["input-1"], ElicitRequest)
    snapshot = sep2663.snapshot(detail)
    assert snapshot.ttl_ms is None and snapshot.status is TaskStatus.INPUT_REQUIRED
    assert snapshot.wire == "2026-07-28"


def test_the_sep2663_requests_name_their_task_for_the_routing_header() -> None:
    assert sep2663.GetTaskRequest.name_param == "taskId"
    assert sep2663.UpdateTaskRequest.name_param == "taskId"
    assert sep2663.CancelTaskRequest.name_param == "taskId"
    update = sep2663.UpdateTaskRequest(
        params=sep2663.UpdateTaskParams(task_id="t", input_responses={"input-1": {"action": "cancel"}})
    )
    assert update.model_dump(by_alias=True, exclude_none=True)["params"] == {
        "taskId": "t",
        "inputResponses": {"input-1": {"action": "cancel"}},
    }


def test_answers_keep_their_nulls_and_are_checked_against_the_question() -> None:
    answer = as_answer("elicitation/create", {"action": "accept", "content": {"note": None}})
    assert isinstance(answer, ElicitResult)
    assert wire_answer(answer) == {"action": "accept", "content": {"note": None}}
    with pytest.raises(ValidationError):
        as_answer("elicitation/create", {"action": "maybe"})
    assert wire_answer({"anything": 1}) == {"anything": 1}


@pytest.mark.parametrize(
    ("code", "names_task", "expected"),
    [
        (-32602, True, TaskNotFoundError),
        (-32602, False, RequestError),
        (-32601, True, RequestError),
        (-32000, True, TransportError),  # the SDK's own "connection closed"
        (-32001, False, TransportError),  # the SDK's own "request timed out"
    ],
)
def test_sdk_errors_become_client_errors(code: int, names_task: bool, expected: type[Exception]) -> None:
    with pytest.raises(expected) as raised, map_errors("tasks/get", names_task=names_task):
        raise MCPError(code, "nope")
    assert type(raised.value) is expected
    assert isinstance(raised.value.__cause__, MCPError)
    if isinstance(raised.value, RequestError):
        assert raised.value.code == code and str(code) in str(raised.value)


def test_a_malformed_answer_is_a_protocol_error() -> None:
    class Shape(BaseModel):
        needed: int

    with pytest.raises(ProtocolError), map_errors("tasks/get"):
        Shape.model_validate({})


def test_errors_form_one_tree() -> None:
    failed = TaskFailedError("t", -32042, "boom", {"retryAfter": 7})
    assert isinstance(failed, TaskClientError) and isinstance(failed, mcptasks.MCPTasksError)
    assert (failed.code, failed.error_message, failed.data) == (-32042, "boom", {"retryAfter": 7})
    assert str(failed) == "Task t failed with JSON-RPC error -32042: boom"


def test_the_client_is_opened_once() -> None:
    with pytest.raises(ValueError, match="wire must be one of"):
        TaskClient("http://127.0.0.1:1/mcp", wire="2024-11-05")  # type: ignore[arg-type]
    client = TaskClient("http://127.0.0.1:1/mcp")
    with pytest.raises(RuntimeError, match="open the TaskClient first"):
        client.task("t")


def test_all_is_every_public_name() -> None:
    public = sorted(
        name
        for name, value in vars(mcptasks.client).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    )
    assert sorted(mcptasks.client.__all__) == public
    for name in mcptasks.client.__all__:
        value = getattr(mcptasks.client, name)
        if isinstance(value, type):
            assert value.__module__ == "mcptasks.client", name


def test_the_top_level_package_does_not_export_the_client() -> None:
    assert not {"TaskClient", "TaskHandle"} & set(mcptasks.__all__)


#: Words that name a duration in a parameter; such a parameter carries its unit (`_ms` or `_s`).
DURATION_WORDS = ("ttl", "poll", "timeout", "interval", "delay", "wait")


def public_members(module: ModuleType) -> list[tuple[str, object]]:
    """The public names of `module` and the public methods and properties of its classes."""
    members: list[tuple[str, object]] = []
    for name in getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")]):
        value = getattr(module, name)
        if isinstance(value, ModuleType) or getattr(value, "__module__", module.__name__) not in {
            module.__name__,
            "mcptasks.client",
        }:
            continue  # imported from elsewhere (typing, mcp_types, ...)
        members.append((name, value))
        if isinstance(value, type) and not issubclass(value, BaseModel):
            for attribute, member in vars(value).items():
                if not attribute.startswith("_") and (callable(member) or isinstance(member, property)):
                    members.append((f"{name}.{attribute}", member))
    return members


@pytest.mark.parametrize("module", [mcptasks.client, sep2663, v2025_11_25], ids=lambda m: m.__name__)
def test_public_names_are_documented_and_durations_name_their_unit(module: ModuleType) -> None:
    members = public_members(module)
    assert members
    undocumented = [name for name, value in members if not (getattr(value, "__doc__", None) or "").strip()]
    assert undocumented == []
    for name, value in members:
        function = value.fget if isinstance(value, property) else value
        if not inspect.isfunction(function):
            continue
        for parameter in inspect.signature(function).parameters:
            if any(word in parameter for word in DURATION_WORDS):
                assert parameter.endswith(("_ms", "_s")), f"{name}({parameter}): say the unit"
