"""memory embeddings as pgvector: a vector(384) column with an HNSW index, where the extension exists

Revision ID: 000f
Revises: 0001

The semantic search then orders by ``embedding_vec <=> query`` in the database instead of
scanning a matrix kept in every process (see :mod:`phaseloom.db.embedding_vectors`). On PostgreSQL
without the ``vector`` extension available (or a role that may not create it) and on SQLite this
does nothing, and search stays on the in-memory index. An extension installed after this ran is
taken up by the next ``phaseloom db upgrade`` (:func:`phaseloom.db.migrate.upgrade`).

Feature migrations are siblings (all revise 0001), so on a new database this may run before 0007:
then there is no table yet, and 0007 adds the vectors itself.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from phaseloom.db.embedding_vectors import add_vectors, drop_vectors, has_vectors

revision = "000f"
down_revision = "0001"
branch_labels = None
depends_on = None


def _table_exists() -> bool:
    return sa.inspect(op.get_bind()).has_table("task_memories")


def upgrade() -> None:
    if _table_exists() and not has_vectors(op):
        add_vectors(op)


def downgrade() -> None:
    if _table_exists():
        drop_vectors(op)
