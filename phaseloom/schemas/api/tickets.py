"""Bodies of ``/api/tickets``: create, move, block and unblock a ticket; a ticket and its history as returned."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from phaseloom.schemas.api.common import Id, In, LongText, Out, PhaseId, ShortText, Text
from phaseloom.schemas.tickets import TicketInfo


class TicketCreate(In):
    project: ShortText
    title: Text(500, min_length=1)
    description: LongText = ""
    priority: Text(20) = "MEDIUM"
    blocked_by: list[Id] = Field(default_factory=list, max_length=100)


class TicketTransition(In):
    to_phase_id: PhaseId
    reason: Text(2000) = ""
    force: bool = Field(default=False, description="override a WIP limit (admin only; recorded in history)")


class TicketBlock(In):
    reason: Text(2000, min_length=1)


class TicketUnblock(In):
    to_phase_id: PhaseId | None = None
    reason: Text(2000) = "unblocked"


class TicketOut(TicketInfo):
    """The ticket an agent sees over MCP, plus where it returns when unblocked, what still blocks it,
    and when it was created and last changed."""

    return_phase_id: str | None
    open_blockers: int
    created_at: datetime
    updated_at: datetime


class HistoryOut(Out):
    id: int
    from_phase_id: str | None
    to_phase_id: str
    from_status: str | None
    to_status: str
    reason: str
    initiated_by: str
    forced: bool
    created_at: datetime
