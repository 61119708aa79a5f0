"""Tickets and their state machine: every move validated by the workflow and written to history.

The rules live here; the rows are read and written through the unit of work's ticket store
(:func:`ticket_store`: the ORM, :mod:`phaseloom.db.ticket_store`; or, for the CLI's writes on a
SQLite file, ``sqlite3``, :mod:`phaseloom.db.quick_writes`). So this module imports no SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from phaseloom.domain import phases as d
from phaseloom.domain.clock import utcnow
from phaseloom.domain.errors import Conflict, InvalidInput, InvalidTransition, NotFound, WipLimitReached
from phaseloom.domain.priorities import Priority
from phaseloom.services.ticket_views import TicketView, is_done_phase, ticket_view

if TYPE_CHECKING:
    from phaseloom.db.models import PhaseHistory, Ticket
    from phaseloom.db.unit_of_work import UnitOfWork


def ticket_store(uow):
    """Where ``uow`` keeps ticket rows: its own store when it brings one (the CLI's SQLite unit of work,
    :class:`phaseloom.db.quick_writes.SqliteUnitOfWork`), else its ORM session's."""
    store = getattr(uow, "ticket_store", None)
    if store is None:
        from phaseloom.db.ticket_store import OrmTicketStore

        store = OrmTicketStore(uow)
    return store


class TicketService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.store = ticket_store(uow)

    # -- reading -----------------------------------------------------------------
    def workflow_of(self, ticket: Ticket) -> d.Workflow:
        return self.store.workflow(ticket.workflow_id)

    def get(self, ticket_id: int) -> TicketView:
        with self.uow:
            ticket = self._row(ticket_id)
            return self._view(ticket, self.workflow_of(ticket))

    def list(self, project: str | int | None = None, *, phase_id: str | None = None,
             priority: str | None = None, limit: int = 500, offset: int = 0) -> list[TicketView]:
        with self.uow:
            project_id = self.store.project(project).id if project is not None else None
            tickets = self.store.tickets(project_id, phase_id=phase_id or None,
                                         priority=Priority.parse(priority).value if priority else None,
                                         limit=limit, offset=offset)
            workflows: dict[int, d.Workflow] = {}
            views = []
            for t in tickets:
                if t.workflow_id not in workflows:
                    workflows[t.workflow_id] = self.workflow_of(t)
                views.append(self._view(t, workflows[t.workflow_id]))
            return views

    def history(self, ticket_id: int) -> list[PhaseHistory]:
        with self.uow:
            self._row(ticket_id)
            return self.store.history(ticket_id)

    # -- changing ----------------------------------------------------------------
    def create_ticket(self, project: str | int, title: str, *, description: str = "",
                      priority: str = "MEDIUM", blocked_by: list[int] | None = None,
                      initiated_by: str = "user", force: bool = False) -> TicketView:
        """A ticket in the workflow's first phase; refused when that phase's column is at its WIP
        limit, unless ``force`` (recorded in history, as for a move)."""
        if not title.strip():
            raise InvalidInput("a ticket needs a title")
        prio = Priority.parse(priority)
        with self.uow:
            proj = self.store.project(project)
            workflow = self.store.workflow(proj.workflow_id)
            start = workflow.initial_phase
            forced = self._check_wip(proj.id, workflow.column_for(start.id), force=force)
            ticket = self.store.add_ticket(project_id=proj.id, workflow_id=proj.workflow_id, title=title.strip(),
                                           description=description, priority=prio.value, phase_id=start.id)
            status = workflow.status_for(start.id)
            self.store.add_history(ticket_id=ticket.id, from_phase_id=None, to_phase_id=start.id,
                                   from_status=None, to_status=status, reason="created",
                                   initiated_by=initiated_by, forced=forced)
            self.uow.emit("ticket.created", "ticket", ticket.id, project_id=proj.id, ticket_id=ticket.id,
                          phase_id=start.id, payload={"title": ticket.title, "priority": prio.value})
            for blocker in blocked_by or []:
                self._add_blocker(ticket, blocker)
            return self._view(ticket, workflow)

    def transition(self, ticket_id: int, to_phase_id: str, *, reason: str = "", initiated_by: str = "user",
                   force: bool = False) -> TicketView:
        """Move a ticket to another phase, as the workflow allows, with history and events.

        ``force`` overrides a WIP limit (recorded in history), never the workflow's transitions.
        """
        with self.uow:
            ticket = self._row(ticket_id, for_update=True)
            workflow = self.workflow_of(ticket)
            workflow.check_transition(ticket.phase_id, to_phase_id)
            return self._move(ticket, workflow, to_phase_id, reason=reason, initiated_by=initiated_by, force=force)

    def send_back(self, ticket_id: int, to_phase_id: str, *, reason: str, initiated_by: str) -> TicketView:
        """Move a ticket back to an earlier working phase whatever the transitions say (the merge queue
        returning a ticket whose branch would not land); WIP limits do not hold it back either."""
        with self.uow:
            ticket = self._row(ticket_id, for_update=True)
            workflow = self.workflow_of(ticket)
            if workflow.phase(to_phase_id).is_terminal:
                raise InvalidInput(f"cannot send ticket {ticket.id} back to {to_phase_id}: it is a terminal phase")
            return self._move(ticket, workflow, to_phase_id, reason=reason, initiated_by=initiated_by, force=True)

    def block(self, ticket_id: int, reason: str, *, initiated_by: str = "user") -> TicketView:
        if not reason.strip():
            raise InvalidInput("blocking a ticket needs a reason")
        with self.uow:
            ticket = self._row(ticket_id, for_update=True)
            workflow = self.workflow_of(ticket)
            if not workflow.has_phase(d.BLOCKED_PHASE):
                raise Conflict(f"workflow {workflow.name!r} has no {d.BLOCKED_PHASE} phase")
            if ticket.phase_id == d.BLOCKED_PHASE:
                raise Conflict(f"ticket {ticket.id} is already blocked: {ticket.blocked_reason}")
            workflow.check_transition(ticket.phase_id, d.BLOCKED_PHASE)
            return_phase = ticket.phase_id
            self._move(ticket, workflow, d.BLOCKED_PHASE, reason=reason, initiated_by=initiated_by)
            ticket.blocked_reason = reason
            ticket.return_phase_id = return_phase
            self.store.save(ticket)
            self.uow.emit("ticket.blocked", "ticket", ticket.id, project_id=ticket.project_id,
                          ticket_id=ticket.id, phase_id=return_phase, payload={"reason": reason})
            return self._view(ticket, workflow)

    def unblock(self, ticket_id: int, *, to_phase_id: str | None = None, reason: str = "unblocked",
                initiated_by: str = "user") -> TicketView:
        with self.uow:
            ticket = self._row(ticket_id, for_update=True)
            if ticket.phase_id != d.BLOCKED_PHASE:
                raise Conflict(f"ticket {ticket.id} is not blocked (it is in {ticket.phase_id})")
            workflow = self.workflow_of(ticket)
            target = to_phase_id or ticket.return_phase_id or workflow.initial_phase.id
            workflow.check_transition(ticket.phase_id, target)
            self._move(ticket, workflow, target, reason=reason, initiated_by=initiated_by)
            ticket.blocked_reason = None
            ticket.return_phase_id = None
            self.store.save(ticket)
            self.uow.emit("ticket.unblocked", "ticket", ticket.id, project_id=ticket.project_id,
                          ticket_id=ticket.id, phase_id=target, payload={"reason": reason})
            return self._view(ticket, workflow)

    def add_blocker(self, ticket_id: int, blocked_by_id: int) -> None:
        with self.uow:
            self._add_blocker(self._row(ticket_id, for_update=True), blocked_by_id)

    # -- internals ---------------------------------------------------------------
    def _move(self, ticket: Ticket, workflow: d.Workflow, to_phase_id: str, *, reason: str,
              initiated_by: str, force: bool = False) -> TicketView:
        from_phase = ticket.phase_id
        from_column = workflow.column_for(from_phase)
        to_column = workflow.column_for(to_phase_id)
        forced = False
        if to_column is not from_column and to_phase_id != d.BLOCKED_PHASE:
            forced = self._check_wip(ticket.project_id, to_column, force=force)
        from_status, to_status = workflow.status_for(from_phase), workflow.status_for(to_phase_id)
        ticket.phase_id = to_phase_id
        ticket.updated_at = utcnow()
        target = workflow.phase(to_phase_id)
        self.store.add_history(
            ticket_id=ticket.id, from_phase_id=from_phase, to_phase_id=to_phase_id, from_status=from_status,
            to_status=to_status, reason=reason, initiated_by=initiated_by, forced=forced,
        )
        common = dict(project_id=ticket.project_id, ticket_id=ticket.id, phase_id=to_phase_id)
        self.uow.emit("ticket.status_transitioned", "ticket", ticket.id, **common, payload={
            "from_phase": from_phase, "to_phase": to_phase_id, "from_status": from_status,
            "to_status": to_status, "reason": reason, "initiated_by": initiated_by, "forced": forced})
        if (from_column.id if from_column else None) != (to_column.id if to_column else None):
            self.uow.emit("board.ticket_moved", "ticket", ticket.id, **common, payload={
                "from_column": from_column.id if from_column else None,
                "to_column": to_column.id if to_column else None, "forced": forced})
        if is_done_phase(target):
            ticket.completed_at = utcnow()
            self.store.release_dependents(ticket.id)
        elif ticket.completed_at is not None:  # reopened: not finished any more (a finished one's worktree goes)
            ticket.completed_at = None
        self.store.save(ticket)
        return self._view(ticket, workflow)

    def _check_wip(self, project_id: int, column: d.BoardColumn | None, *, force: bool) -> bool:
        """Whether adding a ticket to ``column`` exceeds its WIP limit with ``force`` (True: forced);
        raise :class:`WipLimitReached` when it would without."""
        if column is None or not column.wip_limit:
            return False
        in_use = self.store.count_in_phases(project_id, list(column.phase_mapping))
        if in_use < column.wip_limit:
            return False
        if not force:
            raise WipLimitReached(column.id, column.wip_limit, in_use)
        return True

    def _add_blocker(self, ticket: Ticket, blocked_by_id: int) -> None:
        if blocked_by_id == ticket.id:
            raise InvalidInput("a ticket cannot be blocked by itself")
        blocker = self._row(blocked_by_id)
        if blocker.project_id != ticket.project_id:
            raise InvalidInput(f"ticket {blocked_by_id} belongs to another project")
        if self.store.has_dependency(ticket.id, blocker.id):
            return
        done = is_done_phase(self.workflow_of(blocker).phase(blocker.phase_id))
        self.store.add_dependency(ticket.id, blocker.id, resolved=done)
        if not done:
            ticket.open_blockers += 1
        self.store.save(ticket)

    def _row(self, ticket_id: int, *, for_update: bool = False) -> Ticket:
        ticket = self.store.ticket(ticket_id, for_update=for_update)
        if ticket is None:
            raise NotFound("ticket", ticket_id)
        return ticket

    def _view(self, ticket: Ticket, workflow: d.Workflow) -> TicketView:
        return ticket_view(ticket, workflow)


__all__ = ["TicketService", "TicketView", "InvalidTransition", "is_done_phase"]
