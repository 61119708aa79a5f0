"""``/api/discoveries``: record what was found while working (optionally spawning a task in any phase)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from phaseloom.api.deps import Caller, Limit, Offset, Uow
from phaseloom.api.scoping import require_readable
from phaseloom.domain.errors import InvalidInput
from phaseloom.schemas.api.common import MAX_ID, Page, page_of
from phaseloom.schemas.api.discoveries import DiscoveryCreate, DiscoveryOut
from phaseloom.services.auth import AuthService
from phaseloom.services.discovery import DiscoveryService

router = APIRouter(prefix="/api/discoveries", tags=["discoveries"])
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]
TextFilter = Annotated[str | None, Query(max_length=100)]


@router.post("", response_model=DiscoveryOut, status_code=201)
def record_discovery(body: DiscoveryCreate, uow: Uow, caller: Caller) -> DiscoveryOut:
    if body.source_task_id is None and body.ticket_id is None:
        raise InvalidInput("a discovery needs its source_task_id or a ticket_id")
    with uow:
        auth = AuthService(uow)
        if body.source_task_id is not None:
            auth.authorize_task(caller, body.source_task_id)
        if body.ticket_id is not None:
            auth.authorize_ticket(caller, body.ticket_id)
        discovery = DiscoveryService(uow).record_discovery(
            body.source_task_id, body.discovery_type, body.description, body.spawn_phase_id,
            body.spawn_description, body.priority_boost, body.ticket_id, created_by=caller.name)
    return DiscoveryOut.model_validate(discovery)


@router.get("", response_model=Page[DiscoveryOut])
def list_discoveries(uow: Uow, caller: Caller, ticket_id: IdFilter = None, project_id: IdFilter = None,
                     discovery_type: TextFilter = None, status: TextFilter = None,
                     limit: Limit = 50, offset: Offset = 0):
    project_id = caller.readable_project(project_id)
    found = DiscoveryService(uow).list(ticket_id=ticket_id, project_id=project_id, discovery_type=discovery_type,
                                       status=status, limit=limit, offset=offset)
    return page_of(found, limit, offset)


@router.get("/{discovery_id}", response_model=DiscoveryOut)
def show_discovery(discovery_id: Annotated[int, Path(ge=1, le=MAX_ID)], uow: Uow, caller: Caller):
    discovery = DiscoveryService(uow).get(discovery_id)
    require_readable(caller, discovery.project_id, what="discovery")
    return DiscoveryOut.model_validate(discovery)
