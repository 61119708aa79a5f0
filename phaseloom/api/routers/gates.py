"""``/api/tickets/{id}/gate``: a phase gate's latest result and its done-definition checklist."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from phaseloom.api.deps import Caller, Uow
from phaseloom.schemas.api.common import MAX_ID
from phaseloom.schemas.api.gates import ChecklistItemOut, GateResultOut, GateStatusOut
from phaseloom.services.auth import AuthService
from phaseloom.services.gates import GateService
from phaseloom.services.tickets import TicketService

router = APIRouter(prefix="/api/tickets", tags=["gates"])


@router.get("/{ticket_id}/gate", response_model=GateStatusOut)
def gate_status(ticket_id: Annotated[int, Path(ge=1, le=MAX_ID)], uow: Uow, caller: Caller,
                phase_id: Annotated[str | None, Query(max_length=100, description="default: current")] = None):
    with uow:
        phase = phase_id or TicketService(uow).get(ticket_id).phase_id
        AuthService(uow).authorize_ticket(caller, ticket_id)  # as for the ticket itself
        gates = GateService(uow)
        checklist = gates.done_definitions(ticket_id, phase)
        latest = gates.latest_result(ticket_id, phase)
    return GateStatusOut(ticket_id=ticket_id, phase_id=phase,
                         latest_result=GateResultOut.model_validate(latest) if latest else None,
                         done_definitions=[ChecklistItemOut.model_validate(i) for i in checklist])
