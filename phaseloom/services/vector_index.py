"""An in-memory matrix of memory embeddings, kept in step with the table.

A search must not re-read every embedding from the database. The index loads the
embeddings once, then on each search fetches only rows with a higher id than it has seen
(so memories written by other processes appear), and answers with one matrix product.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from phaseloom.db.models.memory import TaskMemory
from phaseloom.services.embeddings import DIMENSIONS


@dataclass
class MemoryFilter:
    project_id: int | None = None
    phase_id: str | None = None
    memory_type: str | None = None
    ticket_id: int | None = None


@dataclass
class VectorIndex:
    dimensions: int = DIMENSIONS
    _ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, DIMENSIONS), dtype=np.float32))
    _projects: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _tickets: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _phases: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    _types: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    _last_id: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        return len(self._ids)

    def sync(self, session: Session, batch: int = 20_000) -> int:
        """Load rows added since the last sync; return how many were added."""
        added = 0
        with self._lock:
            newest = session.scalar(select(func.max(TaskMemory.id))) or 0
            if newest < self._last_id:  # the table was emptied or restored: start again
                self._reset()
            # Nothing newer (the usual case, once per search) needs no second query. The upper
            # bound keeps the one that runs on the primary key even before the table has planner
            # statistics: with a lower bound alone PostgreSQL then guesses a third of the table
            # and scans all of it (40 ms at 100k memories).
            while newest > self._last_id:
                rows = session.execute(
                    select(TaskMemory.id, TaskMemory.embedding, TaskMemory.project_id, TaskMemory.ticket_id,
                           TaskMemory.phase_id, TaskMemory.memory_type)
                    .where(TaskMemory.id > self._last_id, TaskMemory.id <= newest,
                           TaskMemory.embedding.is_not(None))
                    .order_by(TaskMemory.id).limit(batch)
                ).all()
                if not rows:
                    return added
                self._append(rows)
                added += len(rows)
                if len(rows) < batch:
                    return added
            return added

    def _reset(self) -> None:
        self._ids = np.zeros(0, dtype=np.int64)
        self._vectors = np.zeros((0, self.dimensions), dtype=np.float32)
        self._projects = np.zeros(0, dtype=np.int64)
        self._tickets = np.zeros(0, dtype=np.int64)
        self._phases = np.zeros(0, dtype=object)
        self._types = np.zeros(0, dtype=object)
        self._last_id = 0

    def _append(self, rows) -> None:
        vectors = np.frombuffer(b"".join(r.embedding for r in rows), dtype=np.float32).reshape(len(rows), -1)
        self._ids = np.concatenate([self._ids, np.array([r.id for r in rows], dtype=np.int64)])
        self._vectors = np.vstack([self._vectors, vectors])
        self._projects = np.concatenate([self._projects, np.array([r.project_id for r in rows], dtype=np.int64)])
        self._tickets = np.concatenate([self._tickets, np.array([r.ticket_id or 0 for r in rows], dtype=np.int64)])
        self._phases = np.concatenate([self._phases, np.array([r.phase_id for r in rows], dtype=object)])
        self._types = np.concatenate([self._types, np.array([r.memory_type for r in rows], dtype=object)])
        self._last_id = int(rows[-1].id)

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


_indexes: dict[str, VectorIndex] = {}
_registry_lock = threading.Lock()


def index_for(database_url: str) -> VectorIndex:
    """One index per database per process."""
    with _registry_lock:
        return _indexes.setdefault(database_url, VectorIndex())
