"""Errors carry a JSON-RPC code and a fixed public message; `TaskNotFound` says nothing more."""

from __future__ import annotations

import pytest

from mcptasks.core.errors import (
    ConfigurationError,
    ErrorCode,
    InvalidParams,
    InvalidTaskState,
    LeaseLost,
    MCPTasksError,
    StoreError,
    TaskCancelled,
    TaskError,
    TaskNotFound,
    TaskSupportMismatch,
    ToolNotFound,
)


def test_error_codes_are_the_json_rpc_ones() -> None:
    assert ErrorCode.PARSE_ERROR.value == -32700
    assert ErrorCode.INVALID_REQUEST.value == -32600
    assert ErrorCode.METHOD_NOT_FOUND.value == -32601
    assert ErrorCode.INVALID_PARAMS.value == -32602
    assert ErrorCode.INTERNAL_ERROR.value == -32603
    assert ErrorCode.HEADER_MISMATCH.value == -32020
    assert ErrorCode.MISSING_REQUIRED_CLIENT_CAPABILITY.value == -32021


@pytest.mark.parametrize(
    ("cls", "parent"),
    [
        (TaskError, MCPTasksError),
        (TaskNotFound, TaskError),
        (InvalidParams, TaskError),
        (InvalidTaskState, TaskError),
        (ToolNotFound, TaskError),
        (TaskSupportMismatch, TaskError),
        (TaskCancelled, MCPTasksError),
        (LeaseLost, MCPTasksError),
        (StoreError, MCPTasksError),
        (ConfigurationError, MCPTasksError),
    ],
)
def test_tree(cls: type[Exception], parent: type[Exception]) -> None:
    assert issubclass(cls, parent)


@pytest.mark.parametrize("cls", [TaskCancelled, LeaseLost, StoreError, ConfigurationError])
def test_non_task_errors_are_not_answered_to_clients(cls: type[Exception]) -> None:
    assert not issubclass(cls, TaskError)


class TestTaskNotFound:
    def test_code_and_fixed_message(self) -> None:
        error = TaskNotFound()
        assert error.code == ErrorCode.INVALID_PARAMS
        assert error.message == str(error) == "Task not found"
        assert error.data is None

    def test_takes_no_task_id(self) -> None:
        # Unknown, expired and foreign ids must be indistinguishable: there is nowhere to put an id.
        with pytest.raises(TypeError):
            TaskNotFound("task-123")  # type: ignore[call-arg]

    def test_every_instance_says_the_same(self) -> None:
        assert {TaskNotFound().message for _ in range(3)} == {"Task not found"}
        assert TaskNotFound().args == ("Task not found",)


class TestInvalidParams:
    def test_names_the_field(self) -> None:
        error = InvalidParams("task.ttl", "Input should be greater than or equal to 1")
        assert error.code == ErrorCode.INVALID_PARAMS
        assert error.field == "task.ttl"
        assert error.data == {"field": "task.ttl"}
        assert error.message == "Invalid params: task.ttl: Input should be greater than or equal to 1"


def test_invalid_task_state_defaults_and_accepts_a_message() -> None:
    assert InvalidTaskState().code == ErrorCode.INVALID_PARAMS
    assert InvalidTaskState().message == "The task's status does not allow this request"
    assert InvalidTaskState("already completed").message == "already completed"


def test_tool_not_found_names_the_tool() -> None:
    error = ToolNotFound("nope")
    assert error.code == ErrorCode.INVALID_PARAMS
    assert error.message == "Unknown tool: nope"
    assert error.data == {"name": "nope"}


def test_task_support_mismatch_is_method_not_found() -> None:
    error = TaskSupportMismatch()
    assert error.code == ErrorCode.METHOD_NOT_FOUND
    assert error.message == "The tool's taskSupport does not allow this call"


def test_task_error_defaults_to_internal_error() -> None:
    error = TaskError()
    assert error.code == ErrorCode.INTERNAL_ERROR
    assert error.message == "The request could not be served."
    assert TaskError("x", data={"k": 1}).data == {"k": 1}


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (MCPTasksError, "An error raised by mcptasks."),
        (TaskCancelled, "The task was cancelled"),
        (LeaseLost, "The worker no longer holds this task's lease; its writes are refused"),
        (StoreError, "The task store failed"),
        (ConfigurationError, "mcptasks is configured wrongly"),
    ],
)
def test_default_message_is_the_class_docstring(cls: type[MCPTasksError], message: str) -> None:
    assert cls().message == message


def test_explicit_message_wins() -> None:
    assert StoreError("the task store is closed").message == "the task store is closed"
