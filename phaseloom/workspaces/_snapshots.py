"""Snapshots of a worktree's full state, kept on hidden refs so no cleanup or repair loses work.

A snapshot is one commit on ``refs/phaseloom/snapshots/task-<id>/<n>``, made the way ``git stash``
makes its commits: its tree is the worktree (tracked changes, deletions and untracked files that
``.gitignore`` does not ignore), its first parent the commit checked out, its second (when the
index can be written as a tree, i.e. no merge conflict is in it) a commit of the index. It is built
with a temporary index file, so neither the agent's branch, its index nor its files are touched.
Refs under ``refs/phaseloom/`` are shared by every worktree of the repository and are never
fetched or pushed by default, and they keep their commits from git's garbage collection.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from phaseloom.domain.errors import Conflict, InvalidInput
from phaseloom.workspaces._git_repo import GitFailed, git, identity

SNAPSHOT_REFS = "refs/phaseloom/snapshots"
_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@dataclass(frozen=True)
class Snapshot:
    task_id: int
    n: int
    commit: str
    created_at: datetime
    reason: str
    files: int              # files that differ from the commit checked out (what the branch does not hold)
    worktree: str           # where the worktree was
    base: str | None        # the commit checked out then (None in a repository without commits)
    index: str | None       # the commit of the index (None when it held a conflict)

    @property
    def ref(self) -> str:
        return snapshot_ref(self.task_id, self.n)


def snapshot_ref(task_id: int, n: int) -> str:
    return f"{SNAPSHOT_REFS}/task-{int(task_id)}/{int(n)}"


def is_worktree(path: Path) -> bool:
    """Whether ``path`` is the top of a git checkout (a worktree or a repository's own)."""
    if not (Path(path) / ".git").exists():
        return False
    top = git(path, "rev-parse", "--show-toplevel", check=False).strip()
    return bool(top) and Path(top).resolve() == Path(path).resolve()


def unsaved_changes(path: Path) -> list[str]:
    """``git status --porcelain`` lines of ``path``: changes and untracked files (ignored ones excluded)."""
    return [line for line in git(path, "status", "--porcelain", "--untracked-files=all").splitlines() if line]


def is_saved(path: Path) -> bool:
    """Nothing in ``path`` would be lost by deleting it: clean, and its commit reachable from a branch
    or a snapshot ref."""
    if unsaved_changes(path):
        return False
    commit = git(path, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip()
    if not commit:
        return True  # no commit at all, and nothing changed: nothing to lose
    holders = git(path, "for-each-ref", "--contains", commit, "--format=%(refname)", "refs/heads", SNAPSHOT_REFS)
    return bool(holders.strip())


def take_snapshot(path: Path, task_id: int, reason: str, *, force: bool = False) -> Snapshot | None:
    """Snapshot the worktree at ``path`` for ``task_id``; None when there is nothing unsaved
    (``force``: take one anyway, e.g. to keep an unreachable commit)."""
    path = Path(path)
    if not is_worktree(path):
        return None
    base = git(path, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip() or None
    if not force and is_saved(path):
        return None
    tree = _worktree_tree(path, base)
    index_tree = git(path, "write-tree", check=False).strip() or None  # fails on a conflicted index
    base_tree = git(path, "rev-parse", f"{base}^{{tree}}").strip() if base else _EMPTY_TREE
    changed = git(path, "diff-tree", "-r", "--name-only", "-z", "--no-renames", base_tree, tree).split("\0")
    files = len([name for name in changed if name])
    parents = ["-p", base] if base else []
    env = identity("phaseloom")
    index = None
    if index_tree is not None:
        index = git(path, "commit-tree", index_tree, *parents, "-m", f"index of task {task_id}", env=env).strip()
    message = (f"phaseloom snapshot of task {task_id}: {reason}\n\nTask: {task_id}\nReason: {_one_line(reason)}\n"
               f"Files: {files}\nWorktree: {path.resolve()}\n")
    commit = git(path, "commit-tree", tree, *parents, *(["-p", index] if index else []), "-m", message,
                 env=env).strip()
    n = _store(path, task_id, commit)
    return read_snapshot(path, task_id, n)


def _worktree_tree(path: Path, base: str | None) -> str:
    """The tree of everything in the worktree, staged into a temporary index (a copy of the real one,
    so what is staged but ignored is kept too)."""
    real_index = Path(path, git(path, "rev-parse", "--git-path", "index").strip())
    with tempfile.TemporaryDirectory(prefix="phaseloom-snapshot-") as tmp:
        index = Path(tmp) / "index"
        env = {"GIT_INDEX_FILE": str(index)}
        if real_index.exists():
            shutil.copyfile(real_index, index)
        elif base:
            git(path, "read-tree", base, env=env)
        git(path, "add", "--all", env=env)
        return git(path, "write-tree", env=env).strip()


def _store(path: Path, task_id: int, commit: str) -> int:
    """Point the next free ``task-<id>/<n>`` at ``commit``; the empty old value makes a race lose, not overwrite."""
    for _ in range(20):
        taken = [s.n for s in _listed(path, task_id)]
        n = max(taken, default=0) + 1
        try:
            git(path, "update-ref", "-m", "phaseloom snapshot", snapshot_ref(task_id, n), commit, "")
        except GitFailed:
            continue  # another process took n meanwhile: look again
        return n
    raise Conflict(f"could not store a snapshot of task {task_id}: its refs keep changing")


def snapshots(repo: Path, task_id: int) -> list[Snapshot]:
    """The snapshots of ``task_id`` in ``repo``, oldest first."""
    return sorted(_listed(repo, task_id), key=lambda s: s.n)


def snapshots_of(repo: Path, task_ids: set[int]) -> list[Snapshot]:
    """The snapshots of any of ``task_ids`` (one git process), by task then number."""
    found = [s for s in _listed(repo, None) if s.task_id in task_ids]
    return sorted(found, key=lambda s: (s.task_id, s.n))


def read_snapshot(repo: Path, task_id: int, n: int | None = None) -> Snapshot:
    """Snapshot ``n`` of ``task_id`` (the latest without ``n``); :class:`InvalidInput` when there is none."""
    found = snapshots(repo, task_id)
    if not found:
        raise InvalidInput(f"task {task_id} has no snapshots")
    if n is None:
        return found[-1]
    for snap in found:
        if snap.n == n:
            return snap
    raise InvalidInput(f"task {task_id} has no snapshot {n} (it has {', '.join(str(s.n) for s in found)})")


_FORMAT = "%(refname)%00%(objectname)%00%(creatordate:iso-strict)%00%(parent)%00%(contents)%01"


def _listed(repo: Path, task_id: int | None) -> list[Snapshot]:
    prefix = f"{SNAPSHOT_REFS}/task-{int(task_id)}/" if task_id is not None else f"{SNAPSHOT_REFS}/"
    out = git(repo, "for-each-ref", f"--format={_FORMAT}", prefix)
    found = []
    for record in out.split("\x01"):
        fields = record.lstrip("\n").split("\0")
        named = re.fullmatch(r".*/task-(\d+)/(\d+)", fields[0])
        if len(fields) != 5 or not named:
            continue
        refname, commit, created, parents, message = fields
        trailers = dict(re.findall(r"^(Reason|Files|Worktree): (.*)$", message, re.MULTILINE))
        parent_list = parents.split()
        found.append(Snapshot(task_id=int(named.group(1)), n=int(named.group(2)), commit=commit,
                              created_at=datetime.fromisoformat(created), reason=trailers.get("Reason", ""),
                              files=int(trailers.get("Files", "0") or 0), worktree=trailers.get("Worktree", ""),
                              base=parent_list[0] if parent_list else None,
                              index=parent_list[1] if len(parent_list) > 1 else None))
    return found


def restore_into_worktree(path: Path, snap: Snapshot) -> None:
    """Make the clean worktree ``path``'s files and index those of ``snap``, its branch untouched
    (the snapshot's changes come back as uncommitted changes). Refused, changing nothing, when
    ``path`` holds unsaved changes."""
    unsaved = unsaved_changes(path)
    if unsaved:
        raise InvalidInput(f"{path} has unsaved changes ({len(unsaved)}: {'; '.join(unsaved[:5])}); "
                           "commit or remove them first, or restore elsewhere with --to PATH")
    head = git(path, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip()
    if head:
        git(path, "read-tree", "-u", "-m", head, f"{snap.commit}^{{tree}}")
    else:
        git(path, "read-tree", "-u", "-m", f"{snap.commit}^{{tree}}")
    # The index as it was: the staged state when the snapshot has it, else the commit's (changes unstaged).
    git(path, "read-tree", f"{snap.index}^{{tree}}" if snap.index else (head or _EMPTY_TREE))


def restore_into_folder(repo: Path, snap: Snapshot, folder: Path) -> None:
    """Write ``snap``'s files (with their modes and symlinks) into ``folder``, which must be new or empty."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidInput(f"{folder} is not an empty folder; give a new or empty folder (or a clean worktree)")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="phaseloom-restore-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), "GIT_WORK_TREE": str(folder.resolve())}
        git(repo, "read-tree", f"{snap.commit}^{{tree}}", env=env)
        git(repo, "checkout-index", "--all", env=env)


def common_dir(path: Path) -> Path | None:
    """The repository ``path`` is a checkout of (its common git folder), None outside any."""
    out = git(path, "rev-parse", "--path-format=absolute", "--git-common-dir", check=False).strip()
    return Path(out).resolve() if out and os.path.isabs(out) else None


def discard_changes(path: Path) -> None:
    """Make the worktree ``path`` its commit again (after a snapshot of it, its agent ended): ignored
    files stay. An index lock is that agent's, left by a git it ran when it was killed."""
    Path(path, git(path, "rev-parse", "--git-path", "index.lock").strip()).unlink(missing_ok=True)
    git(path, "reset", "--hard", "--quiet", "HEAD")
    git(path, "clean", "-d", "--force", "--quiet")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
