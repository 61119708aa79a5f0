"""A command agent whose task's lease is lost is stopped (its whole process group), not left working."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from datetime import timedelta

import pytest

from phaseloom.db.models import Task
from phaseloom.db.models.base import utcnow
from phaseloom.orchestrator import leases
from phaseloom.runtimes import agent_pids
from phaseloom.runtimes.command import CommandRuntime
from phaseloom.queue import QueueService
from phaseloom.db.unit_of_work import UnitOfWork
from tests.runtimes.conftest import make_assignment

# The agent and a child of its (as a CLI's shell or MCP server) write their pids, then work a long time.
AGENT = """import os, subprocess, sys, time
child = subprocess.Popen(["sleep", "300"])
open(sys.argv[1], "w").write(str(os.getpid()) + " " + str(child.pid))
time.sleep(300)
"""

# The same, but its child ignores SIGTERM (set before the child starts, so no race with its start).
STUBBORN_CHILD_AGENT = """import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen(["sleep", "300"])
signal.signal(signal.SIGTERM, signal.SIG_DFL)
open(sys.argv[1], "w").write(str(os.getpid()) + " " + str(child.pid))
time.sleep(300)
"""


@pytest.fixture
def db_url(tmp_path, sqlite_template):
    path = tmp_path / "phaseloom.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def _expire_and_reap(db, task_id: int) -> None:
    """What the lease reaper does once a worker's heartbeats have stopped arriving in time."""
    uow = UnitOfWork(db)
    with uow:
        uow.session.get(Task, task_id).lease_expires_at = utcnow() - timedelta(seconds=1)
    assert task_id in QueueService(UnitOfWork(db)).reap_expired_leases()


def _pids(path) -> list[int]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return [int(p) for p in path.read_text().split()]
        time.sleep(0.05)
    raise AssertionError("the agent did not start")


@pytest.mark.parametrize("script", [AGENT, STUBBORN_CHILD_AGENT], ids=["child", "child_ignoring_sigterm"])
def test_an_agent_whose_lease_was_reaped_is_stopped_with_its_children(db, claimed, tmp_path, script):
    """The runtime returned once the agent was reaped, while its child, signalled too, might still run:
    under load it had not been scheduled to die yet, and one that ignores SIGTERM never died."""
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    pid_file = tmp_path / "pids"
    assignment = make_assignment(task, agent, tmp_path / "wt", timeout_seconds=120, tick_seconds=0.1,
                                 on_tick=lambda: leases.heartbeat(db, task.id, agent.id, 30))
    (tmp_path / "agent.py").write_text(script)
    runtime = CommandRuntime([sys.executable, str(tmp_path / "agent.py"), str(pid_file)])
    ran: dict = {}
    thread = threading.Thread(target=lambda: ran.update(outcome=runtime.run(assignment)))
    started = time.monotonic()
    thread.start()
    agent_pid, child_pid = _pids(pid_file)
    _expire_and_reap(db, task.id)  # the task is back in the queue: another agent may take it
    thread.join(30)

    assert not thread.is_alive() and time.monotonic() - started < 20
    outcome = ran["outcome"]
    assert not outcome.completed and outcome.error_class == "lease_lost" and outcome.retryable
    assert agent_pids.start_time(agent_pid) is None and agent_pids.start_time(child_pid) is None
    assert not list(agent_pids.pid_folder(assignment.log_path.parent).glob("*.json"))


def test_a_refused_heartbeat_after_the_agents_own_report_lets_it_finish(db, claimed, tmp_path):
    """complete_task ends the claim while the agent still writes its last output: that is no lost lease."""
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    script = ("import sys, time; open(sys.argv[1], 'w').write('up'); time.sleep(1.5); print('final words')")
    flag = tmp_path / "up"
    assignment = make_assignment(task, agent, tmp_path / "wt", timeout_seconds=60, tick_seconds=0.1,
                                 on_tick=lambda: leases.heartbeat(db, task.id, agent.id, 30))
    ran: dict = {}
    thread = threading.Thread(target=lambda: ran.update(
        outcome=CommandRuntime([sys.executable, "-c", script, str(flag)]).run(assignment)))
    thread.start()
    waiting_since = time.monotonic()
    while not flag.exists() and time.monotonic() - waiting_since < 10:
        time.sleep(0.05)
    QueueService(UnitOfWork(db)).complete_task(task.id, agent.id, {"summary": "done by the agent"})
    thread.join(30)
    assert ran["outcome"].exit_code == 0 and ran["outcome"].error_class != "lease_lost"
    assert "final words" in assignment.log_path.read_text()
