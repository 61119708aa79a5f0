"""Embedding vectors: the pgvector column the semantic search orders by, where the extension exists.

On PostgreSQL with the ``vector`` extension available (pgvector is not part of PostgreSQL; the
Debian and PGDG packages are ``postgresql-NN-pgvector``), ``task_memories.embedding_vec`` holds
each embedding as a ``vector(384)`` with an HNSW index (cosine), and the semantic search orders by
``embedding_vec <=> query`` (see :mod:`phaseloom.search.pgvector_search`). The column is kept in
step with ``embedding`` (float32 bytes, the application's format) by a trigger, so bulk loads and
every writer are covered without the application knowing the column exists.

Used by migration 0007 (a new database, where the sibling 000f may run first and find no table yet)
and 000f (databases made before it). Frozen like a migration: change this schema through a new
migration, not here.
"""

from __future__ import annotations

import sqlalchemy as sa

DIMENSIONS = 384  # frozen here: phaseloom.embeddings.DIMENSIONS when this was written

# float32 little-endian bytes (numpy's layout on every platform phaseloom runs on) -> vector.
# PostgreSQL cannot reinterpret 4 bytes as a float4, so each value is rebuilt from its sign,
# exponent and mantissa in double precision (exact for every finite float32). A blob of another
# length gives NULL: such a row is left out of the pgvector search rather than failing its write.
_FUNCTIONS = (
    "CREATE OR REPLACE FUNCTION task_memories_float32_vector(blob bytea) RETURNS vector "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ "
    f"SELECT CASE WHEN length(blob) = {DIMENSIONS * 4} THEN ("
    "SELECT array_agg((1 - 2 * s) * CASE WHEN e = 0 THEN m * 2.0::float8 ^ -149 "
    "ELSE (8388608 + m) * 2.0::float8 ^ (e - 150) END ORDER BY i)::vector "
    "FROM (SELECT i, get_byte(blob, i * 4 + 3) >> 7 AS s, "
    "((get_byte(blob, i * 4 + 3) & 127) << 1) | (get_byte(blob, i * 4 + 2) >> 7) AS e, "
    "((get_byte(blob, i * 4 + 2) & 127) << 16) | (get_byte(blob, i * 4 + 1) << 8) | get_byte(blob, i * 4) AS m "
    f"FROM generate_series(0, {DIMENSIONS - 1}) AS i) AS parts) END $$",
    "CREATE OR REPLACE FUNCTION task_memories_embedding_vec() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN NEW.embedding_vec := task_memories_float32_vector(NEW.embedding); RETURN NEW; END $$",
)


def _extension_installed(bind) -> bool:
    return bool(bind.scalar(sa.text("SELECT count(*) FROM pg_extension WHERE extname = 'vector'")))


def _create_extension(op) -> bool:
    """Create ``vector`` if it is available; False when it is not, or this role may not create it."""
    bind = op.get_bind()
    if _extension_installed(bind):
        return True
    if not bind.scalar(sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")):
        return False
    # A savepoint: a refused CREATE EXTENSION must not abort the migration's transaction.
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    except sa.exc.DBAPIError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def has_vectors(op) -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    # Asked of the catalogue, not the inspector, which warns that it does not know the vector type.
    return bool(bind.scalar(sa.text(
        "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass('task_memories') "
        "AND attname = 'embedding_vec' AND NOT attisdropped")))


def add_vectors(op) -> bool:
    """Add the vector column, its trigger and HNSW index to ``task_memories`` (filled from the
    embeddings already there); False, changing nothing, off PostgreSQL or without the extension."""
    if op.get_bind().dialect.name != "postgresql" or not _create_extension(op):
        return False
    op.execute(f"ALTER TABLE task_memories ADD COLUMN embedding_vec vector({DIMENSIONS})")
    for statement in _FUNCTIONS:
        op.execute(statement)
    # Not through the trigger: an UPDATE OF embedding would also restamp every row (000e).
    op.execute("UPDATE task_memories SET embedding_vec = task_memories_float32_vector(embedding) "
               "WHERE embedding IS NOT NULL")
    op.execute("CREATE TRIGGER task_memories_embedding_vec BEFORE INSERT OR UPDATE OF embedding ON task_memories "
               "FOR EACH ROW EXECUTE FUNCTION task_memories_embedding_vec()")
    op.execute("CREATE INDEX ix_task_memories_embedding_vec ON task_memories "
               "USING hnsw (embedding_vec vector_cosine_ops)")
    return True


def drop_vectors(op) -> None:
    """Undo :func:`add_vectors`; safe to run when they are not there. The extension stays: other
    tables in the database may use it."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS task_memories_embedding_vec ON task_memories")
    op.execute("DROP FUNCTION IF EXISTS task_memories_embedding_vec()")
    op.execute("DROP INDEX IF EXISTS ix_task_memories_embedding_vec")
    op.execute("ALTER TABLE task_memories DROP COLUMN IF EXISTS embedding_vec")
    if _extension_installed(op.get_bind()):  # the function's signature names the vector type
        op.execute("DROP FUNCTION IF EXISTS task_memories_float32_vector(bytea)")
