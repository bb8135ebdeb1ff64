"""tasks.trace_context: the W3C trace context of the request that created the task

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

One OpenTelemetry trace follows a task through its whole life: the tool's run (also an attempt on
another replica after a restart), its questions, its outcome, and every `tasks/*` call about it
link back to the `tools/call` that created it. That needs the creating request's `traceparent`
kept with the task. NULL when the server was not tracing; existing rows get NULL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable text column `tasks.trace_context`."""
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(
            sa.Column(
                "trace_context",
                sa.Text(),
                nullable=True,
                comment="W3C traceparent of the request that created the task (OpenTelemetry); "
                "NULL when it was not traced.",
            )
        )


def downgrade() -> None:
    """Drop `tasks.trace_context`."""
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("trace_context")
