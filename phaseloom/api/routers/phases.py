"""``/api/phases``: a workflow's phases; create custom ones, change them, delete unused ones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from phaseloom.api.deps import Admin, Caller, Limit, Offset, Uow
from phaseloom.schemas.api.common import Page, page_of
from phaseloom.schemas.api.phases import PhaseCreate, PhaseOut, PhaseUpdate
from phaseloom.schemas.workflow import PhaseSpec
from phaseloom.services.phases import PhaseService

router = APIRouter(prefix="/api/phases", tags=["phases"])
WorkflowQuery = Annotated[str, Query(max_length=200, description="workflow name or id")]
PhaseRef = Annotated[str, Path(max_length=100)]


@router.get("", response_model=Page[PhaseOut])
def list_phases(workflow: WorkflowQuery, uow: Uow, _caller: Caller, limit: Limit = 50, offset: Offset = 0):
    phases = PhaseService(uow).list(workflow)[offset:offset + limit]
    return page_of([PhaseOut.from_domain(p) for p in phases], limit, offset)


@router.get("/{phase_id}", response_model=PhaseOut)
def show_phase(phase_id: PhaseRef, workflow: WorkflowQuery, uow: Uow, _caller: Caller) -> PhaseOut:
    return PhaseOut.from_domain(PhaseService(uow).get(workflow, phase_id))


@router.post("", response_model=PhaseOut, status_code=201)
def create_phase(body: PhaseCreate, uow: Uow, _admin: Admin) -> PhaseOut:
    spec = PhaseSpec.model_validate(body.model_dump(exclude={"workflow", "transitions_from"}))
    phase = PhaseService(uow).create_phase(body.workflow, spec, transitions_from=body.transitions_from)
    return PhaseOut.from_domain(phase)


@router.put("/{phase_id}", response_model=PhaseOut)
def update_phase(phase_id: PhaseRef, body: PhaseUpdate, workflow: WorkflowQuery, uow: Uow, _admin: Admin):
    phase = PhaseService(uow).update_phase(workflow, phase_id, body.model_dump(exclude_unset=True))
    return PhaseOut.from_domain(phase)


@router.delete("/{phase_id}", status_code=204, response_class=Response)
def delete_phase(phase_id: PhaseRef, workflow: WorkflowQuery, uow: Uow, _admin: Admin) -> Response:
    PhaseService(uow).delete_phase(workflow, phase_id)
    return Response(status_code=204)
