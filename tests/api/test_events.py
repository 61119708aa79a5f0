"""``GET /api/events`` over real HTTP: paging by ``since``, filters, bad input, auth and agent scope."""

from __future__ import annotations

import httpx
import pytest

from phaseloom.services.auth import AuthService
from phaseloom.db.unit_of_work import UnitOfWork
from tests.api.live_server import LiveServer


@pytest.fixture
def server(db):
    with LiveServer(db) as live:
        yield live


def emit(db, event_type: str, **where) -> None:
    uow = UnitOfWork(db)
    with uow:
        uow.emit(event_type, "thing", 1, **where)


def get_events(server, token: str | None = None, **params) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{server.http}/api/events", params=params, headers=headers, timeout=10)


def test_pages_through_the_outbox_with_since(server, db):
    for n in range(5):
        emit(db, f"e.{n}")
    first = get_events(server, limit=2).json()
    assert [e["event_type"] for e in first["events"]] == ["e.0", "e.1"]
    assert first["has_more"] is True
    seen, since = [], 0
    while True:
        page = get_events(server, since=since, limit=2).json()
        seen += [e["event_type"] for e in page["events"]]
        since = page["last_id"]
        if not page["has_more"]:
            break
    assert seen == [f"e.{n}" for n in range(5)]
    empty = get_events(server, since=since).json()
    assert empty == {"events": [], "last_id": since, "has_more": False}


def test_filters_by_project_ticket_phase_and_types(server, db):
    emit(db, "task.created", project_id=1, ticket_id=5, phase_id="PHASE_DESIGN")
    emit(db, "task.failed", project_id=1, ticket_id=6, phase_id="PHASE_TESTING")
    emit(db, "task.created", project_id=2, ticket_id=7, phase_id="PHASE_DESIGN")

    def tickets(**params):
        response = get_events(server, **params)
        assert response.status_code == 200, response.text
        return [e["ticket_id"] for e in response.json()["events"]]

    assert tickets(project_id=1) == [5, 6]
    assert tickets(ticket_id=7) == [7]
    assert tickets(phase_id="PHASE_DESIGN") == [5, 7]
    assert tickets(types="task.failed,ticket.blocked") == [6]
    assert tickets(project_id=1, types="task.created") == [5]


def test_a_ticket_created_through_the_api_is_in_the_outbox(server, project):
    created = httpx.post(f"{server.http}/api/tickets", json={"project": "demo", "title": "Add login"})
    assert created.status_code == 201, created.text
    events = get_events(server, ticket_id=created.json()["id"]).json()["events"]
    assert events[0]["event_type"] == "ticket.created"
    assert events[0]["project_id"] == project.id
    assert events[0]["entity_type"] == "ticket"


def test_bad_parameters_are_422(server):
    for params in ({"since": -1}, {"since": "x"}, {"limit": 0}, {"limit": 100_000}, {"project_id": 0},
                   {"ticket_id": 2**40}, {"phase_id": "P" * 101}):
        response = get_events(server, **params)
        assert response.status_code == 422, params
        assert response.json()["error"]["code"] == "invalid_input"


def test_a_token_is_required_once_auth_is_configured(server, db):
    token = AuthService(UnitOfWork(db)).create_admin_token()
    refused = get_events(server)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthenticated"
    assert get_events(server, token="plt_admin_1.nope").status_code == 401
    assert get_events(server, token=token).status_code == 200


def test_an_agent_reads_only_its_own_projects_events(server, db, project):
    from phaseloom.services.projects import ProjectService

    other = ProjectService(UnitOfWork(db)).create_project("other", "software_development")
    AuthService(UnitOfWork(db)).create_admin_token()
    _agent, agent_token = AuthService(UnitOfWork(db)).register_agent("coder", project_id=project.id)
    emit(db, "mine", project_id=project.id)
    emit(db, "theirs", project_id=other.id)
    own = get_events(server, token=agent_token, types="mine,theirs").json()["events"]
    assert [e["event_type"] for e in own] == ["mine"]
    assert get_events(server, token=agent_token, project_id=other.id).status_code == 403

