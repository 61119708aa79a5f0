"""The launch form in a real browser: built from the template, refused fields named, a launch made."""

from __future__ import annotations

import pytest

from phaseloom.loaders.sources import load_workflow_source
from phaseloom.services.projects import ProjectService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService
from tests.loaders.peer_support import PEER_FORMATS

pytestmark = pytest.mark.slow  # a real browser and a real server


def test_the_form_has_a_field_per_parameter_names_bad_ones_and_launches(page, site):
    server, _demo, db = site
    WorkflowService(UnitOfWork(db)).save_document(load_workflow_source(PEER_FORMATS / "crash_triage_sdk"))
    before = len(TicketService(UnitOfWork(db)).list())
    ProjectService(UnitOfWork(db)).create_project("triage", "crash_triage_sdk")
    page.goto(f"{server.url}/workflow?project=triage")
    page.click("#launch-link")  # the workflow page links to its launch form
    assert page.url.endswith("/launch?workflow=crash_triage_sdk&project=triage")
    page.wait_for_selector("#launch[data-loaded] #launch-form")
    assert page.locator("#param-crash_context").evaluate("n => n.tagName") == "TEXTAREA"
    assert page.locator("#param-severity option").all_inner_texts() == ["Critical", "High", "Low"]
    assert page.locator("#param-severity").input_value() == "High"
    assert page.locator("#param-flaky").get_attribute("type") == "checkbox"
    assert page.locator("#launch-project").input_value() == "triage"
    page.fill("#launch-project", "from-the-form")
    page.click("#launch-form button[type=submit]")  # crash_title is missing
    page.wait_for_selector(".notice.error")
    assert page.locator(".field[data-parameter='crash_title'] .error").inner_text().startswith("required")
    assert len(TicketService(UnitOfWork(db)).list()) == before  # nothing created
    page.fill("#param-crash_title", "Crash on save")
    page.fill("#param-attempts", "7")
    page.check("#param-flaky")
    page.click("#launch-form button[type=submit]")
    page.wait_for_selector(".notice.ok")
    [ticket] = [t for t in TicketService(UnitOfWork(db)).list() if t.title.endswith("Crash on save")]
    [task] = QueueService(UnitOfWork(db)).list(ticket_id=ticket.id)
    assert "**Attempts:** 7 (flaky: true)" in task.description and ticket.phase_id == "PHASE_COLLECT_EVIDENCE"
