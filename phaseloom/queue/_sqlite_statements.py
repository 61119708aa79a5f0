"""SQLite's claim, run on the driver connection: compiled once per shape, no ORM on the hot path.

Through the ORM a claim cost about 1.4 ms of Python on a 10k queue whose SQL took 4 µs: the
cache key of the large claim statement was computed on every execution, the returned task went
through the ORM's loading, and the event through a flush (docs/benchmarks.md, "Path globs"). Here
each statement is compiled once, its parameters and result columns are converted with the column
types' own processors (what SQLAlchemy would apply), and the statements run on the sqlite3
connection of :meth:`~phaseloom.db.unit_of_work.UnitOfWork.sqlite_transaction`.
"""

from __future__ import annotations

import logging
import sqlite3
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, insert
from sqlalchemy.dialects.sqlite import pysqlite

from phaseloom.db.models import SystemEvent
from phaseloom.queue import _statements as statements

log = logging.getLogger(__name__)
_DIALECT = pysqlite.dialect()


class SqliteStatement:
    """A statement compiled once for SQLite; run on a sqlite3 connection with named values.

    The values that do not vary (statuses, ``LIMIT 1``) are the compiled statement's own; each
    value is converted by its type's bind processor, and each result column by its type's result
    processor (timestamps as aware UTC datetimes, JSON decoded), as the ORM would.
    """

    def __init__(self, statement) -> None:
        compiled = statement.compile(dialect=_DIALECT)
        self.sql = compiled.string
        binds = compiled.binds
        self.required = frozenset(name for name, bind in binds.items() if bind.required)
        self._order = tuple((name, _bind_processor(binds[name].type), None if binds[name].required
                             else binds[name].effective_value) for name in compiled.positiontup)
        columns = statement.exported_columns  # a SELECT's columns, or what a DML statement RETURNs
        self._results = tuple((i, processor) for i, column in enumerate(columns)
                              if (processor := _result_processor(column.type)) is not None)

    def row(self, connection: sqlite3.Connection, **values: Any) -> tuple | None:
        """The first row the statement returns (all of them are read, so the statement completes), or None."""
        rows = self.rows(connection, **values)
        return rows[0] if rows else None

    def rows(self, connection: sqlite3.Connection, **values: Any) -> list[tuple]:
        if missing := self.required - values.keys():
            raise TypeError(f"missing statement parameters: {', '.join(sorted(missing))}")
        parameters = []
        for name, process, constant in self._order:
            value = values[name] if name in values else constant
            parameters.append(value if process is None else process(value))
        if log.isEnabledFor(logging.DEBUG):  # SQLAlchemy's echo does not see these statements
            log.debug("driver statement", extra={"sql": self.sql, "params": tuple(parameters)})
        rows = connection.execute(self.sql, parameters).fetchall()
        return [self._converted(row) for row in rows] if self._results else rows

    def _converted(self, row: tuple) -> tuple:
        values = list(row)
        for i, process in self._results:
            values[i] = process(values[i])
        return tuple(values)


def _bind_processor(type_):
    return type_.dialect_impl(_DIALECT).bind_processor(_DIALECT)


def _result_processor(type_):
    return type_.dialect_impl(_DIALECT).result_processor(_DIALECT, None)


@lru_cache(maxsize=8)
def sqlite_claim(by_phase: bool, by_project: bool, reviews_only: bool) -> SqliteStatement:
    """``UPDATE … WHERE id = (best eligible) RETURNING`` every column of the claimed task."""
    return SqliteStatement(statements.claim_update(by_phase, by_project, reviews_only, for_postgres=False)
                           .returning(*statements.TASK_COLUMNS))


@lru_cache(maxsize=1)
def sqlite_claiming_agent() -> SqliteStatement:
    """What decides which tasks an agent may claim (:class:`~phaseloom.queue._statements.ClaimingAgent`)."""
    return SqliteStatement(statements.CLAIMING_AGENT)


@lru_cache(maxsize=1)
def sqlite_task_event() -> SqliteStatement:
    """One outbox row about a task, RETURNING its id (the claim's ``task.assigned``)."""
    names = ("event_type", "entity_id", "project_id", "ticket_id", "phase_id", "payload", "created_at")
    return SqliteStatement(insert(SystemEvent).values(entity_type="task", **{
        name: bindparam(f"event_{name}", type_=SystemEvent.__table__.c[name].type) for name in names})
        .returning(SystemEvent.id))

