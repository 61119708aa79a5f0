"""What an agent token may read on list and read-mostly routes.

An agent registered for a project reads that project's rows only: lists are narrowed to it and
naming another project is 403. Ticket details (history, gate, artifacts, graph) follow the ticket
rule of :meth:`AuthService.authorize_ticket` (the agent holds or held a task on it). Admins, and
agents registered without a project (cross-project agents), read everything. Phases and
workflows are definitions shared by every project and stay readable to all.
"""

from __future__ import annotations

from phaseloom.domain.errors import Forbidden, NotFound
from phaseloom.services.auth import Principal
from phaseloom.services.projects import ProjectService
from phaseloom.db.unit_of_work import UnitOfWork


def readable_project_ref(uow: UnitOfWork, caller: Principal, project: str | None) -> str | None:
    """A project filter given by name or id, narrowed to the caller's project (see the module)."""
    own = caller.bound_project
    if own is None:
        return project
    if project is not None:
        caller.readable_project(project_id_for(uow, caller, project))
    return str(own)


def project_id_for(uow: UnitOfWork, caller: Principal, project: str) -> int:
    """The id of a project given by name or id. To an agent bound to a project, an unknown project
    is 403 like another project's, so answers never tell which names exist."""
    try:
        return ProjectService(uow).get(project).id
    except NotFound:
        if caller.bound_project is None:
            raise
        raise Forbidden(f"agent {caller.agent_id} may read project {caller.bound_project} only") from None


def may_read(caller: Principal, project_id: int | None, *, owner_agent_id: str | None = None) -> bool:
    """Whether the caller may read a row of project ``project_id`` (None: a row of no project,
    readable by admins and cross-project agents only). A row that is the calling agent's own
    (``owner_agent_id``: the agent itself, a budget on it) is readable whatever its project."""
    own = caller.bound_project
    return own is None or project_id == own or (owner_agent_id is not None and owner_agent_id == caller.agent_id)


def require_readable(caller: Principal, project_id: int | None, *, what: str,
                     owner_agent_id: str | None = None) -> None:
    """403 unless :func:`may_read`."""
    if not may_read(caller, project_id, owner_agent_id=owner_agent_id):
        raise Forbidden(f"agent {caller.agent_id} may read project {caller.bound_project} only, not this {what}")
