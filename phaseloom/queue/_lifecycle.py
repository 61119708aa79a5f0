"""The task lifecycle: the one place that changes a task's status.

Every move of :attr:`Task.status` (see the package's doc for the states) is a method here, so the
rules that go with it (the lease, the retry count, the dependents released, the event) are kept
in one place. The other modules of the queue find the task, decide, and call one of these.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from psycopg.types.json import Json
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from phaseloom.db.models import Task, TaskDependency
from phaseloom.db.models.base import utcnow
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.db.workflow_cache import workflow_by_id
from phaseloom.domain.errors import NotFound, TaskNotClaimable
from phaseloom.domain.tasks import ACTIVE_STATUSES, MERGE_HOLDING_STATUSES, TaskStatus, backoff_delay
from phaseloom.queue import _sqlite_statements as sqlite_statements
from phaseloom.queue import _statements as statements
from phaseloom.queue._paths import claim_stands, overlapping_claim

if TYPE_CHECKING:
    from phaseloom.config import Settings


class TaskLifecycle:
    def __init__(self, uow: UnitOfWork, settings: Settings | None = None) -> None:
        self.uow = uow
        self.settings = settings or uow.settings

    # -- finding -----------------------------------------------------------------
    def get(self, task_id: int) -> Task:
        task = self.uow.session.get(Task, int(task_id))
        if task is None:
            raise NotFound("task", task_id)
        return task

    def owned(self, task_id: int, agent_id: str | None, *, or_held_for_merge: bool = False) -> Task:
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

    # -- pending -> claimed ------------------------------------------------------
    def claim(self, agent_id: str, lease: timedelta) -> Task | None:
        """Claim the best eligible task for ``agent_id``, or None when there is none.

        On PostgreSQL the claim is one statement with its event, on SQLite three compiled statements:
        outside a ``with uow:`` block it is a transaction of its own (:attr:`UnitOfWork.autocommits`,
        :meth:`UnitOfWork.sqlite_transaction`), inside one it joins the block.
        """
        if self.uow.backend == "postgresql":
            return self._claim_with_event(agent_id, lease)
        return self._claim_on_sqlite(agent_id, lease)

    def _claim_on_sqlite(self, agent_id: str, lease: timedelta) -> Task | None:
        """SQLite: read the agent, claim, write ``task.assigned``: three compiled statements in one write
        transaction on the driver connection (phaseloom/queue/_sqlite_statements.py)."""
        with self.uow.sqlite_transaction() as connection:
            agent = self._remembered(agent_id, sqlite_statements.sqlite_claiming_agent().row(connection,
                                                                                             agent_id=agent_id))
            now = utcnow()
            row = sqlite_statements.sqlite_claim(*agent.shape).row(
                connection, claim_agent=agent.id, claim_now=now, claim_lease_until=now + lease,
                claim_phase=agent.phase_id, claim_project=agent.project_id,
                claim_capabilities=list(agent.capabilities or []))
            if row is None:
                return None
            task = statements.adopt_task(self.uow.session if self.uow.active else None, row)
            payload = {"agent_id": agent.id, "attempt": task.retry_count + 1}
            event_id, = sqlite_statements.sqlite_task_event().row(
                connection, event_event_type="task.assigned", event_entity_id=str(task.id),
                event_project_id=task.project_id, event_ticket_id=task.ticket_id, event_phase_id=task.phase_id,
                event_payload=payload, event_created_at=now)
        self._delivered(event_id, "task.assigned", task, now, payload)
        return task

    def _claiming_agent(self, agent_id: str) -> statements.ClaimingAgent:
        found = statements.postgres_claiming_agent().rows(self.uow, agent_id=agent_id)
        return self._remembered(agent_id, found[0] if found else None)

    def _remembered(self, agent_id: str, row: tuple | None) -> statements.ClaimingAgent:
        """The agent's claim-relevant fields as just read, remembered on the database object (forgotten,
        and NotFound, when the agent is gone)."""
        known = self.uow.db.claiming_agents
        if row is None:
            known.pop(agent_id, None)
            raise NotFound("agent", agent_id)
        agent = known[agent_id] = statements.ClaimingAgent(*row)
        return agent

    def _claim_with_event(self, agent_id: str, lease: timedelta, tries: int = 3) -> Task | None:
        """PostgreSQL: the claim and its event in one statement (phaseloom/queue/_statements.py).

        The agent's claim-relevant fields are remembered on the database object; the statement
        claims only while they still match the row, so a changed agent costs one re-read, never a
        claim under stale rules.
        """
        agent = self.uow.db.claiming_agents.get(agent_id) or self._claiming_agent(agent_id)
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
        if task.path_count and self._gave_back_overlapping(task.id, agent.id):
            return self._claim_with_event(agent_id, lease, tries - 1) if tries > 1 else None
        return task

    def _gave_back_overlapping(self, task_id: int, agent_id: str) -> bool:
        """PostgreSQL: give a just-claimed task back if another claim overlapping its paths won the race
        (:func:`phaseloom.queue._paths.overlapping_claim`); its next claim passes over it.

        A claim that committed on its own is first confirmed on the driver connection
        (:func:`~phaseloom.queue._paths.claim_stands`): the usual answer, at a fraction of an ORM
        transaction's cost."""
        if self.uow.autocommits and claim_stands(self.uow, task_id):
            return False
        with self.uow:
            other = overlapping_claim(self.uow.session, task_id)
            if other is None:
                return False
            task = self.get(task_id)
            task.status = TaskStatus.PENDING.value
            task.assigned_agent_id = None
            task.claimed_at = task.lease_expires_at = None
            self.uow.emit("task.released", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                          phase_id=task.phase_id,
                          payload={"agent_id": agent_id, "reason": f"its paths overlap task {other}'s"})
            return True

    def _run_claim(self, agent: statements.ClaimingAgent, lease: timedelta) -> list[tuple]:
        now = utcnow()
        return statements.postgres_claim(*agent.shape).rows(
            self.uow, claim_now=now, claim_lease_until=now + lease,
            **statements.claim_parameters(agent))

    def _session_if_open(self) -> Session | None:
        return None if self.uow.autocommits else self.uow.session

    def _delivered(self, event_id: int, event_type: str, task: Task, at, payload: dict) -> None:
        self.uow.add_written_event(event_id, lambda: {
            "id": event_id, "event_type": event_type, "entity_type": "task", "entity_id": str(task.id),
            "project_id": task.project_id, "ticket_id": task.ticket_id, "phase_id": task.phase_id,
            "payload": payload, "created_at": at.isoformat()})

    # -- claimed -> running -> completed ------------------------------------------
    def start(self, task_id: int, agent_id: str, *, merge_after: bool = False) -> Task:
        with self.uow:
            task = self.owned(task_id, agent_id)
            if task.status == TaskStatus.CLAIMED.value:
                task.status = TaskStatus.RUNNING.value
                task.started_at = utcnow()
                task.awaiting_merge = merge_after
                self.uow.emit("task.started", "task", task.id, project_id=task.project_id,
                              ticket_id=task.ticket_id, phase_id=task.phase_id, payload={"agent_id": agent_id})
            return task

    def complete_in_one_statement(self, task_id: int, agent_id: str | None, result: dict | None) -> Task | None:
        """PostgreSQL: a plain completion as one statement; None leaves the case to the general path.

        The general path handles everything else exactly as on SQLite: an unknown task, one not
        owned or not active (with the precise error), a validator's verdict, and work in a phase
        that requires review. Outside a ``with uow:`` block the statement is its own transaction.
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

    def finish(self, task: Task, result: dict | None) -> None:
        """Complete ``task`` (locked by the caller) and release the tasks waiting on it."""
        task.status = TaskStatus.COMPLETED.value
        task.result = result or {}
        task.completed_at = utcnow()
        task.lease_expires_at = _lease_after_report(task)
        task.error = None
        self._shift_dependents(task, -1)
        self.uow.emit("task.completed", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                      phase_id=task.phase_id, payload={"agent_id": task.assigned_agent_id,
                                                       "task_type": task.task_type})

    def reopen(self, task: Task) -> None:
        """Back to running: the work ``task``'s agent reported could not be merged, so it is not done.
        A completion's release of its dependents is taken back (a review's call-off is the caller's)."""
        if task.status == TaskStatus.COMPLETED.value:
            self._shift_dependents(task, +1)
        task.status = TaskStatus.RUNNING.value
        task.completed_at = None
        task.awaiting_merge = False

    def _shift_dependents(self, task: Task, by: int) -> None:
        dependents = select(TaskDependency.task_id).where(TaskDependency.depends_on_id == task.id)
        self.uow.session.execute(update(Task).where(Task.id.in_(dependents))
                                 .values(unmet_dependencies=Task.unmet_dependencies + by)
                                 .execution_options(synchronize_session=False))

    # -- under review -----------------------------------------------------------
    def park_under_review(self, task: Task, result: dict | None) -> None:
        """Completed work of a phase that requires review waits for its validator."""
        task.status = TaskStatus.UNDER_REVIEW.value
        task.result = result or {}
        task.lease_expires_at = _lease_after_report(task)

    def requeue(self, task: Task) -> None:
        """Back to pending, due now, for any agent (a review asked for more work); the caller emits why."""
        task.status = TaskStatus.PENDING.value
        task.assigned_agent_id = None
        task.claimed_at = task.started_at = task.completed_at = task.lease_expires_at = None
        task.next_attempt_at = utcnow()

    # -- waiting for a person ------------------------------------------------------
    def wait_for_input(self, task: Task, question: str, options: list[str], request_id: int) -> None:
        """Its agent asked a person (``task`` locked and owned, checked by the caller): no agent holds it and
        no lease runs, so its worker ends the agent; an answer requeues it (:meth:`requeue_answered`)."""
        agent_id = task.assigned_agent_id
        task.status = TaskStatus.WAITING_INPUT.value
        task.assigned_agent_id = None
        task.lease_expires_at = None
        task.awaiting_merge = False
        self.uow.emit("task.input_requested", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                      phase_id=task.phase_id, payload={"agent_id": agent_id, "question": question[:2000],
                                                       "options": options, "request_id": request_id})

    def requeue_answered(self, task: Task, request_id: int, answered_by: str) -> None:
        """Answered: back to pending, due now, for any agent of its phase, no retry spent (asking is not failing)."""
        task.status = TaskStatus.PENDING.value
        task.assigned_agent_id = None
        task.claimed_at = task.started_at = task.lease_expires_at = None
        task.next_attempt_at = utcnow()
        self.uow.emit("task.input_answered", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                      phase_id=task.phase_id, payload={"request_id": request_id, "answered_by": answered_by})

    # -- failing -----------------------------------------------------------------
    def record_failure(self, task: Task, error: str, *, retryable: bool) -> None:
        """Fail ``task`` (locked by the caller): back to pending with the phase's backoff while it may
        retry, else failed for good."""
        will_retry = retryable and task.retry_count < task.max_retries
        task.error = error
        task.error_class = "retryable" if retryable else "permanent"
        task.lease_expires_at = None
        if will_retry:
            task.retry_count += 1
            backoff = self._backoff(task)
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

    def fail_for_good(self, task: Task, reason: str) -> None:
        """Failed, permanently, whatever retries remain (its work failed every review it was allowed)."""
        task.status = TaskStatus.FAILED.value
        task.error = reason
        task.error_class = "permanent"
        task.completed_at = utcnow()
        self.uow.emit("task.failed", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                      phase_id=task.phase_id, payload={"error": reason[:500], "will_retry": False,
                                                       "error_class": "permanent"})

    def release_rate_limited(self, task_id: int, agent_id: str | None, error: str,
                             wait_seconds: float | None) -> Task:
        """Give a rate-limited task back without spending a retry, due again after the wait.

        A rate limit says nothing about the task: counting it as a failure would fail whole
        tickets on a busy afternoon. The wait is the provider's (Retry-After, "resets at"), else
        the phase's first backoff step.
        """
        with self.uow:
            task = self.owned(task_id, agent_id)
            if wait_seconds is None:
                backoff = self._backoff(task)
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

    def _backoff(self, task: Task):
        return workflow_by_id(self.uow, task.workflow_id).phase(task.phase_id).configuration.retry_backoff

    # -- leases and agents -------------------------------------------------------
    def reap_expired_leases(self, *, limit: int = 500) -> list[int]:
        """Return tasks whose lease ran out to the queue (or fail them when retries are spent)."""
        with self.uow:
            expired = self.uow.session.scalars(
                select(Task)
                .where(Task.status.in_([s.value for s in ACTIVE_STATUSES]), Task.lease_expires_at < utcnow())
                .order_by(Task.lease_expires_at).limit(limit).with_for_update(skip_locked=True)
            ).all()
            for task in expired:
                self.record_failure(task, "lease expired: the agent stopped sending heartbeats", retryable=True)
            return [t.id for t in expired]

    def expire_leases_of(self, agent_ids: list[str]) -> None:
        """End now the leases of the agents' active tasks, for :meth:`reap_expired_leases` to take them."""
        with self.uow:
            self.uow.session.execute(
                update(Task).where(Task.assigned_agent_id.in_(agent_ids),
                                   Task.status.in_([s.value for s in ACTIVE_STATUSES]))
                .values(lease_expires_at=utcnow() - timedelta(seconds=1))
                .execution_options(synchronize_session=False))

    def release_tasks_of(self, agent_id: str, reason: str) -> list[int]:
        """Give the agent's active tasks back to the queue, due now, no retry spent (it is going away)."""
        with self.uow:
            tasks = self.uow.session.scalars(
                select(Task).where(Task.assigned_agent_id == agent_id,
                                   Task.status.in_([s.value for s in ACTIVE_STATUSES]))
                .order_by(Task.id).with_for_update()).all()
            for task in tasks:
                task.status = TaskStatus.PENDING.value
                task.assigned_agent_id = None
                task.lease_expires_at = None
                task.next_attempt_at = utcnow()
                self.uow.emit("task.released", "task", task.id, project_id=task.project_id,
                              ticket_id=task.ticket_id, phase_id=task.phase_id,
                              payload={"agent_id": agent_id, "reason": reason})
            return [t.id for t in tasks]

    # -- by hand -----------------------------------------------------------------
    def cancel(self, task_id: int, reason: str = "cancelled") -> Task:
        with self.uow:
            task = self.get(task_id)
            if TaskStatus(task.status).is_final:
                return task
            task.status = TaskStatus.CANCELLED.value
            task.error = reason
            task.completed_at = utcnow()
            self.uow.emit("task.cancelled", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                          phase_id=task.phase_id, payload={"reason": reason})
            return task

    def retry_by_hand(self, task: Task, *, initiated_by: str) -> None:
        """A failed or cancelled ``task`` (locked, checked by the caller) back to pending, with a fresh retry budget."""
        previous_error = task.error
        task.status = TaskStatus.PENDING.value
        task.retry_count = 0
        task.error_class = None
        task.assigned_agent_id = None
        task.claimed_at = task.started_at = task.completed_at = task.lease_expires_at = None
        task.next_attempt_at = utcnow()
        self.uow.emit("task.retried", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                      phase_id=task.phase_id, payload={"initiated_by": initiated_by,
                                                       "previous_error": (previous_error or "")[:500]})


def _lease_after_report(task: Task) -> datetime | None:
    """A reported task's lease: none, unless its worker has still to merge its work. Then the worker's lease
    goes on (its heartbeat renews it until the merge), so a worker that dies before merging leaves a lease
    that runs out and the housekeeping takes the merge over (``QueueService.unmerged_orphans``); a lease
    cleared here would leave the work unmerged and the ticket held in its phase for good."""
    return task.lease_expires_at if task.awaiting_merge else None
