"""The merge queue's git: a branch merged onto a target in a scratch worktree, and the target moved.

The scratch worktree (``<root>/_merge_queue/<repo>``) is detached: trying a merge there touches no
branch. The target moves only by :func:`land`, a compare-and-swap of its ref to the exact commit the
checks ran on, so it is never moved to an untested commit, even when it moved meanwhile.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from phaseloom.workspaces._git_repo import GIT_TIMEOUT, GitFailed, branch_tip, git, identity, is_ancestor, slug


@dataclass(frozen=True)
class MergedResult:
    """A branch merged onto the target's tip ``base``: the result ``commit``, or the files that conflict."""

    base: str
    commit: str | None = None
    path: Path | None = None  # the scratch worktree, checked out at ``commit``
    conflicts: list[str] = field(default_factory=list)
    error: str | None = None  # git refused without a conflict (a missing branch, a lock): what it said

    @property
    def nothing_new(self) -> bool:
        return self.commit == self.base


class MergeTrials:
    """Scratch worktrees for the merge queue under ``root`` (the workspaces' home)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def scratch_path(self, repo: Path) -> Path:
        digest = hashlib.sha1(str(repo.resolve()).encode()).hexdigest()[:8]
        return (self.root / "_merge_queue" / f"{slug(repo.name)}-{digest}").resolve()

    @contextmanager
    def exclusive(self, repo: Path) -> Iterator[bool]:
        """Whether this process holds the repository's queue (True) or another does (False): never both."""
        lock_path = self.root / "_locks" / f"merge-queue-{self.scratch_path(repo).name}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def merge(self, repo: Path, branch: str, into: str, strategy: str, message: str) -> MergedResult:
        """``branch`` merged onto the current tip of ``into`` by ``strategy``, in the scratch worktree."""
        base, tip = branch_tip(repo, into), branch_tip(repo, branch)
        if not base or not tip:
            missing = into if not base else branch
            return MergedResult(base or "", error=f"branch {missing} does not exist in {repo}")
        path = self._scratch(repo, base)
        if is_ancestor(repo, tip, base):
            return MergedResult(base, base, path)  # its work is on the target already
        env = {**os.environ, **identity("phaseloom"), "GIT_TERMINAL_PROMPT": "0", "GIT_EDITOR": "true"}
        if strategy == "rebase":
            git(path, "checkout", "--quiet", "--detach", tip)
            steps = [["rebase", "--quiet", base]]
        elif strategy == "squash":
            steps = [["merge", "--squash", tip], ["commit", "--no-verify", "--quiet", "-m", message]]
        else:
            steps = [["merge", "--no-ff", "--no-edit", "-m", message, tip]]
        for argv in steps:
            proc = subprocess.run(["git", *argv], cwd=str(path), capture_output=True, text=True, env=env,
                                  timeout=GIT_TIMEOUT, check=False)
            if proc.returncode != 0:
                return self._refused(path, base, proc)
        return MergedResult(base, git(path, "rev-parse", "HEAD").strip(), path)

    def _refused(self, path: Path, base: str, proc: subprocess.CompletedProcess) -> MergedResult:
        conflicts = sorted(set(git(path, "diff", "--name-only", "--diff-filter=U").split()))
        said = [line.strip() for line in f"{proc.stderr}\n{proc.stdout}".splitlines() if line.strip()]
        self._clean(path, base)
        return MergedResult(base, path=path, conflicts=conflicts,
                            error=None if conflicts else (" / ".join(said[-6:])[:2000] or "git refused the merge"))

    def _scratch(self, repo: Path, base: str) -> Path:
        """The scratch worktree, clean and detached at ``base`` (made, or repaired, as needed)."""
        path = self.scratch_path(repo)
        if (path / ".git").is_file():
            try:
                self._clean(path, base)
                return path
            except GitFailed:
                pass  # broken: made anew below
        if path.exists():
            shutil.rmtree(path)
        git(repo, "worktree", "prune")
        path.parent.mkdir(parents=True, exist_ok=True)
        git(repo, "worktree", "add", "--quiet", "--detach", str(path), base)
        return path

    def _clean(self, path: Path, base: str) -> None:
        """Anything a trial or a check left undone or written, gone; ``base`` checked out."""
        for abort in (("rebase", "--abort"), ("merge", "--abort")):
            git(path, *abort, check=False)
        git(path, "checkout", "--quiet", "--force", "--detach", base)
        git(path, "clean", "-ffdxq")


def land(repo: Path, into: str, new: str, old: str) -> bool:
    """Move ``into`` from ``old`` to ``new`` only if it still points at ``old`` (False: it moved).

    When ``into`` is checked out in a clean worktree (a person's checkout of main), its files follow.
    """
    proc = subprocess.run(["git", "update-ref", "-m", "phaseloom merge queue", f"refs/heads/{into}", new, old],
                          cwd=str(repo), capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False)
    if proc.returncode != 0:
        return False
    checkout = _checkout_of(repo, into)
    if checkout is not None:
        # Two-tree read-tree: the files move from old to new, and git refuses when local changes
        # would be overwritten (they are left alone then; the ref has moved either way).
        git(checkout, "read-tree", "-m", "-u", old, new, check=False)
    return True


def _checkout_of(repo: Path, branch: str) -> Path | None:
    """The worktree that has ``branch`` checked out, if any."""
    current: Path | None = None
    for line in git(repo, "worktree", "list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            current = Path(line.removeprefix("worktree "))
        elif line == f"branch refs/heads/{branch}" and current is not None:
            return current
    return None
