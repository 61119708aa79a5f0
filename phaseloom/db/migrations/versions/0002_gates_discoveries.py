"""gates: artifacts, gate results, done-definition checks, gate approvals, task discoveries

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('done_definition_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('phase_id', sa.String(length=100), nullable=False),
    sa.Column('item_index', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('ticked', sa.Boolean(), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('ticked_by', sa.String(length=200), nullable=False),
    sa.Column('ticked_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_done_definition_checks_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_done_definition_checks')),
    sa.UniqueConstraint('ticket_id', 'phase_id', 'item_index', name='uq_done_definition_checks_item')
    )
    op.create_table('gate_approvals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('phase_id', sa.String(length=100), nullable=False),
    sa.Column('criterion_key', sa.String(length=100), nullable=False),
    sa.Column('approved_by', sa.String(length=200), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_gate_approvals_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gate_approvals')),
    sa.UniqueConstraint('ticket_id', 'phase_id', 'criterion_key', name='uq_gate_approvals_criterion')
    )
    op.create_table('gate_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('phase_id', sa.String(length=100), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('outcomes', sa.JSON(), nullable=False),
    sa.Column('blocking_reasons', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_gate_results_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gate_results'))
    )
    with op.batch_alter_table('gate_results', schema=None) as batch_op:
        batch_op.create_index('ix_gate_results_ticket_phase', ['ticket_id', 'phase_id', 'id'], unique=False)

    op.create_table('artifacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('phase_id', sa.String(length=100), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('artifact_type', sa.String(length=50), nullable=False),
    sa.Column('path', sa.String(length=1000), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('content', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_artifacts_task_id_tasks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_artifacts_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_artifacts')),
    sa.UniqueConstraint('ticket_id', 'path', 'content_hash', name='uq_artifacts_ticket_path_hash')
    )
    with op.batch_alter_table('artifacts', schema=None) as batch_op:
        batch_op.create_index('ix_artifacts_ticket_phase', ['ticket_id', 'phase_id'], unique=False)

    op.create_table('task_discoveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('source_task_id', sa.Integer(), nullable=True),
    sa.Column('source_phase_id', sa.String(length=100), nullable=True),
    sa.Column('discovery_type', sa.String(length=50), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('spawn_phase_id', sa.String(length=100), nullable=True),
    sa.Column('spawned_task_ids', sa.JSON(), nullable=False),
    sa.Column('priority_boost', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_task_discoveries_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_task_id'], ['tasks.id'], name=op.f('fk_task_discoveries_source_task_id_tasks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_task_discoveries_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_discoveries'))
    )
    with op.batch_alter_table('task_discoveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_discoveries_source_task_id'), ['source_task_id'], unique=False)
        batch_op.create_index('ix_task_discoveries_ticket', ['ticket_id', 'status'], unique=False)
        batch_op.create_index('ix_task_discoveries_type', ['discovery_type', 'status'], unique=False)


def downgrade() -> None:
    for table in ("task_discoveries", "artifacts", "gate_results", "gate_approvals", "done_definition_checks"):
        op.drop_table(table)
