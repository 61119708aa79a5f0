"""``/metrics`` scraped through the app: labelled series whose values match the database."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from phaseloom.config import ModelPrice, Settings
from phaseloom.db.models import GateResult, TaskDiscovery
from phaseloom.services.agents import AgentService
from phaseloom.services.costs import CostService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from tests.services.finished_tasks import finish


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


@pytest.fixture
def scene(uow, project):
    ticket = TicketService(uow).create_ticket(project.id, "observed")
    agents = AgentService(uow)
    analyst = agents.register_agent("analyst", phase_id="PHASE_REQUIREMENTS")
    fast = finish(uow, ticket.id, "PHASE_REQUIREMENTS", analyst.id, 3)
    finish(uow, ticket.id, "PHASE_REQUIREMENTS", analyst.id, 100)
    queue = QueueService(uow)
    queue.create_task(ticket.id, "PHASE_DESIGN", "d1", priority="HIGH")
    queue.create_task(ticket.id, "PHASE_DESIGN", "d2", priority="HIGH")
    queue.create_task(ticket.id, "PHASE_DESIGN", "d3", priority="LOW")
    builder = agents.register_agent("builder", phase_id="PHASE_IMPLEMENTATION", agent_type="builder")
    queue.create_task(ticket.id, "PHASE_IMPLEMENTATION", "code")
    queue.claim_next_task(builder.id)
    costs = CostService(uow, Settings(pricing={"default": ModelPrice(input_per_million=2.0)}))
    costs.record_usage(fast.id, analyst.id, "gpt-x", 1_000_000, 0)
    costs.record_usage(fast.id, analyst.id, "gpt-x", 500_000, 0)
    with uow:
        uow.session.add_all([
            GateResult(ticket_id=ticket.id, phase_id="PHASE_REQUIREMENTS", passed=False),
            GateResult(ticket_id=ticket.id, phase_id="PHASE_REQUIREMENTS", passed=True),
            GateResult(ticket_id=ticket.id, phase_id="PHASE_REQUIREMENTS", passed=True),
            TaskDiscovery(ticket_id=ticket.id, project_id=project.id, discovery_type="bug_found", description="x"),
        ])
    return ticket


def test_metrics_are_labelled_by_phase_and_match_the_database(client, scene):
    series = scrape(client)
    assert series[("phaseloom_tasks_queued", (("phase", "PHASE_DESIGN"), ("priority", "HIGH")))] == 2
    assert series[("phaseloom_tasks_queued", (("phase", "PHASE_DESIGN"), ("priority", "LOW")))] == 1
    assert series[("phaseloom_tasks_completed_total",
                   (("agent_type", "worker"), ("phase", "PHASE_REQUIREMENTS")))] == 2
    assert series[("phaseloom_agents_active", (("phase", "PHASE_IMPLEMENTATION"), ("type", "builder")))] == 1
    assert series[("phaseloom_gate_results_total", (("outcome", "passed"), ("phase", "PHASE_REQUIREMENTS")))] == 2
    assert series[("phaseloom_gate_results_total", (("outcome", "failed"), ("phase", "PHASE_REQUIREMENTS")))] == 1
    assert series[("phaseloom_cost_total", (("currency", "USD"), ("model", "gpt-x"),
                                            ("phase", "PHASE_REQUIREMENTS")))] == pytest.approx(3.0)
    assert series[("phaseloom_discoveries_total", (("type", "bug_found"),))] == 1

    labels = (("phase", "PHASE_REQUIREMENTS"), ("task_type", "work"))
    bucket = lambda le: series[("phaseloom_task_duration_seconds_bucket", tuple(sorted(labels + (("le", le),))))]  # noqa: E731
    assert (bucket("1.0"), bucket("5.0"), bucket("60.0"), bucket("120.0"), bucket("+Inf")) == (0, 1, 1, 2, 2)
    assert series[("phaseloom_task_duration_seconds_count", labels)] == 2
    assert series[("phaseloom_task_duration_seconds_sum", labels)] == pytest.approx(103, abs=0.01)


def test_every_instance_reports_the_same_truth(db, client, scene):
    """A second app over the same database (another ``serve``) scrapes identical figures."""
    from fastapi.testclient import TestClient

    from phaseloom.api.app import create_app

    with TestClient(create_app(db, Settings(database_url=db.url)), headers=dict(client.headers)) as other:
        assert scrape(other) == scrape(client)


def test_metrics_need_a_token(app, admin_token):
    from fastapi.testclient import TestClient

    with TestClient(app, client=("203.0.113.9", 5000)) as stranger:
        assert stranger.get("/metrics").status_code == 401
