"""Embedding stamps: the schema that tells the vector index which memory embeddings changed.

Every write of a memory's embedding (or of a column the index filters on) stamps the row in the
same transaction, through a trigger, so no writer can forget (bulk loads and foreign-key
``SET NULL`` actions included):

- PostgreSQL: the stamp is the writing transaction's id (``pg_current_xact_id()``). Compared with
  the transaction snapshot a sync read the table under, it says exactly which stamped rows that
  sync could not see yet (see :mod:`phaseloom.search._vector_index`).
- SQLite: the stamp is the next value of a one-row counter. Writers are serial (``BEGIN
  IMMEDIATE``), so stamps commit in counter order. Not ``max(embedding_stamp) + 1``: after the row
  holding the maximum is deleted, the next write would reuse a stamp the index has already passed.

Writing a row without an embedding stamps nothing. Used by migration 0007 (a new database, where the
sibling 000e may run first and find no table yet) and 000e (databases made before it). Frozen like
a migration: change this schema through a new migration, not here.
"""

from __future__ import annotations

import sqlalchemy as sa

# The columns whose change the index must see: the vector and what it filters by.
WATCHED = "embedding, project_id, ticket_id, phase_id, memory_type"

_POSTGRESQL = (
    "CREATE OR REPLACE FUNCTION task_memories_stamp_embedding() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN NEW.embedding_stamp := CASE WHEN NEW.embedding IS NULL THEN NULL "
    "ELSE pg_current_xact_id()::text::bigint END; RETURN NEW; END $$",
    "CREATE TRIGGER task_memories_stamp_embedding BEFORE INSERT OR UPDATE OF " + WATCHED + " ON task_memories "
    "FOR EACH ROW EXECUTE FUNCTION task_memories_stamp_embedding()",
)
_SQLITE_STAMP = (
    "UPDATE task_memories_clock SET tick = tick + 1; "
    "UPDATE task_memories SET embedding_stamp = (SELECT tick FROM task_memories_clock) WHERE id = new.id; "
)
_SQLITE = (
    "CREATE TABLE task_memories_clock (tick INTEGER NOT NULL)",
    "INSERT INTO task_memories_clock (tick) VALUES (0)",
    "CREATE TRIGGER task_memories_stamp_insert AFTER INSERT ON task_memories "
    f"WHEN new.embedding IS NOT NULL BEGIN {_SQLITE_STAMP}END",
    f"CREATE TRIGGER task_memories_stamp_update AFTER UPDATE OF {WATCHED} ON task_memories "
    f"WHEN new.embedding IS NOT NULL BEGIN {_SQLITE_STAMP}END",
)


def has_stamps(op) -> bool:
    columns = sa.inspect(op.get_bind()).get_columns("task_memories")
    return any(c["name"] == "embedding_stamp" for c in columns)


def add_stamps(op) -> None:
    """Add the stamp column, its index and the stamping triggers to ``task_memories``."""
    op.add_column("task_memories", sa.Column("embedding_stamp", sa.BigInteger(), nullable=True))
    op.create_index("ix_task_memories_embedding_stamp", "task_memories", ["embedding_stamp"])
    for statement in _POSTGRESQL if op.get_bind().dialect.name == "postgresql" else _SQLITE:
        op.execute(statement)


def drop_stamps(op) -> None:
    """Undo :func:`add_stamps`; safe to run when they are already gone."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS task_memories_stamp_embedding ON task_memories")
        op.execute("DROP FUNCTION IF EXISTS task_memories_stamp_embedding()")
    else:
        op.execute("DROP TRIGGER IF EXISTS task_memories_stamp_insert")
        op.execute("DROP TRIGGER IF EXISTS task_memories_stamp_update")
        op.execute("DROP TABLE IF EXISTS task_memories_clock")
    if has_stamps(op):
        op.drop_index("ix_task_memories_embedding_stamp", table_name="task_memories")
        op.drop_column("task_memories", "embedding_stamp")
