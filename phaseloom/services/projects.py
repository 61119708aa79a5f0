"""Projects: a named body of work that uses one workflow."""

from __future__ import annotations

from sqlalchemy import func, select

from phaseloom.db.models import Project, Ticket, WorkflowRow
from phaseloom.db.ticket_store import project_row
from phaseloom.domain.errors import Conflict, InvalidInput
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService


class ProjectService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def create_project(self, name: str, workflow: str | int = "software_development", *,
                       description: str = "", repo_path: str = "") -> Project:
        name = name.strip()
        if not name:
            raise InvalidInput("a project needs a name")
        with self.uow:
            session = self.uow.session
            if session.scalar(select(Project.id).where(Project.name == name)) is not None:
                raise Conflict(f"project {name!r} already exists")
            workflow_id = WorkflowService(self.uow).get_row_id(workflow)
            project = Project(name=name, workflow_id=workflow_id, description=description, repo_path=repo_path)
            session.add(project)
            session.flush()
            self.uow.emit("project.created", "project", project.id, project_id=project.id,
                          payload={"name": name, "workflow_id": workflow_id})
            return project

    def get(self, name_or_id: str | int) -> Project:
        with self.uow:
            return self._row(name_or_id)

    def list(self) -> list[dict]:
        with self.uow:
            session = self.uow.session
            counts = dict(session.execute(select(Ticket.project_id, func.count()).group_by(Ticket.project_id)).all())
            workflow_names = dict(session.execute(select(WorkflowRow.id, WorkflowRow.name)).all())
            return [
                {"id": p.id, "name": p.name, "workflow_id": p.workflow_id,
                 "workflow_name": workflow_names.get(p.workflow_id, ""), "tickets": counts.get(p.id, 0),
                 "repo_path": p.repo_path, "description": p.description}
                for p in session.scalars(select(Project).order_by(Project.id))
            ]

    def _row(self, name_or_id: str | int) -> Project:
        return project_row(self.uow.session, name_or_id)
