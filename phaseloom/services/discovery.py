"""Discovery branching: an agent reports what it found, and work is spawned in any phase.

A discovery does not move the ticket: it queues a task in the phase the work belongs to,
whatever the workflow's ``allowed_transitions`` say. That is by design — a tester who finds a
missing requirement should get a requirements task now, not wait for the ticket to travel back.
The phase must still exist in the workflow, and the source task keeps running.
"""

from __future__ import annotations

from sqlalchemy import select

from phaseloom.db.models import Task, Ticket
from phaseloom.db.models.base import utcnow
from phaseloom.db.models.gates import TaskDiscovery
from phaseloom.domain.errors import InvalidInput, NotFound
from phaseloom.domain.priorities import Priority
from phaseloom.queue import TaskEnqueuer
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService

DISCOVERY_TYPES = (
    "bug_found", "optimization_opportunity", "clarification_needed", "new_component", "security_issue",
    "performance_issue", "missing_requirement", "technical_debt", "integration_issue", "diagnostic_no_result",
)
DISCOVERY_STATUSES = ("open", "in_progress", "resolved", "invalid")
DISCOVERY_TASK_TYPE = "discovery"
_TITLE_LIMIT = 200


class DiscoveryService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def record_discovery(self, source_task_id: int | None, discovery_type: str, description: str,
                         spawn_phase_id: str | None = None, spawn_description: str | None = None,
                         priority_boost: bool = False, ticket_id: int | None = None, *,
                         created_by: str = "agent") -> TaskDiscovery:
        """Record a discovery and, with ``spawn_phase_id``, queue a task for it in that phase.

        The spawned task takes the source task's priority (the ticket's without a source),
        one level higher with ``priority_boost``. Raises :class:`InvalidInput` for an unknown
        type or phase, and :class:`NotFound` for an unknown task or ticket.
        """
        kind = _check_type(discovery_type)
        if not description or not description.strip():
            raise InvalidInput("a discovery needs a description of what was found")
        with self.uow:
            session = self.uow.session
            source = self._source_task(source_task_id)
            ticket = self._ticket(source, ticket_id)
            if spawn_phase_id:
                self._check_spawn_phase(ticket, spawn_phase_id)
            discovery = TaskDiscovery(
                ticket_id=ticket.id, project_id=ticket.project_id, source_task_id=source.id if source else None,
                source_phase_id=source.phase_id if source else ticket.phase_id, discovery_type=kind,
                description=description.strip(), spawn_phase_id=spawn_phase_id, priority_boost=priority_boost,
                spawned_task_ids=[], created_by=created_by)
            session.add(discovery)
            session.flush()
            self.uow.emit("discovery.recorded", "discovery", discovery.id, project_id=ticket.project_id,
                          ticket_id=ticket.id, phase_id=discovery.source_phase_id,
                          payload={"type": kind, "description": discovery.description[:500],
                                   "source_task_id": discovery.source_task_id, "spawn_phase_id": spawn_phase_id})
            if spawn_phase_id:
                self._spawn(discovery, ticket, source, spawn_description or description)
            return discovery

    def _check_spawn_phase(self, ticket: Ticket, phase_id: str) -> None:
        workflow = WorkflowService(self.uow).by_id(ticket.workflow_id)
        if not workflow.has_phase(phase_id):
            known = ", ".join(p.id for p in workflow.ordered_phases)
            raise InvalidInput(f"unknown phase {phase_id!r} in workflow {workflow.name!r}; phases: {known}")
        if workflow.phase(phase_id).is_terminal:
            raise InvalidInput(f"cannot spawn work in {phase_id}: it is a terminal phase")

    def _spawn(self, discovery: TaskDiscovery, ticket: Ticket, source: Task | None, text: str) -> Task:
        phase_id = discovery.spawn_phase_id or ""
        base = Priority.parse(source.priority if source else ticket.priority)
        priority = base.boosted() if discovery.priority_boost else base
        first_line = text.strip().splitlines()[0] if text.strip() else discovery.discovery_type
        title = f"{discovery.discovery_type}: {first_line}"[:_TITLE_LIMIT]
        task = TaskEnqueuer(self.uow).create_task(
            ticket.id, phase_id, title, description=text.strip(), priority=priority.value,
            task_type=DISCOVERY_TASK_TYPE, created_by=f"discovery:{discovery.id}")
        discovery.spawned_task_ids = [*discovery.spawned_task_ids, task.id]
        self.uow.session.flush()
        self.uow.emit("discovery.branch_created", "discovery", discovery.id, project_id=ticket.project_id,
                      ticket_id=ticket.id, phase_id=phase_id,
                      payload={"type": discovery.discovery_type, "task_id": task.id,
                               "from_phase": discovery.source_phase_id, "to_phase": phase_id,
                               "source_task_id": discovery.source_task_id, "priority": priority.value})
        return task

    # -- reading -----------------------------------------------------------------
    def get(self, discovery_id: int) -> TaskDiscovery:
        with self.uow:
            return self._get(discovery_id)

    def list(self, *, ticket_id: int | None = None, project_id: int | None = None,
             discovery_type: str | None = None, phase_id: str | None = None, status: str | None = None,
             source_task_id: int | None = None, limit: int = 500, offset: int = 0) -> list[TaskDiscovery]:
        """Discoveries, newest first; ``phase_id`` matches the phase work was spawned in."""
        if discovery_type is not None:
            _check_type(discovery_type)
        if status is not None:
            _check_status(status)
        with self.uow:
            query = select(TaskDiscovery).order_by(TaskDiscovery.id.desc()).limit(limit).offset(offset)
            for column, value in ((TaskDiscovery.ticket_id, ticket_id), (TaskDiscovery.project_id, project_id),
                                  (TaskDiscovery.discovery_type, discovery_type),
                                  (TaskDiscovery.spawn_phase_id, phase_id), (TaskDiscovery.status, status),
                                  (TaskDiscovery.source_task_id, source_task_id)):
                if value is not None:
                    query = query.where(column == value)
            return list(self.uow.session.scalars(query))

    # -- changing ----------------------------------------------------------------
    def update_status(self, discovery_id: int, status: str, *, note: str = "",
                      by: str = "system") -> TaskDiscovery:
        _check_status(status)
        with self.uow:
            discovery = self._get(discovery_id, for_update=True)
            previous = discovery.status
            discovery.status = status
            discovery.updated_at = utcnow()
            discovery.resolved_at = utcnow() if status in ("resolved", "invalid") else None
            self.uow.session.flush()
            self.uow.emit("discovery.status_changed", "discovery", discovery.id, project_id=discovery.project_id,
                          ticket_id=discovery.ticket_id, phase_id=discovery.spawn_phase_id,
                          payload={"from": previous, "to": status, "note": note[:500], "by": by})
            return discovery

    # -- internals ---------------------------------------------------------------
    def _source_task(self, source_task_id: int | None) -> Task | None:
        if source_task_id is None:
            return None
        task = self.uow.session.get(Task, int(source_task_id))
        if task is None:
            raise NotFound("task", source_task_id)
        return task

    def _ticket(self, source: Task | None, ticket_id: int | None) -> Ticket:
        if source is None and ticket_id is None:
            raise InvalidInput("a discovery needs a source task or a ticket")
        if source is not None and ticket_id is not None and int(ticket_id) != source.ticket_id:
            raise InvalidInput(f"task {source.id} belongs to ticket {source.ticket_id}, not {ticket_id}")
        wanted = source.ticket_id if source is not None else int(ticket_id)  # type: ignore[arg-type]
        ticket = self.uow.session.get(Ticket, wanted)
        if ticket is None:
            raise NotFound("ticket", wanted)
        return ticket

    def _get(self, discovery_id: int, *, for_update: bool = False) -> TaskDiscovery:
        query = select(TaskDiscovery).where(TaskDiscovery.id == int(discovery_id))
        discovery = self.uow.session.scalar(query.with_for_update() if for_update else query)
        if discovery is None:
            raise NotFound("discovery", discovery_id)
        return discovery


def _check_type(discovery_type: str) -> str:
    kind = (discovery_type or "").strip().lower()
    if kind not in DISCOVERY_TYPES:
        raise InvalidInput(f"unknown discovery type {discovery_type!r}; expected one of {', '.join(DISCOVERY_TYPES)}")
    return kind


def _check_status(status: str) -> None:
    if status not in DISCOVERY_STATUSES:
        raise InvalidInput(f"unknown discovery status {status!r}; expected one of {', '.join(DISCOVERY_STATUSES)}")
