"""Retrieval quality on the project's evaluation set (tests/data/memory_eval/).

Hybrid search must find the labelled memory in its top five at least as often as semantic-only
and keyword-only search, and for at least 80 % of the queries.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from phaseloom.services import pgvector_search
from phaseloom.services.embeddings import default_embedder, embedding_available
from phaseloom.services.memory import MemoryService
from phaseloom.services.vector_index import VectorIndex

EVAL = Path(__file__).resolve().parent.parent / "data" / "memory_eval"
pytestmark = pytest.mark.skipif(not embedding_available(), reason="phaseloom[memory] (embedding model) not installed")


class CachingEmbedder:
    """The real model, with each text embedded once per test run (both backends reuse it)."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dimensions = inner, inner.name, inner.dimensions
        self.cache: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            self.cache.update(zip(missing, self.inner.embed(missing)))
        return np.stack([self.cache[t] for t in texts])


@pytest.fixture(scope="module")
def embedder():
    return CachingEmbedder(default_embedder())


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (EVAL / name).read_text().splitlines() if line.strip()]


def recall_at_5(service: MemoryService, project_id: int, ids: dict[str, int], queries: list[dict], mode: str) -> float:
    found = 0
    for q in queries:
        hits = service.search(q["query"], project_id=project_id, limit=5, mode=mode)
        relevant = {ids[r] for r in q["relevant"]}
        found += bool(relevant & {h.memory.id for h in hits})
    return found / len(queries)


def test_eval_set_is_big_enough():
    assert len(load("memories.jsonl")) >= 500
    assert len(load("queries.jsonl")) >= 50


# pgvector: the semantic list comes from PostgreSQL's HNSW index instead of the in-memory one.
@pytest.mark.parametrize("db_url", ["sqlite", "postgresql", "pgvector"], indirect=True)
def test_hybrid_recall_beats_each_list_and_reaches_080(uow, project, embedder, record_property):
    memories, queries = load("memories.jsonl"), load("queries.jsonl")
    service = MemoryService(uow, embedder=embedder, index=VectorIndex())
    outcomes = service.save_memories([
        {"content": m["content"], "memory_type": m["memory_type"], "phase_id": m["phase_id"], "tags": m["tags"],
         "project_id": project.id} for m in memories])
    assert all(o.action == "created" for o in outcomes)
    ids = {m["id"]: o.memory.id for m, o in zip(memories, outcomes)}
    with uow.db.sessions() as session:
        on_pgvector = pgvector_search.has_vectors(session)
    recall = {mode: recall_at_5(service, project.id, ids, queries, mode) for mode in ("semantic", "keyword", "hybrid")}
    record_property("recall_at_5", recall)
    print(f"recall@5 on {len(queries)} queries: {recall}")
    assert recall["hybrid"] >= recall["semantic"]
    assert recall["hybrid"] >= recall["keyword"]
    assert recall["hybrid"] >= 0.8
    assert (len(service.index) == 0) == on_pgvector  # with pgvector the in-memory index is never loaded
