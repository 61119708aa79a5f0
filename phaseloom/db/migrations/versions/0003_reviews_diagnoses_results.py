"""validation reviews, task review state, stuck-ticket diagnoses, workflow results

Revision ID: 0003
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workflow_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("markdown_path", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("validation_task_id", sa.Integer(), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=False),
        sa.Column("on_result_found", sa.String(length=20), nullable=False),
        sa.Column("cancelled_task_ids", sa.JSON(), nullable=False),
        sa.Column("stop_requested_task_ids", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("decided_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name=op.f("fk_workflow_results_project_id_projects")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="SET NULL",
                                name=op.f("fk_workflow_results_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_results")),
    )
    op.create_index(op.f("ix_workflow_results_project_id"), "workflow_results", ["project_id"])

    op.create_table(
        "task_reviews",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("phase_id", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("failed_iterations", sa.Integer(), nullable=False),
        sa.Column("max_iterations", sa.Integer(), nullable=False),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], ondelete="CASCADE",
                                name=op.f("fk_task_reviews_task_id_tasks")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE",
                                name=op.f("fk_task_reviews_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_task_reviews")),
    )
    op.create_index("ix_task_reviews_ticket_phase", "task_reviews", ["ticket_id", "phase_id"])

    op.create_table(
        "validation_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("phase_id", sa.String(length=100), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("result_id", sa.Integer(), nullable=True),
        sa.Column("validator_task_id", sa.Integer(), nullable=False),
        sa.Column("iteration", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("validator_agent_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("reviewed_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name=op.f("fk_validation_reviews_project_id_projects")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE",
                                name=op.f("fk_validation_reviews_ticket_id_tickets")),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], ondelete="CASCADE",
                                name=op.f("fk_validation_reviews_task_id_tasks")),
        sa.ForeignKeyConstraint(["result_id"], ["workflow_results.id"], ondelete="CASCADE",
                                name=op.f("fk_validation_reviews_result_id_workflow_results")),
        sa.ForeignKeyConstraint(["validator_task_id"], ["tasks.id"], ondelete="CASCADE",
                                name=op.f("fk_validation_reviews_validator_task_id_tasks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_validation_reviews")),
        sa.UniqueConstraint("validator_task_id", name=op.f("uq_validation_reviews_validator_task_id")),
    )
    op.create_index("ix_validation_reviews_ticket_phase", "validation_reviews", ["ticket_id", "phase_id"])
    op.create_index("ix_validation_reviews_task", "validation_reviews", ["task_id"])

    op.create_table(
        "diagnoses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=40), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("recommendation", sa.Text(), nullable=False),
        sa.Column("inferred_phase_id", sa.String(length=100), nullable=True),
        sa.Column("inferred_from", sa.String(length=20), nullable=False),
        sa.Column("discovery_id", sa.Integer(), nullable=True),
        sa.Column("recovery_task_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name=op.f("fk_diagnoses_project_id_projects")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE",
                                name=op.f("fk_diagnoses_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_diagnoses")),
    )
    op.create_index("ix_diagnoses_ticket_created", "diagnoses", ["ticket_id", "created_at"])


def downgrade() -> None:
    op.drop_table("diagnoses")
    op.drop_table("validation_reviews")
    op.drop_table("task_reviews")
    op.drop_table("workflow_results")
