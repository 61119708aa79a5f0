"""tasks: the agent CLI's session id and its live activity

Revision ID: 0011
Revises: 0001

``session_id`` is the coding agent's own session (Claude Code's session, Codex's thread, OpenCode's
session), kept so a later run can resume it. ``activity`` is the last thing the agent was seen
doing (its last tool call), read from its structured stream while it runs, for the board and the
agents page; ``activity_at`` says when.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("session_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("activity", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("activity_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("activity_at")
        batch_op.drop_column("activity")
        batch_op.drop_column("session_id")
