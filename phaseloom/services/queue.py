"""The task queue: create, claim (one atomic statement), heartbeat, complete, fail, reap.

A claim is a single ``UPDATE … WHERE id = (SELECT … ORDER BY score DESC LIMIT 1) RETURNING``.
On PostgreSQL the sub-select takes ``FOR UPDATE SKIP LOCKED`` so concurrent workers pass over
each other's rows; on SQLite the write transaction is ``BEGIN IMMEDIATE``, which already makes
the statement exclusive. Readiness (``status = 'pending' AND unmet_dependencies = 0``) is the
predicate of a partial index ordered by score, so the cost of a claim does not grow with the
number of pending tasks.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from sqlalchemy import bindparam, exists, func, literal_column, or_, select, update

from phaseloom.config import Settings, get_settings
from phaseloom.db.models import Agent, Task, TaskCapability, TaskDependency, Ticket
from phaseloom.db.models.base import utcnow
from phaseloom.db.models.costs import Budget
from phaseloom.domain.errors import InvalidInput, NotFound, TaskNotClaimable
from phaseloom.domain.priorities import Priority, claim_score
from phaseloom.domain.tasks import ACTIVE_STATUSES, TaskStatus, backoff_delay
from phaseloom.services.budgets import budget_covers
from phaseloom.services.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService

# Literal SQL (not bound parameters) so both planners can match the partial index predicate.
READY = literal_column("tasks.status = 'pending' AND tasks.unmet_dependencies = 0")


class QueueService:
    def __init__(self, uow: UnitOfWork, settings: Settings | None = None) -> None:
        self.uow = uow
        self.settings = settings or get_settings()

    # -- creating ----------------------------------------------------------------
    def create_task(self, ticket_id: int, phase_id: str, title: str, *, description: str = "",
                    priority: str | None = None, task_type: str = "work",
                    required_capabilities: list[str] | None = None, depends_on: list[int] | None = None,
                    max_retries: int | None = None, timeout_seconds: float | None = None,
                    created_by: str = "system") -> Task:
        if not title.strip():
            raise InvalidInput("a task needs a title")
        with self.uow:
            session = self.uow.session
            ticket = session.get(Ticket, int(ticket_id))
            if ticket is None:
                raise NotFound("ticket", ticket_id)
            workflow = WorkflowService(self.uow).by_id(ticket.workflow_id)
            phase = workflow.phase(phase_id)
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

    # -- claiming ----------------------------------------------------------------
    def claim_next_task(self, agent_id: str, *, lease_seconds: float | None = None) -> Task | None:
        """Claim the best eligible task for ``agent_id``, or return None when there is none."""
        with self.uow:
            session = self.uow.session
            agent = session.execute(select(Agent.id, Agent.phase_id, Agent.project_id, Agent.capabilities,
                                           Agent.agent_type).where(Agent.id == agent_id)).first()
            if agent is None:
                raise NotFound("agent", agent_id)
            now = utcnow()
            lease = timedelta(seconds=lease_seconds or self.settings.lease_seconds)
            claimed = session.execute(
                _claim_statement(bool(agent.phase_id), bool(agent.project_id), agent.agent_type == "validator"),
                {"claim_agent": agent.id, "claim_now": now, "claim_lease_until": now + lease,
                 "claim_phase": agent.phase_id, "claim_project": agent.project_id,
                 "claim_capabilities": list(agent.capabilities or [])},
            ).scalar_one_or_none()
            if claimed is None:
                return None
            self.uow.emit("task.assigned", "task", claimed.id, project_id=claimed.project_id,
                          ticket_id=claimed.ticket_id, phase_id=claimed.phase_id,
                          payload={"agent_id": agent.id, "attempt": claimed.retry_count + 1})
            return claimed


    # -- working -----------------------------------------------------------------
    def start_task(self, task_id: int, agent_id: str) -> Task:
        with self.uow:
            task = self._owned(task_id, agent_id)
            if task.status == TaskStatus.CLAIMED.value:
                task.status = TaskStatus.RUNNING.value
                task.started_at = utcnow()
                self.uow.emit("task.started", "task", task.id, project_id=task.project_id,
                              ticket_id=task.ticket_id, phase_id=task.phase_id, payload={"agent_id": agent_id})
            return task

    def heartbeat(self, task_id: int, agent_id: str, *, lease_seconds: float | None = None) -> Task:
        with self.uow:
            task = self._owned(task_id, agent_id)
            task.lease_expires_at = utcnow() + timedelta(seconds=lease_seconds or self.settings.lease_seconds)
            return task

    def complete_task(self, task_id: int, agent_id: str | None, result: dict | None = None) -> Task:
        with self.uow:
            task = self._owned(task_id, agent_id)
            from phaseloom.services.validation import ValidationService

            # A phase that requires review parks the task under review instead of completing it.
            if not ValidationService(self.uow).intercept_completion(task, result):
                self._finish(task, result)
            return task

    def _finish(self, task: Task, result: dict | None) -> None:
        session = self.uow.session
        task.status = TaskStatus.COMPLETED.value
        task.result = result or {}
        task.completed_at = utcnow()
        task.lease_expires_at = None
        task.error = None
        dependents = select(TaskDependency.task_id).where(TaskDependency.depends_on_id == task.id)
        session.execute(update(Task).where(Task.id.in_(dependents))
                        .values(unmet_dependencies=Task.unmet_dependencies - 1)
                        .execution_options(synchronize_session=False))
        self.uow.emit("task.completed", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                      phase_id=task.phase_id, payload={"agent_id": task.assigned_agent_id,
                                                       "task_type": task.task_type})

    def fail_task(self, task_id: int, agent_id: str | None, error: str, *, retryable: bool | None = None) -> Task:
        """Record a failure: retry with the phase's backoff while retries remain, else fail for good.

        ``retryable=None`` classifies the error by the workflow's failure patterns (services/retries.py).
        """
        with self.uow:
            task = self._owned(task_id, agent_id)
            from phaseloom.services.retries import RetryService

            failure_class = None if retryable is None else ("retryable" if retryable else "permanent")
            RetryService(self.uow).record_failure(task, error, failure_class=failure_class)
            return task

    def _record_failure(self, task: Task, error: str, *, retryable: bool) -> None:
        will_retry = retryable and task.retry_count < task.max_retries
        task.error = error
        task.error_class = "retryable" if retryable else "permanent"
        task.lease_expires_at = None
        if will_retry:
            task.retry_count += 1
            phase = WorkflowService(self.uow).by_id(task.workflow_id).phase(task.phase_id)
            backoff = phase.configuration.retry_backoff
            delay = backoff_delay(task.retry_count, backoff.base_seconds, backoff.cap_seconds)
            task.status = TaskStatus.PENDING.value
            task.next_attempt_at = utcnow() + timedelta(seconds=delay)
            task.assigned_agent_id = None
        else:
            task.status = TaskStatus.FAILED.value
            task.completed_at = utcnow()
        self.uow.emit("task.failed", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                      phase_id=task.phase_id, payload={"error": error[:500], "will_retry": will_retry,
                                                       "retry_count": task.retry_count,
                                                       "error_class": task.error_class})

    def reap_expired_leases(self, *, limit: int = 500) -> list[int]:
        """Return tasks whose lease ran out to the queue (or fail them when retries are spent)."""
        with self.uow:
            session = self.uow.session
            expired = session.scalars(
                select(Task)
                .where(Task.status.in_([s.value for s in ACTIVE_STATUSES]), Task.lease_expires_at < utcnow())
                .order_by(Task.lease_expires_at).limit(limit).with_for_update(skip_locked=True)
            ).all()
            for task in expired:
                self._record_failure(task, "lease expired: the agent stopped sending heartbeats", retryable=True)
            return [t.id for t in expired]

    def cancel_task(self, task_id: int, reason: str = "cancelled") -> Task:
        with self.uow:
            task = self._get(task_id)
            if TaskStatus(task.status).is_final:
                return task
            task.status = TaskStatus.CANCELLED.value
            task.error = reason
            task.completed_at = utcnow()
            self.uow.emit("task.cancelled", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                          phase_id=task.phase_id, payload={"reason": reason})
            return task

    # -- reading -----------------------------------------------------------------
    def get(self, task_id: int) -> Task:
        with self.uow:
            return self._get(task_id)

    def list(self, *, ticket_id: int | None = None, project_id: int | None = None, phase_id: str | None = None,
             status: str | None = None, limit: int = 500, offset: int = 0) -> list[Task]:
        with self.uow:
            query = select(Task).order_by(Task.id).limit(limit).offset(offset)
            for column, value in ((Task.ticket_id, ticket_id), (Task.project_id, project_id),
                                  (Task.phase_id, phase_id), (Task.status, status)):
                if value is not None:
                    query = query.where(column == value)
            return list(self.uow.session.scalars(query))

    def count_by_status(self, *, project_id: int | None = None) -> dict[str, int]:
        with self.uow:
            query = select(Task.status, func.count()).group_by(Task.status)
            if project_id is not None:
                query = query.where(Task.project_id == project_id)
            return dict(self.uow.session.execute(query).all())

    def _get(self, task_id: int) -> Task:
        task = self.uow.session.get(Task, int(task_id))
        if task is None:
            raise NotFound("task", task_id)
        return task

    def _owned(self, task_id: int, agent_id: str | None) -> Task:
        task = self.uow.session.scalar(select(Task).where(Task.id == int(task_id)).with_for_update())
        if task is None:
            raise NotFound("task", task_id)
        if task.status not in (TaskStatus.CLAIMED.value, TaskStatus.RUNNING.value):
            raise TaskNotClaimable(f"task {task.id} is {task.status}, not claimed or running")
        if agent_id is not None and task.assigned_agent_id != agent_id:
            raise TaskNotClaimable(f"task {task.id} is assigned to another agent")
        return task


@lru_cache(maxsize=8)
def _claim_statement(by_phase: bool, by_project: bool, reviews_only: bool = False):
    """The claim, built once per shape: a claim is hot, and building the expression cost as much as running it."""
    best = _eligible(by_phase, by_project, reviews_only).order_by(Task.score.desc(), Task.id).limit(1)
    best = best.with_for_update(skip_locked=True, of=Task)
    return (
        update(Task)
        .where(Task.id == best.scalar_subquery(), Task.status == TaskStatus.PENDING.value)
        .values(status=TaskStatus.CLAIMED.value, assigned_agent_id=bindparam("claim_agent"),
                claimed_at=bindparam("claim_now"), lease_expires_at=bindparam("claim_lease_until"))
        .returning(Task)
        .execution_options(synchronize_session=False)
    )


def _eligible(by_phase: bool, by_project: bool, reviews_only: bool = False):
    """Ready, due, ticket unblocked, capabilities covered; ordered by the caller over the ready index.

    ``reviews_only``: a validator agent claims validation tasks only, so it never does work it
    would then be barred from reviewing.
    """
    query = (
        select(Task.id)
        .join(Ticket, Ticket.id == Task.ticket_id)
        .where(READY, Task.next_attempt_at <= bindparam("claim_now"), Ticket.open_blockers == 0)
    )
    if by_phase:
        query = query.where(Task.phase_id == bindparam("claim_phase"))
    if by_project:
        query = query.where(Task.project_id == bindparam("claim_project"))
    if reviews_only:
        query = query.where(Task.task_type.in_(("validation", "result_validation")))
    missing = exists().where(TaskCapability.task_id == Task.id,
                             TaskCapability.capability.not_in(bindparam("claim_capabilities", expanding=True)))
    # No exhausted budget covers the task (its project, ticket, phase or the claiming agent): a
    # probe of the flag on the small budgets table, never a sum over cost records.
    over_budget = exists().where(Budget.exhausted.is_(True), budget_covers(
        Task.project_id, Task.ticket_id, Task.phase_id, bindparam("claim_agent")))
    return query.where(or_(Task.capability_count == 0, ~missing), ~over_budget)
