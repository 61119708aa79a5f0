"""Pid files of agents: a dead worker's agents (and their children) are ended; a reused pid never is."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phaseloom.runtimes import agent_pids

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="pid start times come from /proc")

# A worker that starts an agent in its own session, records it as the command runtime does, and waits.
# The agent starts a child in its group, as real CLIs start their MCP servers and shells.
WORKER = """
import subprocess, sys, time
from pathlib import Path
from phaseloom.runtimes import processes
agent = subprocess.Popen([sys.executable, "-c",
    "import subprocess, sys, time; c = subprocess.Popen(['sleep', '300']); print(c.pid, flush=True); time.sleep(300)"],
    stdout=subprocess.PIPE, start_new_session=True, text=True)
child = agent.stdout.readline().strip()
processes.track(agent, Path(sys.argv[1]), 7, "worker-1")
print(agent.pid, child, flush=True)
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    return agent_pids.start_time(pid) is not None


def _wait_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_the_agents_of_a_killed_worker_and_their_children_are_ended(tmp_path):
    folder = tmp_path / "agents"
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(folder)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    agent, child = (int(p) for p in worker.stdout.readline().split())
    try:
        recorded = json.loads((folder / f"{agent}.json").read_text())
        assert recorded["started"] == agent_pids.start_time(agent) and recorded["task_id"] == 7
        assert agent_pids.end_orphans(folder) == []  # its worker lives: not an orphan
        assert _alive(agent)

        worker.kill()  # kill -9: the agent is in its own session, so it survives its worker
        worker.wait()
        time.sleep(0.3)
        assert _alive(agent) and _alive(child)

        ended = agent_pids.end_orphans(folder, grace_seconds=2)
        assert [a.pid for a in ended] == [agent]
        assert _wait_gone(agent) and _wait_gone(child)
        assert not list(folder.glob("*.json"))  # the file went with its agent
    finally:
        for pid in (agent, child):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_pid_now_held_by_another_process_is_never_signalled(tmp_path):
    """A recorded pid whose start time differs is another process that got the same pid."""
    bystander = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        folder = tmp_path / "agents"
        folder.mkdir()
        started = agent_pids.start_time(bystander.pid)
        (folder / f"{bystander.pid}.json").write_text(json.dumps(
            {"pid": bystander.pid, "started": started - 1, "worker_pid": 1, "worker_started": -1,
             "task_id": 1, "agent_id": "gone"}))
        assert agent_pids.end_orphans(folder, grace_seconds=0.5) == []
        time.sleep(0.2)
        assert bystander.poll() is None  # still running
        assert not list(folder.glob("*.json"))  # the stale file is gone, so it is not looked at again
    finally:
        bystander.kill()
        bystander.wait()


def test_start_time_reads_a_command_name_with_spaces_and_parentheses(tmp_path):
    script = tmp_path / "a b) (c"
    script.write_text("#!/bin/sh\nsleep 30\n")
    script.chmod(0o755)
    proc = subprocess.Popen([str(script)])
    try:
        time.sleep(0.2)
        assert agent_pids.start_time(proc.pid) == int(Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1]
                                                       .split()[19])
    finally:
        proc.kill()
        proc.wait()
    assert agent_pids.start_time(proc.pid) is None
