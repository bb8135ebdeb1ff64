"""Errors raised by mcptasks.

    MCPTasksError                 root of everything mcptasks raises on purpose
    ├── TaskError                 answered to a client as a JSON-RPC error with a fixed message
    │   ├── TaskNotFound          unknown, expired or someone else's task (one code, one text)
    │   ├── InvalidParams         a request parameter is malformed (names the field)
    │   ├── InvalidTaskState      the task's status forbids the request (e.g. cancel when terminal)
    │   ├── ToolNotFound          tools/call names no tool
    │   ├── ServerStopping        a request came while the server shuts down (-32011, retry later)
    │   ├── StoreUnavailable      the task store cannot be read or written now (-32010, retry later)
    │   ├── InputUnavailable      a tool asked a question the client cannot be asked
    │   └── TaskSupportMismatch   task requested for a forbidden tool, or missing for a required one
    ├── TaskCancelled             raised inside a tool by `TaskContext.check_cancelled()`
    ├── LeaseLost                 internal: a worker's fenced write matched nothing
    ├── StoreError                the database failed; the driver error is the `__cause__`
    └── ConfigurationError        mcptasks was configured wrongly (bad URL, bad option)

Public text comes only from these classes, never from `str()` of a tool's or a driver's exception.
Each class docstring is its default message.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ErrorCode(IntEnum):
    """JSON-RPC error codes used by the task wires.

    Spec: JSON-RPC 2.0 §5.1 (-32700..-32603); MCP 2025-11-25 tasks "Error Handling";
    MCP 2026-07-28 schema (-32020 HeaderMismatch, -32021 MissingRequiredClientCapability);
    mcptasks' own, in the implementation-defined server-error range: -32010 StoreUnavailable,
    -32011 ServerStopping (README "Failures: what a client sees").
    """

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    STORE_UNAVAILABLE = -32010
    SERVER_STOPPING = -32011
    HEADER_MISMATCH = -32020
    MISSING_REQUIRED_CLIENT_CAPABILITY = -32021


class MCPTasksError(Exception):
    """An error raised by mcptasks."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (type(self).__doc__ or type(self).__name__).strip())

    @property
    def message(self) -> str:
        """The public message of this error."""
        return str(self.args[0])


class TaskError(MCPTasksError):
    """The request could not be served."""

    code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(self, message: str | None = None, *, data: Any = None) -> None:
        super().__init__(message)
        #: JSON-serialisable `error.data`, or None.
        self.data = data


class TaskNotFound(TaskError):
    """Task not found"""

    code = ErrorCode.INVALID_PARAMS

    def __init__(self) -> None:
        # Deliberately no task id and no reason: "unknown", "expired" and "someone else's" must be
        # indistinguishable (MCP 2025-11-25 tasks, Security Considerations).
        super().__init__()


class InvalidParams(TaskError):
    """Invalid params"""

    code = ErrorCode.INVALID_PARAMS

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"Invalid params: {field}: {problem}", data={"field": field})
        #: Dotted name of the offending parameter, e.g. `task.ttl`.
        self.field = field


class InvalidTaskState(TaskError):
    """The task's status does not allow this request"""

    code = ErrorCode.INVALID_PARAMS


class ToolNotFound(TaskError):
    """Unknown tool"""

    code = ErrorCode.INVALID_PARAMS

    def __init__(self, name: str) -> None:
        super().__init__(f"Unknown tool: {name}", data={"name": name})


#: How long a client should wait before it retries a request refused by a stopping server, in ms
#: (`error.data.retryAfterMs`; HTTP's `Retry-After` says the same in seconds).
RETRY_AFTER_MS = 5000


class ServerStopping(TaskError):
    """The server is stopping and accepts no new requests; try again later"""

    code = ErrorCode.SERVER_STOPPING

    def __init__(self) -> None:
        # Nothing was stored for the refused request: retrying it (here or on another replica) is safe.
        super().__init__(data={"retryAfterMs": RETRY_AFTER_MS})


class StoreUnavailable(TaskError):
    """The task store is unavailable; try again later"""

    code = ErrorCode.STORE_UNAVAILABLE

    def __init__(self) -> None:
        # Fixed text: which condition (disk full, read-only, unreachable) is for the server log only.
        super().__init__()


class InputUnavailable(TaskError):
    """The client cannot be asked for input"""

    code = ErrorCode.MISSING_REQUIRED_CLIENT_CAPABILITY

    def __init__(self, capability: str, message: str) -> None:
        super().__init__(message, data={"requiredCapabilities": {capability: {}}})
        #: The client capability that is missing: "elicitation" or "sampling".
        self.capability = capability


class TaskSupportMismatch(TaskError):
    """The tool's taskSupport does not allow this call"""

    code = ErrorCode.METHOD_NOT_FOUND


class TaskCancelled(MCPTasksError):
    """The task was cancelled"""


class LeaseLost(MCPTasksError):
    """The worker no longer holds this task's lease; its writes are refused"""


class StoreError(MCPTasksError):
    """The task store failed"""

    def __init__(self, message: str | None = None, *, unavailable: bool = True) -> None:
        super().__init__(message)
        #: True when the store could not be used for a storage reason (disk full, read-only,
        #: unreachable, closed): answered as `StoreUnavailable`. False for what is a bug (a
        #: constraint violated, SQL refused): answered as an internal error and logged.
        self.unavailable = unavailable


class ConfigurationError(MCPTasksError):
    """mcptasks is configured wrongly"""
