"""An agent's workspace: where its worktree is, on which branch, and the paths it may report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from phaseloom.domain.errors import InvalidInput
from phaseloom.workspaces._git_repo import slug


def ticket_branch(ticket_id: int) -> str:
    return f"ticket/{ticket_id}"


def agent_branch(phase_id: str, agent_id: str, task_id: int) -> str:
    return f"phase-{slug(phase_id)}-{slug(agent_id, 24)}-t{task_id}"


def confine_path(root: Path, reported: str) -> Path:
    """Resolve ``reported`` inside ``root``, refusing anything that leads outside it.

    Absolute paths, ``..`` components and symlinks that lead out are all rejected.
    """
    if not reported or not reported.strip():
        raise InvalidInput("an empty path was reported")
    candidate = Path(reported)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise InvalidInput(f"path {reported!r} must be relative to the workspace, without '..'")
    base = Path(root).resolve()
    resolved = (base / candidate).resolve()
    if resolved != base and base not in resolved.parents:
        raise InvalidInput(f"path {reported!r} leads outside the workspace")
    return resolved


@dataclass(frozen=True)
class Workspace:
    repo: Path
    path: Path
    branch: str
    ticket_branch: str
    ticket_id: int
    task_id: int
    phase_id: str
    agent_id: str
    agent_name: str
    repaired: bool = False

    def confine(self, reported: str) -> Path:
        """Resolve a path an agent reported; see :func:`confine_path`."""
        return confine_path(self.path, reported)

    def relative(self, reported: str) -> str:
        return self.confine(reported).relative_to(self.path.resolve()).as_posix()
