"""Memory search in the database: the semantic list (an in-memory vector index, or pgvector) and
the keyword list, both filtered by a :class:`MemoryFilter`.

The memory use-cases (:mod:`phaseloom.services.memory`) fuse the two lists:

- :class:`VectorIndex` keeps the embeddings of a database in memory (one per database:
  ``db.kept(VectorIndex)``), or :mod:`pgvector_search` asks PostgreSQL's HNSW index where the extension exists;
- :class:`KeywordSearch` ranks by words, weighted on PostgreSQL by the word counts of
  :class:`TermStatistics` (``db.kept(TermStatistics)``).

The vectors come from :mod:`phaseloom.embeddings`.
"""

from phaseloom.search import pgvector_search
from phaseloom.search._keyword_search import KeywordHit, KeywordSearch
from phaseloom.search._term_statistics import TermStatistics
from phaseloom.search._vector_index import MemoryFilter, VectorIndex

__all__ = [
    "KeywordHit",
    "KeywordSearch",
    "MemoryFilter",
    "TermStatistics",
    "VectorIndex",
    "pgvector_search",
]
