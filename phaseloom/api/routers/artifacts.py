"""``/api/tickets/{id}/artifacts``: files the ticket's phases produced."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from phaseloom.api.deps import Caller, Limit, Offset, Uow
from phaseloom.schemas.api.artifacts import ArtifactOut
from phaseloom.schemas.api.common import MAX_ID, Page, page_of
from phaseloom.services.artifacts import ArtifactService
from phaseloom.services.auth import AuthService
from phaseloom.services.tickets import TicketService

router = APIRouter(prefix="/api/tickets", tags=["artifacts"])


@router.get("/{ticket_id}/artifacts", response_model=Page[ArtifactOut])
def list_artifacts(ticket_id: Annotated[int, Path(ge=1, le=MAX_ID)], uow: Uow, caller: Caller,
                   phase_id: Annotated[str | None, Query(max_length=100)] = None,
                   limit: Limit = 50, offset: Offset = 0):
    with uow:
        TicketService(uow).get(ticket_id)
        AuthService(uow).authorize_ticket(caller, ticket_id)  # as for the ticket itself
        artifacts = ArtifactService(uow).list(ticket_id, phase_id=phase_id)
    return page_of(artifacts[offset:offset + limit], limit, offset)
