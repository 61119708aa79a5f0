"""Phase gates: gather what the gate looks at, evaluate it, store the result with its reasons.

Commands a gate declares (``command_success``, ``test_pass``) are the only ones run: the argv
lists written in the workflow, without a shell, in the ticket's workspace, each with its timeout.
They run outside any database transaction, so a slow test suite never holds a write lock.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from phaseloom.db.models import Task, Ticket
from phaseloom.db.models.base import utcnow
from phaseloom.db.models.gates import DoneDefinitionCheck, GateApproval, GateResult
from phaseloom.domain import gates as g
from phaseloom.domain import phases as d
from phaseloom.domain.environments import minimal_environment
from phaseloom.domain.gate_definition import Gate
from phaseloom.domain.errors import InvalidInput, NotFound
from phaseloom.domain.identifiers import is_number
from phaseloom.services.artifacts import ArtifactService, confined_path, read_text, workspace_files
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService

MAX_OUTPUT_CHARS = 64 * 1024


def command_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a gate command runs with: a minimal one (PATH, HOME, the locale, TMPDIR…), never
    the orchestrator's (its database URL, tokens, provider keys; see ``domain/environments``)."""
    source = os.environ if environ is None else environ
    return {**minimal_environment(source), "PYTHONUNBUFFERED": "1"}


@dataclass(frozen=True)
class GateResultView:
    id: int
    ticket_id: int
    phase_id: str
    passed: bool
    outcomes: list[dict]
    blocking_reasons: list[str]
    created_at: datetime


@dataclass(frozen=True)
class WorkspaceEvidence:
    """What a gate found in the workspace: its files, the texts it reads, its commands' runs."""
    gate: Gate
    files: set[str]
    texts: dict[str, str]
    commands: dict[tuple[str, ...], g.CommandRun]


@dataclass(frozen=True)
class ChecklistItem:
    index: int
    text: str
    ticked: bool
    evidence: str
    ticked_by: str
    ticked_at: datetime | None


def run_command(argv: tuple[str, ...], workspace: Path | None, timeout: float) -> g.CommandRun:
    """Run one declared command (no shell) in ``workspace`` and capture its combined output."""
    if workspace is None or not workspace.is_dir():
        return g.CommandRun(argv, None, error="no workspace to run it in")
    try:
        proc = subprocess.run(list(argv), cwd=workspace, capture_output=True, text=True, errors="replace",
                              timeout=timeout, stdin=subprocess.DEVNULL, env=command_environment())
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or "") if isinstance(exc.stdout, str) else ""
        return g.CommandRun(argv, None, output[-MAX_OUTPUT_CHARS:], timed_out=True)
    except OSError as exc:
        return g.CommandRun(argv, None, error=exc.strerror or str(exc))
    output = (proc.stdout or "") + (proc.stderr or "")
    return g.CommandRun(argv, proc.returncode, output[-MAX_OUTPUT_CHARS:])


class GateService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    # -- evaluating --------------------------------------------------------------
    def validate_gate(self, ticket_id: int, phase_id: str | None = None,
                      workspace: Path | None = None) -> GateResultView:
        """Evaluate the gate of ``phase_id`` (default: the ticket's current phase) and store the result."""
        with self.uow:
            ticket, phase = self._ticket_phase(ticket_id, phase_id)
        evidence = self.workspace_evidence(phase, workspace)
        with self.uow:
            return self.evaluate(ticket, phase, evidence)

    def workspace_evidence(self, phase: d.Phase, workspace: Path | None) -> WorkspaceEvidence:
        """What the phase's gate reads in the workspace, and the runs of the commands it declares.

        Outside any transaction: no lock is held while files are read or a test suite runs.
        """
        gate = phase.gate
        files, texts = self._workspace_inputs(gate, workspace)
        commands = {argv: run_command(argv, workspace, timeout) for argv, timeout in g.declared_commands(gate)}
        return WorkspaceEvidence(gate, files, texts, commands)

    def evaluate(self, ticket: Ticket, phase: d.Phase, evidence: WorkspaceEvidence) -> GateResultView:
        """Evaluate the gate on ``evidence`` and what the database holds, and store the result.

        Inside the caller's ``with uow:`` block (the ticket is one of its rows).
        """
        gate, files, texts = evidence.gate, set(evidence.files), dict(evidence.texts)
        for path, text in ArtifactService(self.uow).latest_texts(ticket.id).items():
            files.add(path)
            if path not in texts and text is not None:
                texts[path] = text
        inputs = g.GateInputs(
            files=frozenset(files), texts=texts, commands=evidence.commands,
            tasks=self._task_states(ticket.id, phase.id),
            done_definitions=tuple((i.text, i.ticked) for i in self._checklist(ticket.id, phase)),
            approvals=self._approvals(ticket.id, phase.id),
            validation_blockers=self._validation_blockers(ticket.id, phase.id) if gate.require_validation else (),
        )
        return self._store(ticket, phase, g.evaluate_gate(gate, inputs))

    def _workspace_inputs(self, gate: Gate, workspace: Path | None) -> tuple[set[str], dict[str, str]]:
        if workspace is None:
            return set(), {}
        files = set(workspace_files(workspace))
        texts: dict[str, str] = {}
        for pattern in g.text_patterns(gate):
            for path in g.matching(pattern, files):
                text = read_text(confined_path(workspace, path))
                if text is not None:
                    texts[path] = text
        return files, texts

    def _store(self, ticket: Ticket, phase: d.Phase, evaluation: g.GateEvaluation) -> GateResultView:
        row = GateResult(ticket_id=ticket.id, phase_id=phase.id, passed=evaluation.passed,
                         outcomes=[o.as_dict() for o in evaluation.outcomes],
                         blocking_reasons=evaluation.blocking_reasons, created_at=utcnow())
        self.uow.session.add(row)
        self.uow.session.flush()
        self.uow.emit("phase_gate.validated", "ticket", ticket.id, project_id=ticket.project_id,
                      ticket_id=ticket.id, phase_id=phase.id,
                      payload={"gate_result_id": row.id, "passed": row.passed,
                               "blocking_reasons": row.blocking_reasons[:20]})
        return _view(row)

    def _task_states(self, ticket_id: int, phase_id: str) -> tuple[g.TaskState, ...]:
        rows = self.uow.session.execute(
            select(Task.id, Task.title, Task.status).where(Task.ticket_id == ticket_id, Task.phase_id == phase_id)
            .order_by(Task.id)).all()
        return tuple(g.TaskState(*row) for row in rows)

    def _approvals(self, ticket_id: int, phase_id: str) -> frozenset[str]:
        return frozenset(self.uow.session.scalars(select(GateApproval.criterion_key).where(
            GateApproval.ticket_id == ticket_id, GateApproval.phase_id == phase_id)))

    def _validation_blockers(self, ticket_id: int, phase_id: str) -> tuple[str, ...]:
        from phaseloom.queue import ValidationService

        state = ValidationService(self.uow).latest_review_state(ticket_id, phase_id)
        if state is None:
            return ("no work in this phase has been reviewed yet",)
        if state != "approved":
            return (f"the phase's review is {state.replace('_', ' ')}, not approved",)
        return ()

    # -- reading -----------------------------------------------------------------
    def latest_result(self, ticket_id: int, phase_id: str | None = None) -> GateResultView | None:
        with self.uow:
            query = select(GateResult).where(GateResult.ticket_id == int(ticket_id))
            if phase_id:
                query = query.where(GateResult.phase_id == phase_id)
            row = self.uow.session.scalar(query.order_by(GateResult.id.desc()).limit(1))
            return _view(row) if row else None

    def results(self, ticket_id: int, *, limit: int = 100) -> list[GateResultView]:
        with self.uow:
            rows = self.uow.session.scalars(select(GateResult).where(GateResult.ticket_id == int(ticket_id))
                                            .order_by(GateResult.id.desc()).limit(limit))
            return [_view(r) for r in rows]

    # -- done definitions --------------------------------------------------------
    def done_definitions(self, ticket_id: int, phase_id: str | None = None) -> list[ChecklistItem]:
        """The phase's done definitions as a checklist, with who ticked what and on which evidence."""
        with self.uow:
            ticket, phase = self._ticket_phase(ticket_id, phase_id)
            return self._checklist(ticket.id, phase)

    def tick_done_definition(self, ticket_id: int, item: int | str, evidence: str, *, by: str = "agent",
                             phase_id: str | None = None, ticked: bool = True) -> ChecklistItem:
        """Tick (or untick) one done definition, by its 0-based index or its exact text."""
        if ticked and not evidence.strip():
            raise InvalidInput("ticking a done definition needs evidence: say how you know it is done")
        with self.uow:
            ticket, phase = self._ticket_phase(ticket_id, phase_id, for_update=True)
            index = _item_index(phase, item)
            session = self.uow.session
            row = session.scalar(select(DoneDefinitionCheck).where(
                DoneDefinitionCheck.ticket_id == ticket.id, DoneDefinitionCheck.phase_id == phase.id,
                DoneDefinitionCheck.item_index == index))
            if row is None:
                row = DoneDefinitionCheck(ticket_id=ticket.id, phase_id=phase.id, item_index=index)
                session.add(row)
            row.text, row.ticked, row.evidence = phase.done_definitions[index], ticked, evidence.strip()
            row.ticked_by, row.ticked_at = by, utcnow()
            session.flush()
            self.uow.emit("done_definition.ticked" if ticked else "done_definition.unticked", "ticket", ticket.id,
                          project_id=ticket.project_id, ticket_id=ticket.id, phase_id=phase.id,
                          payload={"index": index, "text": row.text, "by": by, "evidence": row.evidence[:500]})
            return ChecklistItem(index, row.text, row.ticked, row.evidence, row.ticked_by, row.ticked_at)

    def _checklist(self, ticket_id: int, phase: d.Phase) -> list[ChecklistItem]:
        rows = {r.item_index: r for r in self.uow.session.scalars(select(DoneDefinitionCheck).where(
            DoneDefinitionCheck.ticket_id == ticket_id, DoneDefinitionCheck.phase_id == phase.id))}
        items = []
        for index, text in enumerate(phase.done_definitions):
            row = rows.get(index)
            # A tick given to different wording does not count once the workflow's text changed.
            ticked = bool(row and row.ticked and row.text == text)
            items.append(ChecklistItem(index, text, ticked, row.evidence if row else "",
                                       row.ticked_by if row else "", row.ticked_at if row else None))
        return items

    # -- approvals ---------------------------------------------------------------
    def record_approval(self, ticket_id: int, criterion: int | str, approved_by: str, *, note: str = "",
                        phase_id: str | None = None) -> GateApproval:
        """Approve a criterion that needs a person (``manual_verification``, ``code_review``).

        ``criterion`` is its index in the gate's ``criteria`` list or its key (``"criteria[2]"``).
        """
        if not approved_by.strip():
            raise InvalidInput("an approval needs the name of who approved it")
        with self.uow:
            ticket, phase = self._ticket_phase(ticket_id, phase_id, for_update=True)
            key, spec = _approvable(phase.gate, criterion, phase.id)
            session = self.uow.session
            row = session.scalar(select(GateApproval).where(
                GateApproval.ticket_id == ticket.id, GateApproval.phase_id == phase.id,
                GateApproval.criterion_key == key))
            if row is None:
                row = GateApproval(ticket_id=ticket.id, phase_id=phase.id, criterion_key=key, approved_by="")
                session.add(row)
            row.approved_by, row.note, row.created_at = approved_by.strip(), note, utcnow()
            session.flush()
            self.uow.emit("phase_gate.approved", "ticket", ticket.id, project_id=ticket.project_id,
                          ticket_id=ticket.id, phase_id=phase.id,
                          payload={"criterion": key, "type": spec.type, "approved_by": row.approved_by,
                                   "note": note[:500]})
            return row

    # -- internals ---------------------------------------------------------------
    def _ticket_phase(self, ticket_id: int, phase_id: str | None, *,
                      for_update: bool = False) -> tuple[Ticket, d.Phase]:
        query = select(Ticket).where(Ticket.id == int(ticket_id))
        ticket = self.uow.session.scalar(query.with_for_update() if for_update else query)
        if ticket is None:
            raise NotFound("ticket", ticket_id)
        workflow = WorkflowService(self.uow).by_id(ticket.workflow_id)
        return ticket, workflow.phase(phase_id or ticket.phase_id)


def _item_index(phase: d.Phase, item: int | str) -> int:
    items = phase.done_definitions
    if isinstance(item, str) and not is_number(item.strip()):
        if item in items:
            return items.index(item)
        raise InvalidInput(f"{phase.id} has no done definition {item!r}")
    index = int(item)
    if not 0 <= index < len(items):
        raise InvalidInput(f"{phase.id} has {len(items)} done definition(s); {index} is not one of them"
                           + (" (indexes start at 0)" if items else ""))
    return index


def _approvable(gate: Gate, criterion: int | str, phase_id: str):
    text = str(criterion).strip()
    index_text = text.removeprefix("criteria[").removesuffix("]")
    if not is_number(index_text) or not 0 <= int(index_text) < len(gate.criteria):
        raise InvalidInput(f"the gate of {phase_id} has no criterion {text!r} "
                           f"(it has {len(gate.criteria)}; use its index, from 0)")
    spec = gate.criteria[int(index_text)]
    if not spec.needs_approval:
        raise InvalidInput(f"criterion criteria[{index_text}] of {phase_id} is {spec.type}, which is checked "
                           "automatically; only manual_verification, code_review and unmeasured "
                           "performance_metric criteria take an approval")
    return f"criteria[{index_text}]", spec


def _view(row: GateResult) -> GateResultView:
    return GateResultView(id=row.id, ticket_id=row.ticket_id, phase_id=row.phase_id, passed=row.passed,
                          outcomes=list(row.outcomes or []), blocking_reasons=list(row.blocking_reasons or []),
                          created_at=row.created_at)
