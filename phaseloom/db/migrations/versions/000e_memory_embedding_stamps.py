"""memory embedding stamps: the vector index syncs by what changed, not by "ids above the highest seen"

Revision ID: 000e
Revises: 0001

Syncing by id missed embeddings written later (deferred embeddings, changed vectors) and, on
PostgreSQL, rows committed after a higher id was already loaded. Each embedding write now stamps
its row (see :mod:`phaseloom.db.embedding_stamps`). Rows embedded before this migration stay
unstamped: a process's index loads every embedded row on its first sync anyway.

Feature migrations are siblings (all revise 0001), so on a new database this may run before 0007:
then there is no table yet, and 0007 adds the stamps itself.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from phaseloom.db.embedding_stamps import add_stamps, drop_stamps, has_stamps

revision = "000e"
down_revision = "0001"
branch_labels = None
depends_on = None


def _table_exists() -> bool:
    return sa.inspect(op.get_bind()).has_table("task_memories")


def upgrade() -> None:
    if _table_exists() and not has_stamps(op):
        add_stamps(op)


def downgrade() -> None:
    if _table_exists():
        drop_stamps(op)
