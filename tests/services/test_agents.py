from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from phaseloom.db.models import Agent, SystemEvent
from phaseloom.db.models.base import utcnow
from phaseloom.domain.errors import Conflict, InvalidInput, NotFound
from phaseloom.services.agents import AgentService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService


@pytest.fixture
def ticket(uow, project):
    return TicketService(uow).create_ticket(project.id, "ticket")


def _silence(uow, agent_id: str, seconds: float) -> None:
    with uow:
        uow.session.execute(update(Agent).where(Agent.id == agent_id)
                            .values(last_heartbeat_at=utcnow() - timedelta(seconds=seconds)))


def _events(uow, event_type: str) -> list[SystemEvent]:
    with uow:
        return list(uow.session.scalars(select(SystemEvent).where(SystemEvent.event_type == event_type)))


def test_register_keeps_type_runtime_phase_capabilities_and_host(uow, project):
    agents = AgentService(uow)
    agent = agents.register_agent("impl-1", agent_type="validator", runtime="command", phase_id="PHASE_DESIGN",
                                  capabilities=["python", "git", "python"], capacity=3, host="box-7")
    again = agents.get(agent.id)
    assert (again.agent_type, again.runtime, again.phase_id) == ("validator", "command", "PHASE_DESIGN")
    assert again.capabilities == ["git", "python"]
    assert (again.capacity, again.host, again.status, again.health) == (3, "box-7", "idle", "healthy")
    assert _events(uow, "agent.registered")[0].payload["host"] == "box-7"


def test_register_rejects_blank_name_and_zero_capacity(uow):
    with pytest.raises(InvalidInput):
        AgentService(uow).register_agent("  ")
    with pytest.raises(InvalidInput):
        AgentService(uow).register_agent("a", capacity=0)


def test_stale_agent_goes_offline_and_its_lease_returns_to_the_queue(uow, ticket):
    agents, queue = AgentService(uow), QueueService(uow)
    task = queue.create_task(ticket.id, "PHASE_REQUIREMENTS", "write requirements")
    silent = agents.register_agent("silent")
    alive = agents.register_agent("alive")
    assert queue.claim_next_task(silent.id).id == task.id
    _silence(uow, silent.id, 120)

    assert agents.mark_stale_agents(60) == [silent.id]

    back = queue.get(task.id)
    assert (back.status, back.assigned_agent_id, back.retry_count) == ("pending", None, 1)
    assert agents.get(silent.id).status == "offline"
    assert agents.get(alive.id).status == "idle"
    offline = _events(uow, "agent.offline")
    assert [e.entity_id for e in offline] == [silent.id]
    assert offline[0].payload["reaped_tasks"] == [task.id]
    assert agents.mark_stale_agents(60) == []  # already offline: reported once


def test_heartbeat_brings_an_offline_agent_back(uow, project):
    agents = AgentService(uow)
    agent = agents.register_agent("flaky")
    _silence(uow, agent.id, 300)
    agents.mark_stale_agents(60)
    assert agents.heartbeat(agent.id).status == "idle"
    assert len(_events(uow, "agent.online")) == 1
    assert agents.health(agent.id).seconds_since_heartbeat < 5


def test_deregister_releases_tasks_without_spending_a_retry(uow, ticket):
    agents, queue = AgentService(uow), QueueService(uow)
    task = queue.create_task(ticket.id, "PHASE_REQUIREMENTS", "t")
    agent = agents.register_agent("leaving")
    queue.claim_next_task(agent.id)
    queue.start_task(task.id, agent.id)

    assert agents.deregister(agent.id, reason="shutdown") == [task.id]

    back = queue.get(task.id)
    assert (back.status, back.assigned_agent_id, back.retry_count) == ("pending", None, 0)
    assert agents.get(agent.id).status == "deregistered"
    with pytest.raises(Conflict):
        agents.heartbeat(agent.id)
    other = agents.register_agent("next")
    assert queue.claim_next_task(other.id).id == task.id


def test_capacity_and_load_give_free_slots(uow, ticket):
    agents, queue = AgentService(uow), QueueService(uow)
    for i in range(3):
        queue.create_task(ticket.id, "PHASE_REQUIREMENTS", f"t{i}")
    agent = agents.register_agent("wide", capacity=2)
    queue.claim_next_task(agent.id)
    assert agents.health(agent.id).free_slots == 1
    queue.claim_next_task(agent.id)
    assert agents.heartbeat(agent.id).status == "busy"
    assert agents.health(agent.id).free_slots == 0
    agents.set_capacity(agent.id, 4)
    report = {h.agent_id: h for h in agents.health_report()}
    assert (report[agent.id].active_tasks, report[agent.id].free_slots) == (2, 2)


def test_failures_degrade_health_and_a_success_restores_it(uow, project):
    agents = AgentService(uow)
    agent = agents.register_agent("shaky", capacity=2)
    healths = [agents.record_run(agent.id, succeeded=False, error=f"boom {i}").health for i in range(5)]
    assert healths == ["healthy", "degraded", "degraded", "degraded", "unhealthy"]
    assert agents.health(agent.id).free_slots == 0  # no dispatching to an unhealthy agent
    assert agents.health(agent.id).last_error == "boom 4"
    assert agents.record_run(agent.id, succeeded=True).health == "healthy"
    changes = [(e.payload["from"], e.payload["to"]) for e in _events(uow, "agent.health_changed")]
    assert changes == [("healthy", "degraded"), ("degraded", "unhealthy"), ("unhealthy", "healthy")]


def test_unknown_agent_is_not_found(uow):
    with pytest.raises(NotFound):
        AgentService(uow).heartbeat("nope")
