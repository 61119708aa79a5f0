"""Where :class:`~phaseloom.services.tickets.TicketService` keeps tickets: the ORM, in a unit of work's session.

The service holds the rules (transitions, WIP limits, history, events); a store only reads and writes
rows. This one works through the ORM session, so ticket rows are the session's own objects (other
use-cases in the same transaction see every change). The CLI's SQLite writes use
:class:`phaseloom.db.quick_writes.SqliteTicketStore`, the same methods over ``sqlite3``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from phaseloom.db.models import PhaseHistory, Project, Ticket, TicketDependency
from phaseloom.db.workflow_cache import workflow_by_id
from phaseloom.domain import phases as d
from phaseloom.domain.errors import NotFound
from phaseloom.domain.identifiers import is_number

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from phaseloom.db.unit_of_work import UnitOfWork


def project_row(session: Session, name_or_id: str | int) -> Project:
    """By id when ``name_or_id`` is a number, else by name; :class:`NotFound` otherwise."""
    if isinstance(name_or_id, int) or is_number(str(name_or_id)):
        project = session.get(Project, int(name_or_id))
    else:
        project = session.scalar(select(Project).where(Project.name == name_or_id))
    if project is None:
        raise NotFound("project", name_or_id)
    return project


class OrmTicketStore:
    """Ticket rows through the ORM session of ``uow`` (used inside its ``with uow:`` blocks)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def project(self, name_or_id: str | int) -> Project:
        return project_row(self.uow.session, name_or_id)

    def workflow(self, workflow_id: int) -> d.Workflow:
        return workflow_by_id(self.uow, workflow_id)

    def ticket(self, ticket_id: int, *, for_update: bool = False) -> Ticket | None:
        query = select(Ticket).where(Ticket.id == int(ticket_id))
        if for_update:
            query = query.with_for_update()
        return self.uow.session.scalar(query)

    def tickets(self, project_id: int | None, *, phase_id: str | None, priority: str | None,
                limit: int, offset: int) -> list[Ticket]:
        query = select(Ticket).order_by(Ticket.id).limit(limit).offset(offset)
        if project_id is not None:
            query = query.where(Ticket.project_id == project_id)
        if phase_id:
            query = query.where(Ticket.phase_id == phase_id)
        if priority:
            query = query.where(Ticket.priority == priority)
        return list(self.uow.session.scalars(query).all())

    def history(self, ticket_id: int) -> list[PhaseHistory]:
        return list(self.uow.session.scalars(
            select(PhaseHistory).where(PhaseHistory.ticket_id == ticket_id).order_by(PhaseHistory.id)))

    def count_in_phases(self, project_id: int, phase_ids: list[str]) -> int:
        """Tickets of the project in those phases, with the project's WIP checks serialised: on PostgreSQL
        its row is locked; on SQLite every write transaction holds the write lock (BEGIN IMMEDIATE)."""
        session = self.uow.session
        session.execute(select(Project.id).where(Project.id == project_id).with_for_update())
        return session.scalar(
            select(func.count()).select_from(Ticket)
            .where(Ticket.project_id == project_id, Ticket.phase_id.in_(phase_ids))
        ) or 0

    def add_ticket(self, **values) -> Ticket:
        ticket = Ticket(**values)
        self.uow.session.add(ticket)
        self.uow.session.flush()
        return ticket

    def add_history(self, **values) -> None:
        self.uow.session.add(PhaseHistory(**values))

    def save(self, ticket: Ticket) -> None:
        """Write the ticket's changed attributes (the session tracks them)."""
        self.uow.session.flush()

    def release_dependents(self, ticket_id: int) -> None:
        """One open blocker fewer for every ticket waiting on ``ticket_id``; their dependencies resolved."""
        session = self.uow.session
        waiting = select(TicketDependency.ticket_id).where(
            TicketDependency.blocked_by_id == ticket_id, TicketDependency.resolved.is_(False))
        # Two statements, no look into the session for copies to update (an ORM update's default
        # fetches the rows it changed first: two statements more on every move of every ticket).
        # The unit of work commits next, which expires whatever copy it holds.
        unsynchronized = {"synchronize_session": False}
        session.execute(update(Ticket).where(Ticket.id.in_(waiting))
                        .values(open_blockers=Ticket.open_blockers - 1), execution_options=unsynchronized)
        session.execute(update(TicketDependency).where(TicketDependency.blocked_by_id == ticket_id)
                        .values(resolved=True), execution_options=unsynchronized)

    def has_dependency(self, ticket_id: int, blocked_by_id: int) -> bool:
        return self.uow.session.get(TicketDependency, (ticket_id, blocked_by_id)) is not None

    def add_dependency(self, ticket_id: int, blocked_by_id: int, *, resolved: bool) -> None:
        self.uow.session.add(TicketDependency(ticket_id=ticket_id, blocked_by_id=blocked_by_id, resolved=resolved))
