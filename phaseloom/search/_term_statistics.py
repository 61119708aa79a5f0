"""How many memories contain each word, for PostgreSQL keyword ranking, kept in step with the table.

``ts_rank`` knows nothing of how rare a word is, so the PostgreSQL keyword list weights each
matched word by its inverse document frequency, and leaves the commonest words out of its OR
query. GIN keeps no document counts, and counting matches per query costs more than the rest of
the search (about 25 ms at 100k memories). So each process keeps the counts in memory, as it
keeps the embedding matrix: loaded once (one ``GROUP BY`` over the lexemes of every memory), then
on each search only memories with a higher id than it has seen are counted in.

Not a table kept by a trigger: every memory insert would then update the shared count rows of its
common words, serialising concurrent task completions (which save memories) on those rows and
letting two of them deadlock. The counts here are a ranking statistic and may lag: memories
updated or deleted later, and ones committed after a higher id was already counted, are not
recounted (callers treat a word with no count as rare, never as absent).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

# One statement both finds the newest memory and tells whether the table was truncated or
# rewritten since the last sync (TRUNCATE gives it a new file node; its ids may then restart).
_NEWEST = "SELECT pg_relation_filenode('task_memories'), (SELECT max(id) FROM task_memories)"
# Rows in (after, through], as a row count (lexeme NULL) and one row per lexeme.
_COUNT_RANGE = (
    "WITH fresh AS MATERIALIZED (SELECT search_vector FROM task_memories WHERE id > :after AND id <= :through) "
    "SELECT NULL, count(*) FROM fresh "
    "UNION ALL SELECT lexeme, count(*) FROM fresh, unnest(tsvector_to_array(search_vector)) AS lexeme "
    "GROUP BY lexeme"
)


@dataclass
class TermStatistics:
    """Document frequency of each lexeme of ``task_memories.search_vector`` (PostgreSQL only)."""

    _documents: dict[str, int] = field(default_factory=dict)
    _total: int = 0
    _last_id: int = 0
    _filenode: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sync(self, session: Session) -> int:
        """Count in memories added since the last sync; return how many."""
        with self._lock:
            filenode, newest = session.execute(text(_NEWEST)).one()
            newest = newest or 0
            if filenode != self._filenode or newest < self._last_id:
                self._documents, self._total, self._last_id, self._filenode = {}, 0, 0, filenode
            if newest <= self._last_id:
                return 0
            added = 0
            for lexeme, count in session.execute(text(_COUNT_RANGE), {"after": self._last_id, "through": newest}):
                if lexeme is None:
                    added = int(count)
                else:
                    self._documents[lexeme] = self._documents.get(lexeme, 0) + int(count)
            self._total += added
            self._last_id = newest
            return added

    def frequencies(self, lexemes: Sequence[str]) -> tuple[int, list[int]]:
        """The number of memories counted, and how many of them contain each lexeme."""
        with self._lock:
            return self._total, [self._documents.get(lexeme, 0) for lexeme in lexemes]

