"""Timestamps the API serves carry a UTC offset, on SQLite and PostgreSQL: REST bodies (checked
against the OpenAPI document with format checking), ``GET /api/events`` and ``/ws``."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from tests.api.live_server import LiveServer
from tests.api.test_websocket import next_event, open_ws, until_ready


@pytest.fixture
def server(db):
    with LiveServer(db) as live:
        yield live


def timestamps_in(value, key: str = "") -> list[tuple[str, str]]:
    """Every ``*_at`` string anywhere in a body, with its key."""
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in timestamps_in(v, k)]
    if isinstance(value, list):
        return [found for v in value for found in timestamps_in(v, key)]
    return [(key, value)] if key.endswith("_at") and isinstance(value, str) else []


def events_until(ws, event_type: str) -> list[dict]:
    """The live events up to and including the first of ``event_type``."""
    events = [next_event(ws)]
    while events[-1]["event_type"] != event_type and len(events) < 50:
        events.append(next_event(ws))
    return events


class Api:
    """Requests to the live server; each answer is checked against the route's documented schema."""

    def __init__(self, server) -> None:
        self.base = server.http
        self.openapi = httpx.get(f"{self.base}/openapi.json", timeout=10).json()
        self.checked: list[tuple[str, object]] = []

    def call(self, method: str, route: str, token: str | None = None, **params) -> dict:
        path = route.format(**params.pop("path", {}))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.request(method, f"{self.base}{path}", headers=headers, timeout=10, **params)
        assert response.is_success, response.text
        documented = self.openapi["paths"][route][method.lower()]["responses"][str(response.status_code)]
        schema = {**self.openapi, **documented["content"]["application/json"]["schema"]}
        validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        error = best_match(validator.iter_errors(response.json()))
        assert error is None, (method, path, error.json_path, error.message)
        self.checked.append((f"{method} {route}", response.json()))
        return response.json()


def test_rest_bodies_and_events_carry_utc_timestamps(server, project):
    api = Api(server)
    with open_ws(server) as ws:
        assert until_ready(ws) == []
        ticket = api.call("POST", "/api/tickets", json={"project": "demo", "title": "Add login"})
        registered = api.call("POST", "/api/agents", json={"name": "worker"})
        token = registered["token"]
        task = api.call("POST", "/api/tasks", json={"ticket_id": ticket["id"], "phase_id": "PHASE_BACKLOG",
                                                    "title": "Triage"})
        task_path = {"task_id": task["id"]}
        claimed = api.call("POST", "/api/tasks/claim", token, json={"lease_seconds": 60})["task"]
        api.call("POST", "/api/tasks/{task_id}/start", token, path=task_path)
        api.call("POST", "/api/tasks/{task_id}/heartbeat", token, path=task_path, json={"lease_seconds": 120})
        api.call("POST", "/api/tasks/{task_id}/complete", token, path=task_path, json={"result": {"summary": "ok"}})
        live = events_until(ws, "task.completed")
    api.call("GET", "/api/tasks/{task_id}", path=task_path)
    api.call("GET", "/api/tickets/{ticket_id}", path={"ticket_id": ticket["id"]})
    api.call("GET", "/api/tickets/{ticket_id}/history", path={"ticket_id": ticket["id"]})
    api.call("GET", "/api/agents/{agent_id}", path={"agent_id": registered["agent"]["id"]})
    replayed = api.call("GET", "/api/events", params={"since": 0})["events"]

    assert claimed["id"] == task["id"] and claimed["lease_expires_at"] is not None
    assert {"ticket.created", "task.created", "task.assigned", "task.completed"} <= {e["event_type"] for e in live}
    stamps = [stamp for _, body in api.checked for stamp in timestamps_in(body)]
    stamps += [("created_at", e["created_at"]) for e in live]
    # The task's own clock readings, the ticket's, the history's and every event's at least.
    assert {"lease_expires_at", "claimed_at", "started_at", "completed_at", "created_at", "updated_at"} <= {
        key for key, _ in stamps}
    assert all(datetime.fromisoformat(value).utcoffset() == timedelta(0) for _, value in stamps), stamps
    assert {e["event_type"] for e in replayed} >= {"task.assigned", "task.completed"}
