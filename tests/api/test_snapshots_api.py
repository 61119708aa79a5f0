"""``GET /api/tasks/{id}/snapshots`` and the ticket page's list, on SQLite and PostgreSQL, with real git."""

from __future__ import annotations

from phaseloom.db.models import Project
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.workspaces import WorkspaceService, WorktreeKeeper
from tests.api.conftest import bearer, register_agent
from tests.workspaces.test_workspaces import make_repo


def test_a_tasks_snapshots_are_listed_for_whoever_may_read_the_task(client, tiny, db, tmp_path):
    repo = make_repo(tmp_path / "repo")
    with UnitOfWork(db) as uow:
        uow.session.get(Project, tiny["id"]).repo_path = str(repo)
    ticket = client.post("/api/tickets", json={"project": "p", "title": "t"}).json()
    task = client.post("/api/tasks", json={"ticket_id": ticket["id"], "phase_id": "PHASE_TODO", "title": "x"}).json()
    assert client.get(f"/api/tasks/{task['id']}/snapshots").json() == []
    agent_id, _ = register_agent(client, "impl")
    ws = WorkspaceService(UnitOfWork(db), root=tmp_path / "ws").prepare(task["id"], agent_id)
    (ws.path / "new.txt").write_text("unsaved\n")
    WorktreeKeeper(UnitOfWork(db), root=tmp_path / "ws").save_abandoned(task["id"], "lease lost")

    [snap] = client.get(f"/api/tasks/{task['id']}/snapshots").json()

    assert (snap["n"], snap["reason"], snap["files"], snap["worktree"]) == (1, "lease lost", 1, str(ws.path))
    assert snap["ref"] == f"refs/phaseloom/snapshots/task-{task['id']}/1" and len(snap["commit"]) == 40
    page = client.get(f"/api/ui/tickets/{ticket['id']}").json()
    assert [(s["task_id"], s["n"], s["commit"]) for s in page["snapshots"]] == [(task["id"], 1, snap["commit"])]
    _, other_token = register_agent(client, "other")
    assert client.get(f"/api/tasks/{task['id']}/snapshots", headers=bearer(other_token)).status_code == 403
    assert client.get("/api/tasks/999999/snapshots").status_code == 404
