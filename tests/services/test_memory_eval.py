"""Retrieval quality on the project's evaluation set (tests/data/memory_eval/, see memory_eval_set).

The set itself is checked first (size, share of paraphrases, paraphrases sharing no content word
with their memory, phase queries), then hybrid search must do at least as well as semantic-only
and keyword-only search on every kind of query, by recall@5 and by MRR, on each backend.
"""

from __future__ import annotations

import numpy as np
import pytest

from phaseloom.embeddings import embedding_available, shared_embedder
from phaseloom.search import VectorIndex, pgvector_search
from phaseloom.services.memory import MemoryService
from tests.services import memory_eval_set as eval_set

needs_model = pytest.mark.skipif(not embedding_available(), reason="phaseloom[memory] (embedding model) not installed")


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
    return CachingEmbedder(shared_embedder())


def test_eval_set_is_big_and_a_third_paraphrases():
    queries = eval_set.queries()
    assert len(eval_set.memories()) >= 400
    assert len(queries) >= 120
    kinds = [q.kind for q in queries]
    assert 3 * kinds.count("paraphrase") >= len(queries)
    assert all(kinds.count(kind) >= 15 for kind in eval_set.KINDS)


def test_paraphrases_share_no_content_word_with_their_memory():
    memories = {m["id"]: m for m in eval_set.memories()}
    shared = {q.id: eval_set.shared_content_words(q.text, memories[r])
              for q in eval_set.queries() if q.kind == "paraphrase" for r in q.relevant}
    assert {q: words for q, words in shared.items() if words} == {}


def test_shared_content_words_sees_stems_not_function_words():
    memory = {"content": "Restoring the nightly backups takes 40 minutes", "tags": ["postgres"]}
    assert eval_set.shared_content_words("restore a backup from postgres", memory) == {"resto", "backu", "postg"}
    assert eval_set.shared_content_words("what does the copy take", memory) == {"tak"}
    assert eval_set.shared_content_words("why is it so slow", memory) == set()


def test_every_labelled_memory_exists_and_phase_queries_target_their_phase():
    memories = {m["id"]: m for m in eval_set.memories()}
    for q in eval_set.queries():
        assert q.relevant and all(r in memories for r in q.relevant), q.id
        assert (q.phase_id is not None) == (q.kind == "phase"), q.id
        if q.phase_id:
            assert all(memories[r]["phase_id"] == q.phase_id for r in q.relevant), q.id


# pgvector: the semantic list comes from PostgreSQL's HNSW index instead of the in-memory one.
@needs_model
@pytest.mark.parametrize("db_url", ["sqlite", "postgresql", "pgvector"], indirect=True)
def test_hybrid_beats_each_list_on_every_kind(uow, project, embedder, record_property):
    service = MemoryService(uow, embedder=embedder, index=VectorIndex())
    ids = eval_set.load_into(service, project.id)
    with uow.db.sessions() as session:
        on_pgvector = pgvector_search.has_vectors(session)
    results = {mode: eval_set.evaluate(service, project.id, ids, mode) for mode in ("semantic", "keyword", "hybrid")}
    record_property("recall_at_5_and_mrr", results)
    print(results)
    for kind in (*eval_set.KINDS, "overall"):
        for measure in (0, 1):  # recall@5, MRR
            best_single = max(results["semantic"][kind][measure], results["keyword"][kind][measure])
            assert results["hybrid"][kind][measure] >= best_single, (kind, measure, results)
    assert results["hybrid"]["overall"][0] >= 0.85
    assert (len(service.index) == 0) == on_pgvector  # with pgvector the in-memory index is never loaded
