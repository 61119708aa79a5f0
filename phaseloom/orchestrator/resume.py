"""A task a person answered runs again: in the worktree of the run that asked, resuming that agent's own
CLI session with the answer as its next message when the runtime can, else with the questions and
answers in its instructions."""

from __future__ import annotations

from dataclasses import dataclass

from phaseloom.db.models import Task
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.domain.human_input import answer_message, with_answers
from phaseloom.queue import InputRequests


@dataclass(frozen=True)
class Resumption:
    worktree_agent_id: str            # whose worktree the run continues in (the agent that asked)
    session_id: str | None            # the CLI session to resume; None: a fresh run told the answers
    message: str                      # the resumed session's next message
    answered: tuple[tuple[str, str], ...]

    def instructions(self, instructions: str) -> str:
        """What a fresh run (no session to resume) is told: its instructions and every answer so far."""
        return instructions if self.session_id else with_answers(instructions, self.answered)


def plan(uow: UnitOfWork, task: Task, resumes_sessions: bool) -> Resumption | None:
    """How ``task``'s run goes on from the questions it asked (None: it asked none, a plain run).

    The newest answer is taken once: a later run of the task (a retry) starts afresh with them all in its
    instructions, since its session may never have got the answer.
    """
    requests = InputRequests(uow)
    answered = requests.answered(task.id)
    if not answered:
        return None
    fresh = requests.take_answer(task.id)
    pairs = tuple((r.question, r.answer or "") for r in answered)
    session = task.session_id if fresh is not None and resumes_sessions else None
    message = answer_message(fresh.question, fresh.answer or "") if session else ""
    if session:
        with uow:
            uow.emit("task.resumed", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                     phase_id=task.phase_id, payload={"session_id": session, "request_id": fresh.id})
    return Resumption(answered[-1].asked_by, session, message, pairs)
