"""The run loop: graceful stop releases what is still running; SIGTERM stops a real process cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from phaseloom.db.models import Agent
from phaseloom.orchestrator.loop import Orchestrator, OrchestratorConfig, PoolSpec
from phaseloom.runtimes.command import CommandRuntime
from phaseloom.services.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.services.unit_of_work import UnitOfWork


def test_stop_waits_for_the_grace_period_then_returns_the_task_to_the_queue(db, uow, project, tmp_path):
    ticket = TicketService(uow).create_ticket(project.id, "slow work")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "takes forever")
    config = OrchestratorConfig(pools=(PoolSpec("slow", size=1, runtime="command"),), grace_seconds=0.5,
                                manage_tickets=False, workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")
    slow = CommandRuntime([sys.executable, "-c", "import time; time.sleep(3)"])
    orchestrator = Orchestrator(db, lambda spec: slow, config)
    orchestrator.start()
    assert orchestrator.tick() == 1
    time.sleep(0.3)
    assert QueueService(uow).get(task.id).status == "running"

    started = time.monotonic()
    orchestrator.shutdown()

    assert time.monotonic() - started < 3
    back = QueueService(uow).get(task.id)
    assert (back.status, back.assigned_agent_id, back.retry_count) == ("pending", None, 0)
    with UnitOfWork(db) as u:
        assert set(u.session.scalars(select(Agent.status))) == {"deregistered"}


def test_finished_run_completes_and_the_next_tick_dispatches_nothing(db, uow, project, tmp_path):
    ticket = TicketService(uow).create_ticket(project.id, "quick work")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "quick")
    config = OrchestratorConfig(pools=(PoolSpec("quick", size=2, runtime="command"),), manage_tickets=False,
                                workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")
    quick = CommandRuntime([sys.executable, "-c", "print('ok')"])
    orchestrator = Orchestrator(db, lambda spec: quick, config)
    orchestrator.run(until=lambda: QueueService(UnitOfWork(db)).get(task.id).status == "completed",
                     max_seconds=20)
    assert QueueService(uow).get(task.id).status == "completed"
    assert (tmp_path / "logs" / f"task-{task.id}.log").read_text().strip().endswith("ok")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigterm_stops_a_worker_process_cleanly(db_url, tmp_path):
    env = {**os.environ, "PHASELOOM_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, "-m", "phaseloom.cli.app", "worker", "--database-url", db_url,
                             "--workers", "2", "--max-seconds", "60"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    from phaseloom.db.engine import Database

    db = Database.connect(db_url)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with UnitOfWork(db) as u:
                if len(u.session.scalars(select(Agent).where(Agent.status == "idle")).all()) == 2:
                    break
            time.sleep(0.1)
        else:
            raise AssertionError(f"the worker never registered its agents: {proc.communicate(timeout=5)}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, proc.stdout.read()
        with UnitOfWork(db) as u:
            assert set(u.session.scalars(select(Agent.status))) == {"deregistered"}
    finally:
        if proc.poll() is None:
            proc.kill()
        db.dispose()
