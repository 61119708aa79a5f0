"""memory search: the PostgreSQL full-text index without a pending list (fastupdate off)

Revision ID: 000d
Revises: 0001

With ``fastupdate`` on (PostgreSQL's default) new rows go to an unsorted pending list of up to
4 MB that every search of the index reads in full until VACUUM merges it. After a bulk load of
100k memories that was 257 pages and 2 to 5 ms per index scan (0.1 ms once merged), on every
keyword search. Memories are written a few at a time, so inserting straight into the index costs
little. The pending entries already there are merged now (turning the option off does not).

Feature migrations are siblings (all revise 0001), so this one may run before 0007 on a new
database: then there is no index yet, and 0007 creates it with fastupdate off. (``depends_on``
would order them, but Alembic then drops 0007 from the version table while still listing it as
a head, and ``is_up_to_date`` would never be true.) No-op on SQLite (FTS5).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "000d"
down_revision = "0001"
branch_labels = None
depends_on = None


def _index_exists() -> bool:
    return op.get_bind().scalar(sa.text("SELECT to_regclass('ix_task_memories_search')")) is not None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql" and _index_exists():
        op.execute("ALTER INDEX ix_task_memories_search SET (fastupdate = off)")
        op.execute("SELECT gin_clean_pending_list('ix_task_memories_search'::regclass)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql" and _index_exists():
        op.execute("ALTER INDEX ix_task_memories_search RESET (fastupdate)")
