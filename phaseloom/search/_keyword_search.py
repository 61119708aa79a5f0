"""The keyword list of memory search: which memories contain the query's words, and how much of
the query each one covers.

Both backends stem (FTS5 ``porter unicode61`` on SQLite, the ``english`` configuration on
PostgreSQL) and OR the query's words, so a memory matching some of them still ranks. Each hit
also carries its *coverage*: the share of the query's inverse document frequency (IDF) that the
words it contains account for. A memory holding the query's one rare identifier covers most of
it; one that shares only "job" and "run" with a paraphrase covers little. Fusion uses coverage to
tell a keyword list with signal from accidental matches, in the same way on both backends.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text

from phaseloom.domain.memory import affordable_terms, keyword_terms
from phaseloom.search._term_statistics import TermStatistics
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.search._vector_index import MemoryFilter

# Rows a keyword OR query may match before its commonest words are left out.
KEYWORD_BUDGET = 5000


@dataclass(frozen=True)
class KeywordHit:
    id: int
    coverage: float  # in [0, 1]: IDF of the query words it contains / IDF of all the query's words


@dataclass(frozen=True)
class _Terms:
    """The query's words kept for the OR query, with every word's IDF (kept or not)."""

    kept: list[str]
    idf: dict[str, float]


def idf(total: int, count: int) -> float:
    """bm25's inverse document frequency; a word found nowhere weighs as one found once."""
    count = max(count, 1)
    return math.log(1 + (max(total, count) - count + 0.5) / (count + 0.5))


class KeywordSearch:
    def __init__(self, uow: UnitOfWork, terms: TermStatistics | None, committed_rows: Callable) -> None:
        self.uow, self.terms, self.committed_rows = uow, terms, committed_rows

    def hits(self, query: str, flt: MemoryFilter, n: int) -> list[KeywordHit]:
        """The top ``n`` ids by words (bm25 on SQLite, IDF-weighted match then ts_rank on PostgreSQL)."""
        words = keyword_terms(query)
        if not words:
            return []
        where, params = flt.sql("m")
        params["n"] = n
        postgres = self.uow.backend == "postgresql"
        terms = self._postgres_terms(words) if postgres else self._sqlite_terms(words)
        if not terms.kept:
            return []
        ids = self._postgres_ranking(terms, where, params) if postgres else self._sqlite_ranking(terms, where, params)
        matched = self._postgres_matches(terms.kept, ids) if postgres else self._sqlite_matches(terms.kept, ids)
        whole = sum(terms.idf.values()) or 1.0
        return [KeywordHit(i, sum(terms.idf[t] for t in matched.get(i, ())) / whole) for i in ids]

    # -- SQLite ------------------------------------------------------------------
    def _sqlite_terms(self, words: list[str]) -> _Terms:
        counts = self._sqlite_term_counts(words)
        total = self.uow.session.execute(text("SELECT count(*) FROM task_memories")).scalar_one()
        return _Terms(affordable_terms(words, counts, KEYWORD_BUDGET),
                      {w: idf(total, c) for w, c in zip(words, counts)})

    def _sqlite_ranking(self, terms: _Terms, where: str, params: dict) -> list[int]:
        params["q"] = " OR ".join(f'"{t}"' for t in terms.kept)
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

    def _sqlite_matches(self, terms: list[str], ids: list[int]) -> dict[int, set[str]]:
        if not ids:
            return {}
        params = {f"t{i}": f'"{t}"' for i, t in enumerate(terms)}
        params.update({f"r{j}": i for j, i in enumerate(ids)})
        rowids = ", ".join(f":r{j}" for j in range(len(ids)))
        sql = " UNION ALL ".join(f"SELECT {i}, rowid FROM task_memories_fts WHERE task_memories_fts MATCH :t{i} "
                                 f"AND rowid IN ({rowids})" for i in range(len(terms)))
        matched: dict[int, set[str]] = {}
        for position, rowid in self.uow.session.execute(text(sql), params):
            matched.setdefault(int(rowid), set()).add(terms[position])
        return matched

    # -- PostgreSQL --------------------------------------------------------------
    def _postgres_terms(self, words: list[str]) -> _Terms:
        total, counts = self._postgres_term_frequencies(words)
        return _Terms(affordable_terms(words, counts, KEYWORD_BUDGET),
                      {w: idf(total, c) for w, c in zip(words, counts) if c > 0})  # stop words weigh nothing

    def _postgres_ranking(self, terms: _Terms, where: str, params: dict) -> list[int]:
        """ts_rank knows nothing of how rare a word is (bm25 does), so weight each matched word by
        its inverse document frequency and break ties by ts_rank."""
        kept = terms.kept
        # Each word's query is computed once in FROM (in the ORDER BY it would be per row).
        queries = "".join(f", to_tsquery('english', :t{i}) q{i}" for i in range(len(kept)))
        score = " + ".join(f"CASE WHEN m.search_vector @@ q{i} THEN :w{i} ELSE 0 END" for i in range(len(kept)))
        order = f"{score} DESC, " if len(kept) > 1 else ""  # one word: the same weight for every match
        sql = (f"SELECT m.id FROM task_memories m, to_tsquery('english', :q) q{queries} "
               f"WHERE m.search_vector @@ q{where} ORDER BY {order}ts_rank(m.search_vector, q) DESC, m.id LIMIT :n")
        params.update({f"t{i}": t for i, t in enumerate(kept)})
        params.update({f"w{i}": terms.idf[t] for i, t in enumerate(kept)})
        params["q"] = " | ".join(kept)
        return [row[0] for row in self.uow.session.execute(text(sql), params)]

    def _postgres_matches(self, terms: list[str], ids: list[int]) -> dict[int, set[str]]:
        if not ids:
            return {}
        flags = ", ".join(f"m.search_vector @@ to_tsquery('english', :t{i})" for i in range(len(terms)))
        params: dict = {f"t{i}": t for i, t in enumerate(terms)}
        params["ids"] = ids
        rows = self.uow.session.execute(
            text(f"SELECT m.id, {flags} FROM task_memories m WHERE m.id = ANY(CAST(:ids AS bigint[]))"), params)
        return {int(row[0]): {t for t, hit in zip(terms, row[1:]) if hit} for row in rows}

    def _postgres_term_frequencies(self, terms: list[str]) -> tuple[int, list[int]]:
        """Memories counted, and per word how many contain it (see ``term_statistics``).

        A word's query ANDs its lexemes (``csrf_token`` is ``csrf`` and ``token``), so its count is
        that of its rarest lexeme. A word without lexemes (a stop word) matches nothing: 0. One the
        statistics have not seen yet (a memory newer than the last sync, or uncommitted) counts as 1:
        rare, never absent, so such memories are still found.
        """
        self.sync_terms()
        rows = self.uow.session.execute(text(
            "SELECT w.position, tsvector_to_array(to_tsvector('english', w.word)) "
            "FROM unnest(CAST(:words AS text[])) WITH ORDINALITY AS w(word, position)"), {"words": terms})
        lexemes = {int(position): list(found) for position, found in rows}
        every = sorted({lexeme for found in lexemes.values() for lexeme in found})
        total, known = self.terms.frequencies(every)
        documents = dict(zip(every, known))
        return total, [max(1, min(documents[x] for x in lexemes[i])) if lexemes[i] else 0
                       for i in range(1, len(terms) + 1)]

    def sync_terms(self) -> None:
        with self.committed_rows() as session:
            self.terms.sync(session)
