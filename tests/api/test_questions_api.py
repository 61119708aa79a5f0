"""``GET /api/questions`` and ``POST /api/tasks/{id}/answer`` over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.queue import InputRequests, QueueService
from tests.api.conftest import bearer, register_agent

QUESTION = "Which port should the server listen on?"


@pytest.fixture
def asking(client, tiny, db):
    """A task of project ``p`` whose agent asked QUESTION: (task id, agent token)."""
    ticket = client.post("/api/tickets", json={"project": "p", "title": "serve it"}).json()
    task = client.post("/api/tasks", json={"ticket_id": ticket["id"], "phase_id": "PHASE_TODO", "title": "serve"}).json()
    agent_id, token = register_agent(client, "asker")
    claimed = client.post("/api/tasks/claim", json={}, headers=bearer(token))
    assert claimed.json()["task"]["id"] == task["id"]
    InputRequests(UnitOfWork(db)).ask(task["id"], agent_id, QUESTION, ["8080", "8765"])
    return task["id"], token


def test_the_question_is_listed_on_the_board_and_an_answer_queues_the_task_again(client, asking, tiny):
    task_id, _ = asking
    [question] = client.get("/api/questions", params={"project_id": tiny["id"]}).json()
    assert (question["task_id"], question["question"], question["options"]) == (task_id, QUESTION, ["8080", "8765"])
    assert question["ticket_title"] == "serve it"
    assert client.get("/api/board/p").json()["needs_input"] == [question]
    assert client.get(f"/api/tasks/{task_id}").json()["status"] == "waiting_input"

    answered = client.post(f"/api/tasks/{task_id}/answer", json={"answer": "8765"})

    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "pending"
    assert client.get(f"/api/tasks/{task_id}").json()["status"] == "pending"
    assert client.get("/api/questions").json() == []


def test_an_answer_to_a_task_not_waiting_is_409_and_changes_nothing(client, asking):
    task_id, _ = asking
    assert client.post(f"/api/tasks/{task_id}/answer", json={"answer": "8765"}).status_code == 200
    again = client.post(f"/api/tasks/{task_id}/answer", json={"answer": "8080"})
    assert again.status_code == 409
    assert f"task {task_id} is pending, not waiting for an answer" in again.text
    assert client.get(f"/api/tasks/{task_id}").json()["status"] == "pending"


def test_bad_answers_are_refused_with_the_field_and_change_nothing(client, asking, db):
    task_id, agent_token = asking
    for body in ({}, {"answer": ""}, {"answer": "8765", "by": "me"}):
        refused = client.post(f"/api/tasks/{task_id}/answer", json=body)
        assert refused.status_code == 422, (body, refused.text)
    assert client.post("/api/tasks/999999/answer", json={"answer": "x"}).status_code == 404
    by_agent = client.post(f"/api/tasks/{task_id}/answer", json={"answer": "8765"}, headers=bearer(agent_token))
    assert by_agent.status_code == 403  # an agent does not answer questions: a person does
    assert QueueService(UnitOfWork(db)).get(task_id).status == "waiting_input"
    assert len(client.get("/api/questions").json()) == 1
