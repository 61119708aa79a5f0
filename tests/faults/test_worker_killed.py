"""``kill -9`` of a worker in the middle of a task: the lease runs out, another worker re-runs it once, DONE.

Once with the scripted agent and two workers, once with ``command`` runtime agents that report
through MCP (``tests/faults/mcp_agent.py``) and four workers on a git repository: the killed
worker's agent, in a session of its own, is ended by the survivors, and every task's work is
merged once from its agent's own report.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from phaseloom.db.engine import Database
from phaseloom.db.models import SystemEvent, Task
from phaseloom.runtimes import agent_pids
from phaseloom.db.unit_of_work import UnitOfWork
from tests.faults.checks import assert_events_once, assert_reported_and_merged, assert_work_accounted_for
from tests.faults.support import Processes, prepare, tickets_done, wait_for
from tests.workspaces.test_workspaces import make_repo

pytestmark = pytest.mark.slow
LEASE = 3.0
# (database, runtime, worker processes, phases): one ticket per worker; MCP agents cost seconds of CPU each.
RUNS = [("sqlite", "scripted", 2, 4), ("postgresql", "scripted", 2, 4), ("postgresql", "command", 4, 2)]


def _running_in(procs: Processes, name: str) -> int | None:
    """The task the worker has in hand right now (it prints 'running task N' as it starts one)."""
    found = re.findall(r"running task (\d+)", procs.log(name))
    if not found:
        return None
    with UnitOfWork(procs.db, readonly=True) as uow:
        task = uow.session.get(Task, int(found[-1]))
        return task.id if task.status == "running" else None


@pytest.mark.parametrize(("db_url", "runtime", "workers", "phases"), RUNS, indirect=["db_url"],
                         ids=[f"{db}-{runtime}-{n}" for db, runtime, n, _ in RUNS])
def test_a_task_of_a_killed_worker_is_rerun_exactly_once_more(db_url, runtime, workers, phases, tmp_path):
    if not db_url.startswith("postgresql"):
        pytest.skip("worker processes sharing a server database; SQLite runs one worker (see the soak)")
    db = Database.connect(db_url)
    procs = Processes(tmp_path)
    procs.db = db
    repo = make_repo(tmp_path / "repo") if runtime == "command" else None
    agents = agent_pids.pid_folder(tmp_path / "logs")
    survivors = [f"survivor{n}" for n in range(workers - 1)]
    try:
        prepare(db, tmp_path, workers, repo=repo, phases=phases)
        procs.worker("orchestrator", db_url, "--role", "orchestrator")
        # The victim's agent holds its task a long time; the victim's lease is short.
        procs.worker("victim", db_url, "--runtime", runtime, "--delay", "30", "--lease", str(LEASE))
        victim_task = wait_for(lambda: _running_in(procs, "victim"), 30, "the victim to start a task")
        if runtime == "command":  # its agent started and is known: killing the worker orphans it
            wait_for(lambda: list(agents.glob("*.json")), 30, "the victim's agent to start")
        for name in survivors:  # their own claims: no expiry
            procs.worker(name, db_url, "--runtime", runtime, "--delay", "0.1", "--lease", "20")
        procs.kill("victim")  # kill -9: no clean-up, no release, heartbeats just stop

        wait_for(lambda: tickets_done(db) == (workers, workers), 30 * workers,
                 "every ticket to reach DONE without the victim")
        exits = {name: procs.stop(name) for name in ("orchestrator", *survivors)}  # their last merges done
        runs = assert_work_accounted_for(db)
        assert_events_once(db)
        with UnitOfWork(db, readonly=True) as uow:
            task = uow.session.get(Task, victim_task)
            failures = list(uow.session.scalars(select(SystemEvent.payload).where(
                SystemEvent.event_type == "task.failed", SystemEvent.entity_id == str(victim_task))))

        assert runs[victim_task] == (2, 1, "completed")  # started twice: once by the victim, once more
        assert task.retry_count == 1 and task.assigned_agent_id.startswith("worker-1-")
        assert len(failures) == 1 and "lease expired" in str(failures[0])
        assert sum(started for started, _, _ in runs.values()) == len(runs) + 1  # no other task ran twice
        assert set(exits.values()) == {0}, exits
        assert list(agents.glob("*.json")) == []  # the victim's agent was ended, the others reaped
        if repo is not None:
            assert_reported_and_merged(db, repo)
    finally:
        procs.close()
        db.dispose()
