"""Retries, timeouts and the dead-letter list.

Failures are classified by :mod:`phaseloom.domain.failures`: patterns from the phase's
``configuration.failure_patterns`` first, then the workflow's ``settings.failure_patterns``,
then the defaults. A retryable failure goes back to the queue with the phase's backoff (see
:meth:`TaskLifecycle.record_failure`); a permanent one, or one that used up its retries, ends
``failed`` with the reason in its error, where :meth:`RetryService.failed_tasks` lists it and
:meth:`RetryService.retry_task` can send it back by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select

from phaseloom.db.models import Task
from phaseloom.db.models.base import utcnow
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.db.workflow_cache import workflow_by_id
from phaseloom.domain.errors import Conflict, NotFound
from phaseloom.domain.failures import Classification, FailureClass, FailureRule, classify_failure, rules_from_config
from phaseloom.domain.tasks import MERGE_HOLDING_STATUSES, TaskStatus
from phaseloom.queue._lifecycle import TaskLifecycle
from phaseloom.queue._reviews import ValidationService


@dataclass(frozen=True)
class DeadLetter:
    task_id: int
    ticket_id: int
    phase_id: str
    title: str
    error_class: str | None
    error: str | None
    retry_count: int
    max_retries: int
    failed_at: datetime | None


class RetryService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.lifecycle = TaskLifecycle(uow)

    # -- classifying and failing -------------------------------------------------
    def classify(self, task: Task, error: str) -> Classification:
        """Classify ``error`` with the rules of ``task``'s phase and workflow, then the defaults."""
        return classify_failure(error, self._rules_for(task))

    def fail_task(self, task_id: int, agent_id: str | None, error: str,
                  *, failure_class: str | FailureClass | None = None) -> Task:
        """Record a failure of a claimed or running task, classifying it unless told the class."""
        with self.uow:
            task = self.lifecycle.owned(task_id, agent_id)
            self.record_failure(task, error, failure_class=failure_class)
            return task

    def record_failure(self, task: Task, error: str, *, failure_class: str | FailureClass | None = None) -> None:
        """Fail ``task`` (already locked by the caller): re-queue with backoff, or fail with the reason."""
        if failure_class is None:
            classification = self.classify(task, error)
            retryable, why = classification.retryable, classification.reason
        else:
            retryable = FailureClass(failure_class) is FailureClass.RETRYABLE
            why = f"{FailureClass(failure_class).value}: stated by the caller"
        self.lifecycle.record_failure(task, error, retryable=retryable)
        if task.status == TaskStatus.FAILED.value:
            # The dead letter says why it stopped, not only what went wrong.
            suffix = why if not retryable else f"retries exhausted ({task.retry_count} of {task.max_retries})"
            task.error = f"{error} [{suffix}]"

    def fail_unmerged(self, task_id: int, agent_id: str | None, error: str,
                      *, failure_class: FailureClass = FailureClass.RETRYABLE) -> Task:
        """Fail, for a retry, a task its agent reported done (its own complete_task) whose work could not
        be merged into its ticket (git refused, nothing conflicting): work not in the ticket is not done.
        ``failure_class`` PERMANENT: the work is refused for good (it broke the phase's permissions).

        What the report set going is taken back: its dependents wait again and its open reviews are
        called off. The work stays on the agent's branch. A task still claimed or running is failed
        as any other.
        """
        with self.uow:
            task = self.lifecycle.owned(task_id, agent_id, or_held_for_merge=True)
            if task.status in MERGE_HOLDING_STATUSES:
                self._take_back_report(task)
            self.record_failure(task, error, failure_class=failure_class)
            return task

    def _take_back_report(self, task: Task) -> None:
        if task.status != TaskStatus.COMPLETED.value:  # under review: no verdict may land on it now
            ValidationService(self.uow).call_off_reviews(task, f"the work of task {task.id} was not merged")
        self.lifecycle.reopen(task)  # a completion's release of its dependents is taken back there

    def fail_timed_out_tasks(self, *, now: datetime | None = None, limit: int = 500) -> list[int]:
        """Fail every running task past its timeout as a retryable timeout; return their ids."""
        now = now or utcnow()
        with self.uow:
            # Only running tasks are scanned: at most one per busy agent, never the whole queue.
            running = self.uow.session.scalars(
                select(Task).where(Task.status == TaskStatus.RUNNING.value).order_by(Task.id).limit(limit)
                .with_for_update(skip_locked=True)).all()
            timed_out = []
            for task in running:
                started = task.started_at or task.claimed_at
                if started is None:
                    continue
                elapsed = (now - _aware(started)).total_seconds()
                if elapsed > task.timeout_seconds:
                    self.record_failure(task, f"timed out after {int(elapsed)}s "
                                              f"(timeout {int(task.timeout_seconds)}s)",
                                        failure_class=FailureClass.RETRYABLE)
                    timed_out.append(task.id)
            return timed_out

    # -- the dead-letter list ----------------------------------------------------
    def failed_tasks(self, *, project_id: int | None = None, ticket_id: int | None = None,
                     limit: int = 200) -> list[DeadLetter]:
        """Tasks that failed for good, newest first, each with its reason."""
        with self.uow:
            query = (select(Task).where(Task.status == TaskStatus.FAILED.value)
                     .order_by(Task.completed_at.desc(), Task.id.desc()).limit(limit))
            if project_id is not None:
                query = query.where(Task.project_id == project_id)
            if ticket_id is not None:
                query = query.where(Task.ticket_id == ticket_id)
            return [DeadLetter(t.id, t.ticket_id, t.phase_id, t.title, t.error_class, t.error, t.retry_count,
                               t.max_retries, t.completed_at) for t in self.uow.session.scalars(query)]

    def retry_task(self, task_id: int, *, initiated_by: str = "user") -> Task:
        """Send a failed (or cancelled) task back to the queue with a fresh retry budget."""
        with self.uow:
            task = self.uow.session.scalar(select(Task).where(Task.id == int(task_id)).with_for_update())
            if task is None:
                raise NotFound("task", task_id)
            if task.status not in (TaskStatus.FAILED.value, TaskStatus.CANCELLED.value):
                raise Conflict(f"task {task.id} is {task.status}; only failed or cancelled tasks can be retried")
            self.lifecycle.retry_by_hand(task, initiated_by=initiated_by)
            return task

    def retryable_tasks(self, phase: str | None = None, *, project_id: int | None = None) -> list[Task]:
        """Tasks waiting to be retried after a retryable failure, soonest first."""
        with self.uow:
            query = (select(Task).where(Task.status == TaskStatus.PENDING.value,
                                        Task.error_class == FailureClass.RETRYABLE.value, Task.retry_count > 0)
                     .order_by(Task.next_attempt_at, Task.id))
            if phase is not None:
                query = query.where(Task.phase_id == phase)
            if project_id is not None:
                query = query.where(Task.project_id == project_id)
            return list(self.uow.session.scalars(query))

    def _rules_for(self, task: Task) -> tuple[FailureRule, ...]:
        workflow = workflow_by_id(self.uow, task.workflow_id)
        phase_config = workflow.phase(task.phase_id).configuration.extra.get("failure_patterns")
        return rules_from_config(phase_config) + rules_from_config(workflow.settings.get("failure_patterns"))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
