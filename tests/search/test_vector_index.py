"""The per-process embedding index: it must see every embedding written, whenever and in whatever
order it was committed, on both backends."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text, update

from phaseloom.db.models.memory import TaskMemory
from phaseloom.embeddings import DIMENSIONS, to_blob
from phaseloom.search import MemoryFilter, VectorIndex


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=DIMENSIONS).astype(np.float32)
    return vector / np.linalg.norm(vector)


def memory(project_id: int, content: str, vector: np.ndarray | None, phase_id: str | None = None) -> TaskMemory:
    return TaskMemory(project_id=project_id, memory_type="learning", content=content, search_text=content,
                      phase_id=phase_id, embedding=to_blob(vector) if vector is not None else None)


def insert(db, *rows: TaskMemory) -> list[int]:
    with db.sessions() as session:
        session.add_all(rows)
        session.commit()
        return [r.id for r in rows]


def set_columns(db, memory_id: int, **values) -> None:
    with db.sessions() as session:
        session.execute(update(TaskMemory).where(TaskMemory.id == memory_id).values(**values))
        session.commit()


def sync(db, index: VectorIndex) -> int:
    with db.sessions() as session:
        return index.sync(session)


def nearest(index: VectorIndex, vector: np.ndarray, **filters) -> tuple[int, float] | None:
    found = index.search(vector, MemoryFilter(**filters), 1)
    return found[0] if found else None


def test_loads_every_embedded_memory_once(db, project):
    index = VectorIndex()
    first, second, _unembedded = insert(db, memory(project.id, "a", unit(1)), memory(project.id, "b", unit(2)),
                                        memory(project.id, "c", None))
    assert sync(db, index) == 2
    assert sync(db, index) == 0
    assert nearest(index, unit(2))[0] == second
    assert nearest(index, unit(1), project_id=project.id)[0] == first
    assert len(index) == 2


def test_an_embedding_written_after_a_newer_memory_was_loaded_enters(db, project):
    # A memory saved with its embedding deferred, then embedded once a newer one is in the index.
    index = VectorIndex()
    deferred, _newer = insert(db, memory(project.id, "deferred", None), memory(project.id, "newer", unit(2)))
    assert sync(db, index) == 1
    set_columns(db, deferred, embedding=to_blob(unit(1)))
    assert sync(db, index) == 1
    assert nearest(index, unit(1)) == (deferred, pytest.approx(1.0, abs=1e-5))


def test_a_changed_embedding_replaces_the_old_vector(db, project):
    index = VectorIndex()
    (changed,) = insert(db, memory(project.id, "first wording", unit(1)))
    insert(db, memory(project.id, "another", unit(2)))
    sync(db, index)
    set_columns(db, changed, embedding=to_blob(unit(3)))
    sync(db, index)
    assert len(index) == 2
    assert nearest(index, unit(3)) == (changed, pytest.approx(1.0, abs=1e-5))
    assert nearest(index, unit(1))[1] < 0.5  # the old vector is gone, not kept beside the new one


def test_a_moved_memory_is_filtered_by_its_new_phase(db, project):
    index = VectorIndex()
    (moved,) = insert(db, memory(project.id, "x", unit(1), phase_id="PHASE_DESIGN"))
    sync(db, index)
    set_columns(db, moved, phase_id="PHASE_TESTING")
    sync(db, index)
    assert nearest(index, unit(1), phase_id="PHASE_DESIGN") is None
    assert nearest(index, unit(1), phase_id="PHASE_TESTING")[0] == moved


def test_a_memory_committed_after_a_higher_id_was_loaded_enters(db, project):
    # Two writers on PostgreSQL: id N is drawn first but committed after id N+1 was loaded.
    if db.backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: rows commit in id order")
    index = VectorIndex()
    slow = db.sessions()
    try:
        late = memory(project.id, "drawn first, committed last", unit(1))
        slow.add(late)
        slow.flush()
        (early,) = insert(db, memory(project.id, "drawn second, committed first", unit(2)))
        assert early > late.id
        assert sync(db, index) == 1
        slow.commit()
    finally:
        slow.close()
    assert sync(db, index) == 1
    assert nearest(index, unit(1)) == (late.id, pytest.approx(1.0, abs=1e-5))


def test_a_rolled_back_memory_never_enters(db, project):
    index = VectorIndex()
    with db.sessions() as session:
        session.add(memory(project.id, "rolled back", unit(1)))
        session.flush()
        session.rollback()
    insert(db, memory(project.id, "kept", unit(2)))
    assert sync(db, index) == 1
    assert nearest(index, unit(1))[1] < 0.5


def test_restarts_when_the_table_is_truncated(db, project):
    if db.backend != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    index = VectorIndex()
    insert(db, memory(project.id, "a", unit(1)), memory(project.id, "b", unit(2)))
    sync(db, index)
    with db.engine.begin() as conn:
        conn.execute(text("TRUNCATE task_memories RESTART IDENTITY CASCADE"))
    (fresh,) = insert(db, memory(project.id, "c", unit(3)))
    assert sync(db, index) == 1
    assert len(index) == 1 and nearest(index, unit(3))[0] == fresh
