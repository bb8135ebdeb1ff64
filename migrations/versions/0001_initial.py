"""initial: tasks, task_results, task_input_requests, task_events

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Creates the four tables of `mcptasks.store.schema` exactly, comments included. Every name is
already final (the naming convention was applied when this script was written), so each is wrapped
in `op.f()` to stop the convention from being applied a second time (storage-and-auth.md §2.4).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the tables, their CHECK constraints, foreign keys (ON DELETE CASCADE) and indexes."""
    op.create_table(
        "tasks",
        sa.Column(
            "task_id", sa.String(length=64), nullable=False, comment="Unguessable task id (128 random bits)."
        ),
        sa.Column(
            "owner_kind",
            sa.String(length=16),
            nullable=False,
            comment="principal (OAuth), session (unauthenticated session) or capability (no session: "
            "the id is the capability).",
        ),
        sa.Column(
            "owner_key",
            sa.Text(),
            nullable=False,
            comment="The value access checks match: principal:[iss,sub,client_id], session:<sha256 prefix> "
            "or capability.",
        ),
        sa.Column(
            "owner_issuer", sa.Text(), nullable=True, comment="OAuth issuer (iss) of a principal owner."
        ),
        sa.Column(
            "owner_subject", sa.Text(), nullable=True, comment="OAuth subject (sub) of a principal owner."
        ),
        sa.Column(
            "owner_client_id", sa.Text(), nullable=True, comment="OAuth client_id of a principal owner."
        ),
        sa.Column(
            "wire",
            sa.String(length=16),
            nullable=False,
            comment="Wire that created the task: 2025-11-25 (in-core tasks) or sep-2663 (extension).",
        ),
        sa.Column("tool_name", sa.Text(), nullable=False, comment="Name of the tool the task runs."),
        sa.Column("arguments", sa.JSON(), nullable=False, comment="Tool arguments as sent by the client."),
        sa.Column(
            "status",
            sa.String(length=16),
            nullable=False,
            comment="Current status; see the CHECK constraint.",
        ),
        sa.Column(
            "status_message", sa.Text(), nullable=True, comment="Human-readable status text (statusMessage)."
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, comment="Creation time (UTC)."),
        sa.Column(
            "last_updated_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="Last change of status or status message (UTC).",
        ),
        sa.Column(
            "ttl_ms",
            sa.BigInteger(),
            nullable=True,
            comment="Retention in ms from created_at; NULL = unlimited.",
        ),
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="created_at + ttl_ms: the sweeper fails (if still running) then deletes the task "
            "after it.",
        ),
        sa.Column(
            "poll_interval_ms", sa.Integer(), nullable=True, comment="Suggested polling interval in ms."
        ),
        sa.Column(
            "progress_token",
            sa.JSON(),
            nullable=True,
            comment="progressToken of the creating request (2025-11-25), for progress notifications.",
        ),
        sa.Column(
            "lease_node",
            sa.Text(),
            nullable=True,
            comment="Node (host:pid:random) whose worker runs the tool; NULL when none does.",
        ),
        sa.Column(
            "lease_expires_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="The lease runs out at this time unless the worker's heartbeat renews it (UTC).",
        ),
        sa.Column(
            "attempt",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="How many times a worker started the tool; fences writes of an older worker.",
        ),
        sa.CheckConstraint(
            "status IN ('working', 'input_required', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_tasks_status"),
        ),
        sa.CheckConstraint(
            "owner_kind IN ('principal', 'session', 'capability')", name=op.f("ck_tasks_owner_kind")
        ),
        sa.CheckConstraint("wire IN ('2025-11-25', 'sep-2663')", name=op.f("ck_tasks_wire")),
        sa.CheckConstraint("ttl_ms IS NULL OR ttl_ms > 0", name=op.f("ck_tasks_ttl_ms_positive")),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_tasks")),
        comment="One row per task. Access is always filtered by owner_key.",
    )
    # tasks/list: an owner's tasks, newest first, keyset-paged on (created_at, task_id).
    op.create_index(
        op.f("ix_tasks_owner_key_created_at"), "tasks", ["owner_key", "created_at", "task_id"], unique=False
    )
    # The ttl sweeper: tasks whose expires_at has passed.
    op.create_index(op.f("ix_tasks_expires_at"), "tasks", ["expires_at"], unique=False)
    # Lease recovery: working/input_required tasks whose lease ran out.
    op.create_index(
        op.f("ix_tasks_status_lease_expires_at"), "tasks", ["status", "lease_expires_at"], unique=False
    )

    op.create_table(
        "task_results",
        sa.Column(
            "task_id", sa.String(length=64), nullable=False, comment="The task this outcome belongs to."
        ),
        sa.Column("result", sa.JSON(), nullable=True, comment="CallToolResult of a completed task."),
        sa.Column(
            "error",
            sa.JSON(),
            nullable=True,
            comment="JSON-RPC error {code, message, data?} of a failed task.",
        ),
        sa.Column(
            "stored_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the outcome was stored (UTC).",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.task_id"], name=op.f("fk_task_results_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_task_results")),
        comment="The outcome of a terminal task; written in the same transaction as its terminal status.",
    )

    op.create_table(
        "task_input_requests",
        sa.Column("task_id", sa.String(length=64), nullable=False, comment="The task that asked."),
        sa.Column(
            "request_key",
            sa.String(length=64),
            nullable=False,
            comment="Key of the request within its task, assigned in the order the tool asks.",
        ),
        sa.Column(
            "method",
            sa.String(length=64),
            nullable=False,
            comment="elicitation/create or sampling/createMessage.",
        ),
        sa.Column("params", sa.JSON(), nullable=False, comment="The request params shown to the client."),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, comment="When the tool asked (UTC)."
        ),
        sa.Column(
            "response", sa.JSON(), nullable=True, comment="The client's answer; NULL while outstanding."
        ),
        sa.Column(
            "answered_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the answer was stored (UTC).",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.task_id"],
            name=op.f("fk_task_input_requests_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_id", "request_key", name=op.f("pk_task_input_requests")),
        comment="Pending and answered elicitation/sampling requests of tasks (input_required).",
    )
    # "Which tasks wait for input": rows whose answered_at is NULL.
    op.create_index(
        op.f("ix_task_input_requests_answered_at"), "task_input_requests", ["answered_at"], unique=False
    )

    op.create_table(
        "task_events",
        sa.Column("event_id", sa.Integer(), autoincrement=True, nullable=False, comment="Order of events."),
        sa.Column("task_id", sa.String(length=64), nullable=False, comment="The task whose status changed."),
        sa.Column(
            "from_status",
            sa.String(length=16),
            nullable=True,
            comment="Status before the change; NULL for the creation event (-> working).",
        ),
        sa.Column(
            "to_status",
            sa.String(length=16),
            nullable=False,
            comment="Status after the change: working -> input_required | completed | failed | cancelled, "
            "input_required -> working | completed | failed | cancelled.",
        ),
        sa.Column(
            "at", sa.DateTime(timezone=True), nullable=False, comment="When the change was committed (UTC)."
        ),
        sa.Column("message", sa.Text(), nullable=True, comment="statusMessage set with the change."),
        sa.Column(
            "attempt", sa.Integer(), nullable=False, comment="Worker attempt that made the change (0 = none)."
        ),
        sa.Column("node", sa.Text(), nullable=True, comment="Node that made the change."),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.task_id"], name=op.f("fk_task_events_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_task_events")),
        comment="History of status changes: one row per transition, written with it.",
    )
    # `mcptasks tasks show`: the history of one task in order.
    op.create_index(
        op.f("ix_task_events_task_id_event_id"), "task_events", ["task_id", "event_id"], unique=False
    )


def downgrade() -> None:
    """Drop everything `upgrade` created, children before `tasks`."""
    op.drop_index(op.f("ix_task_events_task_id_event_id"), table_name="task_events")
    op.drop_table("task_events")
    op.drop_index(op.f("ix_task_input_requests_answered_at"), table_name="task_input_requests")
    op.drop_table("task_input_requests")
    op.drop_table("task_results")
    op.drop_index(op.f("ix_tasks_status_lease_expires_at"), table_name="tasks")
    op.drop_index(op.f("ix_tasks_expires_at"), table_name="tasks")
    op.drop_index(op.f("ix_tasks_owner_key_created_at"), table_name="tasks")
    op.drop_table("tasks")
