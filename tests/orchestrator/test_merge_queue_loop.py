"""``phaseloom run``'s loop processes the merge queue: agents' work reaches the ticket branches, the
tickets pass their gates, and the queue lands one and sends the other back (real git, real processes)."""

from __future__ import annotations

import sys
import time

from sqlalchemy import select

from phaseloom.db.models import Task
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.orchestrator.loop import Orchestrator, OrchestratorConfig, PoolSpec
from phaseloom.runtimes.command import CommandRuntime
from phaseloom.services.merge_queue import MergeQueueService
from phaseloom.services.tickets import TicketService
from tests.services.merge_queue_support import commits_checked, git, landing_project, queue_moves_of_main

# The agent: in implementation, ticket 1 raises a and ticket 2 raises b (each fine alone, not together).
AGENT = """\
import os, pathlib
if os.environ["PHASELOOM_PHASE_ID"] == "PHASE_IMPLEMENTATION":
    name = "a.txt" if int(os.environ["PHASELOOM_TICKET_ID"]) % 2 else "b.txt"
    pathlib.Path(name).write_text("1\\n")
print("done")
"""


def test_the_run_loop_lands_one_ticket_and_sends_the_other_back(db, uow, tmp_path):
    project, repo, log = landing_project(uow, tmp_path)
    first = TicketService(uow).create_ticket(project.id, "raise a").id
    second = TicketService(uow).create_ticket(project.id, "raise b").id
    config = OrchestratorConfig(pools=(PoolSpec("dev", size=2, runtime="command"),), project_id=project.id,
                                workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs", poll_seconds=0.05)
    agent = CommandRuntime([sys.executable, "-c", AGENT])
    queue = MergeQueueService(UnitOfWork(db), root=tmp_path / "ws")

    def both_decided() -> bool:
        return {e.status for e in queue.entries(finished=True)} == {"landed", "rejected"}

    orchestrator = Orchestrator(db, lambda spec: agent, config)
    orchestrator.run(until=both_decided, max_seconds=120)
    orchestrator.merges.join(30)

    entries = {e.status: e for e in queue.entries(finished=True)}
    assert set(entries) == {"landed", "rejected"}, [(e.ticket_id, e.status, e.reason) for e in entries.values()]
    landed, rejected = entries["landed"], entries["rejected"]
    assert {landed.ticket_id, rejected.ticket_id} == {first, second}
    assert TicketService(uow).get(landed.ticket_id).phase_id == "PHASE_DONE"
    main = git(repo, "rev-parse", "main").strip()
    assert landed.landed_commit == main and queue_moves_of_main(repo) == [main]
    assert main in commits_checked(log)
    assert "exited 3" in rejected.reason
    with uow:
        fix = uow.session.get(Task, rejected.task_id)
        assert fix.phase_id == "PHASE_IMPLEMENTATION" and "FAILED: a + b = 2" in fix.description
        assert uow.session.scalars(select(Task.id).where(Task.ticket_id == rejected.ticket_id)).all()


def test_a_running_step_does_not_hold_up_the_loop(db, uow, tmp_path):
    from phaseloom.orchestrator.merge_queue import MergeQueueRunner
    from tests.services.merge_queue_support import finished_ticket

    slow = [sys.executable, "-c", "import time; time.sleep(3)"]
    project, repo, _ = landing_project(uow, tmp_path, check_argv=slow)
    ticket, _ = finished_ticket(uow, project, repo, {"a.txt": "1\n"}, "raise a")
    runner = MergeQueueRunner(db, OrchestratorConfig(project_id=project.id, workspace_root=tmp_path / "ws"))

    started = time.monotonic()
    assert runner.poke() is True
    assert time.monotonic() - started < 1.0 and runner.running and runner.busy()
    assert runner.poke() is False  # one step at a time
    runner.join(60)
    assert runner.last is not None and (runner.last.ticket_id, runner.last.status) == (ticket, "landed")
    assert not runner.busy() and runner.poke() is False
