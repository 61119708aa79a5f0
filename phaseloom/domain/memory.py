"""Memory types and rank fusion: pure rules of the memory search."""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence

RRF_K = 60
# A keyword hit covering less than this share of the query's IDF is an accidental match (a
# paraphrase sharing "job" or "run" with it): fusion leaves it out. Chosen on the evaluation set
# (tests/data/memory_eval/, docs/benchmarks.md): 0.4 to 0.5 beat both single lists; 0.5 also on MRR.
KEYWORD_FLOOR = 0.5
NEAR_DUPLICATE_COSINE = 0.95


class MemoryType(str, enum.Enum):
    ERROR_FIX = "error_fix"
    DISCOVERY = "discovery"
    DECISION = "decision"
    LEARNING = "learning"
    WARNING = "warning"
    CODEBASE_KNOWLEDGE = "codebase_knowledge"

    @classmethod
    def parse(cls, value: "str | MemoryType") -> "MemoryType":
        from phaseloom.domain.errors import InvalidInput

        try:
            return cls(value.value if isinstance(value, MemoryType) else str(value).lower())
        except ValueError:
            names = ", ".join(t.value for t in cls)
            raise InvalidInput(f"unknown memory type {value!r}; expected one of {names}") from None


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Fuse ranked id lists: each id scores ``sum(1 / (k + rank))`` over the lists it appears in (rank from 1).

    Ties keep the order of first appearance, so fusing one list returns it unchanged.
    """
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


def coverage_weighted_fusion(semantic: Sequence[int], keyword: Sequence[tuple[int, float]], *, k: int = RRF_K,
                             floor: float = KEYWORD_FLOOR) -> list[tuple[int, float]]:
    """Reciprocal Rank Fusion that weighs each keyword hit by how much of the query it covers.

    ``keyword`` is (id, coverage in [0, 1]) in rank order. A semantic hit scores ``1 / (k + rank)``;
    a keyword hit below ``floor`` is dropped, and the others score ``coverage / (k + rank)``,
    ranked among the hits kept. So a keyword list of weak matches cannot outvote a semantic
    list, while an exact identifier (coverage near 1) counts as much as the best semantic hit.
    Ties keep the order of first appearance.
    """
    scores: dict[int, float] = {}
    for rank, item in enumerate(semantic, start=1):
        scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    kept = [(item, coverage) for item, coverage in keyword if coverage >= floor]
    for rank, (item, coverage) in enumerate(kept, start=1):
        scores[item] = scores.get(item, 0.0) + coverage / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


_WORD = re.compile(r"[A-Za-z0-9_]{2,}")
_STOP = frozenset(
    "the a an and or of to in on for with is are was were be by at it this that from as how what why when "
    "which who do does did not no can we i you our".split()
)


def keyword_terms(query: str, limit: int = 24) -> list[str]:
    """Words worth matching in a keyword search: lower-cased, de-duplicated, stop words dropped."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        if word not in _STOP:
            seen.setdefault(word, None)
    return list(seen)[:limit]


def affordable_terms(terms: Sequence[str], counts: Sequence[int], budget: int) -> list[str]:
    """The query words worth an OR query, given how many documents each matches (counts may be capped).

    Rarest first, words are kept while the documents they match add up to at most ``budget``; the
    rarest matching word is always kept. Common words add little to a bm25 / IDF ranking but most of
    its cost (an OR over them touches tens of thousands of rows), so dropping them keeps the top of
    the ranking while bounding the work. Words matching nothing are dropped. Query order is kept.
    """
    kept: set[str] = set()
    spent = 0
    for term, count in sorted(zip(terms, counts), key=lambda pair: pair[1]):
        if count <= 0:
            continue
        if kept and spent + count > budget:
            break
        kept.add(term)
        spent += count
    return [t for t in terms if t in kept]


def task_memory_query(title: str, description: str | None) -> str:
    """The text a task's memories are searched with when its instructions are built."""
    return f"{title}\n{description}"
