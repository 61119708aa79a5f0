"""Launching a workflow from its launch template (the Hephaestus SDK package's own template)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from phaseloom.db.models import Project, Task, Ticket
from phaseloom.domain.errors import Conflict, NotFound
from phaseloom.domain.launch import LaunchInvalid
from phaseloom.loaders.sources import load_workflow_source, shipped_workflow
from phaseloom.services.launches import LaunchService
from phaseloom.services.projects import ProjectService
from phaseloom.queue import QueueService
from phaseloom.services.workflows import WorkflowService
from tests.loaders.peer_support import PEER_FORMATS

PACKAGE = PEER_FORMATS / "crash_triage_sdk"


@pytest.fixture
def triage(uow):
    WorkflowService(uow).save_document(load_workflow_source(PACKAGE), source="test")
    return "crash_triage_sdk"


def counts(uow) -> tuple[int, int, int]:
    with uow:
        session = uow.session
        return tuple(session.scalar(select(func.count()).select_from(model)) for model in (Project, Ticket, Task))


def test_a_launch_creates_the_project_ticket_and_first_task_with_the_rendered_prompt(uow, triage):
    outcome = LaunchService(uow).launch(triage, "crashes", {"crash_title": "Parser dies on {x}",
                                                             "crash_context": "only on Tuesdays\nreally",
                                                             "flaky": "yes"})
    assert outcome.project_created and outcome.ticket.phase_id == "PHASE_COLLECT_EVIDENCE"
    assert outcome.ticket.title == "Phase 1: Collect evidence - Parser dies on {x}"
    assert outcome.prompt == ("Phase 1: Collect evidence - Parser dies on {x}\n\n**Severity:** High\n"
                              "**Attempts:** 3 (flaky: true)\n\nonly on Tuesdays\nreally\n\n"
                              "Keep {braces_that_are_not_parameters} as they are.\n")
    task = QueueService(uow).get(outcome.task_id)
    assert (task.ticket_id, task.phase_id, task.description) == (outcome.ticket.id, "PHASE_COLLECT_EVIDENCE",
                                                                  outcome.prompt)
    assert outcome.ticket.description == outcome.prompt
    assert counts(uow) == (1, 1, 1)  # the phase's default "carry out" task is not added
    again = LaunchService(uow).launch(triage, "crashes", {"crash_title": "Second", "severity": "Low"})
    assert not again.project_created and "**Severity:** Low" in again.prompt


def test_bad_parameters_give_one_problem_each_and_create_nothing(uow, triage):
    with pytest.raises(LaunchInvalid) as caught:
        LaunchService(uow).launch(triage, "crashes", {"severity": "Medium", "attempts": "many",
                                                       "flaky": "perhaps", "colour": "red", "audience": "ops"})
    problems = {p.field: p.message for p in caught.value.problems}
    assert set(problems) == {"colour", "crash_title", "severity", "attempts", "flaky", "audience"}
    assert problems["crash_title"].startswith("required")
    assert "'Medium' is not one of the options: Critical, High, Low" in problems["severity"]
    assert "expected a number" in problems["attempts"] and "expected true or false" in problems["flaky"]
    assert "not a parameter" in problems["colour"] and "nothing was created" in str(caught.value)
    assert counts(uow) == (0, 0, 0)


def test_a_workflow_without_a_template_and_a_project_on_another_workflow_are_refused(uow, triage):
    WorkflowService(uow).save_document(load_workflow_source(shipped_workflow("software_development")))
    with pytest.raises(NotFound, match="declares no launch_template"):
        LaunchService(uow).launch("software_development", "p", {})
    ProjectService(uow).create_project("other", "software_development")
    with pytest.raises(Conflict, match="uses workflow 'software_development'"):
        LaunchService(uow).launch(triage, "other", {"crash_title": "x"})
    assert counts(uow) == (1, 0, 0)
