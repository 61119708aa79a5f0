"""queue: ready indexes ordered (score DESC, id) so equal scores are claimed first-come, first-served

Revision ID: 0008
Revises: 0001

The claim orders by ``score DESC, id ASC``. Replacing the score-only partial indexes with
``(score DESC, id)`` (and ``(phase_id, score DESC, id)``) lets both planners serve that whole
ORDER BY with a forward index scan that stops at the first eligible row: no sort, and a
deterministic winner when two tasks have exactly the same score.

``ix_tasks_status_lease (status, lease_expires_at)`` becomes ``ix_tasks_leased
(lease_expires_at) WHERE lease_expires_at IS NOT NULL``: the reaper's ``lease_expires_at < now``
still uses it, and SQLite's planner (which has no statistics) can no longer take it for the
claim's ``status = 'pending'`` and then sort every pending task.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0001"
branch_labels = None
depends_on = None

READY = sa.text("status = 'pending' AND unmet_dependencies = 0")
LEASED = sa.text("lease_expires_at IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_tasks_ready_score", table_name="tasks")
    op.drop_index("ix_tasks_ready_phase_score", table_name="tasks")
    op.create_index("ix_tasks_ready_score_id", "tasks", [sa.text("score DESC"), "id"],
                    sqlite_where=READY, postgresql_where=READY)
    op.create_index("ix_tasks_ready_phase_score_id", "tasks", ["phase_id", sa.text("score DESC"), "id"],
                    sqlite_where=READY, postgresql_where=READY)
    op.drop_index("ix_tasks_status_lease", table_name="tasks")
    op.create_index("ix_tasks_leased", "tasks", ["lease_expires_at"], sqlite_where=LEASED, postgresql_where=LEASED)


def downgrade() -> None:
    op.drop_index("ix_tasks_leased", table_name="tasks")
    op.create_index("ix_tasks_status_lease", "tasks", ["status", "lease_expires_at"])
    op.drop_index("ix_tasks_ready_phase_score_id", table_name="tasks")
    op.drop_index("ix_tasks_ready_score_id", table_name="tasks")
    op.create_index("ix_tasks_ready_score", "tasks", ["score"], sqlite_where=READY, postgresql_where=READY)
    op.create_index("ix_tasks_ready_phase_score", "tasks", ["phase_id", "score"],
                    sqlite_where=READY, postgresql_where=READY)
