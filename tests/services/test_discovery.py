"""Discovery branching: work spawned in any phase, bypassing allowed_transitions by design."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from phaseloom.db.models import SystemEvent
from phaseloom.domain.errors import InvalidInput, InvalidTransition, NotFound
from phaseloom.services.discovery import DISCOVERY_TYPES, DiscoveryService
from phaseloom.services.progress import ProgressService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from tests.services.gate_support import ticket_in


@pytest.fixture
def testing_task(uow, project):
    """A running task of a ticket in PHASE_TESTING."""
    from phaseloom.db.models import Agent

    ticket_id = ticket_in(uow, project, "PHASE_TESTING")
    ProgressService(uow).start_ticket(ticket_id)
    with uow:
        uow.session.add(Agent(id="tester", name="tester", phase_id="PHASE_TESTING"))
    queue = QueueService(uow)
    task = queue.claim_next_task("tester")
    return queue.start_task(task.id, "tester")


def test_discovery_from_testing_spawns_requirements_work_a_transition_cannot(uow, testing_task):
    ticket_id = testing_task.ticket_id
    with pytest.raises(InvalidTransition, match="cannot move from PHASE_TESTING to PHASE_REQUIREMENTS"):
        TicketService(uow).transition(ticket_id, "PHASE_REQUIREMENTS")

    discovery = DiscoveryService(uow).record_discovery(
        testing_task.id, "missing_requirement", "Nothing says what happens after five failed logins",
        spawn_phase_id="PHASE_REQUIREMENTS", spawn_description="Specify the lockout after failed logins")
    assert (discovery.ticket_id, discovery.source_phase_id, discovery.status) == (ticket_id, "PHASE_TESTING", "open")
    spawned = QueueService(uow).get(discovery.spawned_task_ids[0])
    assert (spawned.phase_id, spawned.status, spawned.task_type) == ("PHASE_REQUIREMENTS", "pending", "discovery")
    assert spawned.title == "missing_requirement: Specify the lockout after failed logins"
    assert spawned.created_by == f"discovery:{discovery.id}"
    # The ticket stays where it was and the source task keeps running.
    assert TicketService(uow).get(ticket_id).phase_id == "PHASE_TESTING"
    assert QueueService(uow).get(testing_task.id).status == "running"
    with uow:
        events = uow.session.scalars(select(SystemEvent).where(SystemEvent.event_type.like("discovery.%"))
                                     .order_by(SystemEvent.id)).all()
        assert [e.event_type for e in events] == ["discovery.recorded", "discovery.branch_created"]
        assert events[1].payload["from_phase"] == "PHASE_TESTING"
        assert events[1].payload["to_phase"] == "PHASE_REQUIREMENTS"


def test_priority_boost_raises_one_level(uow, testing_task):
    service = DiscoveryService(uow)
    plain = service.record_discovery(testing_task.id, "bug_found", "off by one", "PHASE_IMPLEMENTATION")
    boosted = service.record_discovery(testing_task.id, "security_issue", "password logged",
                                       "PHASE_IMPLEMENTATION", priority_boost=True)
    queue = QueueService(uow)
    assert queue.get(plain.spawned_task_ids[0]).priority == "MEDIUM"
    assert queue.get(boosted.spawned_task_ids[0]).priority == "HIGH"


def test_unknown_phase_type_task_or_terminal_phase_are_errors(uow, testing_task):
    service = DiscoveryService(uow)
    with pytest.raises(InvalidInput, match="unknown phase 'PHASE_NOWHERE'"):
        service.record_discovery(testing_task.id, "bug_found", "x", "PHASE_NOWHERE")
    with pytest.raises(InvalidInput, match="unknown discovery type 'hunch'"):
        service.record_discovery(testing_task.id, "hunch", "x")
    with pytest.raises(InvalidInput, match="terminal phase"):
        service.record_discovery(testing_task.id, "bug_found", "x", "PHASE_DONE")
    with pytest.raises(NotFound):
        service.record_discovery(999_999, "bug_found", "x")
    with pytest.raises(InvalidInput, match="source task or a ticket"):
        service.record_discovery(None, "bug_found", "x")
    assert service.list() == []  # nothing half-recorded


def test_query_by_type_ticket_phase_status_and_update_status(uow, project, testing_task):
    service = DiscoveryService(uow)
    other_ticket = ticket_in(uow, project, title="other")
    a = service.record_discovery(testing_task.id, "bug_found", "a", "PHASE_IMPLEMENTATION")
    b = service.record_discovery(None, "clarification_needed", "b", ticket_id=other_ticket)
    c = service.record_discovery(testing_task.id, "technical_debt", "c", "PHASE_DESIGN")
    assert [d.id for d in service.list()] == [c.id, b.id, a.id]
    assert [d.id for d in service.list(ticket_id=testing_task.ticket_id)] == [c.id, a.id]
    assert [d.id for d in service.list(discovery_type="clarification_needed")] == [b.id]
    assert [d.id for d in service.list(phase_id="PHASE_DESIGN")] == [c.id]
    assert b.spawned_task_ids == [] and b.source_phase_id == "PHASE_BACKLOG"

    service.update_status(a.id, "in_progress")
    resolved = service.update_status(a.id, "resolved", note="fixed in task 9")
    assert resolved.resolved_at is not None
    assert [d.id for d in service.list(status="resolved")] == [a.id]
    assert [d.id for d in service.list(status="open")] == [c.id, b.id]
    with pytest.raises(InvalidInput, match="unknown discovery status"):
        service.update_status(a.id, "done")


def test_every_required_type_is_known():
    assert set(DISCOVERY_TYPES) >= {
        "bug_found", "optimization_opportunity", "clarification_needed", "new_component", "security_issue",
        "performance_issue", "missing_requirement", "technical_debt", "integration_issue", "diagnostic_no_result"}
