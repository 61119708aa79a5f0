"""Worktrees left behind: those of a lost lease (saved, then made clean) and those of finished tasks
(removed on the ``workspace_retention`` policy, never while they hold what no branch or snapshot has).

The agents' worktrees are ``<root>/<project>/<agent branch>``, and an agent branch ends in ``-t<task id>``:
the task a folder belongs to is read from its name, without the database.
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select

from phaseloom.db.models import Task, Ticket
from phaseloom.db.models.base import utcnow
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.domain.errors import InvalidInput
from phaseloom.domain.tasks import ACTIVE_STATUSES, TaskStatus
from phaseloom.workspaces._git_repo import GitFailed, git, slug
from phaseloom.workspaces._snapshots import Snapshot, common_dir, discard_changes, is_saved, is_worktree, take_snapshot

log = logging.getLogger(__name__)
_TASK_SUFFIX = re.compile(r"-t(\d+)$")
_TICKET_SUFFIX = re.compile(r"-ticket-(\d+)$")
_SET_ASIDE = re.compile(r"\.broken-(\d+)$")
_FINAL = [s.value for s in TaskStatus if s.is_final]
_ACTIVE = [s.value for s in ACTIVE_STATUSES]
_TO_RUN = [TaskStatus.PENDING.value, *_ACTIVE]


@dataclass(frozen=True)
class Retention:
    """``keep`` (never remove), ``on_finish`` (as soon as the task is final) or an age (``7d``, ``12h``)."""

    keep_forever: bool
    after: timedelta

    @classmethod
    def parse(cls, text: str) -> Retention:
        value = (text or "").strip().lower()
        if value == "keep":
            return cls(True, timedelta(0))
        if value == "on_finish":
            return cls(False, timedelta(0))
        found = re.fullmatch(r"(\d+(?:\.\d+)?)([dh])", value)
        if not found:
            raise InvalidInput(f"workspace_retention {text!r}: expected keep, on_finish or an age such as 7d or 12h")
        amount = float(found.group(1))
        return cls(False, timedelta(days=amount) if found.group(2) == "d" else timedelta(hours=amount))


def task_worktrees(root: Path, task_id: int) -> list[Path]:
    """The agents' worktrees of ``task_id`` under ``root`` (one per agent that held it here)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob(f"*/*-t{int(task_id)}") if _is_agent_worktree(p))


def _is_agent_worktree(path: Path) -> bool:
    """A worktree in a project's folder (``_integration``, ``_locks`` and ``_scratch`` are phaseloom's own)."""
    return not path.parent.name.startswith("_") and path.is_dir() and (path / ".git").is_file()


def remove_worktree(repo: Path, path: Path, task_id: int, reason: str) -> Snapshot | None:
    """Remove the worktree at ``path`` (its branch stays), snapshotting first what only it holds.
    Raises :class:`GitFailed` (and removes nothing) when that snapshot cannot be taken."""
    snap = None
    if path.exists() and is_worktree(path) and not is_saved(path):
        snap = take_snapshot(path, task_id, reason, force=True)
        if snap is None:
            raise GitFailed(f"{path} holds unsaved work that could not be snapshotted; it was not removed")
    git(repo, "worktree", "remove", "--force", str(path), check=False)
    if path.exists():
        shutil.rmtree(path)
    git(repo, "worktree", "prune")
    return snap


class WorktreeKeeper:
    """The worktrees under ``root`` that no running agent uses any more."""

    def __init__(self, uow: UnitOfWork, *, root: Path | str) -> None:
        self.uow = uow
        self.root = Path(root)

    def save_abandoned(self, task_id: int, reason: str, *, ended_agent: str | None = None) -> list[Snapshot]:
        """Snapshot the task's worktrees here, then make them clean when the task is to run again: the
        agent that wrote them has been ended (its lease is lost), so a re-run in the same folder starts
        from the commit alone. Work its agent reported done stays for the merge that takes it over.
        The folder of an agent holding the task now is left alone, unless it is ``ended_agent`` (ended
        by the caller while its task's lease runs on)."""
        saved = []
        found = task_worktrees(self.root, task_id)
        holder, runs_again = self._state(task_id)  # read after the folders: one a new claim made since is skipped
        for path in found:
            if holder and holder != ended_agent and path.name.endswith(f"-{slug(holder, 24)}-t{int(task_id)}"):
                continue  # the task is claimed again, by the agent working in this folder
            try:
                snap = take_snapshot(path, task_id, reason)
                if snap is not None:
                    saved.append(snap)
                    if runs_again:
                        discard_changes(path)
            except GitFailed:  # left as it is: never made clean without its snapshot
                log.exception("the worktree %s of task %s could not be snapshotted", path, task_id)
        if saved:
            self._emit_saved(task_id, saved)
        return saved

    def _state(self, task_id: int) -> tuple[str | None, bool]:
        """The agent holding ``task_id`` now (None when nobody does), and whether it is to run (again)."""
        with UnitOfWork(self.uow.db, readonly=True) as uow:
            task = uow.session.get(Task, int(task_id))
            if task is None:
                return None, False
            return (task.assigned_agent_id if task.status in _ACTIVE else None), task.status in _TO_RUN

    def clean_finished(self, retention: Retention, *, now: datetime | None = None) -> list[Path]:
        """Remove the worktrees of final tasks older than the retention; the paths removed."""
        if retention.keep_forever or not self.root.is_dir():
            return []
        candidates: dict[int, list[Path]] = {}
        for path in self.root.glob("*/*"):
            found = _TASK_SUFFIX.search(path.name)
            if found and _is_agent_worktree(path):
                candidates.setdefault(int(found.group(1)), []).append(path)
        cutoff = (now or utcnow()) - retention.after
        removed = self._clean_integration(cutoff) + self._clean_set_aside(cutoff)
        if not candidates:
            return removed
        with UnitOfWork(self.uow.db, readonly=True) as uow:
            done = uow.session.scalars(
                select(Task.id).where(Task.id.in_(list(candidates)), Task.status.in_(_FINAL),
                                      Task.awaiting_merge.is_(False), Task.completed_at <= cutoff)).all()
        for task_id in done:
            for path in candidates[task_id]:
                if self._remove_quietly(path, task_id):
                    removed.append(path)
        return removed

    def _clean_integration(self, cutoff: datetime) -> list[Path]:
        """The integration worktrees (``_integration/<repo>-ticket-<id>``) of tickets done before ``cutoff``
        with no task left to run or merge; what only such a folder holds is snapshotted (as the ticket's
        last task's) before it goes. The ticket's branch stays."""
        folders: dict[int, list[Path]] = {}
        for path in (self.root / "_integration").glob("*-ticket-*"):
            found = _TICKET_SUFFIX.search(path.name)
            if found and path.is_dir():
                folders.setdefault(int(found.group(1)), []).append(path)
        if not folders:
            return []
        with UnitOfWork(self.uow.db, readonly=True) as uow:
            unfinished = select(Task.id).where(Task.ticket_id == Ticket.id, (Task.status.not_in(_FINAL))
                                               | Task.awaiting_merge.is_(True)).exists()
            done = uow.session.execute(
                select(Ticket.id, select(func.max(Task.id)).where(Task.ticket_id == Ticket.id).scalar_subquery())
                .where(Ticket.id.in_(list(folders)), Ticket.completed_at <= cutoff, ~unfinished)).all()
        removed = []
        for ticket_id, last_task in done:
            for path in folders[ticket_id]:
                if last_task is not None and self._remove_quietly(path, last_task):
                    removed.append(path)
        return removed

    def _clean_set_aside(self, cutoff: datetime) -> list[Path]:
        """Folders a repair set aside (``<worktree>.broken-<ms>``) before ``cutoff``, whose state the repair put
        on a ref (the ``.saved`` note beside them). Any other is left for a person: it may hold the only copy."""
        removed = []
        for note in self.root.glob("*/*.broken-*.saved"):
            folder = note.with_suffix("")
            found = _SET_ASIDE.search(folder.name)
            if not found or not folder.is_dir():
                continue
            if datetime.fromtimestamp(int(found.group(1)) / 1000, tz=timezone.utc) > cutoff:
                continue
            shutil.rmtree(folder)
            note.unlink()
            removed.append(folder)
            log.info("removed %s, set aside by a repair (its state is on a ref)", folder)
        return removed

    def _remove_quietly(self, path: Path, task_id: int) -> bool:
        repo = common_dir(path)
        if repo is None:
            return False
        try:
            snap = remove_worktree(repo.parent if repo.name == ".git" else repo, path, task_id,
                                   "workspace retention: the task is finished")
        except GitFailed:
            log.exception("the worktree %s of finished task %s was kept", path, task_id)
            return False
        if snap is not None:
            self._emit_saved(task_id, [snap])
        with self.uow:
            self.uow.emit("workspace.removed", "task", task_id, payload={"path": str(path), "reason": "retention"})
        return True

    def _emit_saved(self, task_id: int, saved: list[Snapshot]) -> None:
        with self.uow:
            for snap in saved:
                self.uow.emit("workspace.snapshot", "task", task_id,
                              payload={"n": snap.n, "commit": snap.commit, "reason": snap.reason,
                                       "files": snap.files, "path": snap.worktree})
