"""Keyword hits and their coverage of the query, the same on both backends."""

from __future__ import annotations

import pytest

from phaseloom.search._keyword_search import idf
from phaseloom.services.memory import MemoryService
from phaseloom.search import MemoryFilter


@pytest.fixture
def service(uow, project):
    service = MemoryService(uow, embedder=None)
    notes = ["Restoring the nightly backups takes forty minutes with pg_restore",
             "The nightly report job runs at two",
             "Invoices are rendered by weasyprint"]
    service.save_memories([{"content": n, "memory_type": "learning", "project_id": project.id} for n in notes])
    return service


def hits(service, project, query):
    with service.uow:
        return {h.id: round(h.coverage, 3) for h in service.keyword_hits(query, MemoryFilter(project.id))}


def test_stemmed_or_query_ranks_partial_matches_and_measures_their_coverage(service, project):
    found = hits(service, project, "restored backup nightly")  # stems: restor, backup, nightli
    assert list(found) == [1, 2]  # both words of the first beat the one shared word of the second
    assert found[1] == 1.0
    assert 0 < found[2] < 0.5


def test_a_word_found_nowhere_counts_against_coverage(service, project):
    found = hits(service, project, "weasyprint zzyzxqq")
    assert list(found) == [3]
    assert found[3] == pytest.approx(0.5, abs=0.15)


def test_idf_of_a_word_found_nowhere_is_that_of_a_word_found_once():
    assert idf(100, 0) == idf(100, 1) > idf(100, 50) > 0
