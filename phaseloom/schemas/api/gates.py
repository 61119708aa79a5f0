"""Body of ``/api/tickets/{id}/gate``: the gate of a ticket's phase, its latest result, the checklist."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from phaseloom.schemas.api.common import Out


class ChecklistItemOut(Out):
    index: int
    text: str
    ticked: bool
    evidence: str
    ticked_by: str
    ticked_at: datetime | None


class GateResultOut(Out):
    id: int
    phase_id: str
    passed: bool
    outcomes: list[dict[str, Any]]
    blocking_reasons: list[str]
    created_at: datetime


class GateStatusOut(BaseModel):
    ticket_id: int
    phase_id: str
    latest_result: GateResultOut | None
    done_definitions: list[ChecklistItemOut]
