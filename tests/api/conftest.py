"""An API client over the ``db`` fixture (SQLite and PostgreSQL), with admin and agent tokens."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from phaseloom.api.app import create_app
from phaseloom.config import Settings
from phaseloom.services.auth import AuthService
from phaseloom.db.unit_of_work import UnitOfWork

TINY_WORKFLOW = """\
name: tiny
phases:
  - id: PHASE_TODO
    allowed_transitions: [PHASE_DOING, PHASE_BLOCKED]
  - id: PHASE_DOING
    sequence_order: 1
    allowed_transitions: [PHASE_DONE, PHASE_TODO, PHASE_BLOCKED]
  - id: PHASE_DONE
    sequence_order: 2
    is_terminal: true
  - id: PHASE_BLOCKED
    sequence_order: 3
    is_terminal: true
    allowed_transitions: [PHASE_TODO, PHASE_DOING]
board_columns:
  - {id: todo, phase_mapping: [PHASE_TODO]}
  - {id: doing, phase_mapping: [PHASE_DOING], wip_limit: 1}
  - {id: done, phase_mapping: [PHASE_DONE]}
"""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def app(db):
    return create_app(db, Settings(database_url=db.url))


@pytest.fixture
def admin_token(db) -> str:
    return AuthService(UnitOfWork(db)).create_admin_token(label="tests")


@pytest.fixture
def client(app, admin_token):
    """A client that sends the admin token unless a request sets its own Authorization header."""
    with TestClient(app, headers=bearer(admin_token)) as test_client:
        yield test_client


@pytest.fixture
def tiny(client) -> dict:
    """The ``tiny`` workflow (uploaded over HTTP) and a project ``p`` using it."""
    loaded = client.post("/api/workflows", content=TINY_WORKFLOW, headers={"content-type": "application/yaml"})
    assert loaded.status_code == 200, loaded.text
    project = client.post("/api/projects", json={"name": "p", "workflow": "tiny"})
    assert project.status_code == 201, project.text
    return project.json()


def register_agent(client: TestClient, name: str, **extra) -> tuple[str, str]:
    """Register an agent over HTTP; return its id and token."""
    response = client.post("/api/agents", json={"name": name, **extra})
    assert response.status_code == 201, response.text
    body = response.json()
    return body["agent"]["id"], body["token"]
