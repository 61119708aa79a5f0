"""Bodies of ``/api/discoveries``."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from phaseloom.schemas.api.common import Id, In, LongText, Out, PhaseId, Text


class DiscoveryCreate(In):
    """Something found while working; ``spawn_phase_id`` queues a task for it in any phase."""

    source_task_id: Id | None = None
    ticket_id: Id | None = Field(default=None, description="needed when there is no source task")
    discovery_type: Text(50, min_length=1)
    description: Text(10_000, min_length=1)
    spawn_phase_id: PhaseId | None = None
    spawn_description: LongText | None = None
    priority_boost: bool = False


class DiscoveryOut(Out):
    id: int
    ticket_id: int
    project_id: int
    source_task_id: int | None
    source_phase_id: str | None
    discovery_type: str
    description: str
    spawn_phase_id: str | None
    spawned_task_ids: list[int]
    priority_boost: bool
    status: str
    created_by: str
    created_at: datetime
