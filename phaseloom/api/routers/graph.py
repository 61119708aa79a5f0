"""``/api/graph``: the workflow graph of a ticket or a project (tasks, dependencies, discoveries)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from phaseloom.api.deps import Caller, Uow
from phaseloom.api.scoping import readable_project_ref
from phaseloom.schemas.api.common import MAX_ID
from phaseloom.services.auth import AuthService
from phaseloom.services.graph import GraphService

router = APIRouter(prefix="/api/graph", tags=["graph"])


@router.get("", response_model=dict[str, Any], summary="Graph of one ticket or one project (give exactly one)")
def workflow_graph(uow: Uow, caller: Caller,
                   ticket_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                   project: Annotated[str | None, Query(max_length=200, description="name or id")] = None):
    if ticket_id is not None:
        AuthService(uow).authorize_ticket(caller, ticket_id)
    if project is not None or ticket_id is None:
        project = readable_project_ref(uow, caller, project)
    return GraphService(uow).workflow_graph(ticket_id=ticket_id, project_id=project)
