"""Git workspaces: a worktree per agent task, merged into the ticket's integration branch.

:class:`WorkspaceService` prepares and merges worktrees under the root it is given;
:mod:`~phaseloom.workspaces.git_files` answers from git's own files without starting git;
:func:`git` runs one git command.
"""

from phaseloom.workspaces import git_files
from phaseloom.workspaces._changes import changed_since, revert_paths
from phaseloom.workspaces._git_repo import GIT_TIMEOUT, GitFailed, git, slug
from phaseloom.workspaces._worktrees import (
    ConflictReporter,
    MergeOutcome,
    Workspace,
    WorkspaceService,
    agent_branch,
    confine_path,
    ticket_branch,
)

__all__ = [
    "GIT_TIMEOUT",
    "ConflictReporter",
    "GitFailed",
    "MergeOutcome",
    "Workspace",
    "WorkspaceService",
    "agent_branch",
    "changed_since",
    "confine_path",
    "git",
    "git_files",
    "revert_paths",
    "slug",
    "ticket_branch",
]
