"""Three worker processes and one orchestrator share a PostgreSQL database: every task runs exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter

import pytest
from sqlalchemy import select

from phaseloom.db.models import Project, SystemEvent, Task, Ticket
from phaseloom.orchestrator.loop import Orchestrator, OrchestratorConfig
from phaseloom.services.progress import ProgressService
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork
from tests.workspaces.test_workspaces import make_repo


@pytest.mark.slow
def test_three_workers_complete_a_multi_ticket_workflow(db, db_url, uow, project, tmp_path):
    if db.backend != "postgresql":
        pytest.skip("separate worker processes share a server database")
    repo = make_repo(tmp_path / "repo")
    with uow:
        uow.session.get(Project, project.id).repo_path = str(repo)
    tickets = [TicketService(uow).create_ticket(project.id, f"feature {n}") for n in range(2)]
    for t in tickets:
        ProgressService(uow).start_ticket(t.id)
    home = tmp_path / "home"
    env = {**os.environ, "PHASELOOM_HOME": str(home)}
    workers = [subprocess.Popen([sys.executable, "-m", "phaseloom.cli.app", "worker", "--database-url", db_url,
                                 "--workers", "1", "--max-seconds", "150"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    config = OrchestratorConfig(pools=(), poll_seconds=0.1, workspace_root=home / "workspaces",
                                log_dir=home / "logs")

    def all_done() -> bool:
        with UnitOfWork(db) as u:
            return all(u.session.get(Ticket, t.id).phase_id == "PHASE_DONE" for t in tickets)

    try:
        Orchestrator(db, lambda spec: None, config).run(until=all_done, max_seconds=150)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        outputs = [w.communicate(timeout=30)[0] for w in workers]

    assert all_done(), outputs
    assert [w.returncode for w in workers] == [0, 0, 0], outputs
    with UnitOfWork(db) as u:
        tasks = u.session.scalars(select(Task)).all()
        started = Counter(u.session.scalars(select(SystemEvent.entity_id)
                                            .where(SystemEvent.event_type == "task.started")))
    assert tasks and {t.status for t in tasks} == {"completed"}
    assert all(started[str(t.id)] == 1 for t in tasks), started  # each task ran exactly once
    assert len({t.assigned_agent_id for t in tasks}) >= 2  # the work was shared
