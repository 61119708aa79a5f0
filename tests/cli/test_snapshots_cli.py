"""``phaseloom task snapshots|restore`` as a user runs them (real subprocesses, real git).

The set-up (a project on a repository, a task whose worktree was saved) happens in-process on the same
SQLite file; only the commands under test are spawned.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from phaseloom.db.engine import Database
from phaseloom.db.migrate import upgrade
from phaseloom.loaders.sources import load_workflow_source, shipped_workflow
from phaseloom.queue import QueueService
from phaseloom.services.agents import AgentService
from phaseloom.services.projects import ProjectService
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService
from phaseloom.workspaces import WorkspaceService, WorktreeKeeper
from tests.cli.support import run
from tests.workspaces.test_workspaces import make_repo


@pytest.fixture
def saved(tmp_path):
    """Task 1's worktree, with a change and a binary file saved as snapshot 1 and then made clean."""
    repo = make_repo(tmp_path / "repo")
    db = Database.connect(f"sqlite:///{tmp_path}/p.db")
    try:
        upgrade(db.engine)
        uow = UnitOfWork(db)
        WorkflowService(uow).save_document(load_workflow_source(shipped_workflow("software_development")))
        ProjectService(uow).create_project("demo", repo_path=str(repo))
        ProjectService(uow).create_project("bare")
        ticket = TicketService(uow).create_ticket("demo", "Add a feature")
        bare_ticket = TicketService(uow).create_ticket("bare", "No repository")
        task = QueueService(uow).create_task(ticket.id, "PHASE_IMPLEMENTATION", "build")
        bare_task = QueueService(uow).create_task(bare_ticket.id, "PHASE_IMPLEMENTATION", "think")
        agent = AgentService(uow).register_agent("impl", agent_id="impl-a1b2c3")
        ws = WorkspaceService(uow, root=tmp_path / "workspaces").prepare(task.id, agent.id)
        (ws.path / "app.py").write_text("VALUE = 'mid-edit'\n")
        (ws.path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
        WorktreeKeeper(uow, root=tmp_path / "workspaces").save_abandoned(task.id, "lease lost")
    finally:
        db.dispose()
    return dict(task=task.id, bare=bare_task.id, path=ws.path, repo=repo)


def test_snapshots_are_listed_as_a_table_and_as_json(tmp_path, saved):
    table = run(tmp_path, "task", "snapshots", str(saved["task"])).stdout
    assert "lease lost" in table and "2" in table.split("lease lost")[1]
    [listed] = json.loads(run(tmp_path, "task", "snapshots", str(saved["task"]), "--json").stdout)
    assert listed["n"] == 1 and listed["files"] == 2 and listed["reason"] == "lease lost"
    assert listed["ref"] == f"refs/phaseloom/snapshots/task-{saved['task']}/1"
    assert json.loads(run(tmp_path, "task", "snapshots", str(saved["bare"]), "--json").stdout) == []


def test_restore_brings_the_latest_back_into_the_clean_worktree(tmp_path, saved):
    out = json.loads(run(tmp_path, "task", "restore", str(saved["task"]), "--json").stdout)
    assert out["into_worktree"] and out["path"] == str(saved["path"]) and out["snapshot"]["n"] == 1
    assert (saved["path"] / "app.py").read_text() == "VALUE = 'mid-edit'\n"
    assert (saved["path"] / "logo.png").read_bytes() == b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.mark.parametrize("args, message", [
    (("9",), "no snapshot 9"),
    (("--to", "{full}"), "is not an empty folder"),
    ((), "has unsaved changes"),
])
def test_restore_refusals_say_why_and_change_nothing(tmp_path, saved, args, message):
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine.txt").write_text("mine\n")
    (saved["path"] / "draft.txt").write_text("the user's draft\n")
    argv = [a.format(full=full) for a in args]
    proc = run(tmp_path, "task", "restore", str(saved["task"]), *argv, check=False)
    assert proc.returncode != 0 and message in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
    assert (saved["path"] / "app.py").read_text() == "VALUE = 1\n"
    assert (saved["path"] / "draft.txt").read_text() == "the user's draft\n"
    assert os.listdir(full) == ["mine.txt"]


def test_restore_of_a_task_without_snapshots_or_repository_is_refused(tmp_path, saved):
    proc = run(tmp_path, "task", "restore", str(saved["bare"]), check=False)
    assert proc.returncode != 0 and "has no git repository" in proc.stderr + proc.stdout
    proc = run(tmp_path, "task", "restore", "999", check=False)
    assert proc.returncode != 0 and "999" in proc.stderr + proc.stdout and "Traceback" not in proc.stderr


def test_restore_into_a_new_folder_when_the_worktree_is_gone(tmp_path, saved):
    subprocess.run(["git", "worktree", "remove", "--force", str(saved["path"])], cwd=saved["repo"], check=True)
    proc = run(tmp_path, "task", "restore", str(saved["task"]), check=False)
    assert proc.returncode != 0 and "--to PATH" in proc.stderr + proc.stdout
    run(tmp_path, "task", "restore", str(saved["task"]), "1", "--to", str(tmp_path / "back"))
    assert (tmp_path / "back" / "app.py").read_text() == "VALUE = 'mid-edit'\n"
