"""Bodies of ``/api/tasks``: create, claim, heartbeat, complete and fail a task; a task as returned."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from phaseloom.schemas.api.common import Id, In, LongText, Out, PhaseId, Text

LeaseSeconds = Annotated[float, Field(gt=0, le=86400)]


class TaskCreate(In):
    ticket_id: Id
    phase_id: PhaseId
    title: Text(500, min_length=1)
    description: LongText = ""
    priority: Text(20) | None = None
    task_type: Text(50) = "work"
    required_capabilities: list[Text(100)] = Field(default_factory=list, max_length=50)
    depends_on: list[Id] = Field(default_factory=list, max_length=100)
    max_retries: Annotated[int, Field(ge=0, le=100)] | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=7 * 86400)] | None = None
    # The paths (globs) the task touches; none given: its phase's configuration.paths, if any.
    paths: list[Text(500, min_length=1)] | None = Field(default=None, max_length=100)


class TaskClaim(In):
    agent_id: Text(64) | None = Field(default=None, description="required with an admin token")
    lease_seconds: LeaseSeconds | None = None


class TaskHeartbeat(In):
    lease_seconds: LeaseSeconds | None = None


class TaskComplete(In):
    result: dict[str, Any] = Field(default_factory=dict)


class TaskFail(In):
    error: Text(10_000, min_length=1)
    retryable: bool = True


class TaskOut(Out):
    id: int
    ticket_id: int
    project_id: int
    phase_id: str
    task_type: str
    title: str
    description: str
    priority: str
    status: str
    required_capabilities: list[str]
    unmet_dependencies: int
    assigned_agent_id: str | None
    lease_expires_at: datetime | None
    retry_count: int
    max_retries: int
    next_attempt_at: datetime | None
    result: dict[str, Any] | None
    error: str | None
    error_class: str | None
    created_by: str
    created_at: datetime
    claimed_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    session_id: str | None = None    # the agent CLI's own session, for resuming it
    activity: str | None = None      # what the agent was last seen doing (its last tool call)
    activity_at: datetime | None = None
    paths: list[str] = Field(default_factory=list)  # the globs it declared it touches
    waits_for: str | None = None     # pending on another task's paths: "waits for task 12: src/auth/**"


class ClaimOut(BaseModel):
    task: TaskOut | None


class SnapshotOut(Out):
    """A snapshot of the task's worktree, on ``refs/phaseloom/snapshots/task-<id>/<n>``."""

    n: int
    ref: str
    commit: str
    created_at: datetime
    reason: str
    files: int = Field(description="files that differ from the commit checked out when it was taken")
    worktree: str
    base: str | None
    index: str | None = Field(description="the commit of the index then (none when it held a merge conflict)")
