"""The semantic search on PostgreSQL with pgvector (a private pgserver cluster; the test server has no
pgvector): the migration's column, trigger and index, and the same answers as the in-memory index."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, make_url, text, update

from phaseloom.db.embedding_vectors import add_vectors, drop_vectors, has_vectors
from phaseloom.db.engine import Database
from phaseloom.db.migrate import is_up_to_date, upgrade
from phaseloom.db.models.memory import TaskMemory
from phaseloom.embeddings import DIMENSIONS, to_blob
from phaseloom.search import pgvector_search
from phaseloom.services.memory import MemoryService
from phaseloom.search import MemoryFilter, VectorIndex

on_pgvector = pytest.mark.parametrize("db_url", ["pgvector"], indirect=True)


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=DIMENSIONS).astype(np.float32)
    return vector / np.linalg.norm(vector)


def near(vector: np.ndarray, seed: int, noise: float = 0.3) -> np.ndarray:
    moved = vector + noise * unit(seed)
    return (moved / np.linalg.norm(moved)).astype(np.float32)


def insert(db, project_id: int, vectors, **columns) -> list[int]:
    rows = [TaskMemory(project_id=project_id, memory_type=columns.get("memory_type", "learning"), content=f"m{i}",
                       search_text=f"m{i}", phase_id=columns.get("phase_id"), ticket_id=columns.get("ticket_id"),
                       embedding=to_blob(v) if v is not None else None) for i, v in enumerate(vectors)]
    with db.sessions() as session:
        session.add_all(rows)
        session.commit()
        return [r.id for r in rows]


def stored_vector(db, memory_id: int) -> np.ndarray | None:
    with db.sessions() as session:
        value = session.scalar(text("SELECT embedding_vec::text FROM task_memories WHERE id = :id"), {"id": memory_id})
    return None if value is None else np.array(value.strip("[]").split(","), dtype=np.float32)


def numpy_search(db, vector, flt: MemoryFilter, limit: int) -> list[tuple[int, float]]:
    index = VectorIndex()
    with db.sessions() as session:
        index.sync(session)
    return index.search(vector, flt, limit)


def force_hnsw(session) -> None:
    """Small tables are cheaper to scan and sort (so are selective filters, by their B-tree index):
    make the planner take the HNSW index, as it does on large tables."""
    session.execute(text("SET LOCAL enable_seqscan = off"))
    session.execute(text("SET LOCAL enable_sort = off"))


def pgvector_search_(db, vector, flt: MemoryFilter, limit: int, *, force_index: bool = False):
    with db.sessions() as session:
        if force_index:
            force_hnsw(session)
        return pgvector_search.search(session, vector, flt, limit)


def test_sqlite_and_postgresql_without_the_extension_keep_the_in_memory_index(db):
    with db.sessions() as session:
        assert not pgvector_search.has_vectors(session)


@on_pgvector
def test_the_migration_adds_the_extension_column_and_hnsw_index(db):
    with db.sessions() as session:
        assert pgvector_search.has_vectors(session)
        column = session.scalar(text("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                                     "WHERE attrelid = 'task_memories'::regclass AND attname = 'embedding_vec'"))
        index = session.scalar(text("SELECT indexdef FROM pg_indexes "
                                    "WHERE indexname = 'ix_task_memories_embedding_vec'"))
    assert column == f"vector({DIMENSIONS})"
    assert "USING hnsw (embedding_vec vector_cosine_ops)" in index


@on_pgvector
def test_the_trigger_keeps_the_vector_equal_to_the_embedding(db, project):
    tiny = unit(1).copy()
    tiny[:3] = [0.0, -0.0, 1e-40]  # zeros and a subnormal float32 survive the byte decoding too
    first, unembedded = insert(db, project.id, [tiny, None])
    assert np.array_equal(stored_vector(db, first), tiny)
    assert stored_vector(db, unembedded) is None
    with db.sessions() as session:
        session.execute(update(TaskMemory).where(TaskMemory.id == unembedded).values(embedding=to_blob(unit(2))))
        session.execute(update(TaskMemory).where(TaskMemory.id == first).values(embedding=None))
        session.commit()
    assert np.array_equal(stored_vector(db, unembedded), unit(2))
    assert stored_vector(db, first) is None


@on_pgvector
def test_same_nearest_memories_as_the_in_memory_index(db, project):
    centres = [unit(seed) for seed in range(20)]
    insert(db, project.id, [near(centres[i % 20], 100 + i) for i in range(300)])
    for seed in range(5):
        query = near(centres[seed], 1000 + seed)
        expected = numpy_search(db, query, MemoryFilter(project_id=project.id), 10)
        for force_index in (False, True):
            found = pgvector_search_(db, query, MemoryFilter(project_id=project.id), 10, force_index=force_index)
            assert [i for i, _ in found] == [i for i, _ in expected]
            assert [s for _, s in found] == pytest.approx([s for _, s in expected], abs=1e-5)


@on_pgvector
def test_a_selective_filter_still_gets_its_nearest_memories(db, project, uow):
    # 400 memories near the query in one phase, 5 far from it in another: the HNSW scan meets only
    # the near ones (its candidates run out before the filter passes five), so the exact scan answers.
    from phaseloom.services.tickets import TicketService

    ticket = TicketService(uow).create_ticket(project.id, "t")
    query = unit(1)
    insert(db, project.id, [near(query, 10 + i, 0.2) for i in range(400)], phase_id="PHASE_IMPLEMENTATION")
    rare = insert(db, project.id, [unit(500 + i) for i in range(5)], phase_id="PHASE_DESIGN", ticket_id=ticket.id,
                  memory_type="decision")
    for flt in (MemoryFilter(project_id=project.id, phase_id="PHASE_DESIGN"), MemoryFilter(ticket_id=ticket.id),
                MemoryFilter(project_id=project.id, memory_type="decision")):
        expected = numpy_search(db, query, flt, 10)
        assert sorted(i for i, _ in expected) == sorted(rare)
        found = pgvector_search_(db, query, flt, 10, force_index=True)
        assert [i for i, _ in found] == [i for i, _ in expected]
    # The index scan alone would have missed them: what the exact scan is there for.
    with db.sessions() as session:
        force_hnsw(session)
        session.execute(text(f"SET LOCAL hnsw.ef_search = {pgvector_search.EF_SEARCH}"))
        alone = session.execute(text(
            "SELECT id FROM task_memories WHERE phase_id = 'PHASE_DESIGN' "
            "ORDER BY embedding_vec <=> CAST(:q AS vector) LIMIT 10"), {"q": pgvector_search._literal(query)}).all()
    assert len(alone) < len(rare)
    assert pgvector_search_(db, query, MemoryFilter(project_id=project.id + 1), 10) == []


@on_pgvector
def test_memory_service_searches_by_pgvector(db, uow, project):
    first, second = insert(db, project.id, [unit(1), unit(2)])
    service = MemoryService(uow, embedder=None, index=VectorIndex())
    assert service.semantic_ranking_for_vector(unit(2), MemoryFilter(project_id=project.id)) == [second, first]
    assert len(service.index) == 0  # the in-memory index was never loaded


@on_pgvector
def test_the_migration_fills_the_vectors_of_memories_already_there(db, project):
    # A database migrated before 000f: its memories get their vectors when it runs.
    embedded, unembedded = insert(db, project.id, [unit(1), None])
    with db.engine.begin() as connection:
        migration = Operations(MigrationContext.configure(connection))
        drop_vectors(migration)
        assert not has_vectors(migration)
        assert add_vectors(migration)
    assert np.array_equal(stored_vector(db, embedded), unit(1))
    assert stored_vector(db, unembedded) is None


def test_a_role_that_may_not_create_the_extension_migrates_without_it(pgvector_url):
    # pgvector is not a trusted extension: only a superuser (or the database owner once it is
    # installed) may create it. The refusal must not abort the migration's transaction.
    admin = create_engine(make_url(pgvector_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"phaseloom_norights_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE ROLE "{name}" LOGIN'))
        connection.execute(text(f'CREATE DATABASE "{name}" OWNER "{name}"'))
    url = make_url(pgvector_url).set(username=name, database=name).render_as_string(hide_password=False)
    try:
        database = Database.connect(url)
        upgrade(database.engine)
        assert is_up_to_date(database.engine)
        with database.sessions() as session:
            assert not pgvector_search.has_vectors(session)
        database.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
        admin.dispose()


@on_pgvector
def test_an_extension_installed_after_the_migrations_is_taken_up_by_the_next_upgrade(db, project):
    # As if the database had been migrated before the server had pgvector: no vectors yet.
    embedded = insert(db, project.id, [unit(5)])[0]
    with db.engine.begin() as connection:
        drop_vectors(Operations(MigrationContext.configure(connection)))
    assert is_up_to_date(db.engine)  # Alembic itself has nothing left to run

    upgrade(db.engine)  # what `phaseloom db upgrade` does

    with db.sessions() as session:
        assert pgvector_search.has_vectors(session)
    assert np.array_equal(stored_vector(db, embedded), unit(5))
    upgrade(db.engine)  # and a second run changes nothing
