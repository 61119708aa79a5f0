"""Git workspaces: a worktree per agent task, merged into the ticket's integration branch.

:class:`WorkspaceService` prepares and merges worktrees under the root it is given;
:mod:`~phaseloom.workspaces.git_files` answers from git's own files without starting git;
:func:`git` runs one git command; :func:`take_snapshot` keeps a worktree's full state on a hidden
ref (``refs/phaseloom/snapshots/task-<id>/<n>``) before anything resets or removes it, and
:class:`WorktreeKeeper` saves the worktrees of lost leases and removes those of finished tasks;
:class:`MergeTrials` merges a ticket's branch onto main in a scratch worktree for the merge queue.
"""

from phaseloom.workspaces import git_files
from phaseloom.workspaces._changes import changed_since, revert_paths
from phaseloom.workspaces._cleanup import Retention, WorktreeKeeper, remove_worktree, task_worktrees
from phaseloom.workspaces._git_repo import GIT_TIMEOUT, GitFailed, git, slug
from phaseloom.workspaces._merge_trials import MergedResult, MergeTrials, land
from phaseloom.workspaces._integration import MergeOutcome
from phaseloom.workspaces._workspace import Workspace, agent_branch, confine_path, ticket_branch
from phaseloom.workspaces._worktrees import ConflictReporter, WorkspaceService
from phaseloom.workspaces._snapshots import (
    SNAPSHOT_REFS,
    Snapshot,
    is_worktree,
    read_snapshot,
    restore_into_folder,
    restore_into_worktree,
    snapshots,
    snapshots_of,
    take_snapshot,
    unsaved_changes,
)

__all__ = [
    "GIT_TIMEOUT",
    "ConflictReporter",
    "GitFailed",
    "MergeTrials",
    "MergedResult",
    "MergeOutcome",
    "Retention",
    "SNAPSHOT_REFS",
    "Snapshot",
    "Workspace",
    "WorkspaceService",
    "WorktreeKeeper",
    "agent_branch",
    "changed_since",
    "confine_path",
    "git",
    "git_files",
    "land",
    "is_worktree",
    "read_snapshot",
    "remove_worktree",
    "restore_into_folder",
    "restore_into_worktree",
    "revert_paths",
    "slug",
    "snapshots",
    "snapshots_of",
    "take_snapshot",
    "task_worktrees",
    "ticket_branch",
    "unsaved_changes",
]
