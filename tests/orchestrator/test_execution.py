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
