"""Needs input: an agent's question to a person (``ask_human``), the answer that resumes it, the
webhook that tells someone, and the questions nobody answered in time (their tickets blocked).

The queue keeps the states (phaseloom/queue/_input.py); this module adds what goes around them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from phaseloom.db.models import Ticket
from phaseloom.db.models.input_requests import TaskInputRequest
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.domain.errors import Conflict
from phaseloom.events import post_json
from phaseloom.queue import InputRequests, UnansweredQuestion

if TYPE_CHECKING:
    from phaseloom.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuestionView:
    """An open question, as the board's Needs input lane and the ticket page show it."""

    request_id: int
    task_id: int
    ticket_id: int
    ticket_title: str
    phase_id: str
    question: str
    options: list[str]
    asked_by: str
    asked_at: datetime


class HumanInputService:
    def __init__(self, uow: UnitOfWork, settings: Settings | None = None) -> None:
        self.uow = uow
        self.settings = settings or uow.settings

    def ask(self, task_id: int, agent_id: str | None, question: str, options: list[str] | None = None
            ) -> TaskInputRequest:
        """Park the agent's task on its question (its worker then ends the agent's run)."""
        return InputRequests(self.uow).ask(task_id, agent_id, question, options)

    def answer(self, task_id: int, text: str, *, answered_by: str) -> TaskInputRequest:
        """Answer a waiting task's question; the task is queued again and resumes with the answer."""
        return InputRequests(self.uow).answer(task_id, text, answered_by=answered_by)

    def questions(self, *, project_id: int | None = None, ticket_id: int | None = None) -> list[QuestionView]:
        with self.uow:
            requests = InputRequests(self.uow).open_questions(project_id=project_id, ticket_id=ticket_id)
            titles = dict(self.uow.session.execute(
                select(Ticket.id, Ticket.title).where(Ticket.id.in_({r.ticket_id for r in requests}))).all())
            return [QuestionView(r.id, r.task_id, r.ticket_id, titles.get(r.ticket_id, ""), r.phase_id, r.question,
                                 list(r.options or []), r.asked_by, r.asked_at) for r in requests]

    def close_unanswered(self) -> list[UnansweredQuestion]:
        """Fail the tasks whose question waited past its phase's timeout, and block their tickets with why."""
        from phaseloom.services.tickets import TicketService

        with self.uow:
            closed = InputRequests(self.uow).close_unanswered()
            for question in closed:
                try:
                    TicketService(self.uow).block(question.ticket_id, question.reason[:2000],
                                                  initiated_by="input_timeout")
                except Conflict as exc:  # already blocked, or a workflow without a blocked phase: the task failed anyway
                    log.warning("ticket %s of unanswered task %s not blocked: %s", question.ticket_id,
                                question.task_id, exc)
        return closed

    def notify(self, task_id: int) -> bool:
        """POST the open question of ``task_id`` to ``settings.input_webhook_url`` (when set); True when the
        hook took it. Time-limited, and a failure is logged, never raised: the question stands either way."""
        url = self.settings.input_webhook_url
        if not url:
            return False
        with self.uow:
            found = InputRequests(self.uow).open_questions_of(task_id)
            if found is None:
                return False
            body = webhook_body(found, self.settings.api_url)
        return post_json(url, body, self.settings.input_webhook_timeout_seconds)


def webhook_body(request: TaskInputRequest, api_url: str) -> dict:
    body = {"event": "task.input_requested", "request_id": request.id, "task_id": request.task_id,
            "ticket_id": request.ticket_id, "project_id": request.project_id, "phase_id": request.phase_id,
            "question": request.question, "options": list(request.options or []), "asked_by": request.asked_by,
            "asked_at": request.asked_at.isoformat()}
    if api_url:
        body["answer_url"] = f"{api_url.rstrip('/')}/api/tasks/{request.task_id}/answer"
    return body
