"""The integration worktree of a ticket: where an agent's branch is merged into ``ticket/<id>``.

Each ticket's integration branch is checked out once, in ``<root>/_integration/<repo>-ticket-<id>``; the
agents' branches are merged there one at a time (a per-ticket lock), leftovers of an interrupted merge are
snapshotted and reset, and a conflicting merge is snapshotted, aborted and reported, never resolved by
guessing. :class:`IntegrationWorktrees` is the part of
:class:`~phaseloom.workspaces._worktrees.WorkspaceService` that does this; the service provides the
worktree and lock plumbing it calls (``_lock``, ``_ensure_ticket_branch``, ``_ensure_worktree``,
``_commit_all``, ``root``, ``uow``, ``report_conflict``).
"""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from phaseloom.db.models import SystemEvent
from phaseloom.workspaces import git_files
from phaseloom.workspaces._git_repo import GIT_TIMEOUT, GitFailed, branch_tip, git, head, identity, is_worktree_on, slug
from phaseloom.workspaces._snapshots import is_saved, is_worktree, take_snapshot
from phaseloom.workspaces._workspace import Workspace, ticket_branch

log = logging.getLogger(__name__)


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


class IntegrationWorktrees:
    """Merging agents' branches into their ticket's integration worktree (see the module)."""

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
            snapshot_quietly(target, ws.task_id, f"merge of {ws.branch} into {ws.ticket_branch} aborted on a conflict "
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
            snapshot_quietly(path, ws.task_id, f"interrupted merge into {ws.ticket_branch} reset")
            git(path, "merge", "--abort", check=False)
            git(path, "reset", "--hard", "HEAD")
        return path

    def _merging_marker(self, ws: Workspace) -> Path:
        """There while a merge into the ticket's worktree runs: left behind, it says one was interrupted
        (a look at a file, not a ``git status`` before every merge)."""
        return self.root / "_locks" / f"{slug(ws.repo.name)}-ticket-{ws.ticket_id}.merging"

    def _integration_lock(self, ws: Workspace):
        return self._lock(f"{slug(ws.repo.name)}-ticket-{ws.ticket_id}")


def snapshot_quietly(path: Path, task_id: int, reason: str) -> bool:
    """A snapshot before git itself undoes a state that the branches can make again (a conflicted
    merge, a folder kept aside anyway): a failure to take it is logged, and does not stop the repair.
    True when the state is on a ref now (snapshotted, or a clean checkout of a commit a ref holds)."""
    try:
        return take_snapshot(path, task_id, reason) is not None or (is_worktree(path) and is_saved(path))
    except GitFailed:
        log.exception("the worktree %s could not be snapshotted before its repair", path)
        return False
