"""Phase arguments as typed on the command line (``design``, ``Design``, ``PHASE_DESIGN``) to phase ids."""

from __future__ import annotations

from phaseloom.cli import reads


def _resolve(workflow, typed: str | None) -> str | None:
    if not typed:
        return typed
    from phaseloom.domain.phase_names import resolve_phase_id

    return resolve_phase_id(typed, [(p.id, p.name) for p in workflow.ordered_phases])


def phase_of_ticket(ticket_id: int, typed: str | None) -> str | None:
    """``typed`` as a phase id of the ticket's workflow (an unknown ticket is the service's NotFound later)."""
    if not typed:
        return typed
    workflow = reads.workflow_of_ticket(ticket_id)
    return typed if workflow is None else _resolve(workflow, typed)


def phase_of_project(project: str | None, typed: str | None) -> str | None:
    """``typed`` as a phase id of the project's workflow, or of any workflow when no project is given."""
    if not typed:
        return typed
    if project is not None:
        return _resolve(reads.workflow_of_project(project)[1], typed)
    phases: dict[str, str] = {}
    for workflow in reads.all_workflows():
        phases.update((p.id, p.name) for p in workflow.ordered_phases)
    from phaseloom.domain.phase_names import resolve_phase_id

    return resolve_phase_id(typed, phases.items()) if phases else typed
