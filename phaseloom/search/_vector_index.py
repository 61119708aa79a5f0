"""An in-memory matrix of memory embeddings, kept in step with the table.

A search must not re-read every embedding from the database. The index loads the embeddings
once, then on each search reads only the rows whose embedding was written (or whose filter
columns changed) since, and answers with one matrix product.

"Since" cannot be "with a higher id than seen": an embedding filled in later (saved with
``defer_embedding``) or replaced keeps its old id, and on PostgreSQL a transaction may commit
id N after id N+1 was already loaded. So each write stamps its row (triggers, see
:mod:`phaseloom.db.embedding_stamps`) and the index syncs by stamp:

- SQLite: the stamp is a counter and writers are serial, so stamps commit in order: read the
  stamps above the highest seen.
- PostgreSQL: the stamp is the id of the writing transaction, and the index remembers the
  snapshot it last read under (``pg_current_snapshot()``, taken in the same statement as the
  newest stamp): its ``xmax`` and its in-flight transactions. A row it could not see then is
  either from a transaction at or past that ``xmax``, or from one that was in flight; once such
  a transaction has ended (it is no longer in flight now), its rows are read by their stamp.
  Exact, with no lock and no time window: an idle search is one statement, and a sync after
  writes reads only the rows written.

Rejected: a sequence (drawn before commit, so it has the same gap as ids); writers holding an
advisory lock that a sync takes exclusively (a sync inside a transaction that has written an
embedding, as ``save_memories``' near-duplicate check is, would wait for itself); a counter row
(serialises every embedding writer on one row, see ``term_statistics``). Deleted memories stay in
the index until it reloads (searches drop ids whose rows are gone).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from phaseloom.embeddings import DIMENSIONS

_COLUMNS = "SELECT id, embedding_stamp, embedding, project_id, ticket_id, phase_id, memory_type FROM task_memories"
_EMBEDDED = "embedding IS NOT NULL"
# SQLite: the highest stamp; it falls only when the table was restored or its newest row deleted.
_SQLITE_NEWEST = "SELECT max(embedding_stamp) FROM task_memories"
# Read in stamp order (stamps are unique here): in id order SQLite would walk the whole table.
_SQLITE_CHANGED = "embedding_stamp <= :newest"
# PostgreSQL: the snapshot this statement reads under, the table's file node (TRUNCATE gives it a
# new one, and ids may restart) and the newest stamp visible in that snapshot.
_POSTGRESQL_NEWEST = ("SELECT pg_current_snapshot()::text, pg_relation_filenode('task_memories'), "
                      "(SELECT max(embedding_stamp) FROM task_memories)")
# Both bounds keep the planner on the stamp index even before the table has statistics.
_POSTGRESQL_CHANGED = ("(embedding_stamp >= :seen_xmax AND embedding_stamp < :xmax "
                       "OR embedding_stamp = ANY(CAST(:ended AS bigint[])))")


@dataclass
class MemoryFilter:
    project_id: int | None = None
    phase_id: str | None = None
    memory_type: str | None = None
    ticket_id: int | None = None

    def sql(self, table: str = "") -> tuple[str, dict]:
        """`` AND column = :column`` for every field set (columns prefixed ``table.`` when given), and the values."""
        prefix = f"{table}." if table else ""
        clauses, params = [], {}
        for column in ("project_id", "phase_id", "memory_type", "ticket_id"):
            if (value := getattr(self, column)) is not None:
                clauses.append(f" AND {prefix}{column} = :{column}")
                params[column] = value
        return "".join(clauses), params


@dataclass(frozen=True)
class Snapshot:
    """What a PostgreSQL snapshot says about transaction ids: every id below ``xmax`` and not
    ``in_flight`` had ended (committed or rolled back)."""

    xmax: int
    in_flight: frozenset[int]

    @classmethod
    def parse(cls, value: str) -> "Snapshot":
        _xmin, xmax, in_flight = value.split(":")
        return cls(int(xmax), frozenset(int(x) for x in in_flight.split(",") if x))


@dataclass
class VectorIndex:
    dimensions: int = DIMENSIONS
    _ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, DIMENSIONS), dtype=np.float32))
    _projects: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _tickets: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _phases: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    _types: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    _positions: dict[int, int] = field(default_factory=dict)  # memory id -> row in the arrays
    # How far the index has read: the highest stamp (SQLite) or a Snapshot (PostgreSQL); None
    # before the first sync.
    _seen: int | Snapshot | None = None
    _filenode: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        return len(self._ids)

    def sync(self, session: Session, batch: int = 20_000) -> int:
        """Load the rows whose embedding was written since the last sync; return how many.

        ``session`` must read committed rows only (a rolled-back write must never reach the index).
        """
        with self._lock:
            if session.get_bind().dialect.name == "postgresql":
                return self._sync_postgresql(session, batch)
            return self._sync_sqlite(session, batch)

    def _sync_sqlite(self, session: Session, batch: int) -> int:
        # One read transaction: the newest stamp and the rows come from the same snapshot.
        newest = session.scalar(text(_SQLITE_NEWEST)) or 0
        seen = self._seen
        if seen is None or newest < seen:
            self._reset()
            added = self._load(session, "true", {}, batch)
        elif newest == seen:
            return 0
        else:
            added = self._load(session, _SQLITE_CHANGED, {"newest": newest}, batch,
                               key="embedding_stamp", after=seen)
        self._seen = newest
        return added

    def _sync_postgresql(self, session: Session, batch: int) -> int:
        snapshot, filenode, newest = session.execute(text(_POSTGRESQL_NEWEST)).one()
        now = Snapshot.parse(snapshot)
        seen = self._seen
        if not isinstance(seen, Snapshot) or filenode != self._filenode:
            self._reset()
            added = self._load(session, "true", {}, batch)
        else:
            ended = seen.in_flight - now.in_flight
            if (newest or 0) < seen.xmax and not ended:
                self._seen = now  # nothing committed since that the last read could not see
                return 0
            # Later statements read under later snapshots: rows committed meanwhile may be read
            # again next time, which only replaces them with themselves.
            added = self._load(session, _POSTGRESQL_CHANGED,
                               {"seen_xmax": seen.xmax, "xmax": now.xmax, "ended": sorted(ended)}, batch)
        self._seen, self._filenode = now, filenode
        return added

    def _load(self, session: Session, where: str, params: dict, batch: int, *, key: str = "id",
              after: int = 0) -> int:
        """Upsert the embedded rows matching ``where`` with ``key`` above ``after``, ``batch`` rows per
        statement, in ``key`` order."""
        added = 0
        query = text(f"{_COLUMNS} WHERE {_EMBEDDED} AND ({where}) AND {key} > :after ORDER BY {key} LIMIT :batch")
        while True:
            rows = session.execute(query, {**params, "after": after, "batch": batch}).all()
            if rows:
                self._upsert(rows)
            added += len(rows)
            if len(rows) < batch:
                return added
            after = getattr(rows[-1], key)

    def _reset(self) -> None:
        self._ids = np.zeros(0, dtype=np.int64)
        self._vectors = np.zeros((0, self.dimensions), dtype=np.float32)
        self._projects = np.zeros(0, dtype=np.int64)
        self._tickets = np.zeros(0, dtype=np.int64)
        self._phases = np.zeros(0, dtype=object)
        self._types = np.zeros(0, dtype=object)
        self._positions = {}
        self._seen = None

    def _upsert(self, rows) -> None:
        """Replace the rows already in the index in place; append the others."""
        vectors = np.frombuffer(b"".join(r.embedding for r in rows), dtype=np.float32).reshape(len(rows), -1)
        positions = [self._positions.get(r.id) for r in rows]
        known = [i for i, p in enumerate(positions) if p is not None]
        if known:
            at = np.array([positions[i] for i in known], dtype=np.int64)
            self._vectors[at] = vectors[known]
            self._set_filters(at, [rows[i] for i in known])
        fresh = [i for i, p in enumerate(positions) if p is None]
        if not fresh:
            return
        start = len(self._ids)
        self._ids = np.concatenate([self._ids, np.array([rows[i].id for i in fresh], dtype=np.int64)])
        self._vectors = np.vstack([self._vectors, vectors[fresh]])
        self._projects = np.concatenate([self._projects, np.zeros(len(fresh), dtype=np.int64)])
        self._tickets = np.concatenate([self._tickets, np.zeros(len(fresh), dtype=np.int64)])
        self._phases = np.concatenate([self._phases, np.zeros(len(fresh), dtype=object)])
        self._types = np.concatenate([self._types, np.zeros(len(fresh), dtype=object)])
        self._set_filters(np.arange(start, start + len(fresh)), [rows[i] for i in fresh])
        self._positions.update((rows[i].id, start + n) for n, i in enumerate(fresh))

    def _set_filters(self, at: np.ndarray, rows) -> None:
        self._projects[at] = [r.project_id for r in rows]
        self._tickets[at] = [r.ticket_id or 0 for r in rows]
        self._phases[at] = np.array([r.phase_id for r in rows], dtype=object)
        self._types[at] = np.array([r.memory_type for r in rows], dtype=object)

    def search(self, query: np.ndarray, flt: MemoryFilter, limit: int) -> list[tuple[int, float]]:
        """The ``limit`` nearest memories by cosine similarity (vectors are unit length)."""
        with self._lock:
            if not len(self._ids):
                return []
            mask = np.ones(len(self._ids), dtype=bool)
            if flt.project_id is not None:
                mask &= self._projects == flt.project_id
            if flt.ticket_id is not None:
                mask &= self._tickets == flt.ticket_id
            if flt.phase_id is not None:
                mask &= self._phases == flt.phase_id
            if flt.memory_type is not None:
                mask &= self._types == flt.memory_type
            available = int(mask.sum())
            if not available:
                return []
            # Score every row and mask afterwards: one matrix-vector product is cheaper than
            # copying the selected rows out of the matrix first.
            scores = self._vectors @ query.astype(np.float32)
            scores[~mask] = -np.inf
            top = min(limit, available)
            best = np.argpartition(-scores, top - 1)[:top]
            best = best[np.argsort(-scores[best])]
            return [(int(self._ids[i]), float(scores[i])) for i in best]

