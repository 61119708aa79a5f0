"""Word counts behind PostgreSQL keyword ranking, and keyword search that relies on them."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from phaseloom.services.memory import MemoryService
from phaseloom.search import TermStatistics, VectorIndex


@pytest.fixture
def keyword_only(uow):
    return MemoryService(uow, embedder=None, index=VectorIndex())


@pytest.fixture
def postgres(db):
    if db.backend != "postgresql":
        pytest.skip("word counts are kept for PostgreSQL only (SQLite's FTS5 counts for bm25 itself)")
    return db


def sync(db, statistics: TermStatistics) -> int:
    with db.sessions() as session:
        return statistics.sync(session)


def test_counts_memories_per_word_then_only_new_ones(postgres, keyword_only, project):
    statistics = TermStatistics()
    keyword_only.save_memory("timeout in the worker; the worker retried", "learning", project_id=project.id)
    keyword_only.save_memory("timeout in the scheduler", "learning", project_id=project.id)
    assert sync(postgres, statistics) == 2
    assert statistics.frequencies(["timeout", "worker", "nowher"]) == (2, [2, 1, 0])
    assert sync(postgres, statistics) == 0
    keyword_only.save_memory("worker timeout again", "learning", project_id=project.id)
    assert sync(postgres, statistics) == 1
    assert statistics.frequencies(["timeout", "worker"]) == (3, [3, 2])


def test_counts_restart_when_the_table_is_truncated(postgres, keyword_only, project):
    statistics = TermStatistics()
    for n in range(3):
        keyword_only.save_memory(f"timeout number {n}", "learning", project_id=project.id)
    sync(postgres, statistics)
    with postgres.engine.begin() as conn:
        conn.execute(text("TRUNCATE task_memories CASCADE"))  # ids go on: only the new file node tells
    keyword_only.save_memory("a worker, no timeout", "learning", project_id=project.id)
    assert sync(postgres, statistics) == 1
    assert statistics.frequencies(["timeout", "worker"]) == (1, [1, 1])


def test_full_text_index_has_no_pending_list(postgres):
    with postgres.engine.connect() as conn:
        options = conn.scalar(text("SELECT reloptions FROM pg_class WHERE relname = 'ix_task_memories_search'"))
    assert "fastupdate=off" in options


def test_rarer_word_ranks_first(keyword_only, project):
    for n in range(6):
        keyword_only.save_memory(f"the deploy script failed, attempt {n}", "error_fix", project_id=project.id)
    rare = keyword_only.save_memory("the deploy used a stale kubeconfig", "error_fix", project_id=project.id)
    hits = keyword_only.search("kubeconfig script", project_id=project.id)
    assert hits[0].memory.id == rare.memory.id
    assert len(hits) == 7


def test_memory_not_yet_counted_is_still_found(keyword_only, uow, project):
    keyword_only.save_memory("nothing to see", "learning", project_id=project.id)
    keyword_only.search("nothing", project_id=project.id)  # counts synced without the next memory
    with uow:
        saved = keyword_only.save_memory("zeppelin lock held by a dead worker", "warning", project_id=project.id)
        hits = keyword_only.search("zeppelin", project_id=project.id)  # uncommitted: not in any count
    assert [h.memory.id for h in hits] == [saved.memory.id]
