"""Git workspaces: one worktree per agent assignment, merged into the ticket's integration branch.

Every ticket has an integration branch ``ticket/<id>``, created from the repository's default
branch the first time it is needed. An agent working a task gets a worktree on its own branch
``phase-<phase>-<agent>-t<task>`` created from that integration branch. The task suffix is there
because a registered agent is long-lived and may hold several tasks at once (capacity > 1);
each needs a checkout of its own.

On completion whatever the agent left uncommitted is committed (with ``Phase:`` and ``Task:``
trailers) and the branch is merged into ``ticket/<id>`` inside a dedicated integration worktree.
A conflicting merge is aborted, never resolved by guessing: the work stays on its branch and an
``integration_issue`` discovery names the conflicting files (that part: phaseloom/workspaces/_integration.py).
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from phaseloom.db.models import Agent, Project, Task
from phaseloom.domain.errors import InvalidInput, NotFound
from phaseloom.workspaces import git_files
from phaseloom.workspaces._git_repo import (
    GIT_TIMEOUT,
    GitFailed,
    add_fresh_worktree,
    branch_exists,
    default_branch,
    git,
    head,
    identity,
    is_worktree_on,
    slug,
)
from phaseloom.workspaces._cleanup import remove_worktree
from phaseloom.workspaces._integration import IntegrationWorktrees, snapshot_quietly
from phaseloom.workspaces._workspace import Workspace, agent_branch, ticket_branch
from phaseloom.db.unit_of_work import UnitOfWork


log = logging.getLogger(__name__)


# Records an ``integration_issue`` discovery for a conflicting merge, inside the merge's unit of
# work, and returns its id. Passed in by whoever builds the service (the orchestrator passes
# :func:`phaseloom.orchestrator.execution.record_integration_issue`), so this adapter calls no service.
ConflictReporter = Callable[[UnitOfWork, Workspace, str], "int | None"]


class WorkspaceService(IntegrationWorktrees):
    """The agents' worktrees under ``root`` (``<home>/workspaces``, given by whoever builds this).

    Without ``report_conflict`` a conflicting merge is recorded by its event alone.
    """

    def __init__(self, uow: UnitOfWork, *, root: Path | str,
                 report_conflict: ConflictReporter | None = None) -> None:
        self.uow = uow
        self.root = Path(root)
        self.report_conflict = report_conflict

    # -- preparing ---------------------------------------------------------------
    def prepare(self, task_id: int, agent_id: str) -> Workspace:
        """The agent's worktree for ``task_id``, created or repaired as needed, on its branch."""
        ws = self.describe(task_id, agent_id)
        with self._lock(f"repo-{slug(str(ws.repo), 80)}"):
            self._ensure_ticket_branch(ws.repo, ws.ticket_id)
            integration = self._start_integration_worktree(ws)
            try:
                repaired = self._ensure_worktree(ws.repo, ws.path, ws.branch, ws.ticket_branch, task_id=task_id)
            finally:
                _finish_quietly(integration)
        if repaired:
            ws = Workspace(**{**ws.__dict__, "repaired": True})
        with self.uow:
            self.uow.emit("workspace.repaired" if repaired else "workspace.prepared", "task", task_id,
                          ticket_id=ws.ticket_id, phase_id=ws.phase_id,
                          payload={"branch": ws.branch, "path": str(ws.path), "agent_id": agent_id})
        return ws

    def _start_integration_worktree(self, ws: Workspace) -> subprocess.Popen | None:
        """A new ticket's integration worktree, added by a git running beside the agent's worktree add
        (distinct folders and refs; the repository's lock, held by the caller, keeps prunes away).
        Its merge would make it anyway; made here, it costs the task no time of its own. A failure is
        left for the merge's own careful path to meet and report."""
        path = self.integration_path(ws.repo, ws.ticket_id)
        if path.exists():
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(["git", "worktree", "add", "--quiet", str(path), ws.ticket_branch], cwd=str(ws.repo),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})

    def describe(self, task_id: int, agent_id: str) -> Workspace:
        """Where the agent's worktree for ``task_id`` is (or will be), read from the database only."""
        with self.uow:
            session = self.uow.session
            task = session.get(Task, int(task_id))
            if task is None:
                raise NotFound("task", task_id)
            agent = session.get(Agent, agent_id)
            project = session.get(Project, task.project_id)
            if not project.repo_path:
                raise InvalidInput(f"project {project.name!r} has no repository (set its repo_path)")
            repo = Path(project.repo_path).resolve()
            branch = agent_branch(task.phase_id, agent_id, task.id)
            path = self.root / slug(project.name) / branch
            return Workspace(repo=repo, path=path.resolve(), branch=branch,
                             ticket_branch=ticket_branch(task.ticket_id), ticket_id=task.ticket_id,
                             task_id=task.id, phase_id=task.phase_id, agent_id=agent_id,
                             agent_name=agent.name if agent else agent_id)

    def _ensure_ticket_branch(self, repo: Path, ticket_id: int) -> None:
        if not (repo / ".git").exists():
            raise InvalidInput(f"{repo} is not a git repository")
        name = ticket_branch(ticket_id)
        if git_files.has_loose_branch(repo, name):
            return
        # Create it, and look only if git refuses (it may exist as a packed ref): one process, not two.
        try:
            git(repo, "branch", name, default_branch(repo))
        except GitFailed:
            if not branch_exists(repo, name):
                raise

    def _ensure_worktree(self, repo: Path, path: Path, branch: str, base: str, *, task_id: int | None = None) -> bool:
        """Make ``path`` a healthy worktree on ``branch``; return True when something was repaired."""
        if path.exists() and is_worktree_on(path, branch):
            return False
        if not path.exists() and add_fresh_worktree(repo, path, branch, base):
            return False
        # The slow path: stale registrations pruned, a broken folder kept aside, the branch looked up.
        git(repo, "worktree", "prune")
        repaired = path.exists() or branch_exists(repo, branch)
        if path.exists():
            saved = False
            if task_id is not None:  # a checkout on another branch: its state goes on a ref too
                saved = snapshot_quietly(path, task_id, f"repair: {path.name} was not a worktree on {branch}")
            # Broken (not a worktree, or on another branch): keep it aside for a human, never reuse it. A
            # ``.saved`` note beside it says its state is on a ref, so workspace retention may remove it.
            aside = path.with_name(f"{path.name}.broken-{int(time.time() * 1000)}")
            path.rename(aside)
            if saved:
                aside.with_name(f"{aside.name}.saved").write_text("its state is on a branch or a snapshot ref\n")
            git(repo, "worktree", "prune")
        path.parent.mkdir(parents=True, exist_ok=True)
        if branch_exists(repo, branch):
            git(repo, "worktree", "add", str(path), branch)
        else:
            git(repo, "worktree", "add", "-b", branch, str(path), base)
        return repaired

    # -- finishing ---------------------------------------------------------------
    def commit(self, ws: Workspace, message: str) -> str | None:
        """Commit everything in the worktree with the task's trailers; None when nothing changed."""
        if not self._commit_all(ws, message):
            return None
        return head(ws.path)

    def _commit_all(self, ws: Workspace, message: str, *, dirty: bool | None = None) -> bool:
        """Stage and commit everything; ``dirty=True`` (a status just seen non-empty) skips asking again."""
        git(ws.path, "add", "--all")
        if not dirty and not git(ws.path, "status", "--porcelain"):
            return False
        argv = ("commit", "--no-verify", "-m", message, "--trailer", f"Phase: {ws.phase_id}",
                "--trailer", f"Task: {ws.task_id}")
        try:
            git(ws.path, *argv, env=identity(ws.agent_name))
        except GitFailed:
            if dirty and not git(ws.path, "status", "--porcelain"):
                return False  # the changes seen were gone by now: nothing to commit is no error
            raise
        return True

    def changed_files(self, ws: Workspace) -> list[str]:
        """The files the task's branch changed since it left the ticket's branch (committed work only)."""
        listed = git(ws.path, "diff", "--name-only", "-z", f"{ws.ticket_branch}...{ws.branch}")
        return sorted({name for name in listed.split("\0") if name})

    @contextmanager
    def _lock(self, name: str):
        """An exclusive lock across threads and processes on this machine (git's own locks fail, not wait)."""
        lock_path = self.root / "_locks" / f"{name}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def remove(self, ws: Workspace) -> None:
        """Drop the worktree (the branch and its commits stay; what only the folder held, a snapshot keeps)."""
        remove_worktree(ws.repo, ws.path, ws.task_id, "worktree removed")



def _finish_quietly(proc: subprocess.Popen | None) -> None:
    if proc is not None:
        try:
            proc.wait(timeout=GIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
