from __future__ import annotations

from datetime import timedelta

import pytest

from phaseloom.db.models.base import utcnow
from phaseloom.db.models.gates import GateResult
from phaseloom.services.agents import AgentService
from phaseloom.services.diagnostics import DiagnosticsService
from phaseloom.services.discovery import DiscoveryService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService

HOUR = timedelta(hours=1)


@pytest.fixture
def tickets(uow, project):
    return TicketService(uow)


def service(uow, **kw):
    return DiagnosticsService(uow, idle_seconds=1800, cooldown_seconds=3600, max_diagnoses_per_ticket=2, **kw)


def finish(uow, task):
    queue = QueueService(uow)
    agent = AgentService(uow).register_agent(f"worker-{task.id}")
    assert queue.claim_next_task(agent.id).id == task.id
    queue.complete_task(task.id, agent.id, {})


def test_fires_once_then_respects_open_task_cooldown_and_cap(uow, project, tickets):
    ticket = tickets.create_ticket(project.id, "Clarify the acceptance criteria")
    tickets.transition(ticket.id, "PHASE_REQUIREMENTS")
    diagnostics, queue = service(uow), QueueService(uow)
    now = utcnow() + HOUR

    [outcome] = diagnostics.diagnose(now=now)
    assert outcome.diagnosed and outcome.trigger == "idle"
    assert outcome.phase_id == "PHASE_REQUIREMENTS"  # from the words "clarify" and "acceptance"
    [recovery_id] = outcome.recovery_task_ids
    recovery = queue.get(recovery_id)
    assert (recovery.priority, recovery.status, recovery.phase_id) == ("HIGH", "pending", "PHASE_REQUIREMENTS")
    [discovery] = DiscoveryService(uow).list(ticket_id=ticket.id)
    assert discovery.discovery_type == "diagnostic_no_result" and discovery.spawned_task_ids == [recovery_id]
    [diagnosis] = diagnostics.list(ticket_id=ticket.id)
    assert diagnosis.evidence and diagnosis.recommendation and diagnosis.inferred_from == "keywords"

    # The recovery task is open: the ticket is active again, and even if it were not, no new diagnosis.
    assert diagnostics.diagnose(now=now + 3 * HOUR) == []
    finish(uow, recovery)
    later = utcnow() + 1.5 * HOUR  # idle again, but only 30 min after the diagnosis: cooldown
    [skipped] = diagnostics.diagnose(now=later)
    assert not skipped.diagnosed and "cooldown" in skipped.reason
    # A fresh service (a restart) reads the same guards from the database.
    [second] = service(uow).diagnose(now=later + 2 * HOUR)
    assert second.diagnosed
    finish(uow, queue.get(second.recovery_task_ids[0]))
    [capped] = service(uow).diagnose(now=later + 6 * HOUR)
    assert not capped.diagnosed and "cap of 2" in capped.reason
    assert len(diagnostics.list(ticket_id=ticket.id)) == 2


def test_healthy_tickets_are_left_alone(uow, project, tickets):
    busy = tickets.create_ticket(project.id, "busy")
    QueueService(uow).create_task(busy.id, "PHASE_BACKLOG", "triage")
    tickets.create_ticket(project.id, "just created")
    done = tickets.create_ticket(project.id, "blocked one")
    tickets.block(done.id, "waiting for the customer")
    assert service(uow).find_stuck_tickets() == []
    # Hours later only the idle new ticket counts; the busy and the blocked one never do.
    assert [s.ticket_id for s in service(uow).find_stuck_tickets(now=utcnow() + HOUR)] == [2]


def test_failing_gate_is_diagnosed_at_once_in_the_gate_phase(uow, project, tickets):
    ticket = tickets.create_ticket(project.id, "gate")
    tickets.transition(ticket.id, "PHASE_REQUIREMENTS")
    finish(uow, QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "write it"))
    with uow:
        uow.session.add(GateResult(ticket_id=ticket.id, phase_id="PHASE_REQUIREMENTS", passed=False,
                                   outcomes=[], blocking_reasons=["requirements.md is missing"]))
    [stuck] = service(uow).find_stuck_tickets()
    assert (stuck.trigger, stuck.phase_id, stuck.inferred_from) == ("gate_failing", "PHASE_REQUIREMENTS", "gate")
    assert "requirements.md is missing" in stuck.recommendation


def test_recent_failures_point_at_their_phase_and_dry_run_writes_nothing(uow, project, tickets):
    ticket = tickets.create_ticket(project.id, "failing")
    queue = QueueService(uow)
    agent = AgentService(uow).register_agent("a")
    for i in range(3):
        task = queue.create_task(ticket.id, "PHASE_DESIGN", f"attempt {i}")
        queue.claim_next_task(agent.id)
        queue.fail_task(task.id, agent.id, "permission denied")
    diagnostics = service(uow)
    [outcome] = diagnostics.diagnose(dry_run=True)
    assert (outcome.trigger, outcome.phase_id, outcome.diagnosed) == ("tasks_failing", "PHASE_DESIGN", False)
    assert diagnostics.list() == [] and queue.count_by_status() == {"failed": 3}


def test_looking_for_stuck_tickets_costs_the_same_queries_for_3_or_30_tickets(db, uow, project, tickets):
    from sqlalchemy import event

    def statements_for_a_scan() -> int:
        sent = []
        listener = lambda *args: sent.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert service(uow).find_stuck_tickets(project_id=project.id) == []
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(sent)

    def add_busy_tickets(count: int) -> None:
        for n in range(count):
            ticket = tickets.create_ticket(project.id, f"busy {n}")
            QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "in the queue")

    add_busy_tickets(3)
    few = statements_for_a_scan()
    add_busy_tickets(27)
    assert statements_for_a_scan() == few
