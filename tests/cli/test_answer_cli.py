"""``phaseloom task answer`` as a user runs it: a real subprocess on a SQLite file."""

from __future__ import annotations

import json

from phaseloom.db.engine import Database
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.queue import InputRequests, QueueService
from phaseloom.services.agents import AgentService
from tests.cli.support import run


def test_task_answer_queues_the_waiting_task_and_refuses_one_that_is_not(tmp_path):
    run(tmp_path, "init")
    run(tmp_path, "project", "create", "demo")
    run(tmp_path, "ticket", "create", "demo", "Add login")
    run(tmp_path, "task", "create", "1", "PHASE_REQUIREMENTS", "write requirements")

    refused = run(tmp_path, "task", "answer", "1", "use OAuth", check=False)
    assert refused.returncode == 2
    assert "task 1 is pending, not waiting for an answer" in refused.stderr + refused.stdout

    db = Database.connect(f"sqlite:///{tmp_path}/p.db")
    try:
        AgentService(UnitOfWork(db)).register_agent("a", agent_id="a")
        assert QueueService(UnitOfWork(db)).claim_next_task("a").id == 1
        InputRequests(UnitOfWork(db)).ask(1, "a", "OAuth or passwords?")
        listed = json.loads(run(tmp_path, "task", "list", "--status", "waiting_input", "--json").stdout)
        assert [t["id"] for t in listed] == [1]

        answered = run(tmp_path, "task", "answer", "1", "use OAuth")
        assert "task 1 answered; it is queued again" in answered.stdout
        [request] = InputRequests(UnitOfWork(db)).answered(1)
        assert (request.answer, request.answered_by) == ("use OAuth", "cli")
        assert QueueService(UnitOfWork(db)).get(1).status == "pending"
    finally:
        db.dispose()
