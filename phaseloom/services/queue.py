"""The task queue: create, claim (one atomic statement), heartbeat, complete, fail, reap.

A claim is a single ``UPDATE … WHERE id = (SELECT … ORDER BY score DESC LIMIT 1) RETURNING``.
On PostgreSQL the sub-select takes ``FOR UPDATE SKIP LOCKED`` so concurrent workers pass over
each other's rows; on SQLite the write transaction is ``BEGIN IMMEDIATE``, which already makes
the statement exclusive. Readiness (``status = 'pending' AND unmet_dependencies = 0``) is the
predicate of a partial index ordered by score, so the cost of a claim does not grow with the
number of pending tasks. On PostgreSQL the claim and the plain completion each write their
event in the same statement (:mod:`phaseloom.services.queue_statements`).
"""

from __future__ import annotations

from datetime import timedelta

from psycopg.types.json import Json
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from phaseloom.config import Settings, get_settings
from phaseloom.db.models import Task, TaskCapability, TaskDependency, Ticket
from phaseloom.db.models.base import utcnow
from phaseloom.domain.errors import InvalidInput, NotFound, TaskNotClaimable
from phaseloom.domain.json_values import json_problem, storable_text
from phaseloom.domain.priorities import Priority, claim_score
from phaseloom.domain.tasks import ACTIVE_STATUSES, MERGE_HOLDING_STATUSES, TaskStatus, backoff_delay
from phaseloom.services import queue_statements as statements
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService

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
        lease = timedelta(seconds=lease_seconds or self.settings.lease_seconds)
        if self.uow.backend == "postgresql":
            # Outside a caller's transaction each statement is its own (UnitOfWork.driver_rows).
            return self._claim_with_event(agent_id, lease)
        with self.uow:
            agent = self._claiming_agent(agent_id)
            now = utcnow()
            claimed = self.uow.session.execute(statements.claim_statement(*agent.shape), {
                "claim_agent": agent.id, "claim_now": now, "claim_lease_until": now + lease,
                "claim_phase": agent.phase_id, "claim_project": agent.project_id,
                "claim_capabilities": list(agent.capabilities or [])}).scalar_one_or_none()
            if claimed is not None:
                self.uow.emit("task.assigned", "task", claimed.id, project_id=claimed.project_id,
                              ticket_id=claimed.ticket_id, phase_id=claimed.phase_id,
                              payload={"agent_id": agent.id, "attempt": claimed.retry_count + 1})
            return claimed

    def _claiming_agent(self, agent_id: str) -> statements.ClaimingAgent:
        if self.uow.backend == "postgresql":
            found = statements.postgres_claiming_agent().rows(self.uow, agent_id=agent_id)
        else:
            found = self.uow.session.connection().execute(statements.CLAIMING_AGENT, {"agent_id": agent_id}).all()
        if not found:
            _KNOWN_AGENTS.pop((self.uow.db.url, agent_id), None)
            raise NotFound("agent", agent_id)
        agent = _KNOWN_AGENTS[(self.uow.db.url, agent_id)] = statements.ClaimingAgent(*found[0])
        return agent

    def _claim_with_event(self, agent_id: str, lease: timedelta) -> Task | None:
        """PostgreSQL: the claim and its event in one statement (services/queue_statements.py).

        The agent's claim-relevant fields are remembered per process; the statement claims
        only while they still match the row, so a changed agent costs one re-read, never a
        claim under stale rules.
        """
        agent = _KNOWN_AGENTS.get((self.uow.db.url, agent_id)) or self._claiming_agent(agent_id)
        rows = self._run_claim(agent, lease)
        if not rows:
            current = self._claiming_agent(agent_id)  # nothing claimable, or the agent changed
            if current == agent:
                return None
            agent, rows = current, self._run_claim(current, lease)
            if not rows:
                return None
        *columns, event_id, event_at = rows[0]
        task = statements.adopt_task(self._session_if_open(), columns)
        self._delivered(event_id, "task.assigned", task, event_at,
                        {"agent_id": agent.id, "attempt": task.retry_count + 1})
        return task

    def _run_claim(self, agent: statements.ClaimingAgent, lease: timedelta) -> list[tuple]:
        now = utcnow()
        return statements.postgres_claim(*agent.shape).rows(
            self.uow, claim_now=now, claim_lease_until=now + lease,
            **statements.claim_parameters(agent))

    def _session_if_open(self) -> Session | None:
        return self.uow.session if self.uow.active else None

    def _delivered(self, event_id: int, event_type: str, task: Task, at, payload: dict) -> None:
        self.uow.add_written_event(event_id, lambda: {
            "id": event_id, "event_type": event_type, "entity_type": "task", "entity_id": str(task.id),
            "project_id": task.project_id, "ticket_id": task.ticket_id, "phase_id": task.phase_id,
            "payload": payload, "created_at": at.isoformat()})

    # -- working -----------------------------------------------------------------
    def start_task(self, task_id: int, agent_id: str, *, merge_after: bool = False) -> Task:
        """Claimed -> running. ``merge_after``: the caller will merge the agent's work once it ends (a
        worker); until it says so (:meth:`merged`), the task holds its ticket in the phase."""
        with self.uow:
            task = self._owned(task_id, agent_id)
            if task.status == TaskStatus.CLAIMED.value:
                task.status = TaskStatus.RUNNING.value
                task.started_at = utcnow()
                task.awaiting_merge = merge_after
                self.uow.emit("task.started", "task", task.id, project_id=task.project_id,
                              ticket_id=task.ticket_id, phase_id=task.phase_id, payload={"agent_id": agent_id})
            return task

    def heartbeat(self, task_id: int, agent_id: str, *, lease_seconds: float | None = None) -> Task:
        """Extend the lease of a task the agent holds, or whose work its worker has still to merge."""
        with self.uow:
            task = self._owned(task_id, agent_id, or_held_for_merge=True)
            task.lease_expires_at = utcnow() + timedelta(seconds=lease_seconds or self.settings.lease_seconds)
            return task

    def merged(self, task_id: int) -> None:
        """The worker is done with the task's work (merged, or nothing to merge): it holds its ticket no more."""
        with self.uow:
            self.uow.session.execute(update(Task).where(Task.id == int(task_id), Task.awaiting_merge.is_(True))
                                     .values(awaiting_merge=False), execution_options={"synchronize_session": False})

    def unmerged_orphans(self, *, limit: int = 20) -> list[Task]:
        """Completed tasks whose worker left their work unmerged (the lease it renewed ran out), each taken
        over for one lease: whoever gets a task here merges it."""
        with self.uow:
            session = self.uow.session
            orphans = session.scalars(
                select(Task).where(statements.HELD_FOR_MERGE, Task.lease_expires_at < utcnow())
                .order_by(Task.lease_expires_at).limit(limit).with_for_update(skip_locked=True)).all()
            for task in orphans:
                task.lease_expires_at = utcnow() + timedelta(seconds=self.settings.lease_seconds)
                self.uow.emit("task.merge_taken_over", "task", task.id, project_id=task.project_id,
                              ticket_id=task.ticket_id, phase_id=task.phase_id,
                              payload={"agent_id": task.assigned_agent_id})
            return list(orphans)

    def complete_task(self, task_id: int, agent_id: str | None, result: dict | None = None) -> Task:
        problem = json_problem(result)
        if problem:  # refused before anything is written: a stored result must always read back
            raise InvalidInput(f"the task's result cannot be stored: {problem}")
        if self.uow.backend == "postgresql":
            # Outside a caller's transaction the statement is its own (UnitOfWork.driver_rows).
            completed = self._complete_with_event(task_id, agent_id, result)
            if completed is not None:
                return completed
        with self.uow:
            task = self._owned(task_id, agent_id)
            from phaseloom.services.validation import ValidationService

            # A phase that requires review parks the task under review instead of completing it.
            if not ValidationService(self.uow).intercept_completion(task, result):
                self._finish(task, result)
            return task

    def _complete_with_event(self, task_id: int, agent_id: str | None, result: dict | None) -> Task | None:
        """PostgreSQL: a plain completion as one statement; None leaves the case to the general path.

        The general path handles everything else exactly as on SQLite: an unknown task, one not
        owned or not active (with the precise error), a validator's verdict, and work in a phase
        that requires review.
        """
        now = utcnow()
        params = {"task_id": int(task_id), "result": Json(result or {}), "completed_at": now}
        if agent_id is not None:
            params["agent_id"] = agent_id
        rows = statements.postgres_complete(agent_id is not None).rows(self.uow, **params)
        if not rows:
            return None
        *columns, event_id, event_at = rows[0]
        task = statements.adopt_task(self._session_if_open(), columns)
        self._delivered(event_id, "task.completed", task, event_at,
                        {"agent_id": task.assigned_agent_id, "task_type": task.task_type})
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
        error = storable_text(error)
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

    def release_rate_limited(self, task_id: int, agent_id: str | None, error: str,
                             wait_seconds: float | None) -> Task:
        """Give a rate-limited task back without spending a retry, due again after the wait.

        A rate limit says nothing about the task: counting it as a failure would fail whole
        tickets on a busy afternoon. The wait is the provider's (Retry-After, "resets at"), else
        the phase's first backoff step.
        """
        with self.uow:
            task = self._owned(task_id, agent_id)
            if wait_seconds is None:
                phase = WorkflowService(self.uow).by_id(task.workflow_id).phase(task.phase_id)
                backoff = phase.configuration.retry_backoff
                wait_seconds = backoff_delay(1, backoff.base_seconds, backoff.cap_seconds)
            wait_seconds = max(0.0, float(wait_seconds))
            task.status = TaskStatus.PENDING.value
            task.assigned_agent_id = None
            task.lease_expires_at = None
            task.error = error
            task.error_class = "rate_limited"
            task.next_attempt_at = utcnow() + timedelta(seconds=wait_seconds)
            self.uow.emit("task.rate_limited", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                          phase_id=task.phase_id, payload={"error": error[:500], "agent_id": agent_id,
                                                           "retry_after_seconds": wait_seconds,
                                                           "retry_count": task.retry_count})
            return task

    def note_activity(self, task_id: int, *, activity: str | None = None, session_id: str | None = None) -> None:
        """Record what the agent is doing (its last tool call) and its CLI session id; status is untouched."""
        values: dict = {}
        if activity is not None:
            values.update(activity=activity[:200], activity_at=utcnow())
        if session_id is not None:
            values["session_id"] = session_id[:200]
        if not values:
            return
        with self.uow:
            self.uow.session.execute(update(Task).where(Task.id == int(task_id)).values(**values)
                                     .execution_options(synchronize_session="fetch"))

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

    def _owned(self, task_id: int, agent_id: str | None, *, or_held_for_merge: bool = False) -> Task:
        """The task, locked, claimed or running by ``agent_id``; ``or_held_for_merge``: or reported done by
        it with its work still to merge (its worker holds a lease on the merge)."""
        task = self.uow.session.scalar(select(Task).where(Task.id == int(task_id)).with_for_update())
        if task is None:
            raise NotFound("task", task_id)
        if (or_held_for_merge and task.awaiting_merge and task.status in MERGE_HOLDING_STATUSES
                and task.assigned_agent_id == agent_id):
            return task
        if task.status not in (TaskStatus.CLAIMED.value, TaskStatus.RUNNING.value):
            raise TaskNotClaimable(f"task {task.id} is {task.status}, not claimed or running")
        if agent_id is not None and task.assigned_agent_id != agent_id:
            raise TaskNotClaimable(f"task {task.id} is assigned to another agent")
        return task


# (database url, agent id) -> the agent's claim-relevant fields, as last read in this process.
_KNOWN_AGENTS: dict[tuple[str, str], statements.ClaimingAgent] = {}
