"""Task records and outcomes: the shapes every layer passes around.

Times are timezone-aware UTC `datetime`s; durations carry their unit in their name (`ttl_ms`,
`poll_interval_ms`, as on the wire). Payloads (`arguments`, results, errors) are JSON-ready dicts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from mcptasks.core.owner import Owner, OwnerKind
from mcptasks.core.status import TaskStatus

#: Which wire created the task: it decides how a tool error maps to a status and how it renders.
Wire = Literal["2025-11-25", "sep-2663"]

#: What happens to a task whose worker stopped (server stop, crash): "fail" it (default), or "rerun"
#: the tool from its start as the next attempt (answered questions are not asked again).
RecoveryPolicy = Literal["fail", "rerun"]

#: The server-to-client requests a tool may make mid-task.
ELICITATION: Final = "elicitation/create"
SAMPLING: Final = "sampling/createMessage"
InputMethod = Literal["elicitation/create", "sampling/createMessage"]

#: Whether a tool runs as a task: "optional" (either way), "required" (only as a task), "forbidden" (never).
TaskSupport = Literal["optional", "required", "forbidden"]

JSON = dict[str, Any]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return `value` as aware UTC; naive values (SQLite returns them) are taken to be UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_task_id() -> str:
    """A fresh task id: 128 random bits, URL-safe (22 characters), never starting with "-".

    Spec: 2025-11-25 tasks "Task ID Requirements"; SEP-2663 "ids MUST be unguessable".
    """
    # An id starting with "-" reads as an option to a command line (`mcptasks tasks show ID`, a
    # client's `--task-id ID`); one draw in 64 starts so, and drawing again costs no entropy worth
    # speaking of (the first character keeps 63 of 64 values).
    while True:
        task_id = secrets.token_urlsafe(16)
        if not task_id.startswith("-"):
            return task_id


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A JSON-RPC error object as stored for a failed task (`{code, message, data?}`)."""

    #: JSON-RPC error code, e.g. -32603.
    code: int
    #: Public message; never the text of an unexpected exception.
    message: str
    #: Optional `error.data`.
    data: Any = None

    def to_json(self) -> JSON:
        """The wire form: `{"code", "message"}` plus `"data"` when set."""
        out: JSON = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out

    @classmethod
    def from_json(cls, raw: JSON) -> ErrorInfo:
        """Read a stored error object."""
        return cls(code=int(raw["code"]), message=str(raw["message"]), data=raw.get("data"))


@dataclass(frozen=True, slots=True)
class Completed:
    """A tool outcome: it returned; `result` is the `CallToolResult` as a JSON dict."""

    result: JSON


@dataclass(frozen=True, slots=True)
class Failed:
    """A tool outcome: it raised a JSON-RPC error or crashed."""

    error: ErrorInfo
    #: The task's `statusMessage` (diagnostic, public).
    status_message: str


Outcome = Completed | Failed


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRecord:
    """One row of `tasks`, as the store returns it."""

    #: Unguessable id (see `new_task_id`).
    task_id: str
    #: Matching key of the owner (see `Owner.key`).
    owner_key: str
    #: Owner kind: principal, session or capability.
    owner_kind: OwnerKind
    #: The wire the task was created on.
    wire: Wire
    #: Name of the tool the task runs.
    tool_name: str
    #: Tool arguments as given by the client.
    arguments: JSON = field(default_factory=dict)
    #: Current status.
    status: TaskStatus = TaskStatus.WORKING
    #: Human-readable status text, or None.
    status_message: str | None = None
    #: Creation time (UTC).
    created_at: datetime
    #: Time of the last status or status-message change (UTC).
    last_updated_at: datetime
    #: Retention in ms counted from `created_at`; None means unlimited.
    ttl_ms: int | None = None
    #: `created_at + ttl_ms` (UTC), or None when unlimited.
    expires_at: datetime | None = None
    #: Suggested polling interval in ms.
    poll_interval_ms: int | None = None
    #: The `progressToken` of the creating request (2025-11-25), or None.
    progress_token: str | int | None = None
    #: Capabilities the creating client declared (`{"elicitation": {...}, ...}`), or None.
    client_capabilities: JSON | None = None
    #: Node holding the lease, or None when no worker holds it.
    lease_node: str | None = None
    #: When the lease runs out unless renewed (UTC), or None.
    lease_expires_at: datetime | None = None
    #: How many times a worker started the tool (1 for the first run).
    attempt: int = 0
    #: OAuth issuer of a principal owner, else None.
    owner_issuer: str | None = None
    #: OAuth subject of a principal owner, else None.
    owner_subject: str | None = None
    #: OAuth client id of a principal owner, else None.
    owner_client_id: str | None = None
    #: W3C `traceparent` of the request that created the task (OpenTelemetry), or None.
    trace_context: str | None = None

    @property
    def is_terminal(self) -> bool:
        """Whether the status is completed, failed or cancelled."""
        return self.status.is_terminal

    def evolve(self, **changes: Any) -> TaskRecord:
        """A copy with `changes` applied."""
        return replace(self, **changes)

    @classmethod
    def new(
        cls,
        *,
        owner: Owner,
        wire: Wire,
        tool_name: str,
        arguments: JSON,
        ttl_ms: int | None,
        poll_interval_ms: int | None,
        progress_token: str | int | None = None,
        client_capabilities: JSON | None = None,
        now: datetime | None = None,
        lease_node: str | None = None,
        lease_expires_at: datetime | None = None,
        attempt: int = 0,
        trace_context: str | None = None,
    ) -> TaskRecord:
        """A new `working` task owned by `owner`, created now (`lease_*`, `attempt`: its first worker)."""
        created = now or utcnow()
        return cls(
            task_id=new_task_id(),
            owner_key=owner.key,
            owner_kind=owner.kind,
            owner_issuer=owner.issuer,
            owner_subject=owner.subject,
            owner_client_id=owner.client_id,
            wire=wire,
            tool_name=tool_name,
            arguments=arguments,
            status=TaskStatus.WORKING,
            created_at=created,
            last_updated_at=created,
            ttl_ms=ttl_ms,
            expires_at=None if ttl_ms is None else created + timedelta(milliseconds=ttl_ms),
            poll_interval_ms=poll_interval_ms,
            progress_token=progress_token,
            client_capabilities=client_capabilities,
            lease_node=lease_node,
            lease_expires_at=lease_expires_at,
            attempt=attempt,
            trace_context=trace_context,
        )


@dataclass(frozen=True, slots=True)
class TaskResult:
    """The stored outcome of a terminal task: a result, an error, or neither (cancelled)."""

    #: The `CallToolResult` JSON for a completed task.
    result: JSON | None = None
    #: The JSON-RPC error for a failed task.
    error: ErrorInfo | None = None


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One row of `task_events`: a status change."""

    task_id: str
    #: Previous status; None for the creation event.
    from_status: TaskStatus | None
    to_status: TaskStatus
    at: datetime
    message: str | None
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class InputRequest:
    """One row of `task_input_requests`: a question a tool asked, and its answer once given."""

    task_id: str
    #: Key of the request within its task (`input-1`, `input-2`, ... in the order the tool asks).
    key: str
    #: `elicitation/create` or `sampling/createMessage`.
    method: str
    #: The request params shown to the client (no `_meta`).
    params: JSON
    created_at: datetime
    #: The client's result (`ElicitResult` / `CreateMessageResult` JSON); None while outstanding.
    response: JSON | None = None
    answered_at: datetime | None = None

    @property
    def outstanding(self) -> bool:
        """Whether the client has not answered yet."""
        return self.response is None


@dataclass(frozen=True, slots=True)
class ElicitResult:
    """The client's answer to `TaskContext.elicit`: what the user did, and what they entered.

    Spec: MCP `ElicitResult` (2025-11-25 and 2026-07-28).
    """

    #: "accept" (submitted), "decline" (refused) or "cancel" (dismissed).
    action: Literal["accept", "decline", "cancel"]
    #: The submitted form content when `action == "accept"`, else None.
    content: JSON | None = None

    @classmethod
    def from_json(cls, raw: JSON) -> ElicitResult:
        """Read a stored `ElicitResult`; an unknown action reads as "cancel"."""
        action = raw.get("action")
        content = raw.get("content")
        return cls(
            action=action if action in ("accept", "decline", "cancel") else "cancel",
            content=content if isinstance(content, dict) else None,
        )
