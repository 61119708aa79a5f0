"""merge_queue_entries: tickets' branches waiting to land on their repository's target branch

Revision ID: 0013
Revises: 0001

A ticket whose workflow declares ``settings.merge`` joins its repository's queue when it passes its
last gate; the queue tests its branch merged onto the target and moves the target only to a tested
commit. One row per attempt: a ticket sent back and finished again queues anew.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "merge_queue_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("repo_path", sa.Text(), nullable=False),
        sa.Column("branch", sa.String(length=200), nullable=False),
        sa.Column("into", sa.String(length=200), nullable=False),
        sa.Column("strategy", sa.String(length=20), nullable=False),
        sa.Column("from_phase_id", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("base_commit", sa.String(length=64), nullable=True),
        sa.Column("tested_commit", sa.String(length=64), nullable=True),
        sa.Column("landed_commit", sa.String(length=64), nullable=True),
        sa.Column("conflicts", sa.JSON(), nullable=False),
        sa.Column("failed_check", sa.JSON(), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_merge_queue_entries_project_id_projects"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_merge_queue_entries_ticket_id_tickets"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merge_queue_entries")),
    )
    op.create_index("ix_merge_queue_repo_status", "merge_queue_entries", ["repo_path", "status", "id"])
    op.create_index("ix_merge_queue_ticket", "merge_queue_entries", ["ticket_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_merge_queue_ticket", table_name="merge_queue_entries")
    op.drop_index("ix_merge_queue_repo_status", table_name="merge_queue_entries")
    op.drop_table("merge_queue_entries")
