"""The unit of work: one database transaction, and the events it records.

Services call each other inside one ``with uow:`` block; only the outermost block commits
(or rolls back on an exception), so a use-case that spans services is still one transaction.
Events emitted during the block are written to the ``system_events`` outbox in that same
transaction and handed to ``after_commit`` listeners only once the commit succeeded.

A use-case that is one statement (the queue's claim and completion on PostgreSQL, each with its
outbox event) may instead run through :meth:`UnitOfWork.driver_rows` outside any block: the
statement is then a transaction of its own, with no ORM session around it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from phaseloom.db.announcer import PostgresAnnouncer, announcer_for
from phaseloom.db.engine import Database
from phaseloom.db.models import SystemEvent
from phaseloom.db.models.base import utcnow

if TYPE_CHECKING:
    from phaseloom.config import Settings

# Any constant works; it only has to be the same in every process writing events.
EVENT_ORDER_LOCK = 0x7068_6173  # "phas"

CommitListener = Callable[[list[dict[str, Any]]], None]


class UnitOfWork:
    def __init__(self, db: Database, *, readonly: bool = False, settings: Settings | None = None) -> None:
        self.db = db
        self.readonly = readonly
        self._settings = settings
        self.after_commit: list[CommitListener] = []
        self._session: Session | None = None
        self._depth = 0
        self._pending_events: list[SystemEvent] = []
        self._written_events: list[dict[str, Any]] = []
        self._announcer: PostgresAnnouncer | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside a 'with uow:' block")
        return self._session

    @property
    def active(self) -> bool:
        """True inside a ``with uow:`` block (a transaction is open)."""
        return self._depth > 0

    @property
    def backend(self) -> str:
        return self.db.backend

    @property
    def settings(self) -> Settings:
        """The settings the work of this unit runs with: its own if it was given some, else its database's."""
        return self._settings if self._settings is not None else self.db.settings

    @property
    def autocommits(self) -> bool:
        """True when a statement run through :meth:`driver_rows` now is a transaction of its own.

        That is PostgreSQL outside a ``with uow:`` block: the one-statement steps (the queue's claim
        and completion) then commit as they run, with no ORM session. Inside a block they join it.
        """
        return not self.active and self.db.autocommit is not None

    def __enter__(self) -> "UnitOfWork":
        if self._depth == 0:
            self._session = self.db.sessions()
            self._pending_events = []
            self._written_events = []
            if self.readonly:
                self._session.connection(execution_options={"phaseloom_readonly": True})
        self._depth += 1
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._depth -= 1
        if self._depth > 0:
            return
        session, self._session = self._session, None
        assert session is not None
        try:
            if exc_type is None and not self.readonly:
                delivered = self._write_events(session)
                session.commit()
                if delivered:
                    self._announce(delivered[-1]["id"])
                self._notify(delivered)
            elif exc_type is not None:
                session.rollback()
            # A read-only unit just closes: closing ends the transaction without expiring the
            # objects it loaded, so callers can still read them.
        finally:
            session.close()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of the open block that an exception undoes alone, its writes and its events, while
        the block goes on (the exception still propagates to the caller, who decides)."""
        pending, written = len(self._pending_events), len(self._written_events)
        nested = self.session.begin_nested()
        try:
            yield
        except BaseException:
            nested.rollback()
            del self._pending_events[pending:], self._written_events[written:]
            raise
        nested.commit()

    def emit(
        self,
        event_type: str,
        entity_type: str,
        entity_id: object,
        *,
        project_id: int | None = None,
        ticket_id: int | None = None,
        phase_id: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Record an event; it is written with the transaction's other changes."""
        self._pending_events.append(
            SystemEvent(
                event_type=event_type,
                entity_type=entity_type,
                entity_id=str(entity_id),
                project_id=project_id,
                ticket_id=ticket_id,
                phase_id=phase_id,
                payload=payload or {},
                created_at=utcnow(),
            )
        )

    def react(self, name: str, happening: object) -> None:
        """Run, in this transaction, the reactions wired to ``name`` on the database
        (:attr:`Database.reactions`): each is called with this unit of work and ``happening``."""
        for reaction in list(self.db.reactions.get(name, ())):
            reaction(self, happening)

    def add_written_event(self, event_id: int, describe: Callable[[], dict[str, Any]]) -> None:
        """Deliver an event a statement already inserted; ``describe()`` gives its dict
        (shaped like :func:`event_as_dict`).

        For hot paths that insert their event in the same statement as the change it records:
        inside a block it is delivered after the commit; after a statement run on its own
        (:meth:`driver_rows` outside a block) it is committed already and delivered now. The
        dict is built only when a listener will read it.
        """
        if self.active:
            self._written_events.append(describe())
            return
        self._announce(event_id)
        if self.after_commit:
            self._notify([describe()])

    def driver_rows(self, sql: str, params: Mapping[str, Any]) -> list[tuple]:
        """Run SQL written for the driver (psycopg, ``%(name)s`` parameters); return its rows.

        Inside a ``with uow:`` block the statement joins the open transaction, after a flush
        (the ORM would autoflush before a query; this bypasses it). Outside one, on PostgreSQL,
        the statement is a transaction of its own: it runs on a connection in autocommit mode
        (:class:`~phaseloom.db.engine.AutocommitConnections`), and PostgreSQL commits it
        durably when it ends. That saves the ``BEGIN`` and ``COMMIT`` round trips and the ORM
        session (docs/benchmarks.md, "Task queue", third round); it is right only for a
        statement that is a whole use-case on its own.
        """
        if self.active:
            self.session.flush()
            return self.session.connection().connection.driver_connection.execute(sql, params).fetchall()
        if not self.autocommits:
            raise RuntimeError("a statement runs on its own only on PostgreSQL; open a 'with uow:' block")
        return self.db.autocommit.rows(sql, params)

    @contextmanager
    def sqlite_transaction(self) -> Iterator[Any]:
        """SQLite: the sqlite3 connection of this unit's transaction, for statements that bypass the ORM.

        Inside a ``with uow:`` block it is the block's connection, after a flush (as the ORM would
        autoflush before a query). Outside one it is a write transaction of its own on a pooled
        connection, with no ORM session: ``BEGIN IMMEDIATE`` (the engine's writers queue on the lock,
        phaseloom/db/engine.py), ``COMMIT`` when the block ends, ``ROLLBACK`` on an exception. Events
        its statements inserted are delivered with :meth:`add_written_event` once it has ended.
        """
        if self.db.backend != "sqlite":
            raise RuntimeError("sqlite_transaction is for SQLite; PostgreSQL statements run through driver_rows")
        if self.active:
            self.session.flush()
            yield self.session.connection().connection.driver_connection
            return
        pooled = self.db.engine.raw_connection()
        try:
            driver = pooled.driver_connection
            driver.execute("BEGIN IMMEDIATE")
            try:
                yield driver
            except BaseException:
                driver.rollback()
                raise
            driver.commit()
        finally:
            pooled.close()

    def _write_events(self, session: Session) -> list[dict[str, Any]]:
        # Events inserted by statements drew their ids first, so they lead the id order.
        written, self._written_events = self._written_events, []
        if not self._pending_events:
            return written
        if session.get_bind().dialect.name == "postgresql":
            # A reader polling "since id N" must never see event N+2 committed while N+1 is
            # still in flight. Writers hold this lock *shared* from the insert to the commit
            # (so they never wait for each other); a reader takes it exclusively for its read
            # (see wait_for_event_writers), which waits out exactly the in-flight writers.
            session.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": EVENT_ORDER_LOCK})
        session.add_all(self._pending_events)
        session.flush()
        rows = [event_as_dict(e) for e in self._pending_events]
        self._pending_events = []
        return written + rows

    def _announce(self, last_id: int) -> None:
        """Wake every listening process (PostgreSQL LISTEN/NOTIFY) once events up to ``last_id`` are committed.

        A lost wake-up costs latency only: listeners also poll the outbox.
        """
        if self._announcer is None:
            if self.db.backend != "postgresql":
                return
            self._announcer = announcer_for(self.db.engine)
        self._announcer.announce(last_id)

    def _notify(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        for listener in list(self.after_commit):
            listener(events)


def wait_for_event_writers(session: Session) -> None:
    """Before reading the outbox on PostgreSQL: wait until no transaction is between inserting
    events and committing them, and keep new ones out until this read transaction ends.

    SQLite needs nothing: it has a single writer, so ids are always assigned in commit order.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": EVENT_ORDER_LOCK})


def event_as_dict(event: SystemEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "event_type": event.event_type,
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "project_id": event.project_id,
        "ticket_id": event.ticket_id,
        "phase_id": event.phase_id,
        "payload": event.payload,
        "created_at": event.created_at.isoformat() if event.created_at else None,
    }
