"""check_and_progress: a ticket moves on only when its phase's gate passes."""

from __future__ import annotations

from sqlalchemy import event, select

from phaseloom.db.models import SystemEvent
from phaseloom.services.gates import GateService
from phaseloom.services.progress import ProgressService
from phaseloom.services.projects import ProjectService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from tests.services.gate_support import finish_phase_tasks, save_workflow, ticket_in
from tests.services.test_gates import REQUIREMENTS

DESIGN = """# Components
A login controller and a session store.
# Interfaces
POST /login with email and password returns a session cookie.
# Risks
Brute force attempts; mitigated by the lockout in the requirements. Session fixation; rotate ids.
"""


def test_auto_progress_across_three_phases(uow, project, tmp_path):
    progress, tickets = ProgressService(uow), TicketService(uow)
    ticket_id = ticket_in(uow, project)
    first = progress.start_ticket(ticket_id)
    assert [(t.phase_id, t.title) for t in first] == [("PHASE_BACKLOG", "carry out Backlog")]
    assert "Triage the ticket" in first[0].description
    assert progress.start_ticket(ticket_id) == []  # idempotent: the phase already has its task

    waiting = progress.check_and_progress(ticket_id, tmp_path)
    assert not waiting.moved and "is pending" in waiting.reason

    finish_phase_tasks(uow, ticket_id, "PHASE_BACKLOG")
    step1 = progress.check_and_progress(ticket_id, tmp_path)
    assert (step1.moved, step1.to_phase) == (True, "PHASE_REQUIREMENTS")

    finish_phase_tasks(uow, ticket_id, "PHASE_REQUIREMENTS")
    blocked = progress.check_and_progress(ticket_id, tmp_path)
    assert not blocked.moved
    assert blocked.reason == "gate failed: required document requirements.md was not found"
    assert tickets.get(ticket_id).phase_id == "PHASE_REQUIREMENTS"
    assert GateService(uow).latest_result(ticket_id).blocking_reasons == [
        "required document requirements.md was not found"]

    (tmp_path / "requirements.md").write_text(REQUIREMENTS)
    step2 = progress.check_and_progress(ticket_id, tmp_path)
    assert (step2.moved, step2.to_phase) == (True, "PHASE_DESIGN")

    (tmp_path / "design.md").write_text(DESIGN)
    finish_phase_tasks(uow, ticket_id, "PHASE_DESIGN")
    step3 = progress.check_and_progress(ticket_id, tmp_path)
    assert (step3.moved, step3.to_phase) == (True, "PHASE_IMPLEMENTATION")

    history = tickets.history(ticket_id)
    assert [(h.from_phase_id, h.to_phase_id, h.reason) for h in history[1:]] == [
        ("PHASE_BACKLOG", "PHASE_REQUIREMENTS", "gate of PHASE_BACKLOG passed"),
        ("PHASE_REQUIREMENTS", "PHASE_DESIGN", "gate of PHASE_REQUIREMENTS passed"),
        ("PHASE_DESIGN", "PHASE_IMPLEMENTATION", "gate of PHASE_DESIGN passed"),
    ]
    queued = QueueService(uow).list(ticket_id=ticket_id, phase_id="PHASE_IMPLEMENTATION")
    assert [(t.id, t.title, t.status) for t in queued] == [
        (step3.queued_task_ids[0], "carry out Implementation", "pending")]
    with uow:
        artifacts = {a for a in uow.session.scalars(select(SystemEvent.payload["path"].as_string()).where(
            SystemEvent.event_type == "artifact.collected"))}
        assert artifacts == {"requirements.md", "design.md"}
        moved = uow.session.scalars(select(SystemEvent).where(SystemEvent.event_type == "ticket.progressed")).all()
        assert [e.payload["to_phase"] for e in moved] == ["PHASE_REQUIREMENTS", "PHASE_DESIGN",
                                                          "PHASE_IMPLEMENTATION"]


def test_declared_initial_tasks_and_terminal_phase(uow):
    save_workflow(uow, {"name": "declared", "phases": [
        {"id": "PHASE_A", "sequence_order": 0, "allowed_transitions": ["PHASE_B"]},
        {"id": "PHASE_B", "sequence_order": 1, "allowed_transitions": ["PHASE_DONE"], "initial_tasks": [
            {"title": "write the tests", "priority": "HIGH", "required_capabilities": ["python"]},
            {"title": "write the docs", "task_type": "docs"}]},
        {"id": "PHASE_DONE", "sequence_order": 2, "is_terminal": True},
    ]})
    ProjectService(uow).create_project("declared", "declared")
    ticket_id = TicketService(uow).create_ticket("declared", "t").id
    progress = ProgressService(uow)
    progress.start_ticket(ticket_id)
    finish_phase_tasks(uow, ticket_id, "PHASE_A")
    moved = progress.check_and_progress(ticket_id)
    tasks = QueueService(uow).list(ticket_id=ticket_id, phase_id="PHASE_B")
    assert [(t.title, t.priority, t.task_type, t.required_capabilities) for t in tasks] == [
        ("write the tests", "HIGH", "work", ["python"]), ("write the docs", "MEDIUM", "docs", [])]
    assert moved.queued_task_ids == [t.id for t in tasks]

    with uow:  # a worker with the capability finishes both
        from phaseloom.db.models import Agent

        uow.session.add(Agent(id="py", name="py", capabilities=["python"]))
    queue = QueueService(uow)
    while (task := queue.claim_next_task("py")) is not None:
        queue.complete_task(task.id, "py", {})
    done = progress.check_and_progress(ticket_id)
    assert (done.moved, done.to_phase, done.queued_task_ids) == (True, "PHASE_DONE", [])
    assert TicketService(uow).get(ticket_id).is_done
    assert progress.check_and_progress(ticket_id).reason == "the ticket is done"
    assert progress.start_ticket(ticket_id) == []  # nothing to carry out in a terminal phase


def test_wip_limit_keeps_the_ticket_where_it_is(uow, project):
    for i in range(5):  # fill the Analyzing column (WIP limit 5)
        ticket_in(uow, project, "PHASE_REQUIREMENTS", title=f"filler {i}")
    ticket_id = ticket_in(uow, project, title="waiting")
    progress = ProgressService(uow)
    progress.start_ticket(ticket_id)
    finish_phase_tasks(uow, ticket_id, "PHASE_BACKLOG")
    outcome = progress.check_and_progress(ticket_id)
    assert not outcome.moved and "WIP limit" in outcome.reason and outcome.gate.passed
    assert TicketService(uow).get(ticket_id).phase_id == "PHASE_BACKLOG"
    assert QueueService(uow).list(ticket_id=ticket_id, phase_id="PHASE_REQUIREMENTS") == []
    # The refused move left nothing behind it; the gate's result and its event were kept.
    assert len(TicketService(uow).history(ticket_id)) == 1
    assert GateService(uow).latest_result(ticket_id).id == outcome.gate.id
    with uow:
        events = uow.session.scalars(select(SystemEvent.event_type).where(SystemEvent.ticket_id == ticket_id)).all()
    assert "phase_gate.validated" in events and "ticket.progressed" not in events


def test_a_check_whose_gate_runs_no_command_is_one_write_transaction(uow, project, tmp_path):
    ticket_id = ticket_in(uow, project, "PHASE_REQUIREMENTS")
    ProgressService(uow).start_ticket(ticket_id)
    finish_phase_tasks(uow, ticket_id, "PHASE_REQUIREMENTS")
    (tmp_path / "requirements.md").write_text(REQUIREMENTS)
    commits: list[int] = []
    listener = lambda conn: commits.append(1)  # noqa: E731
    event.listen(uow.db.engine, "commit", listener)
    try:
        outcome = ProgressService(uow).check_and_progress(ticket_id, tmp_path)
    finally:
        event.remove(uow.db.engine, "commit", listener)
    assert (outcome.moved, outcome.to_phase) == (True, "PHASE_DESIGN")
    assert len(commits) == 1  # the outputs, the gate's result, the move and the next phase's task
    assert [t.title for t in QueueService(uow).list(ticket_id=ticket_id, phase_id="PHASE_DESIGN")] == [
        "carry out Technical Design"]


def test_on_task_completed_collects_results_and_progresses(uow, project, tmp_path):
    ticket_id = ticket_in(uow, project, "PHASE_REQUIREMENTS")
    ProgressService(uow).start_ticket(ticket_id)
    (tmp_path / "requirements.md").write_text(REQUIREMENTS)
    task_id = finish_phase_tasks(uow, ticket_id, "PHASE_REQUIREMENTS", {"artifacts": ["requirements.md"]})[0]
    outcome = ProgressService(uow).on_task_completed(task_id, tmp_path)
    assert outcome.moved and outcome.to_phase == "PHASE_DESIGN"
