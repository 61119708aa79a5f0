"""Agents outliving their worker: a ``kill -9``'d worker's agent is ended by the next worker before its
task runs again, and a worker that stops ends the agents it still runs.

The agent (``tests/faults/command_worker.AGENT``) is a real process in its own session, as every
command-runtime agent is, so killing its worker's process group does not reach it.
"""

from __future__ import annotations

import sys
import time

import pytest

from phaseloom.db.engine import Database
from phaseloom.runtimes import agent_pids
from tests.faults.support import Processes, prepare, runs_per_task, tickets_done, wait_for

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pid start times come from /proc")]


def _runs(procs: Processes) -> list[list[int]]:
    """One line per agent run: its pid, then the pids of earlier agents alive when it started."""
    path = procs.folder / "runs.txt"
    return [[int(p) for p in line.split()] for line in path.read_text().splitlines()] if path.exists() else []


def _worker(procs: Processes, name: str, url: str, *args: str):
    return procs.start(name, [sys.executable, "-m", "tests.faults.command_worker", url, "--home",
                              str(procs.folder), *args])


def test_a_killed_workers_agent_is_ended_before_its_task_runs_again(db_url, tmp_path):
    db = Database.connect(db_url)
    procs = Processes(tmp_path)
    try:
        prepare(db, tmp_path, 1)
        _worker(procs, "victim", db_url, "--lease", "3")
        first = wait_for(lambda: _runs(procs), 60, "the first agent to start")[0][0]
        procs.kill("victim")  # kill -9 of the worker's process group: the agent has a session of its own
        time.sleep(0.5)
        assert agent_pids.start_time(first) is not None, "the agent should have outlived its worker"

        _worker(procs, "restarted", db_url, "--lease", "3")
        wait_for(lambda: tickets_done(db) == (1, 1), 60, "the ticket to reach DONE after the restart")
        runs = _runs(procs)
        exit_code = procs.stop("restarted")
        per_task = runs_per_task(db)
    finally:
        procs.close()
        db.dispose()

    assert agent_pids.start_time(first) is None
    assert all(len(run) == 1 for run in runs), f"an agent started while an earlier one still ran: {runs}"
    assert len(runs) == 5  # the orphaned run, its re-run, and the three later phases
    assert sorted(started for started, _, _ in per_task.values()) == [1, 1, 1, 2]  # four phases, the first run twice
    assert exit_code == 0


def test_a_stopping_worker_ends_the_agents_it_still_runs(db_url, tmp_path):
    db = Database.connect(db_url)
    procs = Processes(tmp_path)
    try:
        prepare(db, tmp_path, 1)
        _worker(procs, "worker", db_url, "--lease", "30", "--grace", "1")
        agent = wait_for(lambda: _runs(procs), 60, "the agent to start")[0][0]
        exit_code = procs.stop("worker")  # SIGTERM: past its 1 s grace the worker ends what still runs
        left = list(agent_pids.pid_folder(tmp_path / "logs").glob("*.json"))
    finally:
        procs.close()
        db.dispose()

    assert agent_pids.start_time(agent) is None
    assert exit_code == 0 and left == []
