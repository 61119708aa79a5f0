"""The queue's face to its callers (API, MCP, CLI, orchestrator, runtimes): create, claim, heartbeat,
complete, fail, reap, read.

A claim is a single ``UPDATE … WHERE id = (SELECT … ORDER BY score DESC LIMIT 1) RETURNING``.
On PostgreSQL the sub-select takes ``FOR UPDATE SKIP LOCKED`` so concurrent workers pass over
each other's rows; on SQLite the write transaction is ``BEGIN IMMEDIATE``, which already makes
the statement exclusive. Readiness (``status = 'pending' AND unmet_dependencies = 0``) is the
predicate of a partial index ordered by score, so the cost of a claim does not grow with the
number of pending tasks. On PostgreSQL the claim and the plain completion each write their
event in the same statement (phaseloom/queue/_statements.py); called outside a ``with uow:``
block, that statement is a transaction of its own (:attr:`UnitOfWork.autocommits`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from phaseloom.db.models import Task
from phaseloom.db.models.base import utcnow
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.domain.errors import InvalidInput
from phaseloom.domain.json_values import json_problem, storable_text
from phaseloom.domain.task_paths import covering_globs
from phaseloom.queue import _paths as task_paths
from phaseloom.queue import _statements as statements
from phaseloom.queue._enqueue import TaskEnqueuer
from phaseloom.queue._lifecycle import TaskLifecycle
from phaseloom.queue._retries import RetryService
from phaseloom.queue._reviews import ValidationService

if TYPE_CHECKING:
    from phaseloom.config import Settings


class QueueService:
    def __init__(self, uow: UnitOfWork, settings: Settings | None = None) -> None:
        self.uow = uow
        self.settings = settings or uow.settings
        self.lifecycle = TaskLifecycle(uow, self.settings)

    # -- creating ----------------------------------------------------------------
    def create_task(self, ticket_id: int, phase_id: str, title: str, *, description: str = "",
                    priority: str | None = None, task_type: str = "work",
                    required_capabilities: list[str] | None = None, depends_on: list[int] | None = None,
                    max_retries: int | None = None, timeout_seconds: float | None = None,
                    created_by: str = "system", paths: list[str] | None = None) -> Task:
        """A new pending task in the ticket's phase (:class:`TaskEnqueuer`); ``paths``: the globs it touches."""
        return TaskEnqueuer(self.uow, self.settings).create_task(
            ticket_id, phase_id, title, description=description, priority=priority, task_type=task_type,
            required_capabilities=required_capabilities, depends_on=depends_on, max_retries=max_retries,
            timeout_seconds=timeout_seconds, created_by=created_by, paths=paths)

    # -- claiming and working ----------------------------------------------------
    def claim_next_task(self, agent_id: str, *, lease_seconds: float | None = None) -> Task | None:
        """Claim the best eligible task for ``agent_id``, or return None when there is none."""
        lease = timedelta(seconds=lease_seconds or self.settings.lease_seconds)
        return self.lifecycle.claim(agent_id, lease)

    def start_task(self, task_id: int, agent_id: str, *, merge_after: bool = False) -> Task:
        """Claimed -> running. ``merge_after``: the caller will merge the agent's work once it ends (a
        worker); until it says so (:meth:`merged`), the task holds its ticket in the phase."""
        return self.lifecycle.start(task_id, agent_id, merge_after=merge_after)

    def heartbeat(self, task_id: int, agent_id: str, *, lease_seconds: float | None = None) -> Task:
        """Extend the lease of a task the agent holds, or whose work its worker has still to merge."""
        with self.uow:
            task = self.lifecycle.owned(task_id, agent_id, or_held_for_merge=True)
            task.lease_expires_at = utcnow() + timedelta(seconds=lease_seconds or self.settings.lease_seconds)
            return task

    def merged(self, task_id: int) -> None:
        """The worker is done with the task's work (merged, or nothing to merge): it holds its ticket no more."""
        with self.uow:
            self.uow.session.execute(update(Task).where(Task.id == int(task_id), Task.awaiting_merge.is_(True))
                                     .values(awaiting_merge=False), execution_options={"synchronize_session": False})

    def hand_over_merge(self, task_id: int) -> bool:
        """Give up the merge of ``task_id``'s reported work (its worker lost the database in between): its
        lease ends now, so the next housekeeping, here or on another worker, merges it
        (:meth:`unmerged_orphans`). False when the task is not held for a merge."""
        with self.uow:
            done = self.uow.session.execute(
                update(Task).where(Task.id == int(task_id), statements.HELD_FOR_MERGE)
                .values(lease_expires_at=utcnow() - timedelta(seconds=1)),
                execution_options={"synchronize_session": False})
            return bool(done.rowcount)

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
            completed = self.lifecycle.complete_in_one_statement(task_id, agent_id, result)
            if completed is not None:
                return completed
        with self.uow:
            task = self.lifecycle.owned(task_id, agent_id)
            # A phase that requires review parks the task under review instead of completing it.
            if not ValidationService(self.uow).intercept_completion(task, result):
                self.lifecycle.finish(task, result)
            return task

    def fail_task(self, task_id: int, agent_id: str | None, error: str, *, retryable: bool | None = None) -> Task:
        """Record a failure: retry with the phase's backoff while retries remain, else fail for good.

        ``retryable=None`` classifies the error by the workflow's failure patterns (phaseloom/queue/_retries.py).
        """
        error = storable_text(error)
        with self.uow:
            task = self.lifecycle.owned(task_id, agent_id)
            failure_class = None if retryable is None else ("retryable" if retryable else "permanent")
            RetryService(self.uow).record_failure(task, error, failure_class=failure_class)
            return task

    def release_rate_limited(self, task_id: int, agent_id: str | None, error: str,
                             wait_seconds: float | None) -> Task:
        """Give a rate-limited task back without spending a retry (:meth:`TaskLifecycle.release_rate_limited`)."""
        return self.lifecycle.release_rate_limited(task_id, agent_id, error, wait_seconds)

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
        return self.lifecycle.reap_expired_leases(limit=limit)

    def cancel_task(self, task_id: int, reason: str = "cancelled") -> Task:
        return self.lifecycle.cancel(task_id, reason)

    # -- reading -----------------------------------------------------------------
    def get(self, task_id: int) -> Task:
        with self.uow:
            return self.lifecycle.get(task_id)

    def list(self, *, ticket_id: int | None = None, project_id: int | None = None, phase_id: str | None = None,
             status: str | None = None, limit: int = 500, offset: int = 0) -> list[Task]:
        with self.uow:
            query = select(Task).order_by(Task.id).limit(limit).offset(offset)
            for column, value in ((Task.ticket_id, ticket_id), (Task.project_id, project_id),
                                  (Task.phase_id, phase_id), (Task.status, status)):
                if value is not None:
                    query = query.where(column == value)
            return list(self.uow.session.scalars(query))

    def inherit_changed_files(self, task_id: int, files: list[str]) -> list[str]:
        """Before a failed attempt goes back to the queue: its retry declares the files it changed (as well
        as its own globs), so it never runs beside a task touching them. Returns the task's globs."""
        if not files:
            return []
        with self.uow:
            task = self.lifecycle.get(task_id)
            return task_paths.add_paths(self.uow.session, task, covering_globs(files))

    def waiting_reasons(self, tasks: list[Task]) -> dict[int, str]:
        """Why each of these pending tasks waits on another's paths ("waits for task 12: src/auth/**")."""
        with self.uow:
            return task_paths.path_waits(self.uow.session, tasks)

    def path_facts(self, tasks: list) -> dict[int, dict]:
        """For each of these tasks (rows or tasks) that declared paths: its ``paths`` and ``waits_for``
        (:meth:`waiting_reasons`, None unless it waits). No query when none declared any."""
        declaring = [t for t in tasks if t.path_count]
        if not declaring:
            return {}
        with self.uow:
            paths = task_paths.declared_paths(self.uow.session, [t.id for t in declaring])
            waits = task_paths.path_waits(self.uow.session, declaring)
        return {t.id: {"paths": paths.get(t.id, []), "waits_for": waits.get(t.id)} for t in declaring}

    def count_by_status(self, *, project_id: int | None = None) -> dict[str, int]:
        with self.uow:
            query = select(Task.status, func.count()).group_by(Task.status)
            if project_id is not None:
                query = query.where(Task.project_id == project_id)
            return dict(self.uow.session.execute(query).all())
