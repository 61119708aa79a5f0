"""Tokens: stored hashed, rotated, and scoped (an agent acts only on its own tasks and their ticket)."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import text

from phaseloom.services.auth import AuthService
from phaseloom.db.unit_of_work import UnitOfWork
from tests.api.conftest import bearer, register_agent


def _ticket_with_task(client, title: str) -> tuple[dict, dict]:
    ticket = client.post("/api/tickets", json={"project": "p", "title": title}).json()
    task = client.post("/api/tasks", json={"ticket_id": ticket["id"], "phase_id": "PHASE_TODO", "title": title})
    assert task.status_code == 201, task.text
    return ticket, task.json()


def test_agent_token_acts_only_on_its_own_tasks_and_ticket(client, tiny):
    alice, alice_token = register_agent(client, "alice")
    bob, bob_token = register_agent(client, "bob")
    ticket_a, _ = _ticket_with_task(client, "for alice")
    claimed = client.post("/api/tasks/claim", json={}, headers=bearer(alice_token)).json()["task"]
    assert claimed["assigned_agent_id"] == alice
    task_id = claimed["id"]

    # Bob may not claim as Alice, nor touch her task or her ticket.
    assert client.post("/api/tasks/claim", json={"agent_id": alice}, headers=bearer(bob_token)).status_code == 403
    for action, body in (("heartbeat", {}), ("complete", {"result": {}}), ("fail", {"error": "x"}), ("start", None)):
        response = client.post(f"/api/tasks/{task_id}/{action}", json=body, headers=bearer(bob_token))
        assert response.status_code == 403, (action, response.text)
        assert response.json()["error"]["code"] == "forbidden"
    move = client.post(f"/api/tickets/{ticket_a['id']}/transition", json={"to_phase_id": "PHASE_DOING"},
                       headers=bearer(bob_token))
    assert move.status_code == 403
    extra = {"ticket_id": ticket_a["id"], "phase_id": "PHASE_TODO", "title": "sneaky"}
    assert client.post("/api/tasks", json=extra, headers=bearer(bob_token)).status_code == 403
    assert client.post(f"/api/agents/{alice}/heartbeat", headers=bearer(bob_token)).status_code == 403

    # Alice may: heartbeat, spawn a task on her ticket, move her ticket (not forced), complete.
    assert client.post(f"/api/tasks/{task_id}/heartbeat", json={}, headers=bearer(alice_token)).status_code == 200
    assert client.post("/api/tasks", json=extra, headers=bearer(alice_token)).status_code == 201
    forced = client.post(f"/api/tickets/{ticket_a['id']}/transition",
                         json={"to_phase_id": "PHASE_DOING", "force": True}, headers=bearer(alice_token))
    assert forced.status_code == 403
    moved = client.post(f"/api/tickets/{ticket_a['id']}/transition", json={"to_phase_id": "PHASE_DOING"},
                        headers=bearer(alice_token))
    assert moved.status_code == 200
    history = client.get(f"/api/tickets/{ticket_a['id']}/history", headers=bearer(alice_token)).json()
    assert history[-1]["initiated_by"] == f"agent:{alice}"
    done = client.post(f"/api/tasks/{task_id}/complete", json={"result": {"ok": True}}, headers=bearer(alice_token))
    assert done.status_code == 200 and done.json()["status"] == "completed"
    assert client.post(f"/api/agents/{bob}/heartbeat", headers=bearer(bob_token)).status_code == 200


def test_tokens_are_stored_hashed_and_rotation_revokes(db, app, client, tiny):
    agent_id, agent_token = register_agent(client, "carol")
    with db.engine.connect() as conn:
        stored = [r[0] for r in conn.execute(text("SELECT token_hash FROM api_tokens"))]
        stored += [r[0] for r in conn.execute(text("SELECT token_hash FROM agents"))]
    admin_token = client.headers["authorization"].removeprefix("Bearer ")
    assert admin_token not in stored and agent_token not in stored
    assert all(len(h) == 64 for h in stored)

    new_admin = AuthService(UnitOfWork(db)).create_admin_token()
    assert client.get("/api/tickets").status_code == 401
    assert client.get("/api/tickets", headers=bearer(new_admin)).status_code == 200
    # Registering the agent again issues a new token; the old one stops working.
    again = client.post("/api/agents", json={"name": "carol", "agent_id": agent_id}, headers=bearer(new_admin))
    assert again.status_code == 201 and again.json()["token"] != agent_token
    assert client.get("/api/tickets", headers=bearer(agent_token)).status_code == 401
    assert client.get("/api/tickets", headers=bearer(again.json()["token"])).status_code == 200


def test_without_any_admin_token_only_loopback_callers_get_in(app):
    async def call(client_addr: tuple[str, int]) -> int:
        transport = httpx.ASGITransport(app=app, client=client_addr)
        async with httpx.AsyncClient(transport=transport, base_url="http://phaseloom") as http:
            return (await http.get("/api/workflows")).status_code

    assert asyncio.run(call(("127.0.0.1", 5000))) == 200
    assert asyncio.run(call(("10.1.2.3", 5000))) == 401
    AuthService(UnitOfWork(app.state.db)).create_admin_token()
    assert asyncio.run(call(("127.0.0.1", 5000))) == 401
