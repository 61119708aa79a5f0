"""task_input_requests: questions agents asked a person (ask_human) and their answers

Revision ID: 0013h
Revises: 0001

A task whose agent asked waits in ``waiting_input`` (a plain value of ``tasks.status``, a string
column with no check constraint, so no change there). The question, its options, who asked and
the answer live here, one row per question; the session the answer resumes is the task's own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013h"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_input_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("phase_id", sa.String(length=100), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("asked_by", sa.String(length=64), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.String(length=200), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_task_input_requests_task_id_tasks"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"],
                                name=op.f("fk_task_input_requests_ticket_id_tickets"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"],
                                name=op.f("fk_task_input_requests_project_id_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_input_requests")),
    )
    op.create_index("ix_task_input_requests_task", "task_input_requests", ["task_id", "id"])
    op.create_index(op.f("ix_task_input_requests_ticket_id"), "task_input_requests", ["ticket_id"])
    op.create_index(op.f("ix_task_input_requests_project_id"), "task_input_requests", ["project_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_task_input_requests_project_id"), table_name="task_input_requests")
    op.drop_index(op.f("ix_task_input_requests_ticket_id"), table_name="task_input_requests")
    op.drop_index("ix_task_input_requests_task", table_name="task_input_requests")
    op.drop_table("task_input_requests")
