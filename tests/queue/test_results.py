from __future__ import annotations

import pytest

from phaseloom.domain.errors import Conflict, InvalidInput
from phaseloom.schemas.workflow import WorkflowDocument
from phaseloom.services.agents import AgentService
from phaseloom.services.projects import ProjectService
from phaseloom.queue import QueueService
from phaseloom.queue import ResultService
from phaseloom.services.tickets import TicketService
from phaseloom.queue import ValidationService
from phaseloom.services.workflows import WorkflowService


def research_workflow(on_found: str) -> WorkflowDocument:
    return WorkflowDocument.model_validate({
        "name": f"hunt_{on_found}",
        "mode": "free_form",
        "settings": {"has_result": True, "on_result_found": on_found,
                     "result_criteria": ["names the root cause", "gives a reproducer"]},
        "phases": [{"id": "PHASE_SEARCH", "sequence_order": 0},
                   {"id": "PHASE_DONE", "sequence_order": 1, "is_terminal": True}],
    })


@pytest.fixture
def run(uow, tmp_path, request):
    on_found = getattr(request, "param", "stop_all")
    WorkflowService(uow).save_document(research_workflow(on_found))
    project = ProjectService(uow).create_project("hunt", f"hunt_{on_found}")
    ticket = TicketService(uow).create_ticket(project.id, "find the leak")
    queue, agents = QueueService(uow), AgentService(uow)
    searcher = agents.register_agent("searcher")
    validator = agents.register_agent("judge", agent_type="validator", capabilities=["validation"])
    running = queue.create_task(ticket.id, "PHASE_SEARCH", "search A", priority="CRITICAL")
    assert queue.claim_next_task(searcher.id).id == running.id
    waiting = [queue.create_task(ticket.id, "PHASE_SEARCH", f"search {c}", priority="LOW") for c in "BC"]
    report = tmp_path / "result.md"
    report.write_text("# Root cause\nThe cache never evicts.\n# Reproducer\nrun bench.py\n")
    return project, ticket, validator, running, waiting, report


def validate(uow, validator, passed, feedback=""):
    check = QueueService(uow).claim_next_task(validator.id)
    assert check.task_type == "result_validation"
    ValidationService(uow).submit_review(check.id, validator.id, passed, feedback)
    return check


def test_approved_result_with_stop_all_cancels_waiting_work(uow, run):
    project, ticket, validator, running, waiting, report = run
    results, queue = ResultService(uow), QueueService(uow)
    result = results.submit_result(report, project=project.name, evidence=["heap profile"],
                                   submitted_by="searcher")
    assert (result.status, result.ticket_id) == ("pending_validation", ticket.id)
    check = queue.get(result.validation_task_id)
    assert "names the root cause" in check.description and "The cache never evicts" in check.description
    assert results.solved_by(project.id) is None

    validate(uow, validator, True, "convincing")
    [stored] = results.list(project_id=project.id)
    assert stored.status == "approved" and "stop_all" in stored.reason
    assert results.solved_by(project.id).id == stored.id
    assert sorted(stored.cancelled_task_ids) == sorted(t.id for t in waiting)
    for task in waiting:
        cancelled = queue.get(task.id)
        assert cancelled.status == "cancelled" and "stop_all" in cancelled.error
    assert stored.stop_requested_task_ids == [running.id] and results.stop_requested(running.id)
    assert queue.get(running.id).status == "claimed"  # asked to stop, not killed
    with pytest.raises(Conflict, match="already solved"):
        results.submit_result(report, ticket_id=ticket.id)


@pytest.mark.parametrize("run", ["do_nothing"], indirect=True)
def test_rejected_then_approved_with_do_nothing_leaves_work_alone(uow, run):
    project, ticket, validator, running, waiting, report = run
    results, queue = ResultService(uow), QueueService(uow)
    results.submit_result(report, ticket_id=ticket.id)
    validate(uow, validator, False, "no reproducer")
    [rejected] = results.list()
    assert rejected.status == "rejected" and rejected.feedback == "no reproducer"
    results.submit_result(report, ticket_id=ticket.id)
    validate(uow, validator, True)
    assert results.solved_by(project.id) is not None
    assert [queue.get(t.id).status for t in waiting] == ["pending", "pending"]
    assert not results.stop_requested(running.id)


def test_results_need_has_result_and_a_file(uow, project, tmp_path):
    ticket = TicketService(uow).create_ticket(project.id, "x")
    results = ResultService(uow)
    note = tmp_path / "r.md"
    note.write_text("hi")
    with pytest.raises(Conflict, match="does not declare has_result"):
        results.submit_result(note, ticket_id=ticket.id)
    with pytest.raises(InvalidInput, match="belongs to a ticket or a project"):
        results.submit_result(note)


def test_missing_result_file_is_refused(uow, run, tmp_path):
    project = run[0]
    with pytest.raises(InvalidInput, match="does not exist"):
        ResultService(uow).submit_result(tmp_path / "missing.md", project=project.id)
    assert ResultService(uow).list() == []
