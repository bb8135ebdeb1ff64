"""An index of the active tasks' leases, and released leases that read as expired

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Lease recovery looks, every few seconds on every replica, for active tasks whose lease ran out.
The index `ix_tasks_status_lease_expires_at` covered every task ever stored, and the query's
`lease_expires_at IS NULL OR lease_expires_at < now` (NULL: a lease released at a stop) could not
use it as one range. A released lease now reads as expired since the task was created (in the
past on every replica's clock), so the query is one range over a partial index of the active
tasks only: a few rows however many tasks are stored. Terminal tasks leave the index.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE = "status IN ('input_required', 'working')"
_OLD_COMMENT = "The lease runs out at this time unless the worker's heartbeat renews it (UTC)."
_NEW_COMMENT = (
    "The lease runs out at this time unless the worker's heartbeat renews it (UTC); "
    "a released lease (lease_node NULL) reads as expired at created_at; NULL once terminal."
)


def _comment(new: str, old: str) -> None:
    # Column comments exist on PostgreSQL only (SQLite would rebuild the table for nothing).
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "tasks",
            "lease_expires_at",
            comment=new,
            existing_comment=old,
            existing_type=sa.DateTime(timezone=True),
            existing_nullable=True,
        )


def upgrade() -> None:
    """Give released leases an expiry in the past, then swap the index for a partial one."""
    op.execute(
        sa.text(
            f"UPDATE tasks SET lease_expires_at = created_at WHERE {_ACTIVE} AND lease_expires_at IS NULL"
        )
    )
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_status_lease_expires_at")
    op.create_index(
        "ix_tasks_active_lease_expires_at",
        "tasks",
        ["lease_expires_at"],
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )
    _comment(_NEW_COMMENT, _OLD_COMMENT)


def downgrade() -> None:
    """Back to the index over every task (released leases keep their time: both read as expired)."""
    _comment(_OLD_COMMENT, _NEW_COMMENT)
    op.drop_index("ix_tasks_active_lease_expires_at", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.create_index("ix_tasks_status_lease_expires_at", ["status", "lease_expires_at"])
