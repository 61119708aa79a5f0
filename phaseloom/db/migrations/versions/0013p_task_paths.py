"""task_paths: the path globs a task declared it touches; tasks.path_count; ix_tasks_active_project

Revision ID: 0013p
Revises: 0012

The claim never starts a task whose path globs overlap those of a claimed or running task of its
project (phaseloom/domain/task_paths.py, phaseloom/queue/_statements.py). Each glob is stored with
its literal prefix; ``path_count`` lets the claim skip the probe for undeclared tasks, and the
partial index finds a project's claimed and running tasks.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013p"
down_revision = "0012"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("status IN ('claimed', 'running')")


def upgrade() -> None:
    op.create_table(
        "task_paths",
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("glob", sa.String(500), primary_key=True),
        sa.Column("prefix", sa.String(500), nullable=False),
    )
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("path_count", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.create_index("ix_tasks_active_project", "tasks", ["project_id"], sqlite_where=_ACTIVE,
                    postgresql_where=_ACTIVE)


def downgrade() -> None:
    op.drop_index("ix_tasks_active_project", table_name="tasks")
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("path_count")
    op.drop_table("task_paths")
