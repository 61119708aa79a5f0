"""``/api/costs``, ``/api/budgets`` and ``/api/stats`` through the app."""

from __future__ import annotations

import pytest

from phaseloom.config import ModelPrice, Settings
from phaseloom.services.auth import AuthService
from phaseloom.services.costs import CostService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from tests.api.conftest import bearer


@pytest.fixture
def spent(uow, project):
    ticket = TicketService(uow).create_ticket(project.id, "paid")
    queue = QueueService(uow)
    first = queue.create_task(ticket.id, "PHASE_REQUIREMENTS", "r")
    second = queue.create_task(ticket.id, "PHASE_DESIGN", "d")
    costs = CostService(uow, Settings(pricing={"default": ModelPrice(input_per_million=1.0)}))
    costs.record_usage(first.id, None, "m1", 1_000_000, 0)
    costs.record_usage(second.id, None, "m2", 3_000_000, 0)
    return ticket, first, second


def test_costs_grouped_and_per_task(client, spent):
    body = client.get("/api/costs", params={"group_by": "model", "since": "2000-01-01T00:00:00Z"}).json()
    assert body["total"] == 4.0 and [(g["key"], g["amount"]) for g in body["groups"]] == [("m2", 3.0), ("m1", 1.0)]
    by_project = client.get("/api/costs", params={"group_by": "project", "project": "demo"}).json()
    assert by_project["groups"][0]["records"] == 2
    assert client.get("/api/costs", params={"since": "2999-01-01T00:00:00Z"}).json()["groups"] == []
    assert client.get("/api/costs", params={"group_by": "colour"}).status_code == 422
    records = client.get(f"/api/costs/tasks/{spent[1].id}").json()
    assert [(r["model"], r["amount"]) for r in records] == [("m1", 1.0)]


def test_budget_crud_stops_claims_and_a_raise_resumes(client, uow, spent):
    ticket, first, _ = spent
    created = client.post("/api/budgets", json={"scope": "ticket", "ticket_id": ticket.id, "limit": 3.5})
    assert created.status_code == 201, created.text
    budget = created.json()
    assert (budget["spent"], budget["warned"], budget["exhausted"]) == (4.0, True, True)
    agent, token = AuthService(uow).register_agent("w")
    assert client.get("/api/budgets", params={"exhausted": True}).json()[0]["id"] == budget["id"]
    assert client.patch(f"/api/budgets/{budget['id']}", json={"limit": 9}, headers=bearer(token)).status_code == 403
    assert QueueService(uow).claim_next_task(agent.id) is None
    raised = client.patch(f"/api/budgets/{budget['id']}", json={"limit": 9}).json()
    assert (raised["limit"], raised["exhausted"], raised["warned"]) == (9.0, False, False)
    assert QueueService(uow).claim_next_task(agent.id).id == first.id
    assert client.delete(f"/api/budgets/{budget['id']}").status_code == 204
    assert client.get(f"/api/budgets/{budget['id']}").status_code == 404
    assert client.post("/api/budgets", json={"scope": "moon", "limit": 1}).status_code == 422
    assert client.post("/api/budgets", json={"scope": "project", "limit": 1}).status_code == 422


def test_stats_phase_table(client, spent):
    body = client.get("/api/stats", params={"project": "demo"}).json()
    depth = {p["phase_id"]: p["queue_depth"] for p in body["phases"]}
    assert depth["PHASE_REQUIREMENTS"] == 1 and depth["PHASE_DESIGN"] == 1
    assert body["bottleneck"] in depth and body["anomalies"] == []
    assert client.get("/api/stats", params={"project": "nope"}).status_code == 404
    assert client.get("/api/stats/baselines").json() == []
