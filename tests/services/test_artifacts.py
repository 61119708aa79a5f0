"""Artifact collection: confined to the workspace, de-duplicated, linked to the producing task."""

from __future__ import annotations

import hashlib
import os

import pytest
from sqlalchemy import func, select

from phaseloom.db.models import SystemEvent
from phaseloom.domain.errors import InvalidInput
from phaseloom.services.artifacts import ArtifactService, confined_path, workspace_files
from phaseloom.services.progress import ProgressService
from tests.services.gate_support import finish_phase_tasks, ticket_in


@pytest.fixture
def outside(tmp_path):
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("do not read me")
    return secret


@pytest.fixture
def workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.mark.parametrize("path, why", [
    ("/etc/passwd", "absolute"),
    ("../outside/secret.txt", "'..' is not allowed"),
    ("docs/../../outside/secret.txt", "'..' is not allowed"),
    ("C:\\Windows\\win.ini", "absolute"),
    ("", "non-empty path"),
])
def test_escaping_paths_are_refused(workspace, path, why):
    with pytest.raises(InvalidInput, match=why):
        confined_path(workspace, path)


def test_symlinks_out_of_the_workspace_are_refused_and_not_listed(workspace, outside):
    os.symlink(outside, workspace / "link.txt")
    os.symlink(outside.parent, workspace / "linkdir")
    (workspace / "inner.md").write_text("ok")
    os.symlink(workspace / "inner.md", workspace / "alias.md")
    with pytest.raises(InvalidInput, match="outside the workspace through a symlink"):
        confined_path(workspace, "link.txt")
    with pytest.raises(InvalidInput, match="symlink"):
        confined_path(workspace, "linkdir/secret.txt")
    assert workspace_files(workspace) == ["alias.md", "inner.md"]


def test_task_result_artifacts_are_collected_and_deduplicated(uow, project, workspace):
    ticket_id = ticket_in(uow, project, "PHASE_REQUIREMENTS")
    ProgressService(uow).start_ticket(ticket_id)
    (workspace / "requirements.md").write_text("# Overview\n")
    result = {"artifacts": ["requirements.md", {"path": "notes/summary.txt", "type": "note", "content": "short"},
                            "missing.md"]}
    task_id = finish_phase_tasks(uow, ticket_id, "PHASE_REQUIREMENTS", result)[0]
    artifacts = ArtifactService(uow)
    collected = artifacts.collect_from_task(task_id, workspace)
    assert [(a.path, a.artifact_type, a.task_id, a.content) for a in collected] == [
        ("requirements.md", "file", task_id, "# Overview\n"), ("notes/summary.txt", "note", task_id, "short")]
    assert collected[0].content_hash == hashlib.sha256(b"# Overview\n").hexdigest() and collected[0].size == 11

    again = artifacts.collect_from_task(task_id, workspace)
    assert [a.id for a in again] == [a.id for a in collected]
    (workspace / "requirements.md").write_text("# Overview\nmore\n")
    artifacts.collect_from_task(task_id, workspace)
    stored = artifacts.list(ticket_id)
    assert [a.path for a in stored] == ["requirements.md", "notes/summary.txt", "requirements.md"]
    assert artifacts.latest_texts(ticket_id)["requirements.md"] == "# Overview\nmore\n"
    with uow:
        events = uow.session.scalars(select(SystemEvent).where(SystemEvent.event_type == "artifact.collected")).all()
        assert len(events) == 3


def test_task_result_cannot_smuggle_files_from_outside(uow, project, workspace, outside):
    ticket_id = ticket_in(uow, project, "PHASE_REQUIREMENTS")
    ProgressService(uow).start_ticket(ticket_id)
    os.symlink(outside, workspace / "innocent.md")
    for entry in ("../outside/secret.txt", str(outside), "innocent.md"):
        task_id = finish_phase_tasks(uow, ticket_id, "PHASE_REQUIREMENTS", {"artifacts": [entry]})
        if not task_id:  # the phase's only task is done; queue another one for the next attempt
            from phaseloom.queue import QueueService

            QueueService(uow).create_task(ticket_id, "PHASE_REQUIREMENTS", "again")
            task_id = finish_phase_tasks(uow, ticket_id, "PHASE_REQUIREMENTS", {"artifacts": [entry]})
        assert ArtifactService(uow).collect_from_task(task_id[0], workspace) == []
    assert ArtifactService(uow).list(ticket_id) == []
    with uow:
        refused = uow.session.scalars(select(SystemEvent).where(SystemEvent.event_type == "artifact.refused")).all()
        assert len(refused) == 3 and all(e.payload["reason"] for e in refused)


def test_one_bad_artifact_entry_is_reported_and_the_valid_ones_are_still_collected(uow, project, workspace):
    """One bad path aborted the whole collection (and with it the ticket's progress)."""
    ticket_id = ticket_in(uow, project, "PHASE_REQUIREMENTS")
    ProgressService(uow).start_ticket(ticket_id)
    (workspace / "requirements.md").write_text("# Overview\n")
    (workspace / "design.md").write_text("# Design\n")
    result = {"artifacts": ["requirements.md", "../escape.md", 42, "design.md"]}
    task_id = finish_phase_tasks(uow, ticket_id, "PHASE_REQUIREMENTS", result)[0]
    collected = ArtifactService(uow).collect_from_task(task_id, workspace)
    assert [a.path for a in collected] == ["requirements.md", "design.md"]
    with uow:
        refused = uow.session.scalars(select(SystemEvent).where(SystemEvent.event_type == "artifact.refused")
                                      .order_by(SystemEvent.id)).all()
        assert [(e.payload["entry"], e.payload["task_id"]) for e in refused] == [("'../escape.md'", task_id),
                                                                                 ("42", task_id)]
        assert "'..' is not allowed" in refused[0].payload["reason"]


def test_expected_outputs_are_collected_from_the_workspace(uow, project, workspace, outside):
    ticket_id = ticket_in(uow, project, "PHASE_IMPLEMENTATION")
    (workspace / "src" / "app").mkdir(parents=True)
    (workspace / "src" / "app" / "main.py").write_text("print('hi')\n")
    (workspace / "src" / "blob.bin").write_bytes(b"\x00\x01")
    (workspace / "tests").mkdir()
    (workspace / "tests" / "test_main.py").write_text("def test(): pass\n")
    (workspace / ".git").mkdir()
    (workspace / ".git" / "x.py").write_text("")
    os.symlink(outside, workspace / "src" / "leak.py")
    collected = ArtifactService(uow).collect_expected_outputs(ticket_id, workspace)
    assert sorted((a.path, a.artifact_type) for a in collected) == [("src/app/main.py", "code"),
                                                                     ("tests/test_main.py", "test")]
    assert all(a.phase_id == "PHASE_IMPLEMENTATION" for a in collected)


def test_the_same_artifact_recorded_at_once_by_two_transactions_is_stored_once(db, uow, project):
    """The run loop and an agent thread collecting one file together: on PostgreSQL the second insert
    used to fail on uq_artifacts_ticket_path_hash (check-then-insert) and the run loop exited."""
    import threading

    from phaseloom.db.models.gates import Artifact
    from phaseloom.db.unit_of_work import UnitOfWork

    ticket_id, phase = ticket_in(uow, project), "PHASE_BACKLOG"
    first = UnitOfWork(db)
    second: dict = {}

    def record_in_second_transaction() -> None:
        try:
            second["result"] = ArtifactService(UnitOfWork(db)).record(ticket_id, phase, "a.txt", b"same")
        except Exception as exc:  # noqa: BLE001 - the assertion below names it
            second["error"] = exc

    with first:
        _, new = ArtifactService(first).record(ticket_id, phase, "a.txt", b"same")
        racer = threading.Thread(target=record_in_second_transaction)
        racer.start()
        racer.join(0.5)  # PostgreSQL: blocked on the first's uncommitted row; SQLite: on the write lock
    racer.join(30)
    assert new and "error" not in second, second.get("error")
    artifact, second_new = second["result"]
    assert not second_new and artifact.path == "a.txt"
    with uow:
        assert uow.session.scalar(select(func.count()).select_from(Artifact)
                                  .where(Artifact.ticket_id == ticket_id)) == 1
