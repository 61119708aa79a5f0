"""Questions an agent asks a person (``ask_human``), their answers, and those nobody answered in time.

A question parks its task in ``waiting_input`` (no agent, no lease: :meth:`TaskLifecycle.wait_for_input`);
the answer sends it back to the queue, and the next run of the task gets the answer once
(:meth:`InputRequests.take_answer`): as the next message of the agent's own session when its CLI
can resume one, else with the question in its instructions. A question left open past its phase's
``input_timeout_seconds`` fails its task for good with the reason; blocking the ticket is the
caller's (phaseloom/services/human_input.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from phaseloom.db.models import Task
from phaseloom.db.models.base import utcnow
from phaseloom.db.models.input_requests import TaskInputRequest
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.db.workflow_cache import workflow_by_id
from phaseloom.domain.errors import Conflict, InvalidInput
from phaseloom.domain.json_values import storable_text
from phaseloom.domain.tasks import TaskStatus
from phaseloom.queue._lifecycle import TaskLifecycle

MAX_QUESTION = 4000
MAX_OPTIONS = 20
MAX_ANSWER = 20_000


@dataclass(frozen=True)
class UnansweredQuestion:
    """A question closed because nobody answered in time; its task has failed with ``reason``."""

    task_id: int
    ticket_id: int
    reason: str


class InputRequests:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.lifecycle = TaskLifecycle(uow)

    def ask(self, task_id: int, agent_id: str | None, question: str, options: list[str] | None = None
            ) -> TaskInputRequest:
        """Record ``question`` of the agent holding ``task_id`` and park the task until a person answers."""
        question = storable_text(question or "").strip()
        if not question:
            raise InvalidInput("ask_human needs a question")
        if len(question) > MAX_QUESTION:
            raise InvalidInput(f"the question is {len(question)} characters long; at most {MAX_QUESTION}")
        choices = [storable_text(str(o)).strip() for o in options or []]
        if len(choices) > MAX_OPTIONS or any(not c or len(c) > 500 for c in choices):
            raise InvalidInput(f"options: at most {MAX_OPTIONS}, each 1 to 500 characters")
        with self.uow:
            task = self.lifecycle.owned(task_id, agent_id)
            request = TaskInputRequest(task_id=task.id, ticket_id=task.ticket_id, project_id=task.project_id,
                                       phase_id=task.phase_id, question=question, options=choices,
                                       asked_by=task.assigned_agent_id or "")
            self.uow.session.add(request)
            self.uow.session.flush()
            self.lifecycle.wait_for_input(task, question, choices, request.id)
            return request

    def answer(self, task_id: int, text: str, *, answered_by: str) -> TaskInputRequest:
        """Answer the open question of ``task_id`` and queue the task again; refused (nothing changed) when
        the task is not waiting for an answer."""
        text = storable_text(text or "").strip()
        if not text:
            raise InvalidInput("the answer is empty")
        if len(text) > MAX_ANSWER:
            raise InvalidInput(f"the answer is {len(text)} characters long; at most {MAX_ANSWER}")
        with self.uow:
            task = self.uow.session.scalar(select(Task).where(Task.id == int(task_id)).with_for_update())
            if task is None:
                self.lifecycle.get(task_id)  # raises NotFound
            request = self._open(task.id)
            if task.status != TaskStatus.WAITING_INPUT.value or request is None:
                raise Conflict(f"task {task.id} is {task.status}, not waiting for an answer: nothing to answer")
            request.answer, request.answered_by, request.answered_at = text, answered_by[:200], utcnow()
            self.lifecycle.requeue_answered(task, request.id, answered_by)
            return request

    def take_answer(self, task_id: int) -> TaskInputRequest | None:
        """The answered question the task's next run has not been given yet, marked given (once only)."""
        with self.uow:
            request = self.uow.session.scalar(
                select(TaskInputRequest).where(TaskInputRequest.task_id == int(task_id),
                                               TaskInputRequest.answered_at.is_not(None),
                                               TaskInputRequest.delivered_at.is_(None))
                .order_by(TaskInputRequest.id.desc()).limit(1))
            if request is not None:
                request.delivered_at = utcnow()
            return request

    def answered(self, task_id: int) -> list[TaskInputRequest]:
        """Every answered question of the task, oldest first (a fresh run's instructions carry them all)."""
        with self.uow:
            return list(self.uow.session.scalars(
                select(TaskInputRequest).where(TaskInputRequest.task_id == int(task_id),
                                               TaskInputRequest.answered_at.is_not(None))
                .order_by(TaskInputRequest.id)))

    def open_questions(self, *, project_id: int | None = None, ticket_id: int | None = None
                       ) -> list[TaskInputRequest]:
        """Questions waiting for an answer, oldest first (not those of a task cancelled meanwhile)."""
        with self.uow:
            query = (select(TaskInputRequest).join(Task, Task.id == TaskInputRequest.task_id)
                     .where(TaskInputRequest.answered_at.is_(None), TaskInputRequest.closed_at.is_(None),
                            Task.status == TaskStatus.WAITING_INPUT.value))
            if project_id is not None:
                query = query.where(TaskInputRequest.project_id == project_id)
            if ticket_id is not None:
                query = query.where(TaskInputRequest.ticket_id == ticket_id)
            return list(self.uow.session.scalars(query.order_by(TaskInputRequest.id)))

    def open_questions_of(self, task_id: int) -> TaskInputRequest | None:
        """The question of ``task_id`` waiting for an answer, if any."""
        with self.uow:
            return self._open(int(task_id))

    def close_unanswered(self, *, limit: int = 100) -> list[UnansweredQuestion]:
        """Close the questions left open past their phase's ``input_timeout_seconds``; fail their tasks."""
        now = utcnow()
        closed = []
        with self.uow:
            rows = self.uow.session.execute(
                select(TaskInputRequest, Task).join(Task, Task.id == TaskInputRequest.task_id)
                .where(TaskInputRequest.answered_at.is_(None), TaskInputRequest.closed_at.is_(None),
                       Task.status == TaskStatus.WAITING_INPUT.value)
                .order_by(TaskInputRequest.asked_at).limit(limit).with_for_update(of=Task, skip_locked=True)).all()
            for request, task in rows:
                timeout = workflow_by_id(self.uow, task.workflow_id).phase(task.phase_id) \
                    .configuration.input_timeout_seconds
                if request.asked_at + timedelta(seconds=timeout) > now:
                    continue
                reason = (f"no answer within {timeout:g} s to the question task {task.id}'s agent asked: "
                          f"{request.question[:500]}")
                request.closed_at, request.closed_reason = now, reason
                self.lifecycle.fail_for_good(task, reason)
                closed.append(UnansweredQuestion(task.id, task.ticket_id, reason))
        return closed

    def _open(self, task_id: int) -> TaskInputRequest | None:
        return self.uow.session.scalar(
            select(TaskInputRequest).where(TaskInputRequest.task_id == task_id, TaskInputRequest.answered_at.is_(None),
                                           TaskInputRequest.closed_at.is_(None))
            .order_by(TaskInputRequest.id.desc()).limit(1))
