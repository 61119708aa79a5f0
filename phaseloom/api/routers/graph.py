"""``/api/graph``: the workflow graph of a ticket or a project (tasks, dependencies, discoveries)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from phaseloom.api.deps import Caller, Uow
from phaseloom.schemas.api.common import MAX_ID
from phaseloom.services.graph import GraphService

router = APIRouter(prefix="/api/graph", tags=["graph"])


@router.get("", response_model=dict[str, Any], summary="Graph of one ticket or one project (give exactly one)")
def workflow_graph(uow: Uow, _caller: Caller,
                   ticket_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                   project: Annotated[str | None, Query(max_length=200, description="name or id")] = None):
    return GraphService(uow).workflow_graph(ticket_id=ticket_id, project_id=project)
