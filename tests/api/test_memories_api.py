"""``/api/memories``: save and search over HTTP, with the same errors as every route."""

from __future__ import annotations

from tests.api.conftest import bearer, register_agent


def test_admin_saves_for_a_project_and_searches(client, tiny):
    project_id = tiny["id"]
    created = client.post("/api/memories", json={"content": "Migrations must run before the worker starts",
                                                  "memory_type": "learning", "project_id": project_id,
                                                  "tags": ["deploy"]})
    assert created.status_code == 201 and created.json()["action"] == "created"
    found = client.get("/api/memories", params={"q": "worker migrations", "project_id": project_id,
                                                "mode": "keyword"})
    assert found.status_code == 200
    body = found.json()
    assert body["mode"] == "keyword"
    assert [h["memory"]["content"] for h in body["hits"]] == ["Migrations must run before the worker starts"]
    assert body["hits"][0]["keyword_rank"] == 1


def test_bad_input_and_scoping(client, tiny):
    project_id = tiny["id"]
    assert client.post("/api/memories", json={"content": "x", "memory_type": "gossip",
                                              "project_id": project_id}).status_code == 422
    missing = client.post("/api/memories", json={"content": "x", "memory_type": "learning"})
    assert missing.status_code == 422 and "task_id or a project_id" in missing.json()["error"]["message"]
    assert client.get("/api/memories", params={"q": ""}).status_code == 422
    _, token = register_agent(client, "a1")
    as_agent = client.post("/api/memories", json={"content": "x", "memory_type": "learning",
                                                  "project_id": project_id}, headers=bearer(token))
    assert as_agent.status_code == 403


def test_the_memories_a_task_was_given_are_listed_for_it(client, tiny, db):
    from phaseloom.services.instructions import InstructionService
    from phaseloom.db.unit_of_work import UnitOfWork

    ticket = client.post("/api/tickets", json={"project": "p", "title": "Flaky upload"}).json()
    task = client.post("/api/tasks", json={"ticket_id": ticket["id"], "phase_id": "PHASE_TODO",
                                           "title": "Make the upload retry"}).json()
    assert client.get(f"/api/memories/preloaded/{task['id']}").json() == []
    saved = client.post("/api/memories", json={"content": "Upload retries need a backoff", "memory_type": "learning",
                                                "project_id": tiny["id"]}).json()["memory"]
    text = InstructionService(UnitOfWork(db), memory_semantic=False).build_instructions(task["id"])
    assert "Upload retries need a backoff" in text
    listed = client.get(f"/api/memories/preloaded/{task['id']}")
    assert listed.status_code == 200
    assert [(m["rank"], m["memory_id"], m["content"]) for m in listed.json()] == \
        [(1, saved["id"], "Upload retries need a backoff")]
    detail = client.get(f"/api/ui/tasks/{task['id']}").json()
    assert [m["memory_id"] for m in detail["preloaded_memories"]] == [saved["id"]]
    assert client.get("/api/memories/preloaded/999999").status_code == 404
    _, token = register_agent(client, "not-assigned")
    assert client.get(f"/api/memories/preloaded/{task['id']}", headers=bearer(token)).status_code == 403
