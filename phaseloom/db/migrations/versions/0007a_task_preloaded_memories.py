"""which memories each task's instructions carried when last built

Revision ID: 0007a
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007a"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_preloaded_memories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("memory_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_task_preloaded_memories_task_id_tasks"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["memory_id"], ["task_memories.id"],
                                name=op.f("fk_task_preloaded_memories_memory_id_task_memories"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_preloaded_memories")),
    )
    op.create_index("ix_task_preloaded_memories_task", "task_preloaded_memories", ["task_id", "rank"])


def downgrade() -> None:
    op.drop_index("ix_task_preloaded_memories_task", table_name="task_preloaded_memories")
    op.drop_table("task_preloaded_memories")
