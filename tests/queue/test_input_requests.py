"""Needs input: a question parks its task (no agent, no lease), an answer requeues it once, a refused
answer changes nothing, and a question nobody answers in time blocks its ticket with the reason."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from phaseloom.db.models import SystemEvent, Task, Ticket
from phaseloom.db.models.base import utcnow
from phaseloom.db.models.input_requests import TaskInputRequest
from phaseloom.domain import phases as d
from phaseloom.domain.errors import Conflict, InvalidInput, TaskNotClaimable
from phaseloom.queue import InputRequests, QueueService
from phaseloom.services.agents import AgentService
from phaseloom.services.human_input import HumanInputService
from phaseloom.services.tickets import TicketService

PHASE = "PHASE_IMPLEMENTATION"
QUESTION = "Should greet() say hello or hi?"


@pytest.fixture
def running(uow, project):
    """A running task held by an agent: (task, agent)."""
    ticket = TicketService(uow).create_ticket(project.id, "Add a greeting")
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, PHASE, "Write greet()")
    agent = AgentService(uow).register_agent("runner", agent_id="runner-1")
    assert queue.claim_next_task(agent.id).id == task.id
    queue.start_task(task.id, agent.id)
    return task, agent


def events(uow, event_type: str) -> list[SystemEvent]:
    with uow:
        return list(uow.session.scalars(select(SystemEvent).where(SystemEvent.event_type == event_type)))


def row(uow, model, key):
    with uow:
        found = uow.session.get(model, key)
        uow.session.refresh(found)
        return found


def test_asking_parks_the_task_without_agent_or_lease(uow, running):
    task, agent = running
    request = InputRequests(uow).ask(task.id, agent.id, QUESTION, ["hello", "hi"])

    parked = row(uow, Task, task.id)
    assert (parked.status, parked.assigned_agent_id, parked.lease_expires_at) == ("waiting_input", None, None)
    assert (request.question, request.options, request.asked_by) == (QUESTION, ["hello", "hi"], agent.id)
    [event] = events(uow, "task.input_requested")
    assert event.payload == {"agent_id": agent.id, "question": QUESTION, "options": ["hello", "hi"],
                             "request_id": request.id}
    with pytest.raises(TaskNotClaimable, match="waiting_input"):  # its worker's next heartbeat ends the agent
        QueueService(uow).heartbeat(task.id, agent.id)
    assert QueueService(uow).claim_next_task(agent.id) is None  # nobody claims it while it waits


def test_asking_is_refused_for_a_task_the_agent_does_not_hold(uow, running):
    task, _ = running
    other = AgentService(uow).register_agent("other", agent_id="other-1")
    with pytest.raises(TaskNotClaimable, match="another agent"):
        InputRequests(uow).ask(task.id, other.id, QUESTION)
    with pytest.raises(InvalidInput, match="needs a question"):
        InputRequests(uow).ask(task.id, "runner-1", "   ")
    assert row(uow, Task, task.id).status == "running"
    assert InputRequests(uow).open_questions() == []


def test_answer_requeues_the_task_and_is_handed_over_once(uow, running):
    task, agent = running
    asked = InputRequests(uow).ask(task.id, agent.id, QUESTION)
    answered = HumanInputService(uow).answer(task.id, "  hello  ", answered_by="admin")

    assert (answered.id, answered.answer, answered.answered_by) == (asked.id, "hello", "admin")
    requeued = row(uow, Task, task.id)
    assert (requeued.status, requeued.assigned_agent_id, requeued.retry_count) == ("pending", None, 0)
    [event] = events(uow, "task.input_answered")
    assert event.payload == {"request_id": asked.id, "answered_by": "admin"}
    assert InputRequests(uow).open_questions() == []
    assert InputRequests(uow).take_answer(task.id).answer == "hello"
    assert InputRequests(uow).take_answer(task.id) is None  # handed to one run only
    assert [r.answer for r in InputRequests(uow).answered(task.id)] == ["hello"]
    assert QueueService(uow).claim_next_task(agent.id).id == task.id  # any agent of the phase may take it on


def test_answer_when_not_waiting_is_refused_and_changes_nothing(uow, running):
    task, agent = running
    with pytest.raises(Conflict, match=f"task {task.id} is running, not waiting for an answer"):
        HumanInputService(uow).answer(task.id, "hello", answered_by="admin")
    still = row(uow, Task, task.id)
    assert (still.status, still.assigned_agent_id) == ("running", agent.id)
    assert events(uow, "task.input_answered") == []

    InputRequests(uow).ask(task.id, agent.id, QUESTION)
    HumanInputService(uow).answer(task.id, "hello", answered_by="admin")
    with pytest.raises(Conflict, match="pending, not waiting"):  # a second answer to the same question
        HumanInputService(uow).answer(task.id, "hi", answered_by="admin")
    with pytest.raises(InvalidInput, match="empty"):
        HumanInputService(uow).answer(task.id, " ", answered_by="admin")
    [request] = InputRequests(uow).answered(task.id)
    assert request.answer == "hello"
    assert len(events(uow, "task.input_answered")) == 1


def _asked_ago(uow, task_id: int, seconds: float) -> None:
    with uow:
        uow.session.execute(update(TaskInputRequest).where(TaskInputRequest.task_id == task_id)
                            .values(asked_at=utcnow() - timedelta(seconds=seconds)))


def test_unanswered_question_times_out_into_a_blocked_ticket_with_the_reason(uow, running):
    task, agent = running
    InputRequests(uow).ask(task.id, agent.id, QUESTION)
    _asked_ago(uow, task.id, d.DEFAULT_INPUT_TIMEOUT_SECONDS - 60)
    assert HumanInputService(uow).close_unanswered() == []  # not yet: a day by default
    assert row(uow, Task, task.id).status == "waiting_input"

    _asked_ago(uow, task.id, d.DEFAULT_INPUT_TIMEOUT_SECONDS + 1)
    [closed] = HumanInputService(uow).close_unanswered()

    failed = row(uow, Task, task.id)
    assert (failed.status, failed.error_class) == ("failed", "permanent")
    assert failed.error.startswith("no answer within 86400 s to the question")
    assert QUESTION in failed.error and closed.reason == failed.error
    ticket = row(uow, Ticket, task.ticket_id)
    assert (ticket.phase_id, ticket.blocked_reason) == ("PHASE_BLOCKED", failed.error)
    assert InputRequests(uow).open_questions() == []
    with pytest.raises(Conflict):  # nothing left to answer
        HumanInputService(uow).answer(task.id, "too late", answered_by="admin")
    assert HumanInputService(uow).close_unanswered() == []


def test_the_phase_sets_its_own_input_timeout(uow, running):
    from phaseloom.loaders.sources import load_workflow_source, shipped_workflow
    from phaseloom.services.workflows import WorkflowService

    task, agent = running
    document = load_workflow_source(shipped_workflow("software_development"))
    [phase] = [p for p in document.phases if p.id == PHASE]
    phase.configuration.input_timeout_seconds = 30
    WorkflowService(uow).save_document(document, overwrite=True)
    InputRequests(uow).ask(task.id, agent.id, QUESTION)
    _asked_ago(uow, task.id, 31)

    [closed] = HumanInputService(uow).close_unanswered()
    assert closed.task_id == task.id and closed.reason.startswith("no answer within 30 s")


def test_the_instructions_offer_ask_human(uow, running):
    from phaseloom.services.instructions import build_instructions

    task, _ = running
    assert "ask_human" in build_instructions(uow, task.id)


def test_webhook_failure_is_logged_not_raised(uow, running, caplog):
    from phaseloom.config import Settings

    task, agent = running
    InputRequests(uow).ask(task.id, agent.id, QUESTION)
    unreachable = Settings(input_webhook_url="http://127.0.0.1:9/hook", input_webhook_timeout_seconds=1)
    with caplog.at_level(logging.WARNING):
        assert HumanInputService(uow, unreachable).notify(task.id) is False
    assert "did not take task" in caplog.text
    assert HumanInputService(uow).notify(task.id) is False  # no URL set: nothing is posted


def test_a_cancelled_waiting_task_leaves_the_needs_input_lane(uow, running):
    task, agent = running
    InputRequests(uow).ask(task.id, agent.id, QUESTION)
    assert [q.task_id for q in HumanInputService(uow).questions()] == [task.id]
    QueueService(uow).cancel_task(task.id, "not needed")
    assert HumanInputService(uow).questions() == []
    with pytest.raises(Conflict, match="cancelled, not waiting"):
        HumanInputService(uow).answer(task.id, "hello", answered_by="admin")
