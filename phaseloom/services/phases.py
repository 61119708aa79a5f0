"""Phases of a stored workflow: read them, add custom ones, change them, remove unused ones.

Every change is checked against the same rules as a loaded workflow file (``lint_workflow``),
so a workflow edited through the API is never one the loader would refuse.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from pydantic import ValidationError
from sqlalchemy import select

from phaseloom.db.mapping import phase_to_row_values, workflow_from_row
from phaseloom.db.models import PhaseRow, Task, Ticket, WorkflowRow
from phaseloom.domain import phases as d
from phaseloom.domain.errors import Conflict, NotFound, WorkflowInvalid, WorkflowProblem
from phaseloom.domain.gate_definition import Gate
from phaseloom.domain.workflow_rules import lint_workflow
from phaseloom.schemas.gates import parse_gate
from phaseloom.schemas.workflow import PhaseSpec
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService

# Fields a phase update may change; the rest (id, configuration, outputs) come from the workflow file.
UPDATABLE = ("name", "description", "sequence_order", "allowed_transitions", "is_terminal", "done_definitions",
             "phase_prompt", "next_steps_guide", "gate", "working_directory")
_TUPLE_FIELDS = {"allowed_transitions", "done_definitions", "next_steps_guide"}


class PhaseService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    # -- reading -----------------------------------------------------------------
    def list(self, workflow: str | int) -> list[d.Phase]:
        return WorkflowService(self.uow).get(workflow).ordered_phases

    def get(self, workflow: str | int, phase_id: str) -> d.Phase:
        return WorkflowService(self.uow).get(workflow).phase(phase_id)

    # -- changing ----------------------------------------------------------------
    def create_phase(self, workflow: str | int, spec: PhaseSpec, *, transitions_from: list[str] = ()) -> d.Phase:
        """Add a phase; each phase in ``transitions_from`` gains a transition to it."""
        with self.uow:
            row, current = self._load(workflow)
            if current.has_phase(spec.id):
                raise Conflict(f"workflow {current.name!r} already has a phase {spec.id}")
            phase = spec.to_domain()
            phases = []
            for existing in current.phases:
                if existing.id in transitions_from and phase.id not in existing.allowed_transitions:
                    existing = dataclasses.replace(
                        existing, allowed_transitions=(*existing.allowed_transitions, phase.id))
                phases.append(existing)
            missing = set(transitions_from) - {p.id for p in current.phases}
            if missing:
                raise NotFound("phase", f"{', '.join(sorted(missing))} (workflow {current.name})")
            self._store(row, dataclasses.replace(current, phases=(*phases, phase)), "phase.created", phase.id)
            return phase

    def update_phase(self, workflow: str | int, phase_id: str, changes: dict) -> d.Phase:
        """Change some fields of a phase (see ``UPDATABLE``); the result must still be a valid workflow."""
        unknown = set(changes) - set(UPDATABLE)
        if unknown:
            raise WorkflowInvalid([WorkflowProblem(f"cannot change {', '.join(sorted(unknown))} here")])
        with self.uow:
            row, current = self._load(workflow)
            before = current.phase(phase_id)
            values = {k: tuple(v) if k in _TUPLE_FIELDS else v for k, v in changes.items()}
            if "gate" in values:
                values["gate"] = _gate(values["gate"])
            after = dataclasses.replace(before, **values)
            phases = tuple(after if p.id == phase_id else p for p in current.phases)
            self._store(row, dataclasses.replace(current, phases=phases), "phase.updated", phase_id)
            return after

    def delete_phase(self, workflow: str | int, phase_id: str) -> None:
        """Remove a phase no ticket or task uses; transitions and board mappings to it go too."""
        with self.uow:
            row, current = self._load(workflow)
            current.phase(phase_id)
            self._refuse_if_used(row.id, phase_id)
            phases = tuple(
                dataclasses.replace(p, allowed_transitions=tuple(t for t in p.allowed_transitions if t != phase_id))
                for p in current.phases if p.id != phase_id
            )
            columns = tuple(
                dataclasses.replace(c, phase_mapping=tuple(m for m in c.phase_mapping if m != phase_id),
                                    auto_transition_to=None if c.auto_transition_to == phase_id
                                    else c.auto_transition_to)
                for c in current.board_columns
            )
            columns = tuple(c for c in columns if c.phase_mapping)
            updated = dataclasses.replace(current, phases=phases, board_columns=columns)
            self._store(row, updated, "phase.deleted", phase_id)

    # -- internals ---------------------------------------------------------------
    def _load(self, workflow: str | int) -> tuple[WorkflowRow, d.Workflow]:
        row_id = WorkflowService(self.uow).get_row_id(workflow)
        row = self.uow.session.scalar(select(WorkflowRow).where(WorkflowRow.id == row_id).with_for_update())
        return row, workflow_from_row(row)

    def _refuse_if_used(self, workflow_id: int, phase_id: str) -> None:
        session = self.uow.session
        tickets = session.scalar(select(Ticket.id).where(Ticket.workflow_id == workflow_id,
                                                         Ticket.phase_id == phase_id).limit(1))
        tasks = session.scalar(select(Task.id).where(Task.workflow_id == workflow_id,
                                                     Task.phase_id == phase_id).limit(1))
        if tickets is not None or tasks is not None:
            users = " and ".join(w for w, used in (("tickets", tickets), ("tasks", tasks)) if used is not None)
            raise Conflict(f"phase {phase_id} is still used by {users}; move or finish them first")

    def _store(self, row: WorkflowRow, workflow: d.Workflow, event: str, phase_id: str) -> None:
        problems = [WorkflowProblem(message, field=".".join(map(str, path)))
                    for path, message in lint_workflow(workflow)]
        if problems:
            raise WorkflowInvalid(problems)
        wanted = {p.id: phase_to_row_values(p) for p in workflow.phases}
        for existing in list(row.phases):
            if existing.id in wanted:
                for key, value in wanted.pop(existing.id).items():
                    setattr(existing, key, value)
            else:
                row.phases.remove(existing)
        row.phases.extend(PhaseRow(**values) for values in wanted.values())
        columns = {c.id: c for c in workflow.board_columns}
        for column_row in list(row.board_columns):
            if column_row.id not in columns:
                row.board_columns.remove(column_row)
            else:
                column_row.phase_mapping = list(columns[column_row.id].phase_mapping)
                column_row.auto_transition_to = columns[column_row.id].auto_transition_to
        row.version += 1
        # No longer the content of any file: a later load of the original file is an update.
        row.content_hash = _content_hash(workflow)
        self.uow.session.flush()
        self.uow.emit(event, "phase", phase_id, phase_id=phase_id,
                      payload={"workflow": row.name, "workflow_id": row.id, "version": row.version})


def _gate(data: dict | None) -> Gate:
    """A changed gate, validated by the schema a workflow file's gate goes through."""
    try:
        return parse_gate(data).to_domain()
    except ValidationError as exc:
        raise WorkflowInvalid([WorkflowProblem(e["msg"], field=".".join(map(str, ("gate", *e["loc"]))))
                               for e in exc.errors()]) from None


def _content_hash(workflow: d.Workflow) -> str:
    data = dataclasses.asdict(workflow)
    for phase, stored in zip(data["phases"], workflow.phases):
        phase["gate"] = stored.gate.as_stored()  # the gate as it is stored, defaults left out
    canonical = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
