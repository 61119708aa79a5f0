"""The ticket use-cases' writes on a SQLite file through the standard library's ``sqlite3``, for the CLI.

A ``phaseloom ticket create`` through the ORM spends ~0.5 s of CPU importing SQLAlchemy and declaring
its models, and a few milliseconds writing. Here the same use-case code
(:class:`~phaseloom.services.tickets.TicketService`: transitions, WIP limits, history, events) runs over
a unit of work and a ticket store that speak ``sqlite3``: :class:`SqliteUnitOfWork` keeps
:class:`~phaseloom.db.unit_of_work.UnitOfWork`'s contract for what those use-cases use (nested blocks,
the outermost commits or rolls back, events written to the ``system_events`` outbox in the same
transaction and handed to ``after_commit`` listeners after it), and :class:`SqliteTicketStore` the
methods of :class:`~phaseloom.db.ticket_store.OrmTicketStore`, writing the values the ORM would write
(its Python-side defaults, ``updated_at`` on every update, SQLAlchemy's text form of timestamps and
JSON). tests/db/test_quick_writes.py runs the same use-cases both ways and compares the rows.

Only for a SQLite file at the current schema (:meth:`SqliteUnitOfWork.open`, as the quick reads);
anything else goes through the ORM.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

from phaseloom.db.quick_reads import QuickReader
from phaseloom.domain.clock import utcnow
from phaseloom.domain import phases as d

CommitListener = Callable[[list[dict[str, Any]]], None]


def stored(value: object) -> object:
    """``value`` as SQLAlchemy's SQLite dialect stores it: UTC timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff``
    (what :class:`~phaseloom.db.types.UTCDateTime` writes), booleans as 0/1."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


class SqliteUnitOfWork:
    """One write transaction at a time on a ``sqlite3`` connection, as :class:`UnitOfWork` on SQLite:
    ``BEGIN IMMEDIATE`` (two writers queue on the lock), foreign keys on."""

    backend = "sqlite"

    def __init__(self, reader: QuickReader) -> None:
        self.reader = reader
        self.connection = reader.connection
        # Transactions begin where this class says (as SQLAlchemy's engine does for the ORM's units).
        self.connection.isolation_level = None
        self.connection.execute("PRAGMA foreign_keys=ON")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.ticket_store = SqliteTicketStore(self)
        self.after_commit: list[CommitListener] = []
        self._depth = 0
        self._pending_events: list[dict[str, Any]] = []

    @classmethod
    def open(cls, url: str, *, busy_timeout_ms: int = 30_000) -> SqliteUnitOfWork | None:
        """A unit of work when ``url`` is a SQLite file at the current schema, else None (use the ORM's)."""
        reader = QuickReader.open(url, busy_timeout_ms=busy_timeout_ms)
        return None if reader is None else cls(reader)

    @property
    def active(self) -> bool:
        return self._depth > 0

    def __enter__(self) -> SqliteUnitOfWork:
        if self._depth == 0:
            self._pending_events = []
            self.connection.execute("BEGIN IMMEDIATE")
        self._depth += 1
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._depth -= 1
        if self._depth > 0:
            return
        if exc_type is not None:
            self.connection.rollback()
            return
        try:
            delivered = self._write_events()
            self.connection.commit()
        except BaseException:
            self.connection.rollback()
            raise
        if delivered:
            for listener in list(self.after_commit):
                listener(delivered)

    def emit(self, event_type: str, entity_type: str, entity_id: object, *, project_id: int | None = None,
             ticket_id: int | None = None, phase_id: str | None = None,
             payload: dict[str, Any] | None = None) -> None:
        """Record an event; it is written with the transaction's other changes."""
        self._pending_events.append({
            "event_type": event_type, "entity_type": entity_type, "entity_id": str(entity_id),
            "project_id": project_id, "ticket_id": ticket_id, "phase_id": phase_id,
            "payload": payload or {}, "created_at": utcnow()})

    def _write_events(self) -> list[dict[str, Any]]:
        delivered = []
        for event in self._pending_events:
            row = {**event, "payload": json.dumps(event["payload"])}
            event_id = self.ticket_store.insert("system_events", row)
            delivered.append({"id": event_id, **event, "created_at": event["created_at"].isoformat()})
        self._pending_events = []
        return delivered

    def close(self) -> None:
        self.reader.close()


# The ORM models' Python-side defaults (phaseloom/db/models/tickets.py) for the rows inserted here.
_TICKET_DEFAULTS = {"description": "", "priority": "MEDIUM", "blocked_reason": None, "return_phase_id": None,
                    "open_blockers": 0, "completed_at": None}
_HISTORY_DEFAULTS = {"reason": "", "initiated_by": "system", "forced": False}


class SqliteTicketStore:
    """:class:`~phaseloom.db.ticket_store.OrmTicketStore`'s methods over ``sqlite3``. Ticket rows are plain
    objects; :meth:`save` writes the attributes changed since they were read."""

    def __init__(self, uow: SqliteUnitOfWork) -> None:
        self.uow = uow
        self.reader = uow.reader
        self._as_read: dict[int, dict[str, Any]] = {}  # ticket id -> its attributes as last read or written

    def insert(self, table: str, values: dict[str, Any]) -> int:
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        cursor = self.uow.connection.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})",
                                             [stored(v) for v in values.values()])
        return cursor.lastrowid

    def project(self, name_or_id: str | int) -> SimpleNamespace:
        return self.reader.project(name_or_id)

    def workflow(self, workflow_id: int) -> d.Workflow:
        return self.reader.workflow(workflow_id)

    def ticket(self, ticket_id: int, *, for_update: bool = False) -> SimpleNamespace | None:
        # ``for_update`` needs nothing: the transaction holds SQLite's write lock from its BEGIN IMMEDIATE.
        found = self.reader.rows("tickets", "id = ?", (int(ticket_id),))
        return self._tracked(found[0]) if found else None

    def tickets(self, project_id: int | None, *, phase_id: str | None, priority: str | None,
                limit: int, offset: int) -> list[SimpleNamespace]:
        return [self._tracked(row) for row in self.reader._filtered(  # noqa: SLF001 - the reader's query, as is
            "tickets", [("project_id", project_id), ("phase_id", phase_id), ("priority", priority)], limit, offset)]

    def history(self, ticket_id: int) -> list[SimpleNamespace]:
        return self.reader.rows("phase_history", "ticket_id = ?", (int(ticket_id),), "ORDER BY id")

    def count_in_phases(self, project_id: int, phase_ids: list[str]) -> int:
        marks = ", ".join("?" for _ in phase_ids)
        return self.uow.connection.execute(
            f"SELECT count(*) FROM tickets WHERE project_id = ? AND phase_id IN ({marks})",
            (project_id, *phase_ids)).fetchone()[0]

    def add_ticket(self, **values) -> SimpleNamespace:
        now = utcnow()
        row = {**_TICKET_DEFAULTS, **values, "created_at": values.get("created_at", now),
               "updated_at": values.get("updated_at", now)}
        row["id"] = self.insert("tickets", row)
        return self._tracked(SimpleNamespace(**row))

    def add_history(self, **values) -> None:
        self.insert("phase_history", {**_HISTORY_DEFAULTS, **values, "created_at": values.get("created_at", utcnow())})

    def save(self, ticket: SimpleNamespace) -> None:
        """Write what changed since the ticket was read; ``updated_at`` too, as the model's ``onupdate``."""
        before = self._as_read[ticket.id]
        changed = {name: value for name, value in vars(ticket).items() if before.get(name) != value}
        if not changed:
            return
        if "updated_at" not in changed:
            ticket.updated_at = changed["updated_at"] = utcnow()
        assignments = ", ".join(f"{name} = ?" for name in changed)
        self.uow.connection.execute(f"UPDATE tickets SET {assignments} WHERE id = ?",
                                    [*(stored(v) for v in changed.values()), ticket.id])
        self._as_read[ticket.id] = dict(vars(ticket))

    def release_dependents(self, ticket_id: int) -> None:
        connection = self.uow.connection
        connection.execute(
            "UPDATE tickets SET open_blockers = open_blockers - 1, updated_at = ? WHERE id IN "
            "(SELECT ticket_id FROM ticket_dependencies WHERE blocked_by_id = ? AND resolved = 0)",
            (stored(utcnow()), ticket_id))
        connection.execute("UPDATE ticket_dependencies SET resolved = 1 WHERE blocked_by_id = ?", (ticket_id,))

    def has_dependency(self, ticket_id: int, blocked_by_id: int) -> bool:
        return self.uow.connection.execute(
            "SELECT 1 FROM ticket_dependencies WHERE ticket_id = ? AND blocked_by_id = ?",
            (ticket_id, blocked_by_id)).fetchone() is not None

    def add_dependency(self, ticket_id: int, blocked_by_id: int, *, resolved: bool) -> None:
        self.insert("ticket_dependencies", {"ticket_id": ticket_id, "blocked_by_id": blocked_by_id,
                                            "resolved": resolved})

    def _tracked(self, row: SimpleNamespace) -> SimpleNamespace:
        self._as_read[row.id] = dict(vars(row))
        return row
