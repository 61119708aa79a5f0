"""``phaseloom task create --path``, and ``task list/show`` saying what a task waits for."""

from __future__ import annotations

import json

from phaseloom.db.engine import Database
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.queue import QueueService
from phaseloom.services.agents import AgentService
from tests.cli.support import run


def test_task_list_and_show_name_the_task_a_waiting_task_waits_for(tmp_path):
    run(tmp_path, "init")
    run(tmp_path, "project", "create", "demo")
    run(tmp_path, "ticket", "create", "demo", "first")
    run(tmp_path, "task", "create", "1", "backlog", "auth", "--path", "src/auth/**", "--priority", "HIGH")
    run(tmp_path, "task", "create", "1", "backlog", "login", "--path", "src/auth/login.py")
    db = Database.connect(f"sqlite:///{tmp_path}/p.db")
    agent = AgentService(UnitOfWork(db)).register_agent("w1")
    assert QueueService(UnitOfWork(db)).claim_next_task(agent.id).id == 1
    db.dispose()
    listed = run(tmp_path, "task", "list", "--ticket", "1").stdout
    assert "waits for task 1: src/auth/**" in listed
    shown = run(tmp_path, "task", "show", "2").stdout
    assert "paths: src/auth/login.py" in shown and "waits: waits for task 1: src/auth/**" in shown
    as_json = json.loads(run(tmp_path, "task", "show", "2", "--json").stdout)
    assert as_json["waits_for"] == "waits for task 1: src/auth/**"
    refused = run(tmp_path, "task", "create", "1", "backlog", "bad", "--path", "/etc/*", check=False)
    assert refused.returncode == 2 and "absolute" in refused.stderr + refused.stdout
