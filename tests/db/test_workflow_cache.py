"""The workflow cache: per Database object, current after every edit, one lookup when unchanged."""

from __future__ import annotations

from phaseloom.db.engine import Database
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.db.workflow_cache import workflow_by_id
from phaseloom.services.workflows import WorkflowService
from tests.services.test_workflows import TWO, doc


def test_the_cache_hangs_off_its_database_and_follows_every_edit(db, uow):
    outcome = WorkflowService(uow).save_document(doc(TWO))
    first = workflow_by_id(uow, outcome.workflow_id)
    assert workflow_by_id(uow, outcome.workflow_id) is first  # unchanged: the cached value
    assert WorkflowService(uow).by_id(outcome.workflow_id) is first
    assert list(db.workflows.values()) == [first]

    WorkflowService(uow).save_document(doc([{**TWO[0], "description": "now described"}, TWO[1]]), overwrite=True)
    edited = workflow_by_id(uow, outcome.workflow_id)
    assert edited is not first and edited.phase("PHASE_A").description == "now described"

    other = Database.connect(db.url)
    try:
        assert other.workflows == {}  # another database object keeps its own
        assert workflow_by_id(UnitOfWork(other), outcome.workflow_id) == edited
    finally:
        other.dispose()
