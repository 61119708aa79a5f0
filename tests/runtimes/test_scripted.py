"""Scripted agents write real outputs and act through the same services as any agent."""

from __future__ import annotations

import pytest

from phaseloom.config import Settings
from phaseloom.runtimes.base import settle
from phaseloom.runtimes.scripted import ScriptedDiscovery, ScriptedRuntime, ScriptPlan
from phaseloom.services.agents import AgentService
from phaseloom.services.discovery import DiscoveryService
from phaseloom.services.gates import GateService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from tests.runtimes.conftest import make_assignment


@pytest.fixture
def ticket(uow, project):
    return TicketService(uow).create_ticket(project.id, "Greeting endpoint", description="Say hello")


def run_task(uow, db, ticket, phase, tmp_path, plan=None, attempt=1, agent_name="scripted"):
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, phase, f"work in {phase}")
    agent = AgentService(uow).register_agent(agent_name, agent_id=agent_name)
    assert queue.claim_next_task(agent.id).id == task.id
    workdir = tmp_path / "wt"
    workdir.mkdir(exist_ok=True)
    assignment = make_assignment(task, agent, workdir, attempt=attempt)
    outcome = settle(uow, assignment, ScriptedRuntime(db, plan).run(assignment), Settings())
    return task, outcome, workdir


def test_requirements_pass_the_gate_sections_and_tick_done_definitions(uow, db, ticket, tmp_path):
    plan = ScriptPlan(discoveries=(ScriptedDiscovery("PHASE_REQUIREMENTS", "clarification_needed",
                                                     "Which languages must the greeting support?",
                                                     spawn_phase_id="PHASE_DESIGN"),))
    task, outcome, workdir = run_task(uow, db, ticket, "PHASE_REQUIREMENTS", tmp_path, plan)
    assert outcome.completed and outcome.final_status == "completed"
    text = (workdir / "requirements.md").read_text()
    for section in ("## Overview", "## Requirements", "## Acceptance Criteria"):
        assert section in text
    assert len(text) > 200
    checklist = GateService(uow).done_definitions(ticket.id, "PHASE_REQUIREMENTS")
    assert checklist and all(item.ticked for item in checklist)
    [found] = DiscoveryService(uow).list(ticket_id=ticket.id)
    assert (found.discovery_type, found.source_task_id, found.spawn_phase_id) == (
        "clarification_needed", task.id, "PHASE_DESIGN")
    assert QueueService(uow).get(found.spawned_task_ids[0]).phase_id == "PHASE_DESIGN"


def test_implementation_then_testing_runs_the_real_tests(uow, db, ticket, tmp_path):
    _, built, workdir = run_task(uow, db, ticket, "PHASE_IMPLEMENTATION", tmp_path)
    assert f"src/feature_{ticket.id}/core.py" in built.artifacts
    _, tested, _ = run_task(uow, db, ticket, "PHASE_TESTING", tmp_path, agent_name="tester")
    report = (workdir / "test_report.md").read_text()
    assert "**PASSED**" in report and "1 passed, 0 failed" in report
    assert tested.completed


def test_the_suite_runs_without_pytest_installed(uow, db, ticket, tmp_path, monkeypatch):
    # A plain install (the README's Quick start) has no pytest: a `pytest` that cannot be imported
    # stands in for its absence, in the tester's subprocess too (it inherits PYTHONPATH).
    shadow = tmp_path / "no-pytest"
    (shadow / "pytest").mkdir(parents=True)
    (shadow / "pytest" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'pytest'\")\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow))
    run_task(uow, db, ticket, "PHASE_IMPLEMENTATION", tmp_path)
    _, tested, workdir = run_task(uow, db, ticket, "PHASE_TESTING", tmp_path, agent_name="tester")
    report = (workdir / "test_report.md").read_text()
    assert "Result: **PASSED**" in report and "1 passed, 0 failed" in report, report
    assert tested.completed


def test_a_planned_bug_makes_the_suite_fail_and_the_report_say_so(uow, db, ticket, tmp_path):
    plan = ScriptPlan(failing_suite=frozenset({ticket.id}))
    run_task(uow, db, ticket, "PHASE_IMPLEMENTATION", tmp_path, plan)
    _, tested, workdir = run_task(uow, db, ticket, "PHASE_TESTING", tmp_path, plan, agent_name="tester")
    report = (workdir / "test_report.md").read_text()
    assert "Result: **FAILED**" in report and "0 passed, 1 failed" in report, report
    assert tested.completed  # the tester did its job: it ran the suite and reported the failure


def test_planned_first_attempt_failure_is_retried(uow, db, ticket, tmp_path):
    plan = ScriptPlan(fail_first_attempt=frozenset({(None, "PHASE_DESIGN")}))
    task, outcome, workdir = run_task(uow, db, ticket, "PHASE_DESIGN", tmp_path, plan)
    assert not outcome.completed and outcome.final_status == "pending"
    assert not (workdir / "design.md").exists()
    assert QueueService(uow).get(task.id).retry_count == 1


def test_scripted_validator_rejects_the_first_round_then_approves(uow, db, tmp_path):
    from phaseloom.services.projects import ProjectService
    from phaseloom.services.workflows import WorkflowService
    from tests.queue.test_validation import reviewed_workflow

    WorkflowService(uow).save_document(reviewed_workflow(max_iterations=3))
    project = ProjectService(uow).create_project("rev", "reviewed")
    ticket = TicketService(uow).create_ticket(project.id, "Build the parser")
    queue, agents = QueueService(uow), AgentService(uow)
    worker = agents.register_agent("worker", agent_id="worker")
    validator = agents.register_agent("validator", agent_id="validator", agent_type="validator",
                                      capabilities=["validation"])
    runtime = ScriptedRuntime(db)
    workdir = tmp_path / "wt"
    workdir.mkdir()
    work = queue.create_task(ticket.id, "PHASE_BUILD", "build it")
    states = []
    for _round in range(2):
        claimed = queue.claim_next_task(worker.id)
        assert claimed.id == work.id
        settle(uow, make_assignment(claimed, worker, workdir), runtime.run(make_assignment(claimed, worker, workdir)),
               Settings())
        check = queue.claim_next_task(validator.id)
        outcome = settle(uow, make_assignment(check, validator, workdir),
                         runtime.run(make_assignment(check, validator, workdir)), Settings())
        assert outcome.reported_by_agent  # the verdict went through the validation service
        states.append(queue.get(work.id).status)
    assert states == ["pending", "completed"]
