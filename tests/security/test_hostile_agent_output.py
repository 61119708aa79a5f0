"""Agent output is untrusted: commands in it are never run, paths in it never leave the workspace."""

from __future__ import annotations

import sys

import httpx
import pytest
from sqlalchemy import select, text

from phaseloom.db.models import Artifact
from phaseloom.db.models.gates import GateResult
from phaseloom.services.artifacts import ArtifactService
from phaseloom.services.progress import ProgressService
from phaseloom.services.projects import ProjectService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork
from tests.security.conftest import bearer
from tests.services.gate_support import save_workflow, two_phase_workflow

DECLARED = [sys.executable, "-c", "open('declared-ran', 'w').write('yes')"]


def _planted(marker) -> list:
    """Ways an agent might try to get a command run, each of which would create ``marker``."""
    python = [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('pwned')"]
    shell = f"touch {marker}"
    return [python, shell, f"$({shell})", f"`{shell}`", f"; {shell}"]


def test_a_command_success_gate_runs_only_the_declared_argv(uow, tmp_path):
    workspace, marker = tmp_path / "ws", tmp_path / "PWNED"
    workspace.mkdir()
    gate = {"require_tasks_completed": True, "criteria": [{"type": "command_success", "command": DECLARED}]}
    save_workflow(uow, two_phase_workflow("guarded", gate, done_definitions=[]))
    ProjectService(uow).create_project("guarded", "guarded")
    ticket = TicketService(uow).create_ticket("guarded", "hostile")
    ProgressService(uow).start_ticket(ticket.id)
    queue = QueueService(uow)
    with uow:
        from phaseloom.db.models import Agent

        uow.session.add(Agent(id="mallory", name="mallory", capabilities=[]))
    task = queue.claim_next_task("mallory")
    planted = _planted(marker)
    # Everything an agent controls: its result (any keys), a file that looks like a gate, a new task.
    queue.complete_task(task.id, "mallory", {
        "summary": planted[2], "command": planted[0], "commands": planted, "gate": {"criteria": [
            {"type": "command_success", "command": planted[0]}]}, "criteria": planted, "artifacts": []})
    (workspace / "gate.yaml").write_text(f"criteria:\n  - type: command_success\n    command: {planted[0]!r}\n")
    (workspace / "Makefile").write_text(f"all:\n\t{planted[1]}\n")

    outcome = ProgressService(uow).on_task_completed(task.id, workspace)

    assert outcome.moved and outcome.to_phase == "PHASE_DONE", outcome.reason
    assert (workspace / "declared-ran").read_text() == "yes"  # the declared command did run
    assert not marker.exists() and not (workspace / "PWNED").exists()  # nothing the agent wrote ran
    with uow:
        results = uow.session.scalars(select(GateResult).where(GateResult.ticket_id == ticket.id)).all()
    reasons = [o["reason"] for r in results for o in r.outcomes if o.get("type") == "command_success"]
    assert reasons and all(" ".join(DECLARED) in reason for reason in reasons)


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("TOP-SECRET-OUTSIDE-THE-WORKSPACE")
    return folder


def test_artifact_paths_from_an_agent_over_http_never_read_outside_the_workspace(db, scene, tmp_path, outside):
    workspace = tmp_path / "ws"
    (workspace / "sub").mkdir(parents=True)
    (workspace / "link").symlink_to(outside, target_is_directory=True)
    (workspace / "filelink").symlink_to(outside / "secret.txt")
    alice = scene.alice
    hostile = ["../outside/secret.txt", f"{outside}/secret.txt", "link/secret.txt", "sub/../../outside/secret.txt",
               "filelink"]
    with httpx.Client(base_url=scene.base, timeout=60) as http:
        for n, path in enumerate(hostile):
            task_id = alice.task_id
            if n:  # a fresh task on Alice's ticket for each path, claimed by Alice
                made = http.post("/api/tasks", headers=bearer(scene.admin_token),
                                 json={"ticket_id": alice.ticket_id, "phase_id": "PHASE_TODO", "title": f"t{n}"})
                task_id = made.json()["id"]
                claimed = http.post("/api/tasks/claim", json={}, headers=bearer(alice.token)).json()["task"]
                assert claimed["id"] == task_id
            done = http.post(f"/api/tasks/{task_id}/complete", headers=bearer(alice.token),
                             json={"result": {"summary": "see artifacts", "artifacts": [path]}})
            assert done.status_code == 200, done.text
            # refused and reported (an artifact.refused event), not read
            assert ArtifactService(UnitOfWork(db)).collect_from_task(task_id, workspace) == [], path
    with db.engine.connect() as conn:
        assert conn.execute(select(Artifact.id)).first() is None
        reasons = [r[0] for r in conn.execute(text("SELECT payload FROM system_events "
                                                   "WHERE event_type = 'artifact.refused' ORDER BY id"))]
        dumped = " ".join(str(r) for r in conn.execute(text("SELECT payload FROM system_events")))
    assert len(reasons) == len(hostile) and all("workspace" in str(r) for r in reasons), reasons
    assert "TOP-SECRET" not in dumped
