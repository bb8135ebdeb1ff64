"""Errors raised by `mcptasks.client`.

    TaskClientError                root of everything the client raises on purpose
    ├── NoTaskWire                 the server offers no task wire this client can use
    ├── UnsupportedOnWire          the operation does not exist on the wire in use
    ├── MissingHandler             the server asked a question before a task existed; nobody answers it
    ├── RequestError               the server answered a request with a JSON-RPC error
    │   └── TaskNotFoundError      unknown, expired or another owner's task (-32602 on `tasks/*`)
    ├── TaskOutcomeError           the task ended without a `CallToolResult`
    │   ├── TaskFailedError        the task failed: its JSON-RPC error (`code`, `message`, `data`)
    │   └── TaskCancelledError     the task was cancelled
    ├── ProtocolError              an answer does not have the shape its wire defines
    └── TransportError             the connection closed, or a request timed out, before an answer

`map_errors()` turns the SDK's `MCPError` and pydantic's `ValidationError` into these classes
(the original is kept as `__cause__`), so SDK exceptions never leak out of the client's API.
Exceptions raised by the caller's own question handlers pass through unchanged.

Spec: JSON-RPC 2.0 §5.1; MCP 2025-11-25 tasks "Error Handling"; SEP-2663 "Protocol Errors".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, INTERNAL_ERROR, INVALID_PARAMS, REQUEST_TIMEOUT
from pydantic import ValidationError

from mcptasks.core.errors import MCPTasksError

__all__ = [
    "MissingHandler",
    "NoTaskWire",
    "ProtocolError",
    "RequestError",
    "TaskCancelledError",
    "TaskClientError",
    "TaskFailedError",
    "TaskNotFoundError",
    "TaskOutcomeError",
    "TransportError",
    "UnsupportedOnWire",
]


class TaskClientError(MCPTasksError):
    """The task client could not do what was asked."""


class NoTaskWire(TaskClientError):
    """The server offers no task wire this client can use."""


class UnsupportedOnWire(TaskClientError):
    """The operation does not exist on the task wire in use."""


class MissingHandler(TaskClientError):
    """The server asked a question before creating the task, and no handler answers that kind."""


class RequestError(TaskClientError):
    """The server answered a request with a JSON-RPC error."""

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{method} failed with JSON-RPC error {code}: {message}")
        #: The JSON-RPC method of the request, e.g. `"tasks/get"`.
        self.method = method
        #: The JSON-RPC error code, e.g. -32602.
        self.code = code
        #: The error message as the server sent it.
        self.error_message = message
        #: The error's `data`, or None.
        self.data = data


class TaskNotFoundError(RequestError):
    """The server knows no such task: unknown, expired, or owned by someone else (-32602)."""


class TaskOutcomeError(TaskClientError):
    """The task ended without a `CallToolResult`."""

    def __init__(self, task_id: str | None, message: str) -> None:
        super().__init__(message)
        #: The task's id.
        self.task_id = task_id


class TaskFailedError(TaskOutcomeError):
    """The task failed with a JSON-RPC error: `code`, `message` and `data` are the task's error."""

    def __init__(self, task_id: str | None, code: int, message: str, data: Any = None) -> None:
        super().__init__(task_id, f"Task {task_id} failed with JSON-RPC error {code}: {message}")
        #: The JSON-RPC error code of the task's outcome, e.g. -32603.
        self.code = code
        #: The error message as the server sent it.
        self.error_message = message
        #: The error's `data`, or None.
        self.data = data


class TaskCancelledError(TaskOutcomeError):
    """The task was cancelled before it produced a result."""

    def __init__(self, task_id: str | None) -> None:
        super().__init__(task_id, f"Task {task_id} was cancelled")


class ProtocolError(TaskClientError):
    """An answer of the server does not have the shape its wire defines."""


class TransportError(TaskClientError):
    """The connection closed, or a request timed out, before the server answered."""


#: Codes the SDK makes up on the client side (JSON-RPC "server error" range): not the server's.
_TRANSPORT_CODES = frozenset({CONNECTION_CLOSED, REQUEST_TIMEOUT})


def is_transport_failure(error: MCPError) -> bool:
    """Whether the SDK raised `error` itself (connection closed, timeout), not the server."""
    return error.code in _TRANSPORT_CODES


def request_error(method: str, error: MCPError, *, names_task: bool) -> TaskClientError:
    """The most specific client error for the JSON-RPC error `error` answering `method`.

    `names_task` says the request named a task (`tasks/*`): then -32602 means the task is unknown.
    """
    if error.code in _TRANSPORT_CODES:
        return TransportError(f"{method}: {error.message} (code {error.code})")
    if names_task and error.code == INVALID_PARAMS:
        return TaskNotFoundError(method, error.code, error.message, error.data)
    return RequestError(method, error.code, error.message, error.data)


@contextmanager
def map_errors(method: str, *, names_task: bool = False) -> Iterator[None]:
    """Turn what the SDK raises for a request into client errors (original kept as `__cause__`).

    `MCPError` becomes `RequestError` (or `TaskNotFoundError`, `TransportError`, see
    `request_error`); a `ValidationError` of the answer becomes `ProtocolError`.
    """
    try:
        yield
    except MCPError as exc:
        raise request_error(method, exc, names_task=names_task) from exc
    except ValidationError as exc:
        raise ProtocolError(f"the answer to {method} does not have the shape its wire defines") from exc


def failed_outcome(
    task_id: str | None, code: int | None, message: str | None, data: Any = None
) -> TaskFailedError:
    """A `TaskFailedError`; a missing code is -32603 (a failure the server gave no error for)."""
    return TaskFailedError(task_id, INTERNAL_ERROR if code is None else code, message or "Task failed", data)
