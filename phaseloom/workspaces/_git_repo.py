"""Plain git for the workspaces: running git, and reading what its own files say (no database).

Every call here is one git process at most; answers git's files give (``git_files``) start none.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from phaseloom.domain.errors import Conflict, InvalidInput
from phaseloom.workspaces import git_files

GIT_TIMEOUT = 120


class GitFailed(Conflict):
    """A git command failed; the message carries git's own explanation."""

    code = "git_failed"


def slug(text: str, limit: int = 40) -> str:
    """Lower-case, dash-separated, safe in a branch name: ``PHASE_IMPLEMENTATION`` -> ``implementation``."""
    text = re.sub(r"^phase[_\-]", "", text.strip().lower())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:limit] or "x"


def git(cwd: Path | str, *args: str, check: bool = True, env: dict | None = None) -> str:
    """Run git in ``cwd`` and return its stdout; raise :class:`GitFailed` on a non-zero exit."""
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    proc = subprocess.run(["git", *args], cwd=str(cwd), capture_output=True, text=True, env=full_env, check=False,
                          timeout=GIT_TIMEOUT)
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise GitFailed(f"git {' '.join(args[:3])} failed in {cwd}: {' / '.join(detail[-3:]) or proc.returncode}")
    return proc.stdout


def identity(name: str) -> dict[str, str]:
    email = f"{slug(name, 40)}@agents.phaseloom.invalid"
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": "phaseloom", "GIT_COMMITTER_EMAIL": "phaseloom@phaseloom.invalid"}


def default_branch(repo: Path) -> str:
    """The branch new ticket branches start from: the repository's checked-out branch, or main/master."""
    head = git_files.head_branch(repo) or git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).strip()
    if head and branch_exists(repo, head):
        return head
    for name in ("main", "master"):
        if branch_exists(repo, name):
            return name
    raise InvalidInput(f"{repo} has no commits on a default branch to start ticket branches from")


def head(path: Path) -> str:
    """The commit checked out in ``path``: from git's files when they say, else from git."""
    return git_files.head_commit(path) or git(path, "rev-parse", "HEAD").strip()


def branch_exists(repo: Path, name: str) -> bool:
    if git_files.has_loose_branch(repo, name):
        return True
    return bool(git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}", check=False).strip())


def branch_tip(repo: Path, branch: str) -> str:
    return git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).strip()


def is_ancestor(repo: Path, ancestor: str, descendant: str) -> bool:
    proc = subprocess.run(["git", "merge-base", "--is-ancestor", ancestor, descendant], cwd=str(repo),
                          capture_output=True, timeout=GIT_TIMEOUT, check=False)
    return proc.returncode == 0


def add_fresh_worktree(repo: Path, path: Path, branch: str, base: str) -> bool:
    """One ``git worktree add`` for a folder that does not exist yet: a new branch from ``base``
    (or, for the integration worktree, ``base`` itself). False when git refuses (the branch exists,
    a stale registration): the caller then takes the slow path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    args = ["worktree", "add", str(path), base] if branch == base else ["worktree", "add", "-b", branch, str(path), base]
    try:
        git(repo, *args)
    except GitFailed:
        return False
    return True


def is_worktree_on(path: Path, branch: str) -> bool:
    if not (path / ".git").is_file():
        return False
    on = git_files.worktree_branch(path)
    if on is not None:  # git's files agree with themselves: no need to ask git
        return on == branch
    top = git(path, "rev-parse", "--show-toplevel", check=False).strip()
    if not top or Path(top).resolve() != path.resolve():
        return False
    return git(path, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).strip() == branch
