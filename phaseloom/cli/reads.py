"""The read commands' data: from the SQLite file directly when it can (:mod:`phaseloom.db.quick_reads`,
no SQLAlchemy to import), else through the services. Both give the same values, built by the same view
code (:mod:`phaseloom.services.ticket_views`), so a command prints the same either way."""

from __future__ import annotations

from phaseloom.cli.context import state


def workflow_of_project(project: str) -> tuple[int, object]:
    """(project id, its workflow as a domain value)."""
    reader = state.quick_reader()
    if reader is not None:
        row = reader.project(project)
        return row.id, reader.workflow(row.workflow_id)
    from phaseloom.services.projects import ProjectService
    from phaseloom.services.workflows import WorkflowService

    uow = state.uow(readonly=True)
    with uow:
        row = ProjectService(uow).get(project)
        return row.id, WorkflowService(uow).by_id(row.workflow_id)


def workflow_of_ticket(ticket_id: int):
    """The ticket's workflow as a domain value; None when there is no such ticket."""
    reader = state.quick_reader()
    if reader is not None:
        found = reader.rows("tickets", "id = ?", (int(ticket_id),))
        return reader.workflow(found[0].workflow_id) if found else None
    from phaseloom.db.models import Ticket
    from phaseloom.services.workflows import WorkflowService

    uow = state.uow(readonly=True)
    with uow:
        row = uow.session.get(Ticket, ticket_id)
        return None if row is None else WorkflowService(uow).by_id(row.workflow_id)


def all_workflows() -> list:
    """Every workflow, as domain values."""
    reader = state.quick_reader()
    if reader is not None:
        return [reader.workflow(workflow_id) for workflow_id in reader.workflow_ids()]
    from sqlalchemy import select

    from phaseloom.db.models import WorkflowRow
    from phaseloom.services.workflows import WorkflowService

    uow = state.uow(readonly=True)
    with uow:
        return [WorkflowService(uow).by_id(workflow_id) for workflow_id in uow.session.scalars(select(WorkflowRow.id))]


def tickets(project: str | None, *, phase_id: str | None, priority: str | None) -> list:
    """As ``TicketService.list``: ticket views, by id."""
    reader = state.quick_reader()
    if reader is not None:
        project_id = reader.project(project).id if project is not None else None
        return _views(reader, reader.tickets(project_id, phase_id=phase_id, priority=priority))
    from phaseloom.services.tickets import TicketService

    return TicketService(state.uow(readonly=True)).list(project, phase_id=phase_id, priority=priority)


def ticket(ticket_id: int):
    """As ``TicketService.get``."""
    reader = state.quick_reader()
    if reader is not None:
        return _views(reader, [reader.ticket(ticket_id)])[0]
    from phaseloom.services.tickets import TicketService

    return TicketService(state.uow(readonly=True)).get(ticket_id)


def tasks(*, ticket_id: int | None, phase_id: str | None, status: str | None) -> list:
    """As ``QueueService.list``: task rows, by id."""
    reader = state.quick_reader()
    if reader is not None:
        return reader.tasks(ticket_id=ticket_id, phase_id=phase_id, status=status)
    from phaseloom.queue import QueueService

    return QueueService(state.uow(readonly=True), state.settings).list(ticket_id=ticket_id, phase_id=phase_id,
                                                                       status=status)


def history(ticket_id: int) -> list:
    """As ``TicketService.history``: phase history rows, oldest first."""
    reader = state.quick_reader()
    if reader is not None:
        return reader.history(ticket_id)
    from phaseloom.services.tickets import TicketService

    return TicketService(state.uow(readonly=True)).history(ticket_id)


def task(task_id: int):
    """As ``QueueService.get``: the task row."""
    reader = state.quick_reader()
    if reader is not None:
        return reader.task(task_id)
    from phaseloom.queue import QueueService

    return QueueService(state.uow(readonly=True), state.settings).get(task_id)


def workflow(name_or_id: str):
    """As ``WorkflowService.get``: a workflow by name or id, as a domain value."""
    reader = state.quick_reader()
    if reader is not None:
        return reader.workflow_named(name_or_id)
    from phaseloom.services.workflows import WorkflowService

    return WorkflowService(state.uow(readonly=True)).get(name_or_id)


def workflow_summaries() -> list[dict]:
    """As ``WorkflowService.list``."""
    reader = state.quick_reader()
    if reader is not None:
        return reader.workflows()
    from phaseloom.services.workflows import WorkflowService

    return WorkflowService(state.uow(readonly=True)).list()


def agents_with_health() -> list[tuple]:
    """(agent row, its health) for every agent, in registration order, as ``AgentService.list`` and
    ``health_report`` give them (the health with the same attributes as ``AgentHealth``)."""
    reader = state.quick_reader()
    if reader is not None:
        from datetime import datetime, timezone
        from types import SimpleNamespace

        loads, now = reader.agent_loads(), datetime.now(timezone.utc)
        return [(a, SimpleNamespace(
            agent_id=a.id, status=a.status, health=a.health, active_tasks=loads.get(a.id, 0), capacity=a.capacity,
            consecutive_failures=a.consecutive_failures, last_error=a.last_error,
            seconds_since_heartbeat=None if a.last_heartbeat_at is None else (now - a.last_heartbeat_at).total_seconds()))
            for a in reader.agents()]
    from phaseloom.services.agents import AgentService

    agents = {a.id: a for a in AgentService(state.uow(readonly=True)).list()}
    return [(agents[h.agent_id], h) for h in AgentService(state.uow(readonly=True)).health_report()]


def projects() -> list[dict]:
    """As ``ProjectService.list``."""
    reader = state.quick_reader()
    if reader is not None:
        return reader.projects()
    from phaseloom.services.projects import ProjectService

    return ProjectService(state.uow(readonly=True)).list()


def board(project: str, *, priority: str | None) -> tuple[int, list]:
    """(project id, the board's columns with their tickets), as ``BoardService.board``."""
    reader = state.quick_reader()
    if reader is not None:
        from phaseloom.services.ticket_views import board_columns

        row = reader.project(project)
        rows = reader.tickets(row.id, priority=priority, limit=100_000)
        return row.id, board_columns(reader.workflow(row.workflow_id), _views(reader, rows))
    from phaseloom.services.board import BoardService
    from phaseloom.services.projects import ProjectService

    columns = BoardService(state.uow(readonly=True)).board(project, priority=priority)
    return ProjectService(state.uow(readonly=True)).get(project).id, columns


def _views(reader, rows) -> list:
    from phaseloom.services.ticket_views import ticket_view

    workflows: dict = {}
    views = []
    for row in rows:
        if row.workflow_id not in workflows:
            workflows[row.workflow_id] = reader.workflow(row.workflow_id)
        views.append(ticket_view(row, workflows[row.workflow_id]))
    return views
