from __future__ import annotations

import pytest
from sqlalchemy import select

from phaseloom.db.models import SystemEvent
from phaseloom.domain.errors import Conflict, InvalidInput
from phaseloom.schemas.workflow import WorkflowDocument
from phaseloom.services.agents import AgentService
from phaseloom.services.diagnostics import DiagnosticsService
from phaseloom.services.projects import ProjectService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.queue import ValidationService
from phaseloom.services.workflows import WorkflowService


def reviewed_workflow(max_iterations: int = 2) -> WorkflowDocument:
    return WorkflowDocument.model_validate({
        "name": "reviewed",
        "phases": [
            {"id": "PHASE_BUILD", "sequence_order": 0, "allowed_transitions": ["PHASE_DONE", "PHASE_BLOCKED"],
             "done_definitions": ["it works"],
             "configuration": {"requires_review": True, "max_review_iterations": max_iterations}},
            {"id": "PHASE_DONE", "sequence_order": 1, "is_terminal": True},
            {"id": "PHASE_BLOCKED", "sequence_order": 2, "is_terminal": True,
             "allowed_transitions": ["PHASE_BUILD"]},
        ],
    })


@pytest.fixture
def setup(uow):
    WorkflowService(uow).save_document(reviewed_workflow())
    project = ProjectService(uow).create_project("rev", "reviewed")
    ticket = TicketService(uow).create_ticket(project.id, "Build the parser")
    agents = AgentService(uow)
    worker = agents.register_agent("worker", capabilities=["python"])
    validator = agents.register_agent("validator", agent_type="validator", capabilities=["validation"])
    return ticket, worker, validator


def work_once(queue, task_id, worker, result):
    assert queue.claim_next_task(worker.id).id == task_id
    return queue.complete_task(task_id, worker.id, result)


def test_needs_work_then_approved(uow, setup):
    ticket, worker, validator = setup
    queue, reviews = QueueService(uow), ValidationService(uow)
    task = queue.create_task(ticket.id, "PHASE_BUILD", "write parser", required_capabilities=["python"])
    dependent = queue.create_task(ticket.id, "PHASE_BUILD", "use parser", depends_on=[task.id],
                                  required_capabilities=["python"])

    parked = work_once(queue, task.id, worker, {"summary": "v1"})
    assert parked.status == "under_review"
    assert reviews.review_state(task.id) == "under_review"
    # The phase is only as far along as its least advanced task: 'use parser' awaits its first review.
    assert reviews.latest_review_state(ticket.id, "PHASE_BUILD") == "pending"
    assert queue.claim_next_task(worker.id) is None  # the validator's task needs 'validation'
    check = queue.claim_next_task(validator.id)
    assert check.task_type == "validation" and check.phase_id == "PHASE_BUILD"
    assert "write parser" in check.description and '"summary": "v1"' in check.description
    assert reviews.review_state(task.id) == "validation_in_progress"

    with pytest.raises(InvalidInput, match="feedback is required"):
        reviews.submit_review(check.id, validator.id, False, "  ")
    reviews.submit_review(check.id, validator.id, False, "missing error handling", evidence=["ran it"])
    again = queue.get(task.id)
    assert again.status == "pending"
    feedback = reviews.feedback_for(task.id)
    assert (feedback.state, feedback.failed_iterations, feedback.feedback) == (
        "needs_work", 1, "missing error handling")
    assert reviews.latest_review_state(ticket.id, "PHASE_BUILD") == "needs_work"

    work_once(queue, task.id, worker, {"summary": "v2"})
    second = queue.claim_next_task(validator.id)
    assert "missing error handling" in second.description and "review 2 of at most 2" in second.description
    reviews.submit_review(second.id, validator.id, True, "good", evidence={"tests": "12 passed"})
    done = queue.get(task.id)
    assert (done.status, done.result) == ("completed", {"summary": "v2"})
    assert reviews.review_state(task.id) == "approved"
    assert queue.claim_next_task(worker.id).id == dependent.id  # approval released the dependent
    queue.complete_task(dependent.id, worker.id, {})
    reviews.submit_review(queue.claim_next_task(validator.id).id, validator.id, True)
    assert reviews.latest_review_state(ticket.id, "PHASE_BUILD") == "approved"
    states = [(r.iteration, r.state, r.passed) for r in reviews.reviews(task_id=task.id)]
    assert states == [(1, "needs_work", False), (2, "approved", True)]
    with uow:
        events = uow.session.scalars(select(SystemEvent.event_type)
                                     .where(SystemEvent.event_type == "validation.reviewed")).all()
    assert len(events) == 3


def test_blocks_ticket_and_diagnoses_after_max_failures(uow, setup):
    ticket, worker, validator = setup
    queue, reviews = QueueService(uow), ValidationService(uow)
    task = queue.create_task(ticket.id, "PHASE_BUILD", "write parser")
    for round_ in (1, 2):
        work_once(queue, task.id, worker, {"round": round_})
        check = queue.claim_next_task(validator.id)
        reviews.submit_review(check.id, validator.id, False, f"still wrong ({round_})")
    failed = queue.get(task.id)
    assert failed.status == "failed" and "failed 2 time(s)" in failed.error
    blocked = TicketService(uow).get(ticket.id)
    assert blocked.phase_id == "PHASE_BLOCKED" and "still wrong (2)" in blocked.blocked_reason
    [diagnosis] = DiagnosticsService(uow).list(ticket_id=ticket.id)
    assert diagnosis.trigger == "validation_exhausted" and diagnosis.inferred_phase_id == "PHASE_BUILD"
    recovery = queue.get(diagnosis.recovery_task_ids[0])
    assert recovery.priority in ("HIGH", "CRITICAL") and recovery.status == "pending"


def test_only_validators_review_and_not_their_own_work(uow, setup):
    ticket, worker, validator = setup
    queue, reviews = QueueService(uow), ValidationService(uow)
    task = queue.create_task(ticket.id, "PHASE_BUILD", "t")
    work_once(queue, task.id, worker, {})
    worker2 = AgentService(uow).register_agent("both", capabilities=["validation"])
    check = queue.claim_next_task(worker2.id)
    # 'both' may validate but did not do this work, so it may review; a plain worker may not.
    with uow:
        uow.session.get(type(check), check.id).assigned_agent_id = worker.id
    with pytest.raises(Conflict, match="not a validator"):
        reviews.submit_review(check.id, worker.id, True)
    with uow:
        uow.session.get(type(check), check.id).assigned_agent_id = worker2.id
    reviews.submit_review(check.id, worker2.id, True, "fine")
    assert queue.get(task.id).status == "completed"


def test_phase_without_review_completes_directly(uow, project):
    ticket = TicketService(uow).create_ticket(project.id, "x")
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, "PHASE_REQUIREMENTS", "t")
    agent = AgentService(uow).register_agent("a")
    queue.claim_next_task(agent.id)
    assert queue.complete_task(task.id, agent.id, {}).status == "completed"
    assert ValidationService(uow).latest_review_state(ticket.id, "PHASE_REQUIREMENTS") is None


def test_validator_may_complete_with_a_verdict_but_not_without(uow, setup):
    ticket, worker, validator = setup
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, "PHASE_BUILD", "t")
    work_once(queue, task.id, worker, {})
    check = queue.claim_next_task(validator.id)
    with pytest.raises(InvalidInput, match="needs a verdict"):
        queue.complete_task(check.id, validator.id, {"summary": "looked fine"})
    queue.complete_task(check.id, validator.id, {"passed": False, "feedback": "no tests"})
    assert queue.get(task.id).status == "pending"
    assert ValidationService(uow).feedback_for(task.id).feedback == "no tests"


def test_work_under_review_whose_merge_failed_has_its_review_called_off(uow, setup):
    """A validator must not approve work that is not in the ticket: its review task is cancelled."""
    from phaseloom.domain.errors import TaskNotClaimable
    from phaseloom.queue import RetryService

    ticket, worker, validator = setup
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, "PHASE_BUILD", "write parser", required_capabilities=["python"])
    assert queue.claim_next_task(worker.id).id == task.id
    queue.start_task(task.id, worker.id, merge_after=True)
    assert queue.complete_task(task.id, worker.id, {"summary": "v1"}).status == "under_review"
    check = queue.claim_next_task(validator.id)

    back = RetryService(uow).fail_unmerged(task.id, worker.id, "merge_failed: git said no")

    assert (back.status, back.retry_count) == ("pending", 1)
    assert queue.get(check.id).status == "cancelled"
    with pytest.raises(TaskNotClaimable):
        ValidationService(uow).submit_review(check.id, validator.id, True, "looks fine")
    assert queue.get(task.id).status == "pending"
