"""``/api/tickets``: create, read, transition, block/unblock, history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from phaseloom.api.deps import Admin, Caller, Limit, Offset, Uow
from phaseloom.api.scoping import readable_project_ref
from phaseloom.schemas.api.common import MAX_ID, Page, page_of
from phaseloom.schemas.api.tickets import (
    HistoryOut, TicketBlock, TicketCreate, TicketOut, TicketTransition, TicketUnblock,
)
from phaseloom.services.auth import AuthService
from phaseloom.services.tickets import TicketService

router = APIRouter(prefix="/api/tickets", tags=["tickets"])
TicketId = Annotated[int, Path(ge=1, le=MAX_ID)]
Filter = Annotated[str | None, Query(max_length=200)]


@router.post("", response_model=TicketOut, status_code=201)
def create_ticket(body: TicketCreate, uow: Uow, admin: Admin) -> TicketOut:
    ticket = TicketService(uow).create_ticket(body.project, body.title, description=body.description,
                                              priority=body.priority, blocked_by=body.blocked_by,
                                              initiated_by=admin.name)
    return TicketOut.model_validate(ticket)


@router.get("", response_model=Page[TicketOut])
def list_tickets(uow: Uow, caller: Caller, project: Filter = None, phase_id: Filter = None,
                 priority: Filter = None, limit: Limit = 50, offset: Offset = 0):
    project = readable_project_ref(uow, caller, project)
    tickets = TicketService(uow).list(project, phase_id=phase_id, priority=priority, limit=limit, offset=offset)
    return page_of(tickets, limit, offset)


@router.get("/{ticket_id}", response_model=TicketOut)
def show_ticket(ticket_id: TicketId, uow: Uow, caller: Caller) -> TicketOut:
    AuthService(uow).authorize_ticket(caller, ticket_id)  # an agent reads only tickets it works on
    return TicketOut.model_validate(TicketService(uow).get(ticket_id))


@router.get("/{ticket_id}/history", response_model=list[HistoryOut])
def ticket_history(ticket_id: TicketId, uow: Uow, caller: Caller):
    AuthService(uow).authorize_ticket(caller, ticket_id)
    return TicketService(uow).history(ticket_id)


@router.post("/{ticket_id}/transition", response_model=TicketOut,
             responses={409: {"description": "not an allowed transition (lists allowed_targets) or WIP limit"}})
def transition_ticket(ticket_id: TicketId, body: TicketTransition, uow: Uow, caller: Caller) -> TicketOut:
    with uow:
        AuthService(uow).authorize_ticket(caller, ticket_id)
        if body.force:
            caller.require_admin()
        ticket = TicketService(uow).transition(ticket_id, body.to_phase_id, reason=body.reason,
                                               initiated_by=caller.name, force=body.force)
    return TicketOut.model_validate(ticket)


@router.post("/{ticket_id}/block", response_model=TicketOut)
def block_ticket(ticket_id: TicketId, body: TicketBlock, uow: Uow, caller: Caller) -> TicketOut:
    with uow:
        AuthService(uow).authorize_ticket(caller, ticket_id)
        ticket = TicketService(uow).block(ticket_id, body.reason, initiated_by=caller.name)
    return TicketOut.model_validate(ticket)


@router.post("/{ticket_id}/unblock", response_model=TicketOut)
def unblock_ticket(ticket_id: TicketId, body: TicketUnblock, uow: Uow, caller: Caller) -> TicketOut:
    with uow:
        AuthService(uow).authorize_ticket(caller, ticket_id)
        ticket = TicketService(uow).unblock(ticket_id, to_phase_id=body.to_phase_id, reason=body.reason,
                                            initiated_by=caller.name)
    return TicketOut.model_validate(ticket)
