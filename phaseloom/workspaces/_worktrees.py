"""Git workspaces: one worktree per agent assignment, merged into the ticket's integration branch.

Every ticket has an integration branch ``ticket/<id>``, created from the repository's default
branch the first time it is needed. An agent working a task gets a worktree on its own branch
``phase-<phase>-<agent>-t<task>`` created from that integration branch. The task suffix is there
because a registered agent is long-lived and may hold several tasks at once (capacity > 1);
each needs a checkout of its own.

On completion whatever the agent left uncommitted is committed (with ``Phase:`` and ``Task:``
trailers) and the branch is merged into ``ticket/<id>`` inside a dedicated integration worktree.
A conflicting merge is aborted, never resolved by guessing: the work stays on its branch and an
``integration_issue`` discovery names the conflicting files.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from phaseloom.db.models import Agent, Project, SystemEvent, Task
from phaseloom.domain.errors import InvalidInput, NotFound
from phaseloom.workspaces import git_files
from phaseloom.workspaces._git_repo import (
    GIT_TIMEOUT,
    GitFailed,
    add_fresh_worktree,
    branch_exists,
    branch_tip,
    default_branch,
    git,
    head,
    identity,
    is_worktree_on,
    slug,
)
from phaseloom.workspaces._cleanup import remove_worktree
from phaseloom.workspaces._snapshots import is_saved, is_worktree, take_snapshot
from phaseloom.db.unit_of_work import UnitOfWork


log = logging.getLogger(__name__)


def ticket_branch(ticket_id: int) -> str:
    return f"ticket/{ticket_id}"


def agent_branch(phase_id: str, agent_id: str, task_id: int) -> str:
    return f"phase-{slug(phase_id)}-{slug(agent_id, 24)}-t{task_id}"


def confine_path(root: Path, reported: str) -> Path:
    """Resolve ``reported`` inside ``root``, refusing anything that leads outside it.

    Absolute paths, ``..`` components and symlinks that lead out are all rejected.
    """
    if not reported or not reported.strip():
        raise InvalidInput("an empty path was reported")
    candidate = Path(reported)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise InvalidInput(f"path {reported!r} must be relative to the workspace, without '..'")
    base = Path(root).resolve()
    resolved = (base / candidate).resolve()
    if resolved != base and base not in resolved.parents:
        raise InvalidInput(f"path {reported!r} leads outside the workspace")
    return resolved


@dataclass(frozen=True)
class Workspace:
    repo: Path
    path: Path
    branch: str
    ticket_branch: str
    ticket_id: int
    task_id: int
    phase_id: str
    agent_id: str
    agent_name: str
    repaired: bool = False

    def confine(self, reported: str) -> Path:
        """Resolve a path an agent reported; see :func:`confine_path`."""
        return confine_path(self.path, reported)

    def relative(self, reported: str) -> str:
        return self.confine(reported).relative_to(self.path.resolve()).as_posix()


@dataclass
class MergeOutcome:
    merged: bool
    commit: str | None = None
    conflicts: list[str] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)
    discovery_id: int | None = None
    path: Path | None = None  # the integration worktree merged into (where the gate reads the files)
    # git refused the merge without a conflict (an untracked file in the way, a lock): what it said.
    # The work is not merged and nothing conflicts: a retryable failure, not a conflict.
    error: str | None = None


# Records an ``integration_issue`` discovery for a conflicting merge, inside the merge's unit of
# work, and returns its id. Passed in by whoever builds the service (the orchestrator passes
# :func:`phaseloom.orchestrator.execution.record_integration_issue`), so this adapter calls no service.
ConflictReporter = Callable[[UnitOfWork, Workspace, str], "int | None"]


class WorkspaceService:
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
                saved = _snapshot_quietly(path, task_id, f"repair: {path.name} was not a worktree on {branch}")
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

    def integrate(self, ws: Workspace, *, summary: str = "", dirty: bool | None = None) -> MergeOutcome:
        """Commit leftovers and merge the agent's branch into ``ticket/<id>``.

        ``dirty``: whether the caller has just seen uncommitted changes in the worktree (None: unknown).

        On a conflict the merge is aborted, the branch keeps the work and an
        ``integration_issue`` discovery is recorded with the conflicting files.
        """
        self._commit_all(ws, summary or f"Work on task {ws.task_id} left uncommitted by the agent", dirty=dirty)
        with self._integration_lock(ws):
            target = self._integration_worktree(ws)
            marker = self._merging_marker(ws)
            marker.touch()
            outcome = self._merge_into(target, ws)
            marker.unlink()  # merged, or aborted cleanly: nothing to repair next time
            if outcome is None:
                # Merged already: nothing new, or a first attempt whose record was lost (a database
                # blip after the merge). Its event is written now if it is missing.
                outcome = MergeOutcome(merged=True, commit=head(target), path=target)
                self._record_earlier_merge(ws, outcome)
                return outcome
        self._record_merge(ws, outcome)
        return outcome

    def _merge_into(self, target: Path, ws: Workspace) -> MergeOutcome | None:
        """Merge the agent's branch into the checked-out ticket branch; None when it was merged already.

        The files the branch changes are listed by a ``git diff`` of the two commits running beside
        the merge (both only read the commits), so listing them costs the task no time of its own.
        """
        base, tip = head(target), head(ws.path)  # the agent's worktree is on its branch, committed
        listing = subprocess.Popen(["git", "diff", "--name-only", "-z", f"{base}...{tip}"], cwd=str(target),
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            refusal = self._merge(target, ws, f"Merge {ws.branch} into {ws.ticket_branch}")
        finally:
            out, _ = listing.communicate(timeout=GIT_TIMEOUT)
        changed = [name for name in out.decode("utf-8", "surrogateescape").split("\0") if name]
        if refusal is None:
            merged = head(target)
            if merged == base:  # "Already up to date": the branch's work is in the ticket's already
                return None
            return MergeOutcome(True, merged, changed_files=changed, path=target)
        conflicts = git(target, "diff", "--name-only", "--diff-filter=U").split()
        if conflicts:
            _snapshot_quietly(target, ws.task_id, f"merge of {ws.branch} into {ws.ticket_branch} aborted on a conflict "
                                                  f"in {', '.join(conflicts[:20])}")
        git(target, "merge", "--abort", check=False)  # nothing to abort when git refused to start
        return MergeOutcome(False, conflicts=conflicts, changed_files=changed, path=target,
                            error=None if conflicts else refusal)

    def _merge(self, target: Path, ws: Workspace, message: str) -> str | None:
        """Merge the agent's branch; None when merged, else what git said (its last lines)."""
        proc = subprocess.run(
            ["git", "merge", "--no-ff", "--no-edit", "-m", message, "-m", f"Phase: {ws.phase_id}\nTask: {ws.task_id}",
             ws.branch], cwd=str(target), capture_output=True, text=True, timeout=GIT_TIMEOUT,
            env={**os.environ, **identity("phaseloom")})
        if proc.returncode == 0:
            return None
        said = [line.strip() for line in f"{proc.stderr}\n{proc.stdout}".splitlines() if line.strip()]
        return " / ".join(said[-6:])[:2000] or f"git merge exited {proc.returncode}"

    def _record_merge(self, ws: Workspace, outcome: MergeOutcome) -> None:
        common = dict(ticket_id=ws.ticket_id, phase_id=ws.phase_id)
        with self.uow:
            if outcome.merged:
                self.uow.emit("workspace.merged", "task", ws.task_id, **common,
                              payload={"branch": ws.branch, "into": ws.ticket_branch, "commit": outcome.commit,
                                       "files": outcome.changed_files})
                return
            if outcome.error is not None:
                self.uow.emit("workspace.merge_failed", "task", ws.task_id, **common,
                              payload={"branch": ws.branch, "into": ws.ticket_branch, "git": outcome.error})
                return
            self.uow.emit("workspace.merge_conflict", "task", ws.task_id, **common,
                          payload={"branch": ws.branch, "into": ws.ticket_branch, "files": outcome.conflicts})
            outcome.discovery_id = self._report_conflict(ws, outcome.conflicts)

    def _record_earlier_merge(self, ws: Workspace, outcome: MergeOutcome) -> None:
        """The ``workspace.merged`` event of this task's merge, when the merge is in git but not in the log."""
        with self.uow:
            recorded = self.uow.session.scalars(
                select(SystemEvent.payload).where(SystemEvent.event_type == "workspace.merged",
                                                  SystemEvent.entity_type == "task",
                                                  SystemEvent.entity_id == str(ws.task_id))).all()
        if any(isinstance(p, dict) and p.get("branch") == ws.branch for p in recorded):
            return
        # Only when the ticket's last commit is this branch's merge: a branch with no work of its own
        # was never merged, and has no event to make up for.
        if git(outcome.path, "rev-parse", "--verify", "--quiet", "HEAD^2", check=False).strip() == branch_tip(ws.repo, ws.branch):
            outcome.changed_files = git(outcome.path, "diff", "--name-only", "HEAD^1", "HEAD").split()
            self._record_merge(ws, outcome)

    def _report_conflict(self, ws: Workspace, conflicts: list[str]) -> int | None:
        if self.report_conflict is None:  # the event above still records the conflict
            return None
        description = (f"Merging {ws.branch} into {ws.ticket_branch} conflicts in: {', '.join(conflicts)}. "
                       f"The merge was aborted; the work is on branch {ws.branch}.")
        return self.report_conflict(self.uow, ws, description)

    def integration_path(self, repo: Path | str, ticket_id: int) -> Path:
        """Where ``ticket/<id>`` is checked out for merging (and for gates to read the merged files)."""
        return (self.root / "_integration" / f"{slug(Path(repo).name)}-ticket-{ticket_id}").resolve()

    def integration_worktree(self, repo: Path | str, ticket_id: int) -> Path:
        """The ticket's integration worktree, created (with its branch) or repaired as needed."""
        return self._ensure_integration(Path(repo).resolve(), ticket_id)[0]

    def _ensure_integration(self, repo: Path, ticket_id: int) -> tuple[Path, bool]:
        """The integration worktree, and whether it was already there (False: made just now)."""
        path = self.integration_path(repo, ticket_id)
        if git_files.has_loose_branch(repo, ticket_branch(ticket_id)) and is_worktree_on(path, ticket_branch(ticket_id)):
            return path, True  # there already: no wait for the repository's lock (an agent's worktree add holds it)
        with self._lock(f"repo-{slug(str(repo), 80)}"):
            self._ensure_ticket_branch(repo, ticket_id)
            existed = path.exists() and is_worktree_on(path, ticket_branch(ticket_id))
            if not existed:
                self._ensure_worktree(repo, path, ticket_branch(ticket_id), ticket_branch(ticket_id))
        return path, existed

    def _integration_worktree(self, ws: Workspace) -> Path:
        path, existed = self._ensure_integration(ws.repo, ws.ticket_id)
        if existed and self._merging_marker(ws).exists() and git(path, "status", "--porcelain"):
            # Only phaseloom writes here; leftovers mean an interrupted merge, so start clean (saved first).
            _snapshot_quietly(path, ws.task_id, f"interrupted merge into {ws.ticket_branch} reset")
            git(path, "merge", "--abort", check=False)
            git(path, "reset", "--hard", "HEAD")
        return path

    def _merging_marker(self, ws: Workspace) -> Path:
        """There while a merge into the ticket's worktree runs: left behind, it says one was interrupted
        (a look at a file, not a ``git status`` before every merge)."""
        return self.root / "_locks" / f"{slug(ws.repo.name)}-ticket-{ws.ticket_id}.merging"

    def _integration_lock(self, ws: Workspace):
        return self._lock(f"{slug(ws.repo.name)}-ticket-{ws.ticket_id}")

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


def _snapshot_quietly(path: Path, task_id: int, reason: str) -> bool:
    """A snapshot before git itself undoes a state that the branches can make again (a conflicted
    merge, a folder kept aside anyway): a failure to take it is logged, and does not stop the repair.
    True when the state is on a ref now (snapshotted, or a clean checkout of a commit a ref holds)."""
    try:
        return take_snapshot(path, task_id, reason) is not None or (is_worktree(path) and is_saved(path))
    except GitFailed:
        log.exception("the worktree %s could not be snapshotted before its repair", path)
        return False


def _finish_quietly(proc: subprocess.Popen | None) -> None:
    if proc is not None:
        try:
            proc.wait(timeout=GIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
