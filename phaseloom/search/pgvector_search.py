"""The semantic search in PostgreSQL itself, on databases with pgvector (see
:mod:`phaseloom.db.embedding_vectors`): ``ORDER BY embedding_vec <=> query`` on an HNSW index.

HNSW applies the filters (project, phase, type, ticket) to the rows its scan yields, and the scan
yields about ``hnsw.ef_search`` rows: with a selective filter fewer than ``limit`` may pass. So the
search raises ``ef_search`` to cover the limit, and when it still returns fewer rows than match the
filter, it orders every matching row by exact distance (a scan of the rows the filter selects,
as the in-memory index does on every search).

The query vector is sent as a ``'[x, …]'`` literal cast to ``vector``: no client library needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from phaseloom.search._vector_index import MemoryFilter

if TYPE_CHECKING:
    from phaseloom.db.engine import Database

# Candidates the HNSW scan keeps (pgvector's default is 40); raised to the limit when that is
# higher, up to pgvector's maximum.
EF_SEARCH, EF_SEARCH_MAX = 100, 1000
_HAS_VECTORS = ("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') "
                "AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('task_memories') "
                "AND attname = 'embedding_vec' AND NOT attisdropped)")


def has_vectors(session: Session) -> bool:
    """Whether this database has pgvector and the memories' vector column."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    return bool(session.scalar(text(_HAS_VECTORS)))


@dataclass
class _VectorSupport:
    present: bool | None = None    # unknown until first asked


def uses_pgvector(db: Database, session: Session) -> bool:
    """:func:`has_vectors`, asked once per database (the schema changes only by migration; asking
    twice at once gives the same answer, so no lock)."""
    support = db.kept(_VectorSupport)
    if support.present is None:
        support.present = has_vectors(session)
    return support.present


def search(session: Session, query: np.ndarray, flt: MemoryFilter, limit: int) -> list[tuple[int, float]]:
    """The ``limit`` nearest memories matching ``flt``, by cosine similarity, nearest first.

    Runs in ``session``'s transaction and sets ``hnsw.ef_search`` for the rest of it (``SET LOCAL``).
    """
    where, params = flt.sql()
    params.update(query=_literal(query), limit=limit)
    ef_search = min(max(EF_SEARCH, limit), EF_SEARCH_MAX)
    # enable_sort off: a table whose statistics are stale or missing (right after a bulk load, before
    # autovacuum's ANALYZE) looks tiny to the planner, which then sorts every row by distance
    # instead of walking the index (30 ms against 2 ms at 10k). Local to this transaction.
    session.execute(text("SELECT set_config('hnsw.ef_search', :ef, true), set_config('enable_sort', 'off', true)"),
                    {"ef": str(ef_search)})
    indexed = (f"SELECT id, embedding_vec <=> CAST(:query AS vector) AS distance FROM task_memories "
               f"WHERE embedding_vec IS NOT NULL{where} ORDER BY embedding_vec <=> CAST(:query AS vector) LIMIT :limit")
    found = session.execute(text(indexed), params).all()
    if len(found) < limit and _matching(session, where, params) > len(found):
        # ``+ 0``: an expression the index cannot order by, so every matching row is measured.
        exact = (f"SELECT id, embedding_vec <=> CAST(:query AS vector) AS distance FROM task_memories "
                 f"WHERE embedding_vec IS NOT NULL{where} "
                 "ORDER BY (embedding_vec <=> CAST(:query AS vector)) + 0, id LIMIT :limit")
        found = session.execute(text(exact), params).all()
    return [(int(row.id), 1.0 - float(row.distance)) for row in found]


def _matching(session: Session, where: str, params: dict) -> int:
    """How many embedded rows match the filter, counted up to the limit (enough to decide)."""
    return session.scalar(text(f"SELECT count(*) FROM (SELECT 1 FROM task_memories "
                               f"WHERE embedding_vec IS NOT NULL{where} LIMIT :limit) AS matching"), params)


def _literal(vector: np.ndarray) -> str:
    # repr of a float32 round-trips (shortest form that parses back to the same float32).
    return "[" + ",".join(repr(float(x)) for x in np.asarray(vector, dtype=np.float32)) + "]"
