"""The kanban board: columns derived from the workflow, WIP use, and moves that are transitions."""

from __future__ import annotations

from phaseloom.domain.errors import InvalidTransition, NotFound
from phaseloom.services.human_input import HumanInputService, QuestionView
from phaseloom.services.projects import ProjectService
from phaseloom.services.ticket_views import ColumnView, TicketView, board_columns
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService


__all__ = ["BoardService", "ColumnView"]


class BoardService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def board(self, project: str | int, *, priority: str | None = None) -> list[ColumnView]:
        """Columns in order; phases no column maps get a column of their own at the end."""
        with self.uow:
            proj = ProjectService(self.uow).get(project)
            workflow = WorkflowService(self.uow).by_id(proj.workflow_id)
            return board_columns(workflow, TicketService(self.uow).list(proj.id, priority=priority, limit=100_000))

    def needs_input(self, project: str | int) -> list[QuestionView]:
        """The Needs input lane: the questions of the project's agents nobody has answered yet."""
        with self.uow:
            proj = ProjectService(self.uow).get(project)
            return HumanInputService(self.uow).questions(project_id=proj.id)

    def move_ticket(self, ticket_id: int, column_id: str, *, force: bool = False,
                    initiated_by: str = "user", reason: str = "") -> TicketView:
        """Move a card: the first phase of the column that the workflow allows from where it is."""
        with self.uow:
            tickets = TicketService(self.uow)
            ticket = tickets.get(ticket_id)
            proj = ProjectService(self.uow).get(ticket.project_id)
            wf = WorkflowService(self.uow).by_id(proj.workflow_id)
            column = next((c for c in wf.board_columns if c.id == column_id), None)
            if column is None:
                known = ", ".join(c.id for c in wf.board_columns)
                raise NotFound("board column", f"{column_id} (columns: {known})")
            if ticket.phase_id in column.phase_mapping:
                return ticket
            allowed = wf.allowed_targets(ticket.phase_id)
            target = next((p for p in column.phase_mapping if p in allowed), None)
            if target is None:
                raise InvalidTransition(ticket.phase_id, column.phase_mapping[0], allowed,
                                        f"no phase of column {column_id!r} is reachable")
            return tickets.transition(ticket_id, target, reason=reason or f"moved to column {column_id}",
                                      initiated_by=initiated_by, force=force)
