"""``/api/mcp-policies`` through the FastAPI app (in-process HTTP), admin only."""

from __future__ import annotations

from fastapi.testclient import TestClient

from phaseloom.api.app import create_app
from phaseloom.config import Settings
from phaseloom.services.auth import AuthService
from phaseloom.services.mcp_policies import McpPolicyService


def test_admin_adds_lists_and_deletes_policies_agents_may_not(db, uow, project):
    admin = AuthService(uow).create_admin_token()
    _agent, agent_token = AuthService(uow).register_agent("a", agent_type="worker")
    client = TestClient(create_app(db, Settings(database_url=db.url)))
    as_admin = {"Authorization": f"Bearer {admin}"}
    body = {"workflow": "software_development", "agent_type": "worker", "phase": "PHASE_TESTING",
            "deny": ["change_ticket_status"]}
    created = client.post("/api/mcp-policies", json=body, headers=as_admin)
    assert created.status_code == 201 and created.json()["deny"] == ["change_ticket_status"]
    listed = client.get("/api/mcp-policies", params={"workflow": "software_development"}, headers=as_admin).json()
    assert [p["id"] for p in listed["items"]] == [created.json()["id"]]
    [policy] = McpPolicyService(uow).effective(created.json()["workflow_id"])
    assert policy.deny == ("change_ticket_status",)
    refused = client.post("/api/mcp-policies", json=body, headers={"Authorization": f"Bearer {agent_token}"})
    assert refused.status_code == 403
    invalid = client.post("/api/mcp-policies", json={**body, "deny": [""]}, headers=as_admin)
    assert invalid.status_code == 422
    assert client.delete(f"/api/mcp-policies/{created.json()['id']}", headers=as_admin).status_code == 204
    assert client.delete(f"/api/mcp-policies/{created.json()['id']}", headers=as_admin).status_code == 404
