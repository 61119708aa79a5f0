"""A task's worktree snapshots: listing them, and bringing one back (``phaseloom task snapshots|restore``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from phaseloom.db.models import Project, Task
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.domain.errors import InvalidInput, NotFound
from phaseloom.workspaces import (
    Snapshot,
    git,
    is_worktree,
    read_snapshot,
    restore_into_folder,
    restore_into_worktree,
    snapshots,
    snapshots_of,
)


@dataclass(frozen=True)
class Restored:
    snapshot: Snapshot
    path: Path
    into_worktree: bool  # True: a worktree's files and index; False: the files written into a new folder


class SnapshotService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def list(self, task_id: int) -> list[Snapshot]:
        """The task's snapshots, oldest first (none when its project has no repository)."""
        repo = self._repo(task_id, required=False)
        return snapshots(repo, task_id) if repo else []

    def of_ticket(self, ticket_id: int) -> list[Snapshot]:
        """The snapshots of all the ticket's tasks, by task then number."""
        with UnitOfWork(self.uow.db, readonly=True) as uow:
            rows = uow.session.execute(select(Task.id, Project.repo_path).join(Project, Project.id == Task.project_id)
                                       .where(Task.ticket_id == int(ticket_id))).all()
        repo_path = next((r.repo_path for r in rows if r.repo_path), None)
        if not repo_path or not Path(repo_path, ".git").exists():
            return []
        return snapshots_of(Path(repo_path), {r.id for r in rows})

    def restore(self, task_id: int, n: int | None = None, *, to: Path | str | None = None) -> Restored:
        """Bring snapshot ``n`` (the latest without it) back: into ``to`` (a clean worktree of the
        repository, or a new or empty folder), else into the worktree it was taken of, which must be
        there and clean. A refusal changes nothing."""
        repo = self._repo(task_id, required=True)
        snap = read_snapshot(repo, task_id, n)
        target = Path(to).expanduser().resolve() if to else Path(snap.worktree)
        if to is None and not (snap.worktree and is_worktree(target)):
            raise InvalidInput(f"the worktree snapshot {snap.n} of task {task_id} was taken of "
                               f"({snap.worktree or 'unknown'}) is gone; restore into a folder with --to PATH")
        into_worktree = is_worktree(target)
        if into_worktree:
            if _common_dir(target) != _common_dir(repo):
                raise InvalidInput(f"{target} is a checkout of another repository than {repo}")
            restore_into_worktree(target, snap)
        else:
            restore_into_folder(repo, snap, target)
        with self.uow:
            self.uow.emit("workspace.restored", "task", task_id,
                          payload={"n": snap.n, "commit": snap.commit, "path": str(target)})
        return Restored(snap, target, into_worktree)

    def _repo(self, task_id: int, *, required: bool) -> Path | None:
        with UnitOfWork(self.uow.db, readonly=True) as uow:
            task = uow.session.get(Task, int(task_id))
            if task is None:
                raise NotFound("task", task_id)
            repo_path = uow.session.get(Project, task.project_id).repo_path
        if not repo_path or not Path(repo_path, ".git").exists():
            if required:
                raise InvalidInput(f"task {task_id}'s project has no git repository, so it has no snapshots")
            return None
        return Path(repo_path).resolve()


def _common_dir(path: Path) -> str:
    return git(path, "rev-parse", "--path-format=absolute", "--git-common-dir").strip()
