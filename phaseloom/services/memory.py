"""Task memory: agents save what they learned; others find it by meaning and by words.

Search is hybrid: a semantic list (cosine over MiniLM embeddings, from an in-memory index kept
in step with the table, or on PostgreSQL with pgvector from the database's HNSW index) and a
keyword list (SQLite FTS5 bm25, PostgreSQL IDF then ts_rank, both stemmed OR queries), fused by
Reciprocal Rank Fusion weighted by how much of the query each keyword hit covers (accidental
matches below a floor left out: see ``coverage_weighted_fusion``). Without
the embedding model installed, search is keyword-only.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select, update

from phaseloom.config import Settings
from phaseloom.db.models import Task
from phaseloom.db.models.base import utcnow
from phaseloom.db.models.memory import TaskMemory
from phaseloom.domain.errors import InvalidInput, NotFound
from phaseloom.domain.memory import NEAR_DUPLICATE_COSINE, RRF_K, MemoryType, coverage_weighted_fusion, task_memory_query
from phaseloom.embeddings import Embedder, default_embedder, from_blob, to_blob
from phaseloom.search import (
    KeywordHit,
    KeywordSearch,
    MemoryFilter,
    TermStatistics,
    VectorIndex,
    pgvector_search,
)
from phaseloom.db.unit_of_work import UnitOfWork

SearchMode = Literal["hybrid", "semantic", "keyword"]
CANDIDATES = 50
_UNSET = object()


@dataclass(frozen=True)
class SaveOutcome:
    memory: TaskMemory
    action: Literal["created", "merged"]


@dataclass(frozen=True)
class MemoryHit:
    memory: TaskMemory
    score: float
    semantic_rank: int | None
    keyword_rank: int | None


class MemoryService:
    """``embedder``: the one to embed with, None for keyword-only; by default the one ``settings``
    choose (none without settings)."""

    def __init__(self, uow: UnitOfWork, settings: Settings | None = None, *,
                 embedder: Embedder | None | object = _UNSET, index: VectorIndex | None = None) -> None:
        self.uow = uow
        if embedder is _UNSET:
            embedder = default_embedder(settings) if settings is not None else None
        self.embedder: Embedder | None = embedder  # type: ignore[assignment]
        # Not ``index or …``: an empty index has length 0 and would be swapped for the shared one.
        self.index = index if index is not None else uow.db.kept(VectorIndex)
        self.terms: TermStatistics | None = uow.db.kept(TermStatistics) if uow.backend == "postgresql" else None

    # -- saving ------------------------------------------------------------------
    def save_memory(self, content: str, memory_type: str, *, defer_embedding: bool = False,
                    **fields) -> SaveOutcome:
        """Save a memory; a near-duplicate (cosine >= 0.95 in the project) updates the existing one.

        ``fields``: project_id or task_id (one is needed; a task gives its project, ticket and phase),
        ticket_id, phase_id, agent_id, goal, result, feedback, related_files, tags.
        ``defer_embedding`` stores it keyword-searchable at once and leaves the embedding (and the
        near-duplicate check) to :meth:`embed_pending`, so hot paths never load the model.
        """
        items = [dict(fields, content=content, memory_type=memory_type)]
        return self.save_memories(items, defer_embedding=defer_embedding)[0]

    def save_memories(self, items: list[dict], *, defer_embedding: bool = False) -> list[SaveOutcome]:
        """Save several memories in one transaction, embedding them in one batch."""
        for item in items:
            if not str(item.get("content", "")).strip():
                raise InvalidInput("a memory needs content")
            MemoryType.parse(item.get("memory_type", ""))
        embed = self.embedder is not None and not defer_embedding
        vectors = (self.embedder.embed([_embedding_text(i["content"], i.get("goal", ""), i.get("result", ""))
                                        for i in items]) if embed else [None] * len(items))
        with self.uow:
            fresh: list[tuple[object, TaskMemory]] = []  # this call's rows, not yet in the shared index
            outcomes = [self._save_one(dict(item), vector, fresh) for item, vector in zip(items, vectors)]
            return outcomes

    def _save_one(self, item: dict, vector, fresh: list) -> SaveOutcome:
        session = self.uow.session
        task_id, project_id = item.get("task_id"), item.get("project_id")
        ticket_id, phase_id = item.get("ticket_id"), item.get("phase_id")
        if task_id is not None:
            task = session.get(Task, int(task_id))
            if task is None:
                raise NotFound("task", task_id)
            project_id, ticket_id, phase_id = task.project_id, task.ticket_id, task.phase_id
        if project_id is None:
            raise InvalidInput("a memory needs a project (or a task)")
        content, goal = item["content"], item.get("goal", "")
        result, feedback = item.get("result", ""), item.get("feedback", "")
        files, labels = list(item.get("related_files") or []), list(item.get("tags") or [])
        search_text = "\n".join(x for x in (content, goal, result, feedback, " ".join(labels), " ".join(files)) if x)
        duplicate = self._near_duplicate(vector, project_id, fresh) if vector is not None else None
        if duplicate is not None:
            duplicate.times_seen += 1
            duplicate.content, duplicate.search_text = content, search_text
            duplicate.goal, duplicate.result, duplicate.feedback = goal, result, feedback
            # The text is replaced, so is its vector (the stamp trigger puts it in the index).
            duplicate.embedding, duplicate.embedding_model = to_blob(vector), self.embedder.name
            duplicate.updated_at = utcnow()
            session.flush()
            self.uow.emit("memory.merged", "memory", duplicate.id, project_id=project_id, ticket_id=ticket_id,
                          phase_id=phase_id, payload={"times_seen": duplicate.times_seen})
            return SaveOutcome(duplicate, "merged")
        kind = MemoryType.parse(item["memory_type"])
        memory = TaskMemory(
            project_id=project_id, ticket_id=ticket_id, task_id=task_id, phase_id=phase_id,
            agent_id=item.get("agent_id"), memory_type=kind.value, content=content, goal=goal, result=result,
            feedback=feedback, related_files=files, tags=labels, search_text=search_text,
            embedding=to_blob(vector) if vector is not None else None,
            embedding_model=self.embedder.name if vector is not None else None,
        )
        session.add(memory)
        session.flush()
        if vector is not None:
            fresh.append((vector, memory))
        self.uow.emit("memory.saved", "memory", memory.id, project_id=project_id, ticket_id=ticket_id,
                      phase_id=phase_id, payload={"memory_type": kind.value})
        return SaveOutcome(memory, "created")

    def _near_duplicate(self, vector, project_id: int, fresh: list) -> TaskMemory | None:
        for other, memory in fresh:
            if memory.project_id == project_id and float(other @ vector) >= NEAR_DUPLICATE_COSINE:
                return memory
        best = self._nearest(vector, MemoryFilter(project_id=project_id), 1)
        if best and best[0][1] >= NEAR_DUPLICATE_COSINE:
            return self.uow.session.get(TaskMemory, best[0][0])
        return None

    # -- searching ---------------------------------------------------------------
    def embed_pending(self, *, project_id: int | None = None, batch: int = 256) -> int:
        """Embed memories saved with ``defer_embedding`` (merging near-duplicates); return how many."""
        if self.embedder is None:
            return 0
        done = 0
        with self.uow:
            session = self.uow.session
            query = select(TaskMemory).where(TaskMemory.embedding.is_(None)).order_by(TaskMemory.id).limit(batch)
            if project_id is not None:
                query = query.where(TaskMemory.project_id == project_id)
            pending = list(session.scalars(query))
            if not pending:
                return 0
            vectors = self.embedder.embed([_embedding_text(m.content, m.goal, m.result) for m in pending])
            fresh: list[tuple[object, TaskMemory]] = []
            for memory, vector in zip(pending, vectors):
                duplicate = self._near_duplicate(vector, memory.project_id, fresh)
                if duplicate is not None and duplicate.id != memory.id:
                    duplicate.times_seen += memory.times_seen
                    duplicate.content, duplicate.search_text = memory.content, memory.search_text
                    duplicate.embedding, duplicate.embedding_model = to_blob(vector), self.embedder.name
                    duplicate.updated_at = utcnow()
                    session.delete(memory)
                else:
                    memory.embedding, memory.embedding_model = to_blob(vector), self.embedder.name
                    fresh.append((vector, memory))
                done += 1
            session.flush()
        return done

    def search(self, query: str, *, project_id: int | None = None, phase_id: str | None = None,
               memory_type: str | None = None, ticket_id: int | None = None, limit: int = 10,
               mode: SearchMode = "hybrid") -> list[MemoryHit]:
        if not query.strip():
            raise InvalidInput("a memory search needs a query")
        flt = MemoryFilter(project_id, phase_id, MemoryType.parse(memory_type).value if memory_type else None,
                           ticket_id)
        if self.embedder is not None and mode != "keyword" and not self.uow.active:
            # Memories saved with deferred embeddings become semantically searchable here; in
            # a transaction of its own, committed before the index reads committed rows.
            while self.embed_pending(project_id=project_id):
                pass
        with self.uow:
            semantic = self.semantic_ranking(query, flt) if mode != "keyword" else []
            hits = self.keyword_hits(query, flt) if mode != "semantic" else []
            keyword = [h.id for h in hits]
            # One list alone is returned in its own order (keyword mode keeps weak matches too).
            fused = (coverage_weighted_fusion(semantic, [(h.id, h.coverage) for h in hits]) if semantic and hits
                     else [(i, 1.0 / (RRF_K + r)) for r, i in enumerate(semantic or keyword, 1)])[:limit]
            rows = {m.id: m for m in self.uow.session.scalars(
                select(TaskMemory).where(TaskMemory.id.in_([i for i, _ in fused])))}
            sem_rank = {i: r for r, i in enumerate(semantic, 1)}
            key_rank = {i: r for r, i in enumerate(keyword, 1)}
            return [MemoryHit(rows[i], score, sem_rank.get(i), key_rank.get(i)) for i, score in fused if i in rows]

    def semantic_ranking(self, query: str, flt: MemoryFilter, n: int = CANDIDATES) -> list[int]:
        if self.embedder is None:
            return []
        vector = self.embedder.embed([query])[0]
        return self.semantic_ranking_for_vector(vector, flt, n)

    def semantic_ranking_for_vector(self, vector, flt: MemoryFilter, n: int = CANDIDATES) -> list[int]:
        return [i for i, _ in self._nearest(vector, flt, n)]

    def _nearest(self, vector, flt: MemoryFilter, n: int) -> list[tuple[int, float]]:
        """(id, cosine) of the ``n`` committed memories nearest ``vector``: by pgvector where the
        database has it, else from the in-memory index."""
        with self._committed_rows() as session:
            if self.uow.backend == "postgresql" and pgvector_search.uses_pgvector(self.uow.db, session):
                return pgvector_search.search(session, vector, flt, n)
            self.index.sync(session)
        return self.index.search(vector, flt, n)

    def keyword_ranking(self, query: str, flt: MemoryFilter, n: int = CANDIDATES) -> list[int]:
        """Ids ranked by words (see :mod:`phaseloom.search._keyword_search`)."""
        return [hit.id for hit in self.keyword_hits(query, flt, n)]

    def keyword_hits(self, query: str, flt: MemoryFilter, n: int = CANDIDATES) -> list[KeywordHit]:
        return KeywordSearch(self.uow, self.terms, self._committed_rows).hits(query, flt, n)

    def _sync_terms(self) -> None:
        KeywordSearch(self.uow, self.terms, self._committed_rows).sync_terms()

    @contextmanager
    def _committed_rows(self):
        # Read committed rows only, in a session of its own: a rolled-back insert must never
        # reach the shared index or counts.
        with self.uow.db.sessions() as session:
            session.connection(execution_options={"phaseloom_readonly": True})
            yield session

    # -- using -------------------------------------------------------------------
    def memories_for_task(self, task_id: int, *, limit: int = 20, budget_chars: int = 4000) -> list[MemoryHit]:
        """The memories to preload into a task's instructions: its phase and ticket first, within a budget."""
        with self.uow:
            task = self.uow.session.get(Task, int(task_id))
            if task is None:
                raise NotFound("task", task_id)
            query = task_memory_query(task.title, task.description)
            hits = self.search(query, project_id=task.project_id, phase_id=task.phase_id, limit=limit)
            seen = {h.memory.id for h in hits}
            if len(hits) < limit:
                extra = self.search(query, project_id=task.project_id, limit=limit)
                hits += [h for h in extra if h.memory.id not in seen][: limit - len(hits)]
            kept, used = [], 0
            for hit in hits:
                used += len(hit.memory.content)
                if used > budget_chars and kept:
                    break
                kept.append(hit)
            self.record_use([h.memory.id for h in kept])
            return kept

    def record_use(self, memory_ids: list[int]) -> None:
        if not memory_ids:
            return
        with self.uow:
            self.uow.session.execute(update(TaskMemory).where(TaskMemory.id.in_(memory_ids))
                                     .values(times_used=TaskMemory.times_used + 1)
                                     .execution_options(synchronize_session=False))

    def get(self, memory_id: int) -> TaskMemory:
        with self.uow:
            memory = self.uow.session.get(TaskMemory, int(memory_id))
            if memory is None:
                raise NotFound("memory", memory_id)
            return memory

    def embedding_of(self, memory: TaskMemory):
        return from_blob(memory.embedding) if memory.embedding else None


def _embedding_text(content: str, goal: str, result: str) -> str:
    return " ".join(x for x in (goal, content, result) if x)


def remember_completed_task(uow: UnitOfWork, task: Task, summary: str, *, agent_id: str | None,
                            previous_error: str | None, attempts_failed: int) -> None:
    """What a runtime leaves behind when a task completes: an execution summary, and an error fix
    when earlier attempts had failed. Embeddings are deferred so the run loop never loads the model."""
    service = MemoryService(uow, embedder=None)
    common = dict(task_id=task.id, agent_id=agent_id, goal=task.title, defer_embedding=True)
    text = summary.strip() or f"Completed: {task.title}"
    service.save_memory(text, MemoryType.LEARNING.value, result="completed", **common)
    if attempts_failed and previous_error:
        service.save_memory(f"{task.title}: failed {attempts_failed} time(s) with '{previous_error[:300]}', "
                            f"then succeeded: {text}", MemoryType.ERROR_FIX.value,
                            feedback=previous_error[:1000], **common)

