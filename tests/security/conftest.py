"""Two projects, two agents bound to one project each, each holding one claimed task, over real HTTP."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from phaseloom.services.auth import AuthService
from phaseloom.db.unit_of_work import UnitOfWork
from tests.api.conftest import TINY_WORKFLOW
from tests.api.live_server import LiveServer


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Side:
    """One project's agent, its token, its ticket and the task it claimed."""

    project_id: int
    agent_id: str
    token: str
    ticket_id: int
    task_id: int


@dataclass
class Scene:
    base: str
    admin_token: str
    alice: Side
    bob: Side


@pytest.fixture
def live(db):
    with LiveServer(db) as server:
        yield server


def _side(http: httpx.Client, project: str, agent: str) -> Side:
    project_id = http.post("/api/projects", json={"name": project, "workflow": "tiny"}).json()["id"]
    registered = http.post("/api/agents", json={"name": agent, "project_id": project_id}).json()
    token = registered["token"]
    ticket = http.post("/api/tickets", json={"project": project, "title": f"{project} work"}).json()
    made = http.post("/api/tasks", json={"ticket_id": ticket["id"], "phase_id": "PHASE_TODO", "title": "do it"})
    assert made.status_code == 201, made.text
    claimed = http.post("/api/tasks/claim", json={}, headers=bearer(token)).json()["task"]
    assert claimed["id"] == made.json()["id"]
    return Side(project_id, registered["agent"]["id"], token, ticket["id"], claimed["id"])


@pytest.fixture
def scene(db, live) -> Scene:
    admin = AuthService(UnitOfWork(db)).create_admin_token(label="security tests")
    with httpx.Client(base_url=live.http, headers=bearer(admin), timeout=60) as http:
        loaded = http.post("/api/workflows", content=TINY_WORKFLOW, headers={"content-type": "application/yaml"})
        assert loaded.status_code == 200, loaded.text
        alice = _side(http, "alpha", "alice")
        bob = _side(http, "beta", "bob")
    return Scene(live.http, admin, alice, bob)
