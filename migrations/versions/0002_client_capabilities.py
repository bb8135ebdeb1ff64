"""tasks.client_capabilities: what the creating client can be asked (elicitation, sampling)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

A tool that asks mid-task (`TaskContext.elicit`, `create_message`) may only ask a client that
declared the matching capability; a task run again after a restart needs to know that too, so the
capabilities are stored with the task. Existing rows get NULL (nothing declared is known).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable JSON column `tasks.client_capabilities`."""
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(
            sa.Column(
                "client_capabilities",
                sa.JSON(),
                nullable=True,
                comment="Capabilities the creating client declared (elicitation, sampling, ...): "
                "what the tool may ask it, also after a restart.",
            )
        )


def downgrade() -> None:
    """Drop `tasks.client_capabilities`."""
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("client_capabilities")
