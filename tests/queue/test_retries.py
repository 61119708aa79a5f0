from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from phaseloom.db.models import Task
from phaseloom.db.models.base import utcnow
from phaseloom.domain.errors import Conflict
from phaseloom.services.agents import AgentService
from phaseloom.queue import QueueService
from phaseloom.queue import RetryService
from phaseloom.services.tickets import TicketService

PHASE = "PHASE_REQUIREMENTS"  # shipped backoff: base 5s, cap 300s, max_retries 3


@pytest.fixture
def ticket(uow, project):
    return TicketService(uow).create_ticket(project.id, "ticket")


@pytest.fixture
def agent(uow):
    return AgentService(uow).register_agent("a")


def claim(uow, queue, agent, task_id):
    with uow:  # make it due now, whatever its backoff
        uow.session.execute(update(Task).where(Task.id == task_id).values(next_attempt_at=utcnow()))
    assert queue.claim_next_task(agent.id).id == task_id


def test_retryable_backs_off_within_bounds_until_exhausted(uow, ticket, agent):
    queue, retries = QueueService(uow), RetryService(uow)
    task = queue.create_task(ticket.id, PHASE, "flaky", max_retries=3)
    for attempt in (1, 2, 3):
        claim(uow, queue, agent, task.id)
        before = utcnow()
        failed = queue.fail_task(task.id, agent.id, "429 Too Many Requests")
        assert (failed.status, failed.retry_count, failed.error_class) == ("pending", attempt, "retryable")
        exp = min(300.0, 5.0 * 2 ** (attempt - 1))
        delay = (failed.next_attempt_at - before).total_seconds()
        assert exp / 2 - 1 <= delay <= exp + 1
    assert [t.id for t in retries.retryable_tasks(PHASE)] == [task.id]
    assert retries.retryable_tasks("PHASE_DESIGN") == []
    claim(uow, queue, agent, task.id)
    dead = queue.fail_task(task.id, agent.id, "429 Too Many Requests")
    assert dead.status == "failed" and "retries exhausted (3 of 3)" in dead.error
    assert retries.retryable_tasks() == []


def test_permanent_failure_goes_straight_to_dead_letters_and_retries_by_hand(uow, ticket, agent):
    queue, retries = QueueService(uow), RetryService(uow)
    task = queue.create_task(ticket.id, PHASE, "needs secrets")
    claim(uow, queue, agent, task.id)
    failed = queue.fail_task(task.id, agent.id, "Permission denied: /srv/secrets")
    assert (failed.status, failed.retry_count, failed.error_class) == ("failed", 0, "permanent")
    [letter] = retries.failed_tasks()
    assert letter.task_id == task.id and "permanent: matched 'permission denied'" in letter.error
    again = retries.retry_task(task.id)
    assert (again.status, again.retry_count, again.assigned_agent_id) == ("pending", 0, None)
    assert retries.failed_tasks() == []
    assert queue.claim_next_task(agent.id).id == task.id
    with pytest.raises(Conflict, match="only failed or cancelled"):
        retries.retry_task(task.id)


def test_workflow_patterns_override_defaults(uow, project, ticket, agent):
    from phaseloom.db.models import WorkflowRow

    with uow:
        row = uow.session.get(WorkflowRow, project.workflow_id)
        row.settings = {**row.settings, "failure_patterns": {"permanent": ["flux capacitor"]}}
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, PHASE, "t")
    claim(uow, queue, agent, task.id)
    assert queue.fail_task(task.id, agent.id, "flux capacitor timeout").status == "failed"


def test_running_task_past_timeout_fails_as_retryable_timeout(uow, ticket, agent):
    queue, retries = QueueService(uow), RetryService(uow)
    slow = queue.create_task(ticket.id, PHASE, "slow", timeout_seconds=60)
    quick = queue.create_task(ticket.id, PHASE, "quick", timeout_seconds=600)
    for task in (slow, quick):
        claim(uow, queue, agent, task.id)
        queue.start_task(task.id, agent.id)
    with uow:
        uow.session.execute(update(Task).values(started_at=utcnow() - timedelta(seconds=120)))
    assert retries.fail_timed_out_tasks() == [slow.id]
    timed_out = queue.get(slow.id)
    assert (timed_out.status, timed_out.error_class, timed_out.retry_count) == ("pending", "retryable", 1)
    assert "timed out after" in timed_out.error
    assert queue.get(quick.id).status == "running"
    assert [t.id for t in retries.retryable_tasks()] == [slow.id]


def test_a_completed_task_whose_work_would_not_merge_is_failed_and_its_dependents_wait_again(uow, ticket, agent):
    """Its agent's complete_task released its dependents; the merge then failed: they must wait for the retry."""
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, PHASE, "write it")
    dependent = queue.create_task(ticket.id, PHASE, "use it", depends_on=[task.id])
    claim(uow, queue, agent, task.id)
    queue.start_task(task.id, agent.id, merge_after=True)
    queue.complete_task(task.id, agent.id, {"summary": "wrote it"})
    assert queue.get(dependent.id).unmet_dependencies == 0

    failed = RetryService(uow).fail_unmerged(task.id, agent.id, "merge_failed: git said no")

    assert (failed.status, failed.retry_count, failed.awaiting_merge, failed.completed_at) == ("pending", 1, False, None)
    assert failed.error == "merge_failed: git said no" and failed.error_class == "retryable"
    assert queue.get(dependent.id).unmet_dependencies == 1
    assert queue.claim_next_task(agent.id) is None  # neither is due: the task backs off, the dependent waits
    claim(uow, queue, agent, task.id)
    queue.complete_task(task.id, agent.id, {"summary": "wrote it again"})
    assert queue.get(dependent.id).unmet_dependencies == 0


def test_a_merged_task_is_not_failed_by_a_late_merge_failure(uow, ticket, agent):
    """Once its worker said it merged (awaiting_merge cleared), a completed task is done for good."""
    from phaseloom.domain.errors import TaskNotClaimable

    queue = QueueService(uow)
    task = queue.create_task(ticket.id, PHASE, "write it")
    claim(uow, queue, agent, task.id)
    queue.start_task(task.id, agent.id, merge_after=True)
    queue.complete_task(task.id, agent.id, {"summary": "wrote it"})
    queue.merged(task.id)
    with pytest.raises(TaskNotClaimable):
        RetryService(uow).fail_unmerged(task.id, agent.id, "merge_failed: too late")
    assert queue.get(task.id).status == "completed"
