"""tasks: awaiting_merge, set while the worker has the task's work still to merge

Revision ID: 0012
Revises: 0001

An MCP agent's own ``complete_task`` completes its task while the worker running it has yet to merge
the agent's branch into the ticket's. The ticket mover waits for that merge (it used to move the
ticket on at once, so the next phase could start from a branch without the work), and a merge a dead
worker never made is made by another (its lease ran out).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("awaiting_merge", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("awaiting_merge")
