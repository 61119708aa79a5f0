from __future__ import annotations

import pytest

from phaseloom.runtimes.base import Assignment
from phaseloom.services.agents import AgentService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from tests.runtimes.fake_models import FakeModelServer


@pytest.fixture
def claimed(uow, project):
    """A running task held by an agent: (task, agent)."""
    ticket = TicketService(uow).create_ticket(project.id, "Add a greeting")
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, "PHASE_IMPLEMENTATION", "Write greet()", max_retries=2)
    agent = AgentService(uow).register_agent("runner", agent_id="runner-1")
    queue.claim_next_task(agent.id)
    queue.start_task(task.id, agent.id)
    return task, agent


def make_assignment(task, agent, workdir, **overrides) -> Assignment:
    values = dict(task_id=task.id, agent_id=agent.id, ticket_id=task.ticket_id, phase_id=task.phase_id,
                  workdir=workdir, instructions="# Do it\nWrite greet().", log_path=workdir.parent / "logs" / "t.log",
                  timeout_seconds=30, agent_token="tok-123", api_url="http://127.0.0.1:8765",
                  mcp_url="http://127.0.0.1:8765/mcp")
    values.update(overrides)
    return Assignment(**values)


@pytest.fixture(scope="module")
def model():
    """A loopback model server for one test module; each test sets its ``script``."""
    with FakeModelServer() as server:
        yield server

