"""``/api/launches``: the launch form of a workflow, and launching it (a ticket and its first task)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from phaseloom.api.deps import Admin, Caller, Uow
from phaseloom.schemas.api.common import ShortText
from phaseloom.schemas.api.launches import LaunchCreate, LaunchFormOut, LaunchOut
from phaseloom.schemas.api.tickets import TicketOut
from phaseloom.services.launches import LaunchService

router = APIRouter(prefix="/api/launches", tags=["launches"])


@router.get("/{workflow}", response_model=LaunchFormOut)
def launch_form(workflow: ShortText, uow: Uow, caller: Caller) -> LaunchFormOut:
    """The parameters a user fills to launch ``workflow`` (what the web form is built from)."""
    template = LaunchService(uow).template(workflow)
    parameters = [{**asdict(p), "options": list(p.options)} for p in template.parameters]
    return LaunchFormOut(workflow=workflow, parameters=parameters, first_task_prompt=template.first_task_prompt,
                         ticket_title=template.ticket_title)


@router.post("", response_model=LaunchOut, status_code=201)
def launch(body: LaunchCreate, uow: Uow, admin: Admin) -> LaunchOut:
    """Create the ticket and its first task; a wrong parameter is a 422 listing every problem, nothing created."""
    outcome = LaunchService(uow).launch(body.workflow, body.project, body.params, priority=body.priority,
                                        initiated_by=admin.name)
    return LaunchOut(workflow=outcome.workflow, project_id=outcome.project_id,
                     project_created=outcome.project_created, ticket=TicketOut.model_validate(outcome.ticket),
                     task_id=outcome.task_id, prompt=outcome.prompt)
