"""Launching a workflow from its launch template: one ticket and its first task, or nothing.

The parameters are checked against the template before anything is written (one problem per
parameter); the project is created on the workflow when it does not exist yet. The rendered
first-task prompt is the ticket's description and the first task's, in the workflow's initial
phase, so the ticket does not also get the phase's default "carry out" task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from phaseloom.domain.errors import Conflict, InvalidInput, NotFound
from phaseloom.domain.launch import (
    LaunchInvalid,
    LaunchTemplate,
    Value,
    check_values,
    render,
)
from phaseloom.schemas.launch import template_from_settings
from phaseloom.services.projects import ProjectService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService, TicketView
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService

MAX_TITLE = 200


@dataclass(frozen=True)
class LaunchOutcome:
    workflow: str
    project_id: int
    project_created: bool
    ticket: TicketView
    task_id: int
    prompt: str
    values: dict[str, Value]


class LaunchService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def template(self, workflow: str | int) -> LaunchTemplate:
        """The workflow's launch template; :class:`NotFound` when it declares none."""
        with self.uow:
            found = WorkflowService(self.uow).get(workflow)
        template = template_from_settings(found.settings)
        if template is None:
            raise NotFound("launch template", f"of workflow {found.name} (it declares no launch_template)")
        return template

    def launch(self, workflow: str | int, project: str, params: Mapping[str, Any], *,
               priority: str = "MEDIUM", initiated_by: str = "user") -> LaunchOutcome:
        """Create the ticket and its first task from the rendered template; raises before writing anything."""
        if not str(project).strip():
            raise InvalidInput("a launch needs a project name")
        with self.uow:
            found = WorkflowService(self.uow).get(workflow)
            template = self.template(found.name)
            values, problems = check_values(template, params)
            if problems:
                raise LaunchInvalid(found.name, problems)
            project_id, created = self._project(project, found.name)
            prompt = render(template.first_task_prompt, values)
            title = _title(render(template.ticket_title, values) if template.ticket_title else prompt, found.name)
            tickets = TicketService(self.uow)
            ticket = tickets.create_ticket(project_id, title, description=prompt, priority=priority,
                                           initiated_by=initiated_by)
            task = QueueService(self.uow).create_task(ticket.id, ticket.phase_id, title, description=prompt,
                                                      created_by=initiated_by)
            self.uow.emit("workflow.launched", "ticket", ticket.id, project_id=project_id, ticket_id=ticket.id,
                          phase_id=ticket.phase_id, payload={"workflow": found.name, "task_id": task.id,
                                                             "parameters": sorted(values)})
            return LaunchOutcome(found.name, project_id, created, ticket, task.id, prompt, values)

    def _project(self, name: str, workflow: str) -> tuple[int, bool]:
        projects = ProjectService(self.uow)
        try:
            row = projects.get(name)
        except NotFound:
            return projects.create_project(name, workflow).id, True
        if WorkflowService(self.uow).get_row_id(workflow) != row.workflow_id:
            other = WorkflowService(self.uow).by_id(row.workflow_id).name
            raise Conflict(f"project {name!r} uses workflow {other!r}, not {workflow!r}")
        return row.id, False


def _title(text: str, workflow: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    line = line.lstrip("#").strip() or f"launch of {workflow}"
    return line if len(line) <= MAX_TITLE else line[:MAX_TITLE - 1] + "…"
