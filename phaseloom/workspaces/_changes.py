"""What an agent changed in its worktree since a commit, and taking chosen changes back.

Used after the agent ends to hold it to its phase's permissions (``domain/permissions``): git sees
tracked and untracked files (not ignored ones), whether the agent committed them or not.
"""

from __future__ import annotations

from pathlib import Path

from phaseloom.workspaces._git_repo import git


def changed_since(workdir: Path, base: str) -> list[str]:
    """Paths (relative, POSIX) added, modified or deleted since ``base``: commits of the agent's own,
    staged and unstaged changes, and untracked files that are not ignored."""
    tracked = git(workdir, "diff", "--name-only", "--no-renames", "-z", base, "--")
    untracked = git(workdir, "ls-files", "--others", "--exclude-standard", "-z")
    return sorted({p for p in (tracked + untracked).split("\0") if p})


def revert_paths(workdir: Path, base: str, paths: list[str]) -> None:
    """Put ``paths`` back as they were at ``base``: restored when ``base`` has them, removed when it does not."""
    known = set(git(workdir, "ls-tree", "-r", "--name-only", "-z", base, "--", *paths).split("\0")) - {""}
    restored = [p for p in paths if p in known]
    if restored:
        git(workdir, "checkout", base, "--", *restored)
    added = [p for p in paths if p not in known]
    if added:
        git(workdir, "rm", "-q", "--cached", "--ignore-unmatch", "--", *added)
        for path in added:
            (Path(workdir) / path).unlink(missing_ok=True)
