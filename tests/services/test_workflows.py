"""Storing workflows: transactional, idempotent by content hash, versioned on overwrite."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from phaseloom.db.models import PhaseRow, SystemEvent, WorkflowRow
from phaseloom.domain.errors import Conflict, WorkflowInvalid
from phaseloom.loaders.sources import load_workflow_source, shipped_workflow
from phaseloom.schemas.workflow import WorkflowDocument
from phaseloom.services.tickets import TicketService
from phaseloom.services.workflows import WorkflowService


def counts(uow) -> tuple[int, int, int]:
    with uow:
        s = uow.session
        return (s.scalar(select(func.count()).select_from(WorkflowRow)),
                s.scalar(select(func.count()).select_from(PhaseRow)),
                s.scalar(select(func.count()).select_from(SystemEvent)))


def doc(phases, name="flow") -> WorkflowDocument:
    return WorkflowDocument.model_validate({"name": name, "phases": phases})


TWO = [{"id": "PHASE_A", "allowed_transitions": ["PHASE_DONE"]}, {"id": "PHASE_DONE", "is_terminal": True}]


def test_created_then_unchanged_reload_is_a_no_op(uow):
    service = WorkflowService(uow)
    document = load_workflow_source(shipped_workflow("research"))
    created = service.save_document(document, source="research.yaml")
    assert (created.action, created.version) == ("created", 1)
    before = counts(uow)
    again = service.save_document(load_workflow_source(shipped_workflow("research")), overwrite=True)
    assert (again.action, again.version, again.workflow_id) == ("unchanged", 1, created.workflow_id)
    assert counts(uow) == before  # no rows, no events
    stored = service.get("research")
    assert [p.id for p in stored.ordered_phases] == [p.id for p in document.to_domain().ordered_phases]


def test_changed_content_needs_overwrite_and_bumps_the_version(uow):
    service = WorkflowService(uow)
    service.save_document(doc(TWO))
    changed = doc([{**TWO[0], "description": "now described"}, TWO[1]])
    with pytest.raises(Conflict, match="overwrite"):
        service.save_document(changed)
    assert service.get("flow").phase("PHASE_A").description == ""
    outcome = service.save_document(changed, overwrite=True)
    assert (outcome.action, outcome.version) == ("updated", 2)
    assert service.get("flow").phase("PHASE_A").description == "now described"


def test_invalid_document_writes_nothing(uow):
    service = WorkflowService(uow)
    service.save_document(doc(TWO))
    before = counts(uow)
    bad = doc([{"id": "PHASE_A", "allowed_transitions": ["PHASE_NOWHERE"]}, TWO[1]])
    with pytest.raises(WorkflowInvalid, match="unknown transition target 'PHASE_NOWHERE'"):
        service.save_document(bad, overwrite=True)
    assert counts(uow) == before
    assert service.get("flow").version == 1


def test_removing_a_phase_in_use_is_refused_and_nothing_changes(uow, project):
    ticket = TicketService(uow).create_ticket(project.id, "waiting in the backlog")
    assert ticket.phase_id == "PHASE_BACKLOG"
    service = WorkflowService(uow)
    original = load_workflow_source(shipped_workflow("software_development"))
    without_backlog = original.model_copy(update={
        "phases": [p.model_copy(update={"allowed_transitions": [t for t in p.allowed_transitions if t != "PHASE_BACKLOG"]})
                   for p in original.phases if p.id != "PHASE_BACKLOG"],
        "board_columns": [c.model_copy(update={"phase_mapping": [m for m in c.phase_mapping if m != "PHASE_BACKLOG"]})
                          for c in original.board_columns if c.phase_mapping != ["PHASE_BACKLOG"]],
    })
    before = counts(uow)
    with pytest.raises(Conflict, match="PHASE_BACKLOG"):
        service.save_document(without_backlog, overwrite=True)
    assert counts(uow) == before
    stored = service.get("software_development")
    assert stored.version == 1 and stored.has_phase("PHASE_BACKLOG")


def test_removing_an_unused_phase_is_allowed(uow):
    service = WorkflowService(uow)
    service.save_document(doc([{"id": "PHASE_A", "allowed_transitions": ["PHASE_SPARE", "PHASE_DONE"]},
                               {"id": "PHASE_SPARE", "allowed_transitions": ["PHASE_DONE"]}, TWO[1]]))
    outcome = service.save_document(doc(TWO), overwrite=True)
    assert outcome.version == 2 and not service.get("flow").has_phase("PHASE_SPARE")


def test_phase_folder_and_python_sources_store_like_yaml(uow):
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples"
    service = WorkflowService(uow)
    for source in (examples / "hephaestus_bugfix", examples / "code_first_workflow.py"):
        outcome = service.save_document(load_workflow_source(source), source=str(source))
        assert outcome.action == "created"
    stored = service.get("hephaestus_bugfix")
    assert stored.mode.value == "free_form" and stored.settings["on_result_found"] == "stop_all"
    assert stored.phase("PHASE_REPRODUCE_BUG").gate.criteria[0].type == "file_exists"
