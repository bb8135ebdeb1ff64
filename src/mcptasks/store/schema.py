"""The tables of mcptasks, written for the operator who queries them with SQL.

Four tables, one migration history (`migrations/`), the same on SQLite and PostgreSQL:

- `tasks`: one row per task: owner, tool, status, timing, lease.
- `task_results`: the outcome of a terminal task (a `CallToolResult` or a JSON-RPC error).
- `task_input_requests`: questions a tool asked mid-task (elicitation, sampling) and their answers.
- `task_events`: every status change, with from/to/at/message: the history of a task.

Times are UTC. Durations are integer milliseconds, as on the wire.

Three read-only views for operators read these tables: `v_tasks`, `v_pending_inputs` and
`v_task_history` (migration 0005, which holds their SQL; README "Operator views"). They are not in
`metadata`: the server never reads them, and a migration that rebuilds a table they read drops and
recreates them.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

#: Deterministic constraint names: SQLite batch migrations can only alter named constraints, and
#: `alembic check` stays stable on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

_STATUS_VALUES = "'working', 'input_required', 'completed', 'failed', 'cancelled'"
# working        -- the tool is running
# input_required -- the tool waits for an answer from the client
# completed      -- the tool returned a CallToolResult (terminal)
# failed         -- JSON-RPC error, crash, interruption or ttl expiry (terminal)
# cancelled      -- cancelled by the client (terminal)

tasks = Table(
    "tasks",
    metadata,
    Column("task_id", String(64), primary_key=True, comment="Unguessable task id (128 random bits)."),
    Column(
        "owner_kind",
        String(16),
        nullable=False,
        comment="principal (OAuth), session (unauthenticated session) or capability (no session: "
        "the id is the capability).",
    ),
    Column(
        "owner_key",
        Text,
        nullable=False,
        comment="The value access checks match: principal:[iss,sub,client_id], session:<sha256 prefix> "
        "or capability.",
    ),
    Column("owner_issuer", Text, nullable=True, comment="OAuth issuer (iss) of a principal owner."),
    Column("owner_subject", Text, nullable=True, comment="OAuth subject (sub) of a principal owner."),
    Column("owner_client_id", Text, nullable=True, comment="OAuth client_id of a principal owner."),
    Column(
        "wire",
        String(16),
        nullable=False,
        comment="Wire that created the task: 2025-11-25 (in-core tasks) or sep-2663 (extension).",
    ),
    Column("tool_name", Text, nullable=False, comment="Name of the tool the task runs."),
    Column("arguments", JSON, nullable=False, comment="Tool arguments as sent by the client."),
    Column("status", String(16), nullable=False, comment="Current status; see the CHECK constraint."),
    Column("status_message", Text, nullable=True, comment="Human-readable status text (statusMessage)."),
    Column("created_at", DateTime(timezone=True), nullable=False, comment="Creation time (UTC)."),
    Column(
        "last_updated_at",
        DateTime(timezone=True),
        nullable=False,
        comment="Last change of status or status message (UTC).",
    ),
    Column("ttl_ms", BigInteger, nullable=True, comment="Retention in ms from created_at; NULL = unlimited."),
    Column(
        "expires_at",
        DateTime(timezone=True),
        nullable=True,
        comment="created_at + ttl_ms: the sweeper fails (if still running) then deletes the task after it.",
    ),
    Column("poll_interval_ms", Integer, nullable=True, comment="Suggested polling interval in ms."),
    Column(
        "progress_token",
        JSON,
        nullable=True,
        comment="progressToken of the creating request (2025-11-25), for progress notifications.",
    ),
    Column(
        "client_capabilities",
        JSON,
        nullable=True,
        comment="Capabilities the creating client declared (elicitation, sampling, ...): what the tool "
        "may ask it, also after a restart.",
    ),
    Column(
        "lease_node",
        Text,
        nullable=True,
        comment="Node (host:pid:random) whose worker runs the tool; NULL when none does.",
    ),
    Column(
        "lease_expires_at",
        DateTime(timezone=True),
        nullable=True,
        comment="The lease runs out at this time unless the worker's heartbeat renews it (UTC); "
        "a released lease (lease_node NULL) reads as expired at created_at; NULL once terminal.",
    ),
    Column(
        "attempt",
        Integer,
        nullable=False,
        server_default="0",
        comment="How many times a worker started the tool; fences writes of an older worker.",
    ),
    Column(
        "trace_context",
        Text,
        nullable=True,
        comment="W3C traceparent of the request that created the task (OpenTelemetry); "
        "NULL when it was not traced.",
    ),
    CheckConstraint(f"status IN ({_STATUS_VALUES})", name="status"),
    CheckConstraint("owner_kind IN ('principal', 'session', 'capability')", name="owner_kind"),
    CheckConstraint("wire IN ('2025-11-25', 'sep-2663')", name="wire"),
    CheckConstraint("ttl_ms IS NULL OR ttl_ms > 0", name="ttl_ms_positive"),
    comment="One row per task. Access is always filtered by owner_key.",
)

Index(
    "ix_tasks_owner_key_created_at",
    tasks.c.owner_key,
    tasks.c.created_at,
    tasks.c.task_id,
    # Serves tasks/list: an owner's tasks, newest first, keyset-paged on (created_at, task_id).
)
Index(
    "ix_tasks_expires_at",
    tasks.c.expires_at,
    # Serves the ttl sweeper: tasks whose expires_at has passed.
)
_ACTIVE_ROWS = text("status IN ('input_required', 'working')")

Index(
    "ix_tasks_active_lease_expires_at",
    tasks.c.lease_expires_at,
    sqlite_where=_ACTIVE_ROWS,
    postgresql_where=_ACTIVE_ROWS,
    # Serves lease recovery: active tasks whose lease ran out (a released lease reads as expired
    # at created_at). Partial: only active tasks are in it, however many tasks are stored.
)

task_results = Table(
    "task_results",
    metadata,
    Column(
        "task_id",
        String(64),
        ForeignKey("tasks.task_id", ondelete="CASCADE"),
        primary_key=True,
        comment="The task this outcome belongs to.",
    ),
    Column("result", JSON, nullable=True, comment="CallToolResult of a completed task."),
    Column("error", JSON, nullable=True, comment="JSON-RPC error {code, message, data?} of a failed task."),
    Column(
        "stored_at", DateTime(timezone=True), nullable=False, comment="When the outcome was stored (UTC)."
    ),
    comment="The outcome of a terminal task; written in the same transaction as its terminal status.",
)

task_input_requests = Table(
    "task_input_requests",
    metadata,
    Column(
        "task_id",
        String(64),
        ForeignKey("tasks.task_id", ondelete="CASCADE"),
        primary_key=True,
        comment="The task that asked.",
    ),
    Column(
        "request_key",
        String(64),
        primary_key=True,
        comment="Key of the request within its task, assigned in the order the tool asks.",
    ),
    Column("method", String(64), nullable=False, comment="elicitation/create or sampling/createMessage."),
    Column("params", JSON, nullable=False, comment="The request params shown to the client."),
    Column("created_at", DateTime(timezone=True), nullable=False, comment="When the tool asked (UTC)."),
    Column("response", JSON, nullable=True, comment="The client's answer; NULL while outstanding."),
    Column(
        "answered_at", DateTime(timezone=True), nullable=True, comment="When the answer was stored (UTC)."
    ),
    comment="Pending and answered elicitation/sampling requests of tasks (input_required).",
)

Index(
    "ix_task_input_requests_answered_at",
    task_input_requests.c.answered_at,
    # Serves "which tasks wait for input": rows whose answered_at is NULL.
)

task_events = Table(
    "task_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True, comment="Order of events."),
    Column(
        "task_id",
        String(64),
        ForeignKey("tasks.task_id", ondelete="CASCADE"),
        nullable=False,
        comment="The task whose status changed.",
    ),
    Column(
        "from_status",
        String(16),
        nullable=True,
        comment="Status before the change; NULL for the creation event (-> working).",
    ),
    Column(
        "to_status",
        String(16),
        nullable=False,
        comment="Status after the change: working -> input_required | completed | failed | cancelled, "
        "input_required -> working | completed | failed | cancelled.",
    ),
    Column("at", DateTime(timezone=True), nullable=False, comment="When the change was committed (UTC)."),
    Column("message", Text, nullable=True, comment="statusMessage set with the change."),
    Column("attempt", Integer, nullable=False, comment="Worker attempt that made the change (0 = none)."),
    Column("node", Text, nullable=True, comment="Node that made the change."),
    comment="History of status changes: one row per transition, written with it.",
)

Index(
    "ix_task_events_task_id_event_id",
    task_events.c.task_id,
    task_events.c.event_id,
    # Serves `mcptasks tasks show`: the history of one task in order.
)
