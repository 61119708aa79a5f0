"""guardian assessments and steering notes

Revision ID: 000b
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "000b"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "guardian_assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("phase_id", sa.String(length=100), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("judge", sa.String(length=20), nullable=False),
        sa.Column("intervention", sa.String(length=20), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_guardian_assessments_task_id_tasks"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"],
                                name=op.f("fk_guardian_assessments_ticket_id_tickets"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guardian_assessments")),
    )
    op.create_index("ix_guardian_assessments_task", "guardian_assessments", ["task_id", "id"])
    op.create_index("ix_guardian_assessments_ticket", "guardian_assessments", ["ticket_id", "id"])
    op.create_table(
        "steering_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("delivered_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_steering_notes_task_id_tasks"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_steering_notes")),
    )
    op.create_index("ix_steering_notes_agent", "steering_notes", ["agent_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_steering_notes_agent", table_name="steering_notes")
    op.drop_table("steering_notes")
    op.drop_index("ix_guardian_assessments_ticket", table_name="guardian_assessments")
    op.drop_index("ix_guardian_assessments_task", table_name="guardian_assessments")
    op.drop_table("guardian_assessments")
