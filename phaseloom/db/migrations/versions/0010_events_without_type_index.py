"""events: no index on event_type

Revision ID: 0010
Revises: 0001

The outbox is read in id order (``id > since ORDER BY id LIMIT n``, optionally filtered by
type), so the primary key serves every read and a type filter is checked on the rows it
walks; the planner had no use for an index on the type alone. Every event paid for it: one
more index entry and about 75 bytes of WAL per event, and a queue worker writes two events
per task (docs/benchmarks.md, "Task queue").
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("system_events") as batch_op:
        batch_op.drop_index("ix_system_events_event_type")


def downgrade() -> None:
    with op.batch_alter_table("system_events") as batch_op:
        batch_op.create_index("ix_system_events_event_type", ["event_type"], unique=False)
