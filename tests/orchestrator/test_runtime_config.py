"""A workflow file can choose the runtime per phase (or for the whole workflow)."""

from __future__ import annotations

import pytest

from phaseloom.domain.errors import InvalidInput
from phaseloom.orchestrator.runtimes import configured_runtime, runtime_from_setting
from phaseloom.runtimes.command import CommandRuntime
from phaseloom.schemas.workflow import WorkflowDocument


def workflow(phase_config: dict, settings: dict | None = None):
    return WorkflowDocument.model_validate({
        "name": "wf", "settings": settings or {},
        "phases": [
            {"id": "PHASE_BUILD", "allowed_transitions": ["PHASE_DONE"], "configuration": phase_config},
            {"id": "PHASE_CHECK", "allowed_transitions": ["PHASE_DONE"]},
            {"id": "PHASE_DONE", "is_terminal": True},
        ]}).to_domain()


def test_phase_runtime_wins_then_workflow_runtime_then_none():
    wf = workflow({"runtime": {"command": ["my-agent", "--prompt-file", "{prompt_file}"]}},
                  {"runtime": "command:claude-code"})
    build = configured_runtime(wf, "PHASE_BUILD")
    assert isinstance(build, CommandRuntime) and build.argv == ["my-agent", "--prompt-file", "{prompt_file}"]
    check = configured_runtime(wf, "PHASE_CHECK")
    assert isinstance(check, CommandRuntime) and check.preset is not None
    assert configured_runtime(workflow({}), "PHASE_BUILD") is None


def test_a_bad_runtime_setting_is_refused_with_what_is_allowed():
    with pytest.raises(InvalidInput, match="command:<preset>"):
        runtime_from_setting({"shell": "rm -rf /"})
    with pytest.raises(InvalidInput):
        runtime_from_setting("command:no-such-preset")


def test_the_orchestrator_runs_each_phase_with_the_runtime_its_workflow_names(db, uow, tmp_path):
    """End to end: the phase's own runtime runs its tasks; a phase without one uses the pool's."""
    import sys

    from phaseloom.orchestrator.loop import Orchestrator, OrchestratorConfig, PoolSpec
    from phaseloom.services.projects import ProjectService
    from phaseloom.queue import QueueService
    from phaseloom.services.tickets import TicketService
    from phaseloom.db.unit_of_work import UnitOfWork
    from phaseloom.services.workflows import WorkflowService

    document = WorkflowDocument.model_validate({
        "name": "per_phase", "phases": [
            {"id": "PHASE_BUILD", "allowed_transitions": ["PHASE_CHECK"], "configuration": {
                "runtime": {"command": [sys.executable, "-c", "import sys; print('phase runtime', sys.argv[1])",
                                        "{phase_id}"]}}},
            {"id": "PHASE_CHECK", "allowed_transitions": ["PHASE_DONE"]},
            {"id": "PHASE_DONE", "is_terminal": True}]})
    WorkflowService(uow).save_document(document)
    project = ProjectService(uow).create_project("per-phase", "per_phase")
    ticket = TicketService(uow).create_ticket(project.id, "two phases")
    queue = QueueService(uow)
    build = queue.create_task(ticket.id, "PHASE_BUILD", "build it")
    check = queue.create_task(ticket.id, "PHASE_CHECK", "check it")
    pool_runtime = CommandRuntime([sys.executable, "-c", "print('pool runtime')"])
    config = OrchestratorConfig(pools=(PoolSpec("any", size=1, runtime="command"),), manage_tickets=False,
                                workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")

    Orchestrator(db, lambda spec: pool_runtime, config).run(
        until=lambda: {QueueService(UnitOfWork(db)).get(t.id).status for t in (build, check)} == {"completed"},
        max_seconds=30)

    logs = tmp_path / "logs"
    assert (logs / f"task-{build.id}.log").read_text().strip().endswith("phase runtime PHASE_BUILD")
    assert (logs / f"task-{check.id}.log").read_text().strip().endswith("pool runtime")
