"""Bodies of ``/api/tickets/{id}/artifacts``."""

from __future__ import annotations

from datetime import datetime

from phaseloom.schemas.api.common import Out


class ArtifactOut(Out):
    id: int
    ticket_id: int
    phase_id: str
    task_id: int | None
    artifact_type: str
    path: str
    content_hash: str
    size: int
    created_at: datetime
