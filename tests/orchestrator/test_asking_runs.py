"""A run whose agent asked a person: the executor leaves the task waiting (not failed, not counted against
the agent), posts the question to the input webhook (a real loopback HTTP server), and the answered
task's next run gets the answer: resumed in the agent's session when the runtime can, else told in its
instructions."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from phaseloom.config import Settings
from phaseloom.db.models import Agent
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.orchestrator.execution import TaskExecutor
from phaseloom.orchestrator.loop import OrchestratorConfig
from phaseloom.queue import InputRequests, QueueService
from phaseloom.runtimes.base import RunOutcome
from phaseloom.services.agents import AgentService
from phaseloom.services.human_input import HumanInputService
from phaseloom.services.tickets import TicketService

QUESTION = "Which greeting?"


class Hook:
    """A loopback webhook receiver: records each POST's JSON; ``delay`` seconds before it answers."""

    def __init__(self, delay: float = 0.0) -> None:
        self.bodies: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(delay)
                hook.bodies.append({"content_type": self.headers["Content-Type"], **body})
                self.send_response(204)
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hook():
    found = Hook()
    yield found
    found.close()


class AskingAgent:
    """Asks once (as its MCP tool would, through the queue), ends its turn; answered, it finishes."""

    name = "asking"

    def __init__(self, db, resumes_sessions: bool) -> None:
        self.db, self.resumes_sessions, self.seen = db, resumes_sessions, []

    def run(self, assignment):
        self.seen.append(assignment)
        if len(self.seen) == 1:
            InputRequests(UnitOfWork(self.db)).ask(assignment.task_id, assignment.agent_id, QUESTION, ["hi", "hello"])
            return RunOutcome(True, summary="I asked.", session_id="sess-1")
        return RunOutcome(True, summary="greeted")


def setup(db, uow, project, tmp_path, hook_url: str = ""):
    ticket = TicketService(uow).create_ticket(project.id, "greet")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "greet")
    agent = AgentService(uow).register_agent("w")
    settings = Settings(database_url=db.url, input_webhook_url=hook_url, input_webhook_timeout_seconds=1,
                        api_url="http://phaseloom.example:8765")
    config = OrchestratorConfig(pools=(), workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs",
                                settings=settings)
    return task, agent, TaskExecutor(db, config)


@pytest.mark.parametrize("resumes", [True, False], ids=["resumes-sessions", "no-sessions"])
def test_an_asking_run_waits_posts_the_question_and_the_answer_reaches_the_next_run(db, uow, project, tmp_path,
                                                                                     hook, resumes):
    task, agent, executor = setup(db, uow, project, tmp_path, hook.url)
    runtime = AskingAgent(db, resumes)
    assert QueueService(uow).claim_next_task(agent.id).id == task.id

    outcome = executor.execute(task.id, agent.id, runtime)

    assert (outcome.completed, outcome.final_status, outcome.error) == (False, "waiting_input", None)
    waiting = QueueService(uow).get(task.id)
    assert (waiting.status, waiting.session_id, waiting.retry_count) == ("waiting_input", "sess-1", 0)
    with UnitOfWork(db) as u:
        assert u.session.get(Agent, agent.id).consecutive_failures == 0  # asking is not failing
    [posted] = hook.bodies
    assert posted["content_type"] == "application/json"
    assert (posted["event"], posted["task_id"], posted["question"], posted["options"]) == (
        "task.input_requested", task.id, QUESTION, ["hi", "hello"])
    assert posted["answer_url"] == f"http://phaseloom.example:8765/api/tasks/{task.id}/answer"

    HumanInputService(uow).answer(task.id, "hello", answered_by="admin")
    assert QueueService(uow).claim_next_task(agent.id).id == task.id
    done = executor.execute(task.id, agent.id, runtime)

    assert done.final_status == "completed"
    first, second = runtime.seen
    assert second.workdir == first.workdir  # the run goes on where the asking run left its work and session
    if resumes:
        assert second.resume_session_id == "sess-1"
        assert "Their answer: hello" in second.resume_message and QUESTION in second.resume_message
        assert second.instructions == first.instructions
    else:
        assert second.resume_session_id is None and second.resume_message == ""
        assert f"- Question: {QUESTION}\n  Answer: hello" in second.instructions


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_slow_webhook_is_cut_off_at_its_timeout_and_the_question_stands(db, uow, project, tmp_path, caplog):
    slow = Hook(delay=3)
    try:
        task, agent, executor = setup(db, uow, project, tmp_path, slow.url)
        assert QueueService(uow).claim_next_task(agent.id).id == task.id
        started = time.monotonic()
        outcome = executor.execute(task.id, agent.id, AskingAgent(db, True))
        assert time.monotonic() - started < 3
    finally:
        slow.close()
    assert outcome.final_status == "waiting_input"
    assert "did not take task" in caplog.text
    assert QueueService(uow).get(task.id).status == "waiting_input"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_orchestrators_housekeeping_blocks_the_ticket_of_an_unanswered_question(db, uow, project, tmp_path):
    from datetime import timedelta

    from sqlalchemy import update

    from phaseloom.db.models.base import utcnow
    from phaseloom.db.models.input_requests import TaskInputRequest
    from phaseloom.orchestrator.loop import Orchestrator

    task, agent, _ = setup(db, uow, project, tmp_path)
    assert QueueService(uow).claim_next_task(agent.id).id == task.id
    InputRequests(uow).ask(task.id, agent.id, QUESTION)
    with uow:
        uow.session.execute(update(TaskInputRequest).values(asked_at=utcnow() - timedelta(days=2)))
    config = OrchestratorConfig(pools=(), housekeeping_seconds=0, workspace_root=tmp_path / "ws",
                                log_dir=tmp_path / "logs", manage_tickets=False)

    Orchestrator(db, lambda spec: None, config).tick()

    failed = QueueService(uow).get(task.id)
    assert failed.status == "failed" and failed.error.startswith("no answer within 86400 s")
    assert TicketService(uow).get(task.ticket_id).blocked_reason == failed.error
