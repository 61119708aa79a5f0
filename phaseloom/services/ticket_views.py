"""What a ticket and a board look like to a reader, built from a ticket row and its workflow.

Free of SQLAlchemy so that the CLI's quick reads (:mod:`phaseloom.db.quick_reads`, plain ``sqlite3``
rows) and the services (ORM rows) build the same views with the same code. A "row" is anything with
the ``tickets`` table's columns as attributes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from phaseloom.domain import phases as d


@dataclass(frozen=True)
class TicketView:
    id: int
    project_id: int
    title: str
    description: str
    priority: str
    phase_id: str
    phase_name: str
    status: str
    column: str | None
    is_done: bool
    blocked_reason: str | None
    return_phase_id: str | None
    open_blockers: int
    created_at: datetime
    updated_at: datetime


def is_done_phase(phase: d.Phase) -> bool:
    return phase.is_terminal and phase.id != d.BLOCKED_PHASE


def ticket_view(ticket, workflow: d.Workflow) -> TicketView:
    phase = workflow.phase(ticket.phase_id)
    column = workflow.column_for(ticket.phase_id)
    return TicketView(
        id=ticket.id, project_id=ticket.project_id, title=ticket.title, description=ticket.description,
        priority=ticket.priority, phase_id=ticket.phase_id, phase_name=phase.name,
        status=workflow.status_for(ticket.phase_id), column=column.id if column else None,
        is_done=is_done_phase(phase), blocked_reason=ticket.blocked_reason,
        return_phase_id=ticket.return_phase_id, open_blockers=ticket.open_blockers,
        created_at=ticket.created_at, updated_at=ticket.updated_at,
    )


@dataclass
class ColumnView:
    id: str
    name: str
    phase_mapping: list[str]
    wip_limit: int | None
    tickets: list[TicketView] = field(default_factory=list)

    @property
    def wip_use(self) -> int:
        return len(self.tickets)


def board_columns(workflow: d.Workflow, tickets: Iterable[TicketView]) -> list[ColumnView]:
    """Columns in order, each with its tickets; phases no column maps get a column of their own at the end."""
    columns = [ColumnView(c.id, c.name, list(c.phase_mapping), c.wip_limit) for c in workflow.board_columns]
    mapped = {pid for c in workflow.board_columns for pid in c.phase_mapping}
    for phase in workflow.ordered_phases:
        if phase.id not in mapped:
            columns.append(ColumnView(workflow.status_for(phase.id), phase.name, [phase.id], None))
    by_phase = {pid: col for col in columns for pid in col.phase_mapping}
    for ticket in tickets:
        by_phase[ticket.phase_id].tickets.append(ticket)
    return columns
