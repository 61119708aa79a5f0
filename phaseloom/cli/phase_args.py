"""Phase arguments as typed on the command line (``design``, ``Design``, ``PHASE_DESIGN``) to phase ids."""

from __future__ import annotations

from phaseloom.cli.context import state


def _resolve(workflow, typed: str | None) -> str | None:
    if not typed:
        return typed
    from phaseloom.domain.phase_names import resolve_phase_id

    return resolve_phase_id(typed, [(p.id, p.name) for p in workflow.ordered_phases])


def phase_of_ticket(ticket_id: int, typed: str | None) -> str | None:
    """``typed`` as a phase id of the ticket's workflow (an unknown ticket is the service's NotFound later)."""
    if not typed:
        return typed
    from phaseloom.db.models import Ticket
    from phaseloom.services.workflows import WorkflowService

    uow = state.uow(readonly=True)
    with uow:
        ticket = uow.session.get(Ticket, ticket_id)
        if ticket is None:
            return typed
        return _resolve(WorkflowService(uow).by_id(ticket.workflow_id), typed)


def phase_of_project(project: str | None, typed: str | None) -> str | None:
    """``typed`` as a phase id of the project's workflow, or of any workflow when no project is given."""
    if not typed:
        return typed
    from phaseloom.services.projects import ProjectService
    from phaseloom.services.workflows import WorkflowService

    uow = state.uow(readonly=True)
    with uow:
        if project is not None:
            return _resolve(WorkflowService(uow).by_id(ProjectService(uow).get(project).workflow_id), typed)
        from sqlalchemy import select

        from phaseloom.db.models import WorkflowRow

        phases: dict[str, str] = {}
        for workflow_id in uow.session.scalars(select(WorkflowRow.id)):
            phases.update((p.id, p.name) for p in WorkflowService(uow).by_id(workflow_id).ordered_phases)
        from phaseloom.domain.phase_names import resolve_phase_id

        return resolve_phase_id(typed, phases.items()) if phases else typed
