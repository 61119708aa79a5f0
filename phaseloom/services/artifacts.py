"""Artifacts: the files a phase produced, collected from task results and the ticket's workspace.

Every path is confined to the workspace: absolute paths, ``..`` and symlinks that lead out of it
are refused, so a task result cannot make phaseloom read ``/etc/passwd`` into the database.
An artifact is stored once per (ticket, path, content hash); collecting the same file twice is a no-op.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from phaseloom.db.models import Task, Ticket
from phaseloom.db.models.gates import Artifact
from phaseloom.domain.errors import InvalidInput, NotFound
from phaseloom.domain.gates import glob_regex
from phaseloom.domain.json_values import storable_text
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService

MAX_TEXT_BYTES = 256 * 1024  # text artifacts up to this size keep their content
MAX_FILE_BYTES = 50 * 1024 * 1024  # larger files are not hashed or collected
MAX_WORKSPACE_FILES = 20_000
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", ".phaseloom"})


def confined_path(workspace: Path, relative: str) -> Path:
    """The real path of ``relative`` inside ``workspace``, or :class:`InvalidInput` if it would escape."""
    if not relative or "\x00" in relative:
        raise InvalidInput("an artifact needs a non-empty path")
    pure = PurePosixPath(relative.replace("\\", "/"))
    if pure.is_absolute() or relative.startswith(("/", "\\")) or (len(relative) > 1 and relative[1] == ":"):
        raise InvalidInput(f"artifact path {relative!r} is absolute; paths must be relative to the workspace")
    if ".." in pure.parts:
        raise InvalidInput(f"artifact path {relative!r} leaves the workspace ('..' is not allowed)")
    root = workspace.resolve()
    resolved = (root / pure).resolve()
    if resolved != root and root not in resolved.parents:
        raise InvalidInput(f"artifact path {relative!r} leads outside the workspace through a symlink")
    return resolved


def workspace_files(workspace: Path, limit: int = MAX_WORKSPACE_FILES) -> list[str]:
    """Regular files under ``workspace`` as relative POSIX paths; symlinks out of it are left out."""
    root = workspace.resolve()
    if not root.is_dir():
        return []
    found: list[str] = []
    for directory, dirs, files in os.walk(root):  # os.walk does not follow symlinked folders
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(files):
            path = Path(directory) / name
            if path.is_symlink() and not _inside(root, path):
                continue
            if path.is_file():
                found.append(path.relative_to(root).as_posix())
                if len(found) >= limit:
                    return found
    return found


def _inside(root: Path, path: Path) -> bool:
    resolved = path.resolve()
    return resolved == root or root in resolved.parents


def read_text(path: Path, limit: int = MAX_TEXT_BYTES) -> str | None:
    """The file's text when it is UTF-8 and at most ``limit`` bytes, else None."""
    try:
        if path.stat().st_size > limit:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    return _as_text(data)


def _as_text(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class ArtifactService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def record(self, ticket_id: int, phase_id: str, path: str, data: bytes, *, artifact_type: str = "file",
               task_id: int | None = None) -> tuple[Artifact, bool]:
        """Store one artifact; returns it and whether it was new (same path and content: not new)."""
        normalised = PurePosixPath(path.replace("\\", "/")).as_posix()
        if normalised.startswith("/") or ".." in PurePosixPath(normalised).parts:
            raise InvalidInput(f"artifact path {path!r} must be relative to the workspace, without '..'")
        digest = hashlib.sha256(data).hexdigest()
        with self.uow:
            session = self.uow.session
            ticket = session.get(Ticket, int(ticket_id))
            if ticket is None:
                raise NotFound("ticket", ticket_id)
            text = _as_text(data) if len(data) <= MAX_TEXT_BYTES else None
            # One statement, not check-then-insert: the run loop and an agent thread may collect the
            # same file at once, and the second insert must find the first, not fail on the unique key.
            new_id = session.scalar(
                _insert(session)(Artifact)
                .values(ticket_id=ticket.id, phase_id=phase_id, task_id=task_id,
                        artifact_type=artifact_type or "file", path=normalised, content_hash=digest,
                        size=len(data), content=text)
                .on_conflict_do_nothing(index_elements=["ticket_id", "path", "content_hash"])
                .returning(Artifact.id))
            if new_id is None:
                return session.scalar(select(Artifact).where(
                    Artifact.ticket_id == ticket.id, Artifact.path == normalised,
                    Artifact.content_hash == digest)), False
            artifact = session.get(Artifact, new_id)
            self.uow.emit("artifact.collected", "artifact", artifact.id, project_id=ticket.project_id,
                          ticket_id=ticket.id, phase_id=phase_id,
                          payload={"path": normalised, "type": artifact.artifact_type, "size": len(data),
                                   "task_id": task_id, "content_hash": digest})
            return artifact, True

    def collect_from_task(self, task_id: int, workspace: Path | None = None) -> list[Artifact]:
        """Collect the artifacts a completed task's result lists.

        Each entry of ``result["artifacts"]`` is a path, or a dict with ``path`` and optionally
        ``type`` and ``content`` (text). Without ``content`` the file is read from the workspace.
        """
        with self.uow:
            task = self.uow.session.get(Task, int(task_id))
            if task is None:
                raise NotFound("task", task_id)
            collected = []
            for entry in (task.result or {}).get("artifacts") or []:
                try:
                    path, kind, data = self._entry_data(entry, workspace)
                except InvalidInput as exc:  # one bad entry is reported; the valid ones are still kept
                    self._refused(task.ticket_id, task.phase_id, task.id, entry, str(exc))
                    continue
                if data is None:
                    continue
                artifact, _ = self.record(task.ticket_id, task.phase_id, path, data, artifact_type=kind,
                                          task_id=task.id)
                collected.append(artifact)
            return collected

    def _entry_data(self, entry: Any, workspace: Path | None) -> tuple[str, str, bytes | None]:
        if isinstance(entry, str):
            entry = {"path": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise InvalidInput(f"an artifact entry must be a path or a dict with 'path'; got {entry!r}")
        path, kind = entry["path"], str(entry.get("type") or "file")
        if isinstance(entry.get("content"), str):
            if workspace is not None:
                confined_path(workspace, path)
            return path, kind, entry["content"].encode("utf-8")
        if workspace is None:
            return path, kind, None
        real = confined_path(workspace, path)
        if not real.is_file() or real.stat().st_size > MAX_FILE_BYTES:
            return path, kind, None
        return path, kind, real.read_bytes()

    def collect_expected_outputs(self, ticket_id: int, workspace: Path, *, phase_id: str | None = None,
                                 task_id: int | None = None) -> list[Artifact]:
        """Collect the workspace files matching the phase's ``expected_outputs`` patterns."""
        with self.uow:
            ticket = self.uow.session.get(Ticket, int(ticket_id))
            if ticket is None:
                raise NotFound("ticket", ticket_id)
            phase = WorkflowService(self.uow).by_id(ticket.workflow_id).phase(phase_id or ticket.phase_id)
            collected = []
            for path, kind in self._expected_matches(phase.expected_outputs, workspace):
                try:
                    real = confined_path(workspace, path)
                except InvalidInput as exc:  # e.g. a symlink out of the workspace: reported, not fatal
                    self._refused(ticket.id, phase.id, task_id, path, str(exc))
                    continue
                if real.stat().st_size > MAX_FILE_BYTES:
                    continue
                artifact, _ = self.record(ticket.id, phase.id, path, real.read_bytes(), artifact_type=kind,
                                          task_id=task_id)
                collected.append(artifact)
            return collected

    def _refused(self, ticket_id: int, phase_id: str, task_id: int | None, entry: Any, reason: str) -> None:
        self.uow.emit("artifact.refused", "ticket", ticket_id, ticket_id=ticket_id, phase_id=phase_id,
                      payload={"entry": storable_text(repr(entry)[:500]), "reason": storable_text(reason[:500]),
                               "task_id": task_id})

    @staticmethod
    def _expected_matches(outputs, workspace: Path) -> Iterator[tuple[str, str]]:
        if not outputs:
            return
        files = workspace_files(workspace)
        for output in outputs:
            regex = glob_regex(output.pattern.removeprefix("./"))
            for path in files:
                if regex.match(path):
                    yield path, output.type

    def list(self, ticket_id: int, *, phase_id: str | None = None) -> list[Artifact]:
        with self.uow:
            query = select(Artifact).where(Artifact.ticket_id == int(ticket_id)).order_by(Artifact.id)
            if phase_id:
                query = query.where(Artifact.phase_id == phase_id)
            return list(self.uow.session.scalars(query))

    def latest_texts(self, ticket_id: int) -> dict[str, str | None]:
        """Each stored path of the ticket with the text of its newest version (None if binary or large)."""
        latest: dict[str, str | None] = {}
        for artifact in self.list(ticket_id):
            latest[artifact.path] = artifact.content
        return latest


def _insert(session):
    """The dialect's INSERT (both backends support ON CONFLICT DO NOTHING ... RETURNING)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
