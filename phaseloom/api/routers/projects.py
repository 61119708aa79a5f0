"""``/api/projects``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from phaseloom.api.deps import Admin, Caller, Limit, Offset, Uow
from phaseloom.api.scoping import project_id_for, require_readable
from phaseloom.schemas.api.common import Page, page_of
from phaseloom.schemas.api.projects import ProjectCreate, ProjectOut
from phaseloom.services.projects import ProjectService

router = APIRouter(prefix="/api/projects", tags=["projects"])
ProjectRef = Annotated[str, Path(max_length=200, description="project name or id")]


@router.post("", response_model=ProjectOut, status_code=201)
def create_project(body: ProjectCreate, uow: Uow, _admin: Admin) -> ProjectOut:
    project = ProjectService(uow).create_project(body.name, body.workflow, description=body.description,
                                                 repo_path=body.repo_path)
    return ProjectOut.model_validate(project)


@router.get("", response_model=Page[ProjectOut])
def list_projects(uow: Uow, caller: Caller, limit: Limit = 50, offset: Offset = 0):
    own = caller.bound_project
    projects = [p for p in ProjectService(uow).list() if own is None or p["id"] == own]
    return page_of(projects[offset:offset + limit], limit, offset)


@router.get("/{project}", response_model=ProjectOut)
def show_project(project: ProjectRef, uow: Uow, caller: Caller) -> ProjectOut:
    require_readable(caller, project_id_for(uow, caller, project), what="project")
    return ProjectOut.model_validate(ProjectService(uow).get(project))
