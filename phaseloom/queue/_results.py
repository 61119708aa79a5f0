"""Workflow results (Hephaestus ``has_result``): an answer that, once validated, ends the run.

A workflow opts in through its settings::

    settings:
      has_result: true
      result_criteria: "The report names the root cause and a reproducer."
      on_result_found: stop_all   # or do_nothing

:meth:`ResultService.submit_result` stores the Markdown result and queues a
``result_validation`` task; the validator answers through
:meth:`ValidationService.submit_review` (phaseloom/queue/_reviews.py). An approved result marks the project's run solved
and, with ``stop_all``, cancels the tasks still waiting and asks running ones to stop.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import select

from phaseloom.db.models import Project, Task, Ticket, ValidationReview, WorkflowResult
from phaseloom.db.models.base import utcnow
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.db.workflow_cache import workflow_by_id
from phaseloom.domain.errors import Conflict, InvalidInput, NotFound
from phaseloom.domain.identifiers import is_number
from phaseloom.domain.reviews import RESULT_VALIDATION_TASK, VALIDATOR_CAPABILITY
from phaseloom.domain.tasks import ACTIVE_STATUSES, TaskStatus
from phaseloom.queue._enqueue import TaskEnqueuer
from phaseloom.queue._lifecycle import TaskLifecycle

STOP_ALL = "stop_all"
DO_NOTHING = "do_nothing"
MAX_RESULT_BYTES = 1_000_000
_WAITING = [TaskStatus.PENDING.value, TaskStatus.UNDER_REVIEW.value]


class ResultService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def submit_result(self, markdown_path: str | Path, *, ticket_id: int | None = None,
                      project: str | int | None = None, evidence: list | str | None = None,
                      submitted_by: str = "agent") -> WorkflowResult:
        """Store a result and queue its validation.

        Raises :class:`Conflict` when the workflow declares no ``has_result`` or the run is
        already solved, and :class:`InvalidInput` when the file is missing or not text.
        """
        with self.uow:
            workflow_id = self._workflow_id(ticket_id, project)
            workflow = workflow_by_id(self.uow, workflow_id)
            settings = workflow.settings or {}
            if not settings.get("has_result"):
                raise Conflict(f"workflow {workflow.name!r} does not declare has_result, so it takes no results")
            ticket = self._ticket_for(ticket_id, project)
            on_found = str(settings.get("on_result_found", DO_NOTHING))
            if on_found not in (STOP_ALL, DO_NOTHING):
                raise InvalidInput(f"on_result_found is {on_found!r}; expected {STOP_ALL} or {DO_NOTHING}")
            solved = self.solved_by(ticket.project_id)
            if solved is not None:
                raise Conflict(f"project {ticket.project_id} is already solved by result {solved.id}")
            content = _read_markdown(Path(markdown_path))
            row = WorkflowResult(
                project_id=ticket.project_id, ticket_id=ticket.id, markdown_path=str(markdown_path),
                content=content, content_hash=hashlib.sha256(content.encode()).hexdigest(),
                evidence=evidence if isinstance(evidence, list) else ([evidence] if evidence else []),
                on_result_found=on_found, submitted_by=submitted_by, status="pending_validation")
            self.uow.session.add(row)
            self.uow.session.flush()
            self._queue_validation(row, ticket, settings.get("result_criteria"))
            self.uow.emit("result.submitted", "result", row.id, project_id=row.project_id, ticket_id=ticket.id,
                          phase_id=ticket.phase_id, payload={"path": row.markdown_path,
                                                             "validation_task_id": row.validation_task_id})
            return row

    def on_reviewed(self, review: ValidationReview) -> None:
        """Apply a validator's verdict on a result (called by :class:`ValidationService`)."""
        row = self.uow.session.get(WorkflowResult, review.result_id)
        row.decided_at = utcnow()
        row.feedback = review.feedback
        if not review.passed:
            row.status = "rejected"
            row.reason = f"rejected by validation: {review.feedback}"
            self.uow.emit("result.rejected", "result", row.id, project_id=row.project_id, ticket_id=row.ticket_id,
                          payload={"feedback": review.feedback[:500]})
            return
        row.status = "approved"
        row.reason = f"result {row.id} approved; on_result_found={row.on_result_found}"
        if row.on_result_found == STOP_ALL:
            self._stop_all(row)
        self.uow.emit("workflow.solved", "result", row.id, project_id=row.project_id, ticket_id=row.ticket_id,
                      payload={"reason": row.reason, "cancelled_task_ids": row.cancelled_task_ids,
                               "stop_requested_task_ids": row.stop_requested_task_ids})

    def solved_by(self, project_id: int) -> WorkflowResult | None:
        """The approved result that solved the project's run, if any."""
        with self.uow:
            return self.uow.session.scalar(
                select(WorkflowResult).where(WorkflowResult.project_id == project_id,
                                             WorkflowResult.status == "approved")
                .order_by(WorkflowResult.id).limit(1))

    def stop_requested(self, task_id: int) -> bool:
        """Whether an approved ``stop_all`` result asked this (running) task to stop."""
        with self.uow:
            task = self.uow.session.get(Task, int(task_id))
            if task is None:
                raise NotFound("task", task_id)
            solved = self.solved_by(task.project_id)
            return solved is not None and task.id in (solved.stop_requested_task_ids or [])

    def list(self, *, project_id: int | None = None) -> list[WorkflowResult]:
        with self.uow:
            query = select(WorkflowResult).order_by(WorkflowResult.id)
            if project_id is not None:
                query = query.where(WorkflowResult.project_id == project_id)
            return list(self.uow.session.scalars(query))

    # -- internals ---------------------------------------------------------------
    def _workflow_id(self, ticket_id: int | None, project: str | int | None) -> int:
        if ticket_id is not None:
            return self._ticket_for(ticket_id, None).workflow_id
        if project is None:
            raise InvalidInput("a result belongs to a ticket or a project: give one")
        return self._project(project).workflow_id

    def _ticket_for(self, ticket_id: int | None, project: str | int | None) -> Ticket:
        session = self.uow.session
        if ticket_id is not None:
            ticket = session.get(Ticket, int(ticket_id))
            if ticket is None:
                raise NotFound("ticket", ticket_id)
            return ticket
        if project is None:
            raise InvalidInput("a result belongs to a ticket or a project: give one")
        proj = self._project(project)
        # Validation is a task and tasks live on tickets: use the project's most recently active one.
        ticket = session.scalar(select(Ticket).where(Ticket.project_id == proj.id)
                                .order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(1))
        if ticket is None:
            raise InvalidInput(f"project {proj.name!r} has no ticket to validate a result on; create one first")
        return ticket

    def _project(self, name_or_id: str | int) -> Project:
        """The project by id or name (as ProjectService.get reads it)."""
        session = self.uow.session
        if isinstance(name_or_id, int) or is_number(str(name_or_id)):
            found = session.get(Project, int(name_or_id))
        else:
            found = session.scalar(select(Project).where(Project.name == name_or_id))
        if found is None:
            raise NotFound("project", name_or_id)
        return found

    def _queue_validation(self, row: WorkflowResult, ticket: Ticket, criteria) -> None:
        criteria_text = "\n".join(f"- {c}" for c in criteria) if isinstance(criteria, list) else str(criteria or "")
        description = "\n".join([
            f"Validate result {row.id} submitted by {row.submitted_by} ({row.markdown_path}).", "",
            "It must meet these criteria:", criteria_text or "- (none declared: judge whether it answers the ticket)",
            "", "Evidence offered:", *[f"- {e}" for e in row.evidence], "", "The result:", row.content[:8000]])
        task = TaskEnqueuer(self.uow).create_task(
            ticket.id, ticket.phase_id, f"Validate result {row.id}", description=description, priority="HIGH",
            task_type=RESULT_VALIDATION_TASK, required_capabilities=[VALIDATOR_CAPABILITY],
            created_by=f"result:{row.id}")
        row.validation_task_id = task.id
        self.uow.session.add(ValidationReview(project_id=row.project_id, ticket_id=ticket.id,
                                              phase_id=ticket.phase_id, result_id=row.id, validator_task_id=task.id,
                                              iteration=1, state="pending", feedback="", evidence=[]))

    def _stop_all(self, row: WorkflowResult) -> None:
        session = self.uow.session
        lifecycle = TaskLifecycle(self.uow)
        waiting = session.scalars(select(Task.id).where(Task.project_id == row.project_id,
                                                        Task.status.in_(_WAITING)).order_by(Task.id)).all()
        for task_id in waiting:
            lifecycle.cancel(task_id, reason=f"stopped: {row.reason}")
        running = session.scalars(select(Task).where(Task.project_id == row.project_id,
                                                      Task.status.in_([s.value for s in ACTIVE_STATUSES]))
                                  .order_by(Task.id)).all()
        for task in running:
            self.uow.emit("task.stop_requested", "task", task.id, project_id=task.project_id,
                          ticket_id=task.ticket_id, phase_id=task.phase_id, payload={"reason": row.reason})
        row.cancelled_task_ids = list(waiting)
        row.stop_requested_task_ids = [t.id for t in running]


def _read_markdown(path: Path) -> str:
    if not path.is_file():
        raise InvalidInput(f"result file {path} does not exist")
    data = path.read_bytes()[:MAX_RESULT_BYTES]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"result file {path} is not UTF-8 text") from None
