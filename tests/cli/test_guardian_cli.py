"""``phaseloom guardian`` as a user runs it: a real subprocess on a SQLite file."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import update

from phaseloom.db.engine import Database
from phaseloom.db.models import SystemEvent, Task
from phaseloom.db.models.base import utcnow
from phaseloom.services.agents import AgentService
from phaseloom.queue import QueueService
from phaseloom.db.unit_of_work import UnitOfWork
from tests.cli.test_costs_cli import run


def test_guardian_once_assesses_a_stuck_agent_and_lists_the_ticket_history(tmp_path):
    run(tmp_path, "init")
    run(tmp_path, "project", "create", "demo")
    run(tmp_path, "ticket", "create", "demo", "Add login")
    run(tmp_path, "task", "create", "1", "PHASE_REQUIREMENTS", "requirements")
    db = Database.connect(f"sqlite:///{tmp_path}/p.db")
    AgentService(UnitOfWork(db)).register_agent("analyst", agent_id="analyst-1")
    QueueService(UnitOfWork(db)).claim_next_task("analyst-1")
    QueueService(UnitOfWork(db)).start_task(1, "analyst-1")
    with UnitOfWork(db) as uow:
        hour_ago = utcnow() - timedelta(hours=1)  # as if the agent had been silent for an hour
        uow.session.execute(update(Task).where(Task.id == 1).values(started_at=hour_ago))
        uow.session.execute(update(SystemEvent).values(created_at=hour_ago))
    db.dispose()

    table = run(tmp_path, "guardian", "--once").stdout
    assert "analyst-1" in table and "steer" in table and "no progress for" in " ".join(table.split()), table
    [stored] = json.loads(run(tmp_path, "guardian", "--ticket", "1", "--json").stdout)
    assert (stored["task_id"], stored["intervention"], stored["judge"]) == (1, "steer", "rules")
    assert stored["score"] < 0.6
