"""``kill -9`` of a worker in the middle of a task: the lease runs out, another worker re-runs it once, DONE."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from phaseloom.db.engine import Database
from phaseloom.db.models import SystemEvent, Task
from phaseloom.services.unit_of_work import UnitOfWork
from tests.faults.checks import assert_work_accounted_for
from tests.faults.support import Processes, prepare, tickets_done, wait_for

pytestmark = pytest.mark.slow
LEASE = 3.0


def _running_in(procs: Processes, name: str) -> int | None:
    """The task the worker has in hand right now (it prints 'running task N' as it starts one)."""
    found = re.findall(r"running task (\d+)", procs.log(name))
    if not found:
        return None
    with UnitOfWork(procs.db, readonly=True) as uow:
        task = uow.session.get(Task, int(found[-1]))
        return task.id if task.status == "running" else None


def test_a_task_of_a_killed_worker_is_rerun_exactly_once_more(db_url, tmp_path):
    if not db_url.startswith("postgresql"):
        pytest.skip("worker processes sharing a server database; SQLite runs one worker (see the soak)")
    db = Database.connect(db_url)
    procs = Processes(tmp_path)
    procs.db = db
    try:
        prepare(db, tmp_path, 2)
        procs.worker("orchestrator", db_url, "--role", "orchestrator")
        procs.worker("victim", db_url, "--delay", "30", "--lease", str(LEASE))  # holds its task a long time
        victim_task = wait_for(lambda: _running_in(procs, "victim"), 30, "the victim to start a task")
        procs.worker("survivor", db_url, "--delay", "0.1", "--lease", "20")  # its own claims: no expiry
        procs.kill("victim")  # kill -9: no clean-up, no release, heartbeats just stop

        wait_for(lambda: tickets_done(db) == (2, 2), 35, "both tickets to reach DONE without the victim")
        runs = assert_work_accounted_for(db)
        with UnitOfWork(db, readonly=True) as uow:
            task = uow.session.get(Task, victim_task)
            failures = list(uow.session.scalars(select(SystemEvent.payload).where(
                SystemEvent.event_type == "task.failed", SystemEvent.entity_id == str(victim_task))))
        exits = {name: procs.stop(name) for name in ("orchestrator", "survivor")}
    finally:
        procs.close()
        db.dispose()

    assert runs[victim_task] == (2, 1, "completed")  # started twice: once by the victim, once more
    assert task.retry_count == 1 and task.assigned_agent_id.startswith("worker-1-")
    assert len(failures) == 1 and "lease expired" in str(failures[0])
    assert sum(started for started, _, _ in runs.values()) == len(runs) + 1  # no other task ran twice
    assert exits == {"orchestrator": 0, "survivor": 0}
