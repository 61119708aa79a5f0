"""phases: permissions, what the phase lets its agent change (read_only, workspace_write, full)

Revision ID: 0013r
Revises: 0001

Every stored phase keeps the default it always had in effect: ``workspace_write``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013r"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("phases") as batch_op:
        batch_op.add_column(sa.Column("permissions", sa.String(length=20), nullable=False,
                                      server_default="workspace_write"))


def downgrade() -> None:
    with op.batch_alter_table("phases") as batch_op:
        batch_op.drop_column("permissions")
