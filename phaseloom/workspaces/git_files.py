"""What git's own files say about branches and worktrees, read without starting a git process.

A task's path asks the same questions many times (does ``ticket/7`` exist? is this folder still a
worktree on its branch?), and each git process costs a few milliseconds. These readers answer
from the files git keeps (``HEAD``, loose refs, a worktree's ``.git`` file and its admin folder),
and only when the files give a clear *yes*: anything else (packed refs, another ref backend, a
missing or odd file) is ``None`` or ``False``, and the caller asks git itself.
"""

from __future__ import annotations

from pathlib import Path

_REF_PREFIX = "ref: refs/heads/"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _branch_named_by(head: str | None) -> str | None:
    if head and head.startswith(_REF_PREFIX) and "\n" not in head:
        return head[len(_REF_PREFIX):] or None
    return None


def head_branch(repo: Path) -> str | None:
    """The branch checked out in ``repo`` (a main checkout with a ``.git`` folder), else None."""
    git_dir = Path(repo) / ".git"
    return _branch_named_by(_read(git_dir / "HEAD")) if git_dir.is_dir() else None


def _is_object_id(text: str | None) -> bool:
    return bool(text) and len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def _linked_admin(path: Path) -> Path | None:
    """The admin folder a linked worktree's ``.git`` file names, else None."""
    dot_git = Path(path) / ".git"
    pointer = _read(dot_git) if dot_git.is_file() else None
    if not pointer or not pointer.startswith("gitdir: "):
        return None
    admin = Path(pointer[len("gitdir: "):])
    return admin if admin.is_absolute() else (Path(path) / admin)


def _git_dirs(path: Path) -> tuple[Path, Path] | None:
    """(the git dir holding HEAD, the common dir holding branch refs) of a checkout or linked worktree."""
    dot_git = Path(path) / ".git"
    if dot_git.is_dir():
        return dot_git, dot_git
    admin = _linked_admin(path)
    if admin is None:
        return None
    common = _read(admin / "commondir")
    if not common:
        return None
    common_dir = Path(common) if Path(common).is_absolute() else admin / common
    return admin, common_dir


def head_commit(path: Path) -> str | None:
    """The commit checked out in ``path`` (a checkout or linked worktree), read from HEAD and a loose
    ref, else None (packed ref, another ref backend, an unborn branch: ask git)."""
    dirs = _git_dirs(path)
    if dirs is None:
        return None
    head = _read(dirs[0] / "HEAD")
    if _is_object_id(head):
        return head  # detached
    branch = _branch_named_by(head)
    if not branch or ".." in branch.split("/"):
        return None
    ref = _read(dirs[1] / "refs" / "heads" / branch)
    return ref if _is_object_id(ref) else None


def has_loose_branch(repo: Path, name: str) -> bool:
    """True when ``refs/heads/<name>`` is a loose ref of ``repo`` holding an object id.

    False proves nothing (the ref may be packed): ask git then.
    """
    if ".." in name.split("/"):
        return False
    return _is_object_id(_read(Path(repo) / ".git" / "refs" / "heads" / name))


def worktree_branch(path: Path) -> str | None:
    """The branch a linked worktree at ``path`` has checked out, when its files agree, else None.

    Agreement: ``path/.git`` names an admin folder whose ``gitdir`` file points back at
    ``path/.git`` and whose ``HEAD`` names a branch.
    """
    path = Path(path)
    admin = _linked_admin(path)
    if admin is None:
        return None
    back = _read(admin / "gitdir")
    if not back or Path(back).resolve() != (path / ".git").resolve():
        return None
    return _branch_named_by(_read(admin / "HEAD"))
