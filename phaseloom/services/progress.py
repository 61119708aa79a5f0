"""Moving a ticket on when its phase is really done.

``check_and_progress`` is the one place that decides this: the current phase's gate must pass
(which, by default, includes every task of the phase having completed). The move goes through
:meth:`TicketService.transition`, so history, events and WIP limits apply as for a person's move,
and the next phase's initial tasks are queued in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from phaseloom.db.models import Task, Ticket
from phaseloom.domain import phases as d
from phaseloom.domain.errors import Conflict, NotFound
from phaseloom.domain.merge_queue import MergeSettings, merge_settings_of
from phaseloom.schemas.gates import InitialTaskSpec
from phaseloom.services.artifacts import ArtifactService
from phaseloom.services.gates import GateResultView, GateService
from phaseloom.services.merge_queue import MergeQueueService
from phaseloom.queue import QueueService
from phaseloom.services.ticket_views import is_done_phase
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService


@dataclass(frozen=True)
class ProgressOutcome:
    ticket_id: int
    moved: bool
    from_phase: str
    to_phase: str | None = None
    reason: str = ""
    gate: GateResultView | None = None
    queued_task_ids: list[int] = field(default_factory=list)


def initial_task_specs(phase: d.Phase) -> list[InitialTaskSpec]:
    """The tasks a ticket gets on entering ``phase``: as declared, or one "carry out" task."""
    if phase.initial_tasks:
        return [InitialTaskSpec.model_validate(t) for t in phase.initial_tasks]
    description = "\n\n".join(part for part in (phase.description, phase.phase_prompt.strip()) if part)
    return [InitialTaskSpec(title=f"carry out {phase.name}", description=description)]


class ProgressService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def start_ticket(self, ticket_id: int, *, created_by: str = "system") -> list[Task]:
        """Queue the current phase's initial tasks, unless the phase already has tasks or is terminal."""
        with self.uow:
            ticket = self._ticket(ticket_id, for_update=True)
            existing = self.uow.session.scalar(select(func.count()).select_from(Task).where(
                Task.ticket_id == ticket.id, Task.phase_id == ticket.phase_id))
            if existing:
                return []
            phase = WorkflowService(self.uow).by_id(ticket.workflow_id).phase(ticket.phase_id)
            if phase.is_terminal:  # done or blocked: nothing to carry out
                return []
            return self._queue_initial_tasks(ticket, phase, created_by=created_by)

    def check_and_progress(self, ticket_id: int, workspace: Path | None = None, *,
                           initiated_by: str = "system") -> ProgressOutcome:
        """Move the ticket to its next phase if the current phase's gate passes; else say why not.

        The workspace is read (and the gate's commands run) outside any transaction; then one
        transaction records the phase's outputs, stores the gate's result and makes the move.
        """
        with self._reading() as reader:
            ticket = self._ticket(ticket_id, uow=reader)
            workflow = WorkflowService(reader).by_id(ticket.workflow_id)
            current = workflow.phase(ticket.phase_id)
            merge = merge_settings_of(workflow.settings)
            waiting = merge is not None and MergeQueueService(reader).waiting_entry(ticket.id)
        if waiting:  # its gate passed already: the queue lands it, or sends it back to work
            return ProgressOutcome(ticket.id, False, current.id, reason=f"waiting in the merge queue (entry {waiting.id})")
        if current.is_terminal:
            why = "the ticket is blocked" if current.id == d.BLOCKED_PHASE else "the ticket is done"
            return ProgressOutcome(ticket.id, False, current.id, reason=why)
        gates = GateService(self.uow)
        evidence = gates.workspace_evidence(current, workspace)
        with self.uow:
            ticket = self._ticket(ticket_id, for_update=True)
            if ticket.phase_id != current.id:  # someone moved it while its workspace was read
                return ProgressOutcome(ticket.id, False, current.id,
                                       reason=f"the ticket moved to {ticket.phase_id} while its gate was checked")
            if workspace is not None:
                ArtifactService(self.uow).collect_expected_outputs(ticket.id, workspace, phase_id=current.id)
            gate = gates.evaluate(ticket, current, evidence)
            if not gate.passed:
                return ProgressOutcome(ticket.id, False, current.id, reason="gate failed: "
                                       + "; ".join(gate.blocking_reasons), gate=gate)
            target = workflow.next_phase(current.id)
            if target is None:
                return ProgressOutcome(ticket.id, False, current.id, reason="the phase has no next phase", gate=gate)
            if merge is not None and is_done_phase(target):
                return self._queue_for_merge(ticket, current, merge, gate)
            return self._advance(ticket, current, target, gate, initiated_by)

    def _advance(self, ticket: Ticket, current: d.Phase, target: d.Phase, gate: GateResultView,
                 initiated_by: str) -> ProgressOutcome:
        """Inside the check's transaction: the move, its next phase's tasks and its event, or nothing of
        them (the gate's result stays stored) when the move is refused."""
        try:
            with self.uow.savepoint():
                TicketService(self.uow).transition(
                    ticket.id, target.id, reason=f"gate of {current.id} passed", initiated_by=initiated_by)
                queued = [] if target.is_terminal else self._queue_initial_tasks(ticket, target,
                                                                                 created_by=initiated_by)
                self.uow.emit("ticket.progressed", "ticket", ticket.id, project_id=ticket.project_id,
                              ticket_id=ticket.id, phase_id=target.id,
                              payload={"from_phase": current.id, "to_phase": target.id,
                                       "gate_result_id": gate.id, "queued_task_ids": [t.id for t in queued]})
        except Conflict as exc:  # a WIP limit or a transition the workflow refuses: stay, say why
            return ProgressOutcome(ticket.id, False, current.id, reason=str(exc), gate=gate)
        return ProgressOutcome(ticket.id, True, current.id, target.id, reason=f"gate of {current.id} passed",
                               gate=gate, queued_task_ids=[t.id for t in queued])

    def _queue_for_merge(self, ticket: Ticket, current: d.Phase, merge: MergeSettings,
                         gate: GateResultView) -> ProgressOutcome:
        """Inside the check's transaction: the ticket joins its repository's merge queue instead of moving
        to done (it moves when its branch lands)."""
        try:
            entry = MergeQueueService(self.uow).enqueue(ticket, merge, current.id)
        except Conflict as exc:  # no repository to land in: stay, say why
            return ProgressOutcome(ticket.id, False, current.id, reason=str(exc), gate=gate)
        return ProgressOutcome(ticket.id, False, current.id, gate=gate,
                               reason=f"gate of {current.id} passed; queued to land on {merge.into} (entry {entry.id})")

    def _reading(self) -> UnitOfWork:
        """The caller's open block when there is one (its changes are visible), else a read-only one."""
        return self.uow if self.uow.active else UnitOfWork(self.uow.db, readonly=True)

    def on_task_completed(self, task_id: int, workspace: Path | None = None) -> ProgressOutcome:
        """Collect a completed task's artifacts, then try to progress its ticket."""
        with self.uow:
            task = QueueService(self.uow).get(task_id)
        ArtifactService(self.uow).collect_from_task(task.id, workspace)
        return self.check_and_progress(task.ticket_id, workspace)

    def _queue_initial_tasks(self, ticket: Ticket, phase: d.Phase, *, created_by: str) -> list[Task]:
        queue = QueueService(self.uow)
        return [
            queue.create_task(ticket.id, phase.id, spec.title, description=spec.description,
                              priority=spec.priority, task_type=spec.task_type,
                              required_capabilities=spec.required_capabilities, created_by=created_by)
            for spec in initial_task_specs(phase)
        ]

    def _ticket(self, ticket_id: int, *, for_update: bool = False, uow: UnitOfWork | None = None) -> Ticket:
        query = select(Ticket).where(Ticket.id == int(ticket_id))
        ticket = (uow or self.uow).session.scalar(query.with_for_update() if for_update else query)
        if ticket is None:
            raise NotFound("ticket", ticket_id)
        return ticket
