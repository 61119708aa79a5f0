"""Bodies of ``/api/board``: the columns with their tickets, and moving a card."""

from __future__ import annotations

from pydantic import BaseModel

from phaseloom.schemas.api.common import Id, In, Out, PhaseId, Text
from phaseloom.schemas.api.questions import QuestionOut
from phaseloom.schemas.api.tickets import TicketOut


class ColumnOut(Out):
    id: str
    name: str
    phase_mapping: list[str]
    wip_limit: int | None
    wip_use: int
    tickets: list[TicketOut]


class BoardOut(BaseModel):
    project_id: int
    columns: list[ColumnOut]
    # The Needs input lane: questions the project's agents asked, oldest first.
    needs_input: list[QuestionOut] = []


class BoardMove(In):
    ticket_id: Id
    column_id: PhaseId
    force: bool = False
    reason: Text(2000) = ""
