"""Helpers shared by the gate, progress, discovery and graph tests: real queue calls, no mocks."""

from __future__ import annotations

from phaseloom.db.models import Agent
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.services.workflows import WorkflowService
from phaseloom.schemas.workflow import WorkflowDocument


def finish_phase_tasks(uow, ticket_id: int, phase_id: str, result: dict | None = None) -> list[int]:
    """Claim and complete every pending task of a ticket's phase through the queue, as an agent would."""
    agent_id = f"finisher-{phase_id.lower()}"
    with uow:
        if uow.session.get(Agent, agent_id) is None:
            uow.session.add(Agent(id=agent_id, name=agent_id, phase_id=phase_id, capabilities=[]))
    queue = QueueService(uow)
    done = []
    while (task := queue.claim_next_task(agent_id)) is not None:
        assert task.ticket_id == ticket_id
        queue.complete_task(task.id, agent_id, result or {})
        done.append(task.id)
    return done


def ticket_in(uow, project, phase_id: str | None = None, title: str = "Add login") -> int:
    """A ticket of ``project``, moved along the shipped workflow's main line up to ``phase_id``."""
    tickets = TicketService(uow)
    ticket = tickets.create_ticket(project.id, title)
    order = ["PHASE_BACKLOG", "PHASE_REQUIREMENTS", "PHASE_DESIGN", "PHASE_IMPLEMENTATION", "PHASE_TESTING"]
    if phase_id:
        for target in order[1: order.index(phase_id) + 1]:
            tickets.transition(ticket.id, target, reason="test setup")
    return ticket.id


def save_workflow(uow, data: dict) -> None:
    WorkflowService(uow).save_document(WorkflowDocument.model_validate(data))


def two_phase_workflow(name: str, gate: dict, **phase_extra) -> dict:
    """WORK (with ``gate``) → DONE, structured."""
    return {
        "name": name,
        "phases": [
            {"id": "PHASE_WORK", "sequence_order": 0, "allowed_transitions": ["PHASE_DONE"],
             "done_definitions": ["Code written", "Docs updated"], "gate": gate, **phase_extra},
            {"id": "PHASE_DONE", "sequence_order": 1, "is_terminal": True},
        ],
    }
