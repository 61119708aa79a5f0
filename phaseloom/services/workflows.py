"""Store workflows and read them back as domain values."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from phaseloom.db.mapping import phase_to_row_values, workflow_from_row
from phaseloom.db.models import BoardColumnRow, PhaseRow, Project, Task, Ticket, WorkflowRow
from phaseloom.db.workflow_cache import workflow_by_id
from phaseloom.domain import phases as d
from phaseloom.domain.errors import Conflict, NotFound, WorkflowInvalid, WorkflowProblem
from phaseloom.domain.identifiers import is_number
from phaseloom.domain.workflow_rules import dotted, lint_workflow
from phaseloom.db.unit_of_work import UnitOfWork

if TYPE_CHECKING:  # the pydantic models cost a ticket move ~50 ms to import; only loading a document needs them
    from phaseloom.schemas.workflow import WorkflowDocument


@dataclass(frozen=True)
class LoadOutcome:
    workflow_id: int
    name: str
    version: int
    action: str  # "created" | "updated" | "unchanged"


def document_hash(document: WorkflowDocument) -> str:
    canonical = json.dumps(document.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class WorkflowService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def save_document(self, document: WorkflowDocument, *, source: str = "", overwrite: bool = False) -> LoadOutcome:
        """Validate and store a workflow; an unchanged document is a no-op.

        Raises :class:`WorkflowInvalid` (nothing written) when the rules fail, and
        :class:`Conflict` when the name exists with other content and ``overwrite`` is off.
        """
        workflow = document.to_domain()
        problems = [WorkflowProblem(msg, field=dotted(path), file=source) for path, msg in lint_workflow(workflow)]
        if problems:
            raise WorkflowInvalid(problems)
        digest = document_hash(document)
        with self.uow:
            session = self.uow.session
            row = session.scalar(select(WorkflowRow).where(WorkflowRow.name == document.name))
            if row is not None and row.content_hash == digest:
                return LoadOutcome(row.id, row.name, row.version, "unchanged")
            if row is not None and not overwrite:
                raise Conflict(
                    f"workflow {document.name!r} exists with different content; load with overwrite to replace it"
                )
            action = "created" if row is None else "updated"
            if row is None:
                row = WorkflowRow(name=document.name, version=1, content_hash=digest)
                session.add(row)
            else:
                self._check_phases_still_present(row, workflow)
                row.version += 1
                row.content_hash = digest
            row.mode = workflow.mode.value
            row.description = workflow.description
            row.source = source
            row.settings = dict(workflow.settings)
            self._replace_phases(row, workflow)
            session.flush()
            self.uow.emit(
                f"workflow.{action}", "workflow", row.id, payload={"name": row.name, "version": row.version}
            )
            return LoadOutcome(row.id, row.name, row.version, action)

    def _replace_phases(self, row: WorkflowRow, workflow: d.Workflow) -> None:
        existing = {p.id: p for p in row.phases}
        for phase in workflow.phases:
            values = phase_to_row_values(phase)
            if phase.id in existing:
                phase_row = existing.pop(phase.id)
                for key, value in values.items():
                    setattr(phase_row, key, value)
            else:
                row.phases.append(PhaseRow(**values))
        for stale in existing.values():
            row.phases.remove(stale)
        row.board_columns.clear()
        self.uow.session.flush()
        for column in workflow.board_columns:
            row.board_columns.append(
                BoardColumnRow(
                    id=column.id,
                    name=column.name,
                    position=column.position,
                    phase_mapping=list(column.phase_mapping),
                    wip_limit=column.wip_limit,
                    auto_transition_to=column.auto_transition_to,
                )
            )

    def _check_phases_still_present(self, row: WorkflowRow, workflow: d.Workflow) -> None:
        removed = {p.id for p in row.phases} - {p.id for p in workflow.phases}
        if not removed:
            return
        session = self.uow.session
        used = set(
            session.scalars(
                select(Ticket.phase_id).where(Ticket.workflow_id == row.id, Ticket.phase_id.in_(removed))
            )
        ) | set(session.scalars(select(Task.phase_id).where(Task.workflow_id == row.id, Task.phase_id.in_(removed))))
        if used:
            raise Conflict(f"cannot remove phase(s) {', '.join(sorted(used))}: tickets or tasks still use them")

    def get(self, name_or_id: str | int) -> d.Workflow:
        with self.uow:
            return workflow_from_row(self._row(name_or_id))

    def get_row_id(self, name_or_id: str | int) -> int:
        with self.uow:
            return self._row(name_or_id).id

    def by_id(self, workflow_id: int) -> d.Workflow:
        """The workflow as a domain value, cached on the database (:mod:`phaseloom.db.workflow_cache`)."""
        return workflow_by_id(self.uow, workflow_id)

    def list(self) -> list[dict]:
        with self.uow:
            rows = self.uow.session.scalars(select(WorkflowRow).order_by(WorkflowRow.name)).all()
            counts = dict(
                self.uow.session.execute(
                    select(Project.workflow_id, func.count()).group_by(Project.workflow_id)
                ).all()
            )
            return [
                {
                    "id": r.id,
                    "name": r.name,
                    "version": r.version,
                    "mode": r.mode,
                    "phases": len(r.phases),
                    "projects": counts.get(r.id, 0),
                    "description": r.description,
                }
                for r in rows
            ]

    def _row(self, name_or_id: str | int) -> WorkflowRow:
        session = self.uow.session
        if isinstance(name_or_id, int) or is_number(str(name_or_id)):
            row = session.get(WorkflowRow, int(name_or_id))
        else:
            row = session.scalar(select(WorkflowRow).where(WorkflowRow.name == name_or_id))
        if row is None:
            raise NotFound("workflow", name_or_id)
        return row
