"""TaskExecutor: what happens after a task is settled is as safe from a database blip as what came before."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from phaseloom.db.models import Agent
from phaseloom.orchestrator.execution import TaskExecutor
from phaseloom.orchestrator.loop import OrchestratorConfig
from phaseloom.runtimes.base import RunOutcome
from phaseloom.services.agents import AgentService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork


class _DoneAgent:
    name = "done"

    def run(self, assignment):
        return RunOutcome(True, summary="did it")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_database_blip_while_recording_the_agents_run_is_retried_and_the_task_stays_completed(
        db, uow, project, tmp_path, monkeypatch):
    """record_run (the agent's health) came after settle and outside any retry: a blip there made the
    executor report the completed task as a database failure (its outputs never collected) and lost
    the record of the run."""
    ticket = TicketService(uow).create_ticket(project.id, "blip after settle")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "do it")
    agent = AgentService(uow).register_agent("w")
    with UnitOfWork(db) as u:  # two failed runs before: a recorded success clears them
        u.session.get(Agent, agent.id).consecutive_failures = 2
    assert QueueService(uow).claim_next_task(agent.id).id == task.id
    real_record, blips = AgentService.record_run, []

    def record_once_lost(self, agent_id, **kwargs):
        if not blips:
            blips.append(agent_id)
            raise OperationalError("UPDATE agents", {}, Exception("server closed the connection unexpectedly"))
        return real_record(self, agent_id, **kwargs)

    monkeypatch.setattr(AgentService, "record_run", record_once_lost)
    config = OrchestratorConfig(pools=(), workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")

    outcome = TaskExecutor(db, config).execute(task.id, agent.id, _DoneAgent())

    assert blips == [agent.id]
    assert (outcome.completed, outcome.final_status, outcome.error_class) == (True, "completed", None)
    assert QueueService(uow).get(task.id).status == "completed"
    with UnitOfWork(db) as u:
        assert u.session.get(Agent, agent.id).consecutive_failures == 0  # the run was recorded after all


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_record_of_the_run_that_cannot_be_written_does_not_fail_the_settled_task(db, uow, project, tmp_path,
                                                                                   monkeypatch):
    """Past the retries (or a bug in it), the agent's health record is logged and given up, not the task."""
    ticket = TicketService(uow).create_ticket(project.id, "record broken")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "do it")
    agent = AgentService(uow).register_agent("w")
    assert QueueService(uow).claim_next_task(agent.id).id == task.id

    def record_broken(self, agent_id, **kwargs):
        raise RuntimeError("a bug in the health record")

    monkeypatch.setattr(AgentService, "record_run", record_broken)
    config = OrchestratorConfig(pools=(), workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")

    outcome = TaskExecutor(db, config).execute(task.id, agent.id, _DoneAgent())

    assert (outcome.completed, outcome.final_status) == (True, "completed")
    assert QueueService(uow).get(task.id).status == "completed"


class _ReportingAgent:
    """Writes hello.txt in its worktree and finishes the task itself (its own complete_task), as an MCP
    agent does before it exits; ``then`` runs once it has reported."""

    name = "reporting"
    reports_via_mcp = False

    def __init__(self, db, then=None) -> None:
        self.db, self.then = db, then

    def run(self, assignment):
        (assignment.workdir / "hello.txt").write_text("hi\n")
        QueueService(UnitOfWork(self.db)).complete_task(assignment.task_id, assignment.agent_id,
                                                        result={"summary": "wrote hello"})
        if self.then:
            self.then()
        return RunOutcome(True, summary="wrote hello", needs_agent_report=True)


def _reported_task_on_a_repo(db, uow, project, tmp_path):
    from tests.orchestrator.test_loop import _project_on_a_repo

    repo = _project_on_a_repo(db, project, tmp_path)
    ticket = TicketService(uow).create_ticket(project.id, "reported, then the database went away")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "write hello")
    agent = AgentService(uow).register_agent("w")
    assert QueueService(uow).claim_next_task(agent.id).id == task.id
    config = OrchestratorConfig(pools=(), workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")
    return repo, ticket, task, agent, TaskExecutor(db, config)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_database_going_away_once_the_agent_has_reported_does_not_lose_the_merge_of_its_work(
        db, uow, project, tmp_path, monkeypatch):
    """The phase's permissions were read after the agent ended, unguarded: a PostgreSQL restart there
    sent the executor down its "database lost" path, whose fail_task the completed task refused, so
    its work was never merged and its ticket stayed in the phase for good (tests/faults/test_postgres_restart)."""
    from phaseloom.services.workflows import WorkflowService
    from phaseloom.workspaces import git

    repo, ticket, task, agent, executor = _reported_task_on_a_repo(db, uow, project, tmp_path)
    real_by_id, ended = WorkflowService.by_id, []

    def by_id_while_down(self, workflow_id):
        if ended:
            raise OperationalError("SELECT workflows", {}, Exception("connection refused"))
        return real_by_id(self, workflow_id)

    monkeypatch.setattr(WorkflowService, "by_id", by_id_while_down)

    outcome = executor.execute(task.id, agent.id, _ReportingAgent(db, then=lambda: ended.append(1)))

    assert (outcome.completed, outcome.final_status, outcome.error_class) == (True, "completed", None)
    back = QueueService(uow).get(task.id)
    assert (back.status, back.awaiting_merge) == ("completed", False)
    assert git(repo, "show", f"ticket/{ticket.id}:hello.txt") == "hi\n"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_reported_work_whose_worker_lost_the_database_is_merged_by_the_housekeeping(
        db, uow, project, tmp_path, monkeypatch):
    """Past the retries after the agent's report, the worker gives the merge up instead of dropping it:
    a completed task has no lease that would run out, so nothing would ever have merged it."""
    import functools

    from phaseloom.db.retry import RetryPolicy, call_with_retry
    from phaseloom.orchestrator import execution
    from phaseloom.workspaces import git

    repo, ticket, task, agent, executor = _reported_task_on_a_repo(db, uow, project, tmp_path)

    def report_unreadable(db, task_id):
        raise OperationalError("SELECT tasks", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(execution, "_agent_report", report_unreadable)
    monkeypatch.setattr(execution, "call_with_retry",
                        functools.partial(call_with_retry, policy=RetryPolicy(base_seconds=0.01, max_seconds=0.05)))

    outcome = executor.execute(task.id, agent.id, _ReportingAgent(db))

    assert outcome.error_class == "database"
    held = QueueService(uow).get(task.id)
    assert (held.status, held.awaiting_merge) == ("completed", True)
    monkeypatch.undo()
    assert executor.merge_left_work() == [task.id]
    assert QueueService(uow).get(task.id).awaiting_merge is False
    assert git(repo, "show", f"ticket/{ticket.id}:hello.txt") == "hi\n"
