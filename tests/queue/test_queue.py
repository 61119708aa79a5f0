from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from phaseloom.db.models import Task
from phaseloom.db.models.base import utcnow
from phaseloom.domain.errors import TaskNotClaimable
from phaseloom.services.agents import AgentService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService


@pytest.fixture
def ticket(uow, project):
    return TicketService(uow).create_ticket(project.id, "ticket")


def test_claims_highest_priority_first(uow, ticket):
    queue = QueueService(uow)
    low = queue.create_task(ticket.id, "PHASE_REQUIREMENTS", "low", priority="LOW")
    high = queue.create_task(ticket.id, "PHASE_REQUIREMENTS", "high", priority="HIGH")
    agent = AgentService(uow).register_agent("a1")
    assert queue.claim_next_task(agent.id).id == high.id
    assert queue.claim_next_task(agent.id).id == low.id
    assert queue.claim_next_task(agent.id) is None


def test_dependencies_gate_readiness(uow, ticket):
    queue = QueueService(uow)
    first = queue.create_task(ticket.id, "PHASE_DESIGN", "first", priority="LOW")
    second = queue.create_task(ticket.id, "PHASE_DESIGN", "second", priority="CRITICAL", depends_on=[first.id])
    agent = AgentService(uow).register_agent("a1")
    claimed = queue.claim_next_task(agent.id)
    assert claimed.id == first.id
    assert queue.claim_next_task(agent.id) is None
    queue.complete_task(first.id, agent.id, {"ok": True})
    assert queue.claim_next_task(agent.id).id == second.id


def test_a_completion_releases_every_waiting_task_and_each_waits_for_all_it_needs(uow, ticket):
    queue = QueueService(uow)
    first = queue.create_task(ticket.id, "PHASE_DESIGN", "first", priority="LOW")
    second = queue.create_task(ticket.id, "PHASE_DESIGN", "second", priority="LOW")
    after_first = queue.create_task(ticket.id, "PHASE_DESIGN", "after first", priority="HIGH", depends_on=[first.id])
    after_both = queue.create_task(ticket.id, "PHASE_DESIGN", "after both", priority="CRITICAL",
                                   depends_on=[first.id, second.id])
    agent = AgentService(uow).register_agent("a1")
    assert queue.claim_next_task(agent.id).id == first.id  # same priority: the older one
    queue.complete_task(first.id, agent.id)
    assert [queue.get(t.id).unmet_dependencies for t in (after_first, after_both)] == [0, 1]
    assert queue.claim_next_task(agent.id).id == after_first.id
    assert queue.claim_next_task(agent.id).id == second.id
    queue.complete_task(second.id, agent.id)
    assert queue.claim_next_task(agent.id).id == after_both.id


def test_phase_specialised_and_capability_matching(uow, ticket):
    queue = QueueService(uow)
    design = queue.create_task(ticket.id, "PHASE_DESIGN", "design")
    needs_py = queue.create_task(ticket.id, "PHASE_IMPLEMENTATION", "code", required_capabilities=["python"])
    agents = AgentService(uow)
    tester = agents.register_agent("tester", phase_id="PHASE_TESTING")
    generalist = agents.register_agent("generalist", capabilities=["docs"])
    pythonista = agents.register_agent("py", capabilities=["python", "docs"])
    assert queue.claim_next_task(tester.id) is None
    assert queue.claim_next_task(generalist.id).id == design.id
    assert queue.claim_next_task(generalist.id) is None
    assert queue.claim_next_task(pythonista.id).id == needs_py.id


def test_an_agent_registered_again_with_other_rules_claims_by_the_new_rules(uow, ticket):
    """A worker process remembers its agents' claim rules; a change in the registry still wins at once."""
    queue = QueueService(uow)
    agents = AgentService(uow)
    design = [queue.create_task(ticket.id, "PHASE_DESIGN", f"design {n}", priority="HIGH") for n in range(3)]
    needs_py = queue.create_task(ticket.id, "PHASE_IMPLEMENTATION", "code", required_capabilities=["python"],
                                 priority="CRITICAL")
    tester = queue.create_task(ticket.id, "PHASE_TESTING", "test", priority="LOW")
    agent = agents.register_agent("changing", phase_id="PHASE_DESIGN")
    assert queue.claim_next_task(agent.id).id == design[0].id
    # Design work is still waiting, but the agent now tests: claiming by its old rules would take design work.
    agents.register_agent("changing", agent_id=agent.id, phase_id="PHASE_TESTING")
    assert queue.claim_next_task(agent.id).id == tester.id
    # Any phase now, with python: the critical task first.
    agents.register_agent("changing", agent_id=agent.id, capabilities=["python"])
    assert queue.claim_next_task(agent.id).id == needs_py.id
    assert queue.claim_next_task(agent.id).id == design[1].id


def test_tasks_of_a_ticket_blocked_by_another_are_held(uow, project):
    tickets = TicketService(uow)
    first = tickets.create_ticket(project.id, "first")
    second = tickets.create_ticket(project.id, "second", blocked_by=[first.id])
    queue = QueueService(uow)
    queue.create_task(second.id, "PHASE_REQUIREMENTS", "held")
    agent = AgentService(uow).register_agent("a")
    assert queue.claim_next_task(agent.id) is None


def test_retryable_failure_backs_off_then_permanent_fails(uow, ticket):
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, "PHASE_REQUIREMENTS", "flaky", max_retries=1)
    agent = AgentService(uow).register_agent("a")
    queue.claim_next_task(agent.id)
    failed = queue.fail_task(task.id, agent.id, "rate limited")
    assert (failed.status, failed.retry_count) == ("pending", 1)
    assert failed.next_attempt_at > utcnow()
    assert queue.claim_next_task(agent.id) is None  # not due yet
    with uow:
        uow.session.execute(update(Task).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    assert queue.claim_next_task(agent.id).id == task.id
    final = queue.fail_task(task.id, agent.id, "rate limited again")
    assert final.status == "failed"


def test_only_the_assignee_may_complete(uow, ticket):
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, "PHASE_REQUIREMENTS", "t")
    agents = AgentService(uow)
    owner, other = agents.register_agent("owner"), agents.register_agent("other")
    queue.claim_next_task(owner.id)
    with pytest.raises(TaskNotClaimable):
        queue.complete_task(task.id, other.id)
    assert queue.get(task.id).status == "claimed"


def test_expired_lease_returns_task_with_retry_count(uow, ticket):
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, "PHASE_REQUIREMENTS", "t", max_retries=2)
    agent = AgentService(uow).register_agent("a")
    queue.claim_next_task(agent.id, lease_seconds=0.001)
    with uow:
        uow.session.execute(update(Task).values(lease_expires_at=utcnow() - timedelta(seconds=5)))
    assert queue.reap_expired_leases() == [task.id]
    reaped = queue.get(task.id)
    assert (reaped.status, reaped.retry_count, reaped.assigned_agent_id) == ("pending", 1, None)
