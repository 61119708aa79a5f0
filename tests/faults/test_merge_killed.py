"""The process merging an agent's branch is killed in the middle of ``git merge``; the next attempt repairs
the ticket's integration worktree and completes the merge: never half-applied, never applied twice."""

from __future__ import annotations

import sys

import pytest
from sqlalchemy import select

from phaseloom.db.models import Project, SystemEvent
from phaseloom.services.agents import AgentService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.workspaces import WorkspaceService, git
from tests.faults.support import Processes, wait_for
from tests.workspaces.test_workspaces import make_repo

pytestmark = pytest.mark.slow


def _stalling_hook(repo, marker) -> None:
    """A pre-merge-commit hook that says it started, then hangs: the merge is applied but not committed."""
    hook = repo / ".git" / "hooks" / "pre-merge-commit"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\nexec sleep 60\n")
    hook.chmod(0o755)


def test_a_merge_killed_halfway_is_repaired_and_completed_once(db, db_url, uow, project, tmp_path):
    if db.backend != "sqlite":
        pytest.skip("git and processes behave the same whatever the database")
    repo = make_repo(tmp_path / "repo")
    with uow:
        uow.session.get(Project, project.id).repo_path = str(repo)
    ticket = TicketService(uow).create_ticket(project.id, "Add feature")
    task = QueueService(uow).create_task(ticket.id, "PHASE_IMPLEMENTATION", "build")
    agent = AgentService(uow).register_agent("impl", agent_id="impl-merge1")
    root, marker = tmp_path / "workspaces", tmp_path / "merge-started"
    _stalling_hook(repo, marker)
    procs = Processes(tmp_path)
    argv = [sys.executable, "-m", "tests.faults.merge_worker", db_url, str(root), str(task.id), agent.id]
    try:
        procs.start("first", argv)
        wait_for(marker.exists, 30, "the merge to be under way")
        procs.kill("first")  # kill -9 of the whole process group, git included
        target = WorkspaceService(uow, root=root).integration_path(repo, ticket.id)
        half_applied = git(target, "rev-parse", "-q", "--verify", "MERGE_HEAD", check=False).strip()
        staged = git(target, "status", "--porcelain")

        (repo / ".git" / "hooks" / "pre-merge-commit").unlink()
        procs.start("second", argv)
        assert procs.procs["second"].wait(60) == 0, procs.log("second")
    finally:
        procs.close()

    assert "feature.py" in staged, (half_applied, staged)  # the kill really left a merge half done
    branch = f"ticket/{ticket.id}"
    assert git(target, "rev-parse", "-q", "--verify", "MERGE_HEAD", check=False).strip() == ""
    assert git(target, "status", "--porcelain") == ""
    assert git(repo, "show", f"{branch}:feature.py") == "def feature():\n    return 42\n"
    merges = git(repo, "log", "--merges", "--format=%s", branch).splitlines()
    assert len(merges) == 1 and merges[0].startswith("Merge ")  # applied exactly once
    assert "merged=True" in procs.log("second")
    with uow:
        events = list(uow.session.scalars(select(SystemEvent.event_type).where(
            SystemEvent.entity_id == str(task.id), SystemEvent.event_type.like("workspace.%"))))
    assert events.count("workspace.merged") == 1
