"""Task memory: agents save what they learned; others find it by meaning and by words.

Search is hybrid: a semantic list (cosine over MiniLM embeddings, from an in-memory index kept
in step with the table, or on PostgreSQL with pgvector from the database's HNSW index) and a
keyword list (SQLite FTS5 bm25, PostgreSQL ts_rank), fused with Reciprocal Rank Fusion. Without
the embedding model installed, search is keyword-only.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select, text, update

from phaseloom.db.models import Task
from phaseloom.db.models.base import utcnow
from phaseloom.db.models.memory import TaskMemory
from phaseloom.domain.errors import InvalidInput, NotFound
from phaseloom.domain.memory import (NEAR_DUPLICATE_COSINE, MemoryType, affordable_terms, keyword_terms,
                                     reciprocal_rank_fusion)
from phaseloom.services import pgvector_search
from phaseloom.services.embeddings import Embedder, default_embedder, from_blob, to_blob
from phaseloom.services.term_statistics import TermStatistics, statistics_for
from phaseloom.services.unit_of_work import UnitOfWork
from phaseloom.services.vector_index import MemoryFilter, VectorIndex, index_for

SearchMode = Literal["hybrid", "semantic", "keyword"]
CANDIDATES = 50
# Rows a keyword OR query may match before its commonest words are left out.
KEYWORD_BUDGET = 5000
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
    def __init__(self, uow: UnitOfWork, embedder: Embedder | None | object = _UNSET,
                 index: VectorIndex | None = None) -> None:
        self.uow = uow
        self.embedder: Embedder | None = default_embedder() if embedder is _UNSET else embedder  # type: ignore
        # Not ``index or …``: an empty index has length 0 and would be swapped for the shared one.
        self.index = index if index is not None else index_for(uow.db.url)
        self.terms: TermStatistics | None = statistics_for(uow.db.url) if uow.backend == "postgresql" else None

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
            keyword = self.keyword_ranking(query, flt) if mode != "semantic" else []
            fused = reciprocal_rank_fusion([r for r in (semantic, keyword) if r])[:limit]
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
            if self.uow.backend == "postgresql" and pgvector_search.uses_pgvector(self.uow.db.url, session):
                return pgvector_search.search(session, vector, flt, n)
            self.index.sync(session)
        return self.index.search(vector, flt, n)

    def keyword_ranking(self, query: str, flt: MemoryFilter, n: int = CANDIDATES) -> list[int]:
        """Ids ranked by words: bm25 on SQLite, IDF-weighted match then ts_rank on PostgreSQL.

        Only the rarer query words go into the OR query (see ``affordable_terms``): a word that
        thousands of memories contain barely moves a bm25 / IDF ranking but dominates its cost.
        """
        terms = keyword_terms(query)
        if not terms:
            return []
        where, params = flt.sql("m")
        params["n"] = n
        if self.uow.backend == "postgresql":
            return self._postgres_keyword_ranking(terms, where, params)
        return self._sqlite_keyword_ranking(terms, where, params)

    def _sqlite_keyword_ranking(self, terms: list[str], where: str, params: dict) -> list[int]:
        terms = affordable_terms(terms, self._sqlite_term_counts(terms), KEYWORD_BUDGET)
        if not terms:
            return []
        params["q"] = " OR ".join(f'"{t}"' for t in terms)
        params["k"] = params["n"] * 4
        # FTS5 ranks fastest on its own (ORDER BY rank LIMIT k keeps a small heap); filters are
        # applied to that over-fetched top k, and only when they leave too few does the slower
        # filtered scan run.
        fast = ("SELECT m.id FROM (SELECT rowid, rank FROM task_memories_fts WHERE task_memories_fts MATCH :q "
                f"ORDER BY rank LIMIT :k) f JOIN task_memories m ON m.id = f.rowid WHERE true{where} "
                "ORDER BY f.rank, m.id LIMIT :n")
        found = [row[0] for row in self.uow.session.execute(text(fast), params)]
        if len(found) == params["n"] or not where:
            return found
        full = ("SELECT m.id FROM task_memories_fts f JOIN task_memories m ON m.id = f.rowid "
                f"WHERE task_memories_fts MATCH :q{where} ORDER BY bm25(task_memories_fts), m.id LIMIT :n")
        return [row[0] for row in self.uow.session.execute(text(full), params)]

    def _sqlite_term_counts(self, terms: list[str]) -> list[int]:
        """How many memories (in all projects, as bm25 counts them) contain each word, capped just
        above the budget: a capped count stops reading the index early."""
        params = {f"t{i}": f'"{t}"' for i, t in enumerate(terms)}
        params["cap"] = KEYWORD_BUDGET + 1
        count = ("(SELECT count(*) FROM (SELECT 1 FROM task_memories_fts WHERE task_memories_fts "
                 "MATCH :t{i} LIMIT :cap))")
        row = self.uow.session.execute(text("SELECT " + ", ".join(count.format(i=i) for i in range(len(terms)))),
                                       params).one()
        return [int(c) for c in row]

    def _postgres_keyword_ranking(self, terms: list[str], where: str, params: dict) -> list[int]:
        """ts_rank knows nothing of how rare a word is (bm25 does), so weight each matched word by
        its inverse document frequency and break ties by ts_rank."""
        total, counts = self._postgres_term_frequencies(terms)
        affordable = set(affordable_terms(terms, counts, KEYWORD_BUDGET))
        kept = [(t, c) for t, c in zip(terms, counts) if t in affordable]
        if not kept:
            return []
        total = max(total, *(c for _, c in kept), 1)
        # Each word's query is computed once in FROM (in the ORDER BY it would be per row).
        queries = "".join(f", to_tsquery('english', :t{i}) q{i}" for i in range(len(kept)))
        score = " + ".join(f"CASE WHEN m.search_vector @@ q{i} THEN :w{i} ELSE 0 END" for i in range(len(kept)))
        order = f"{score} DESC, " if len(kept) > 1 else ""  # one word: the same weight for every match
        sql = (f"SELECT m.id FROM task_memories m, to_tsquery('english', :q) q{queries} "
               f"WHERE m.search_vector @@ q{where} ORDER BY {order}ts_rank(m.search_vector, q) DESC, m.id LIMIT :n")
        params.update({f"t{i}": t for i, (t, _) in enumerate(kept)})
        params.update({f"w{i}": math.log(1 + (total - c + 0.5) / (c + 0.5)) for i, (_, c) in enumerate(kept)})
        params["q"] = " | ".join(t for t, _ in kept)
        return [row[0] for row in self.uow.session.execute(text(sql), params)]

    def _postgres_term_frequencies(self, terms: list[str]) -> tuple[int, list[int]]:
        """Memories counted, and per word how many contain it (see ``term_statistics``).

        A word's query ANDs its lexemes (``csrf_token`` is ``csrf`` and ``token``), so its count is
        that of its rarest lexeme. A word without lexemes (a stop word) matches nothing: 0. One the
        statistics have not seen yet (a memory newer than the last sync, or uncommitted) counts as 1:
        rare, never absent, so such memories are still found.
        """
        self._sync_terms()
        rows = self.uow.session.execute(text(
            "SELECT w.position, tsvector_to_array(to_tsvector('english', w.word)) "
            "FROM unnest(CAST(:words AS text[])) WITH ORDINALITY AS w(word, position)"), {"words": terms})
        lexemes = {int(position): list(found) for position, found in rows}
        every = sorted({lexeme for found in lexemes.values() for lexeme in found})
        total, known = self.terms.frequencies(every)
        documents = dict(zip(every, known))
        return total, [max(1, min(documents[x] for x in lexemes[i])) if lexemes[i] else 0
                       for i in range(1, len(terms) + 1)]

    def _sync_terms(self) -> None:
        with self._committed_rows() as session:
            self.terms.sync(session)

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
            query = f"{task.title}\n{task.description}"
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


class MemorySection:
    """Instructions section: the most relevant memories for the task's phase and ticket, compact.

    Searched by meaning and by words, or by words only when the context's ``memory_semantic`` is false.
    """

    title = "What other agents learned"

    def __init__(self, limit: int = 20, budget_chars: int = 4000) -> None:
        self.limit, self.budget_chars = limit, budget_chars

    def render(self, ctx) -> str | None:
        uow = ctx.uow
        count = uow.session.scalar(select(func.count()).select_from(TaskMemory)
                                   .where(TaskMemory.project_id == ctx.task.project_id))
        if not count:
            return None
        embedder = default_embedder() if ctx.memory_semantic else None
        hits = MemoryService(uow, embedder=embedder).memories_for_task(ctx.task.id, limit=self.limit,
                                                                       budget_chars=self.budget_chars)
        lines = [f"- [{h.memory.memory_type}{', ' + h.memory.phase_id if h.memory.phase_id else ''}] "
                 f"{' '.join(h.memory.content.split())[:400]}" for h in hits]
        return "\n".join(lines) or None
