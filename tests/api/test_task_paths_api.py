"""Path globs over HTTP: declared on creation, returned in the task's shape with what it waits for."""

from __future__ import annotations

from tests.api.conftest import register_agent


def test_a_task_waiting_on_anothers_paths_says_so(client, tiny):
    ticket = client.post("/api/tickets", json={"project": "p", "title": "t"}).json()
    first = client.post("/api/tasks", json={"ticket_id": ticket["id"], "phase_id": "PHASE_TODO", "title": "auth",
                                            "priority": "HIGH", "paths": ["src/auth/**"]})
    assert first.status_code == 201, first.text
    assert first.json()["paths"] == ["src/auth/**"] and first.json()["waits_for"] is None
    second = client.post("/api/tasks", json={"ticket_id": ticket["id"], "phase_id": "PHASE_TODO",
                                             "title": "login", "paths": ["./src/auth/login.py"]}).json()
    agent_id, _ = register_agent(client, "w")
    claimed = client.post("/api/tasks/claim", json={"agent_id": agent_id}).json()["task"]
    assert claimed["id"] == first.json()["id"] and claimed["paths"] == ["src/auth/**"]
    assert client.post("/api/tasks/claim", json={"agent_id": agent_id}).json()["task"] is None
    shown = client.get(f"/api/tasks/{second['id']}").json()
    assert shown["paths"] == ["src/auth/login.py"]
    assert shown["waits_for"] == f"waits for task {claimed['id']}: src/auth/**"
    listed = {t["id"]: t for t in client.get("/api/tasks", params={"ticket_id": ticket["id"]}).json()["items"]}
    assert listed[second["id"]]["waits_for"] == shown["waits_for"]


def test_a_bad_glob_is_refused_with_a_clear_error_and_nothing_created(client, tiny):
    ticket = client.post("/api/tickets", json={"project": "p", "title": "t"}).json()
    refused = client.post("/api/tasks", json={"ticket_id": ticket["id"], "phase_id": "PHASE_TODO", "title": "x",
                                              "paths": ["../outside/**"]})
    assert refused.status_code == 422
    assert "leaves the repository" in refused.text
    assert client.get("/api/tasks", params={"ticket_id": ticket["id"]}).json()["items"] == []
