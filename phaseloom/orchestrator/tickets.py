"""Moving tickets on, for the run loop: start them, collect completed tasks' files, check gates.

The loop (:class:`~phaseloom.orchestrator.loop.Orchestrator`) calls this after its free agents have
claimed, so an agent's next task never waits for the previous ticket's gate.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from sqlalchemy import case, func, select

from phaseloom.db.engine import Database
from phaseloom.db.models import Task, Ticket
from phaseloom.db.retry import is_transient
from phaseloom.domain.tasks import ACTIVE_STATUSES, TaskStatus
from phaseloom.queue import HELD_FOR_MERGE
from phaseloom.db.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from phaseloom.orchestrator.execution import TaskExecutor

log = logging.getLogger(__name__)
OPEN_STATUSES = [TaskStatus.PENDING.value, *(s.value for s in ACTIVE_STATUSES), TaskStatus.UNDER_REVIEW.value]
# A task its agent completed whose work its worker has yet to merge: counted as open, so the ticket
# waits for the merge before its gate is checked and its next phase starts from the ticket's branch.
MERGING = "merging"
# A task waiting for a person's answer holds its ticket too, though no agent works on it (so a run
# ``--until-idle`` ends while it waits).
WAITING = TaskStatus.WAITING_INPUT.value
_COUNTED_STATUS = case((HELD_FOR_MERGE, MERGING), else_=Task.status)


class TicketMover:
    def __init__(self, db: Database, executor: "TaskExecutor", project_id: int | None = None) -> None:
        self.db = db
        self.executor = executor
        self.project_id = project_id
        # Tasks completed since the last tick whose reported files are not collected yet: collected
        # here, not on the agent's thread, so the agent takes its next task without waiting.
        self._completed: list[int] = []
        # What each ticket's phase looked like when its gate was last checked: a gate is checked
        # again only after something changed, not on every tick.
        self._checked: dict[int, tuple] = {}

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, settings=self.executor.config.settings)

    def reader(self) -> UnitOfWork:
        """A read-only transaction: on SQLite it takes no write lock, so agents' writes never wait for it."""
        return UnitOfWork(self.db, readonly=True)

    def completed(self, task_id: int) -> None:
        """Note a task its agent completed: its files are collected at the next :meth:`collect_outputs`."""
        self._completed.append(task_id)

    def collect_outputs(self) -> None:
        """Record the files completed tasks reported, read from their ticket's merged worktree."""
        from phaseloom.services.artifacts import ArtifactService

        while self._completed:
            task_id, where = self._completed[0], (None, None, None)
            try:
                with self.reader() as uow:
                    task = uow.session.get(Task, task_id)
                    where = (task.project_id, task.ticket_id, task.phase_id)
                folder = self.executor.integration_path(where[0], where[1])
                ArtifactService(self.uow()).collect_from_task(task_id, folder)
            except Exception as exc:
                if is_transient(exc):
                    raise  # kept in the list: the retried tick collects it
                self._report_ticket_error(where[1], where[2], exc)
            self._completed.pop(0)

    def progress(self) -> bool:
        """Start tickets whose phase has no tasks yet; check the gate of those whose tasks are all done.

        True when that queued tasks (a ticket started, or moved into a phase with work).
        """
        counts_of = self._task_counts()
        queued = False
        for ticket_id, phase_id, project_id in self._open_tickets():
            counts = counts_of.get((ticket_id, phase_id), {})
            try:
                queued = self._progress_ticket(ticket_id, phase_id, project_id, counts) or queued
            except Exception as exc:
                if is_transient(exc):
                    raise  # the database is away: the tick is retried whole
                self._report_ticket_error(ticket_id, phase_id, exc)
        return queued

    def _progress_ticket(self, ticket_id: int, phase_id: str, project_id: int, counts: dict[str, int]) -> bool:
        from phaseloom.services.progress import ProgressService

        # ... or every half minute, for changes no task shows (a person ticking a done definition).
        signature = (phase_id, tuple(sorted(counts.items())), int(time.monotonic() // 30))
        if not counts:
            return bool(ProgressService(self.uow()).start_ticket(ticket_id, created_by="orchestrator"))
        if not any(counts.get(s) for s in (*OPEN_STATUSES, MERGING, WAITING)) and self._checked.get(ticket_id) != signature:
            self._checked[ticket_id] = signature
            workspace = self.executor.integration_path(project_id, ticket_id)
            outcome = ProgressService(self.uow()).check_and_progress(ticket_id, workspace, initiated_by="orchestrator")
            return bool(outcome.queued_task_ids)
        return False

    def _report_ticket_error(self, ticket_id: int, phase_id: str, exc: Exception) -> None:
        """One ticket's failure is logged and evented; the loop goes on with the others."""
        error = f"{type(exc).__name__}: {str(exc).strip()[:500]}"
        log.error("moving ticket %s on failed: %s", ticket_id, error)
        try:
            with self.uow() as uow:
                uow.emit("ticket.progress_failed", "ticket", ticket_id, ticket_id=ticket_id, phase_id=phase_id,
                         payload={"error": error})
        except Exception:  # noqa: BLE001 - reporting must not stop the loop either
            log.exception("could not record the failure of ticket %s", ticket_id)

    def _task_counts(self) -> dict[tuple[int, str], dict[str, int]]:
        """Task counts by status per (open ticket, phase), in one grouped query for all open tickets."""
        with self.reader() as uow:
            query = (select(Task.ticket_id, Task.phase_id, _COUNTED_STATUS, func.count())
                     .join(Ticket, Ticket.id == Task.ticket_id).where(Ticket.completed_at.is_(None))
                     .group_by(Task.ticket_id, Task.phase_id, _COUNTED_STATUS))
            if self.project_id is not None:
                query = query.where(Ticket.project_id == self.project_id)
            rows = uow.session.execute(query).all()
        counts: dict[tuple[int, str], dict[str, int]] = {}
        for ticket_id, phase_id, status, count in rows:
            counts.setdefault((ticket_id, phase_id), {})[status] = count
        return counts

    def _open_tickets(self) -> list[tuple[int, str, int]]:
        from phaseloom.services.workflows import WorkflowService

        with self.reader() as uow:
            query = select(Ticket.id, Ticket.phase_id, Ticket.project_id, Ticket.workflow_id).order_by(Ticket.id)
            if self.project_id is not None:
                query = query.where(Ticket.project_id == self.project_id)
            rows = uow.session.execute(query.where(Ticket.completed_at.is_(None))).all()
            workflows = {wid: WorkflowService(uow).by_id(wid) for wid in {r.workflow_id for r in rows}}
            return [(r.id, r.phase_id, r.project_id) for r in rows
                    if not workflows[r.workflow_id].phase(r.phase_id).is_terminal]
