"""``write_artifact``: an agent writes one of its phase's declared outputs into its worktree.

This is how a ``read_only`` phase (requirements, design) produces ``design.md`` without write access
to the code: the CLI may not edit files, phaseloom writes the one file the phase declares, and only
that (a path no ``expected_outputs`` pattern matches is refused, naming the patterns). The worktree
is the one the orchestrator prepared for the agent's task, read from its ``workspace.prepared``
event, so the tool works the same over stdio and over a served MCP endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from phaseloom.db.models import SystemEvent, Task
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.db.workflow_cache import workflow_by_id
from phaseloom.domain.errors import Conflict, InvalidInput
from phaseloom.domain.permissions import declared_output
from phaseloom.services.agent_work import AgentWorkService
from phaseloom.workspaces import confine_path

MAX_ARTIFACT_BYTES = 1024 * 1024
_PREPARED = ("workspace.prepared", "workspace.repaired")


@dataclass(frozen=True)
class WrittenArtifact:
    task_id: int
    path: str
    pattern: str
    bytes: int


class PhaseOutputService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def write(self, agent_id: str, path: str, content: str, task_id: int | None = None) -> WrittenArtifact:
        """Write ``content`` to ``path`` (relative to the worktree) when the task's phase declares it."""
        data = content.encode()
        if len(data) > MAX_ARTIFACT_BYTES:
            raise InvalidInput(f"artifact {path!r} is {len(data)} bytes; at most {MAX_ARTIFACT_BYTES} may be written")
        with self.uow:
            task = AgentWorkService(self.uow).current_task(agent_id, task_id)
            phase = workflow_by_id(self.uow, task.workflow_id).phase(task.phase_id)
            workdir = self._worktree(task, agent_id)
        target = confine_path(workdir, path.replace("\\", "/"))
        relative = target.relative_to(workdir.resolve()).as_posix()
        patterns = tuple(o.pattern for o in phase.expected_outputs)
        pattern = declared_output(relative, patterns)
        if pattern is None:
            declared = ", ".join(patterns) if patterns else "none"
            raise InvalidInput(f"{relative!r} is not an output phase {phase.id} declares (its expected outputs: "
                               f"{declared}); write_artifact writes only those")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        with self.uow:
            self.uow.emit("artifact.written", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                          phase_id=task.phase_id, payload={"agent_id": agent_id, "path": relative, "bytes": len(data)})
        return WrittenArtifact(task.id, relative, pattern, len(data))

    def _worktree(self, task: Task, agent_id: str) -> Path:
        """The worktree the orchestrator prepared for ``agent_id``'s run of ``task`` (its latest)."""
        events = self.uow.session.scalars(
            select(SystemEvent).where(SystemEvent.ticket_id == task.ticket_id, SystemEvent.entity_type == "task",
                                      SystemEvent.entity_id == str(task.id), SystemEvent.event_type.in_(_PREPARED))
            .order_by(SystemEvent.id.desc()).limit(20))
        for event in events:
            payload = event.payload or {}
            if payload.get("agent_id") == agent_id and payload.get("path"):
                path = Path(payload["path"])
                if path.is_dir():
                    return path
        raise Conflict(f"task {task.id} has no worktree prepared for agent {agent_id} (write_artifact writes into "
                       "the git worktree the orchestrator prepares for a task)")
