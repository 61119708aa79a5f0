"""Putting a task on the queue: create it in its ticket's phase and link what it waits for.

Everything that spawns work (the API and MCP, discoveries, diagnostics, reviews, results, launches)
goes through :class:`TaskEnqueuer`. A new task is ``pending``; it becomes claimable once every
task it depends on has completed (``unmet_dependencies`` reaches 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from phaseloom.db.models import Task, TaskCapability, TaskDependency, Ticket
from phaseloom.db.models.base import utcnow
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.db.workflow_cache import workflow_by_id
from phaseloom.domain.errors import InvalidInput, NotFound
from phaseloom.domain.priorities import Priority, claim_score
from phaseloom.domain.tasks import TaskStatus
from phaseloom.queue._paths import checked_globs, declare_paths

if TYPE_CHECKING:
    from phaseloom.config import Settings


class TaskEnqueuer:
    def __init__(self, uow: UnitOfWork, settings: Settings | None = None) -> None:
        self.uow = uow
        self.settings = settings or uow.settings

    def create_task(self, ticket_id: int, phase_id: str, title: str, *, description: str = "",
                    priority: str | None = None, task_type: str = "work",
                    required_capabilities: list[str] | None = None, depends_on: list[int] | None = None,
                    max_retries: int | None = None, timeout_seconds: float | None = None,
                    created_by: str = "system", paths: list[str] | None = None) -> Task:
        """``paths``: the globs the task will touch (default: its phase's ``paths``; see :mod:`._paths`)."""
        if not title.strip():
            raise InvalidInput("a task needs a title")
        globs = checked_globs(paths)
        with self.uow:
            session = self.uow.session
            ticket = session.get(Ticket, int(ticket_id))
            if ticket is None:
                raise NotFound("ticket", ticket_id)
            phase = workflow_by_id(self.uow, ticket.workflow_id).phase(phase_id)
            prio = Priority.parse(priority or ticket.priority)
            now = utcnow()
            capabilities = sorted(set(required_capabilities or []))
            task = Task(
                ticket_id=ticket.id, project_id=ticket.project_id, workflow_id=ticket.workflow_id,
                phase_id=phase.id, task_type=task_type, title=title.strip(), description=description,
                priority=prio.value, score=claim_score(prio, now.timestamp(), self.settings.aging_seconds),
                required_capabilities=capabilities, capability_count=len(capabilities),
                max_retries=phase.configuration.max_retries if max_retries is None else max_retries,
                timeout_seconds=timeout_seconds or phase.configuration.timeout_seconds,
                created_by=created_by, created_at=now, next_attempt_at=now,
            )
            session.add(task)
            session.flush()
            session.add_all(TaskCapability(task_id=task.id, capability=c) for c in capabilities)
            task.unmet_dependencies = self._link_dependencies(task, depends_on or [])
            declare_paths(session, task, phase.configuration.paths if paths is None else globs)
            session.flush()
            self.uow.emit("task.created", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                          phase_id=task.phase_id, payload={"title": task.title, "priority": task.priority,
                                                           "task_type": task_type, "created_by": created_by})
            return task

    def _link_dependencies(self, task: Task, depends_on: list[int]) -> int:
        session = self.uow.session
        unmet = 0
        for dep_id in sorted(set(depends_on)):
            dep = session.get(Task, int(dep_id))
            if dep is None:
                raise NotFound("task", dep_id)
            if dep.project_id != task.project_id:
                raise InvalidInput(f"task {dep_id} belongs to another project")
            session.add(TaskDependency(task_id=task.id, depends_on_id=dep.id))
            if dep.status != TaskStatus.COMPLETED.value:
                unmet += 1
        return unmet
