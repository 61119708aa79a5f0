"""kill -9 of a worker whose agent is mid-edit: the agent is ended, its worktree snapshotted byte for
byte, and the task's re-run starts in a clean worktree. Plain ``phaseloom run``, a command agent, real git."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from phaseloom.workspaces import read_snapshot, restore_into_folder, snapshots, task_worktrees, unsaved_changes
from tests.conftest import service_unavailable
from tests.runtimes.agent_e2e import make_project

pytestmark = pytest.mark.slow

# Writes a tracked change, a staged file and untracked files (one binary, one executable), says so, then works on.
MID_EDIT = """import os, pathlib, subprocess, sys, time
pathlib.Path("README.md").write_text("# demo, half rewritten\\n")
pathlib.Path("notes").mkdir()
pathlib.Path("notes/plan.md").write_text("step 1\\nstep 2\\n")
subprocess.run(["git", "add", "notes/plan.md"], check=True)
pathlib.Path("data.bin").write_bytes(bytes(range(256)) * 8 + b"\\0\\xff")
pathlib.Path("run.sh").write_text("#!/bin/sh\\necho run\\n")
os.chmod("run.sh", 0o755)
pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))
time.sleep(300)
"""

# The re-run: it must find nothing of the first attempt in its worktree.
RERUN = """import pathlib, subprocess, sys
leftovers = [p for p in ("notes", "data.bin", "run.sh") if pathlib.Path(p).exists()]
readme = pathlib.Path("README.md").read_text()
status = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True).stdout
if leftovers or readme != "# demo\\n" or status:
    print("not clean:", leftovers, repr(readme), repr(status)); sys.exit(1)
pathlib.Path("hello.txt").write_text("hello\\n")
print("Wrote hello.txt in a clean worktree")
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def project(request, tmp_path, pg_server):
    if request.param == "sqlite":
        return make_project(tmp_path / "p")
    if isinstance(pg_server, Exception):
        service_unavailable(f"PostgreSQL not reachable: {pg_server}")
    return make_project(tmp_path / "p", url=pg_server.create_database())


def _wait_for(path, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.1)
    raise AssertionError("the agent did not start its edit")


def _alive(pid: int) -> bool:
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def test_a_killed_worker_s_agent_is_ended_then_its_worktree_snapshotted_and_the_rerun_starts_clean(project, tmp_path):
    (tmp_path / "mid_edit.py").write_text(MID_EDIT)
    (tmp_path / "rerun.py").write_text(RERUN)
    flag = tmp_path / "agent.pid"
    env = project.env({"PHASELOOM_LEASE_SECONDS": "3"})
    argv = [sys.executable, "-m", "phaseloom.cli.app", "run", "--runtime", "command", "--workers", "1",
            "--validators", "0", "--quiet", "--until-idle", "--max-seconds", "120",
            "--agent-command", f"{sys.executable} {tmp_path / 'mid_edit.py'} {flag}"]
    worker = subprocess.Popen(argv, cwd=project.folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        agent_pid = _wait_for(flag)
        [worktree] = task_worktrees(project.folder / ".phaseloom" / "workspaces", 1)
        expected = {p.relative_to(worktree).as_posix(): (p.read_bytes(), os.access(p, os.X_OK))
                    for p in worktree.rglob("*") if p.is_file() and ".git" not in p.parts}
        expected_status = unsaved_changes(worktree)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert _alive(agent_pid)  # the agent runs on in its own session, still editing

    proc = project.run("command", {"PHASELOOM_LEASE_SECONDS": "3"}, "--agent-command",
                       f"{sys.executable} {tmp_path / 'rerun.py'}", max_seconds=90)

    assert proc.returncode == 0, proc.stderr
    assert not _alive(agent_pid)
    [task] = project.tasks()
    assert task.status == "completed" and task.retry_count == 1, (task.status, task.error)
    assert project.ticket_file("hello.txt") == "hello\n"
    [snap] = snapshots(project.repo, task.id)
    assert snap.reason.startswith("lease lost") and snap.worktree == str(worktree)
    assert not unsaved_changes(worktree)  # made clean once saved
    out = tmp_path / "restored"
    restore_into_folder(project.repo, read_snapshot(project.repo, task.id), out)
    restored = {p.relative_to(out).as_posix(): (p.read_bytes(), os.access(p, os.X_OK))
                for p in out.rglob("*") if p.is_file()}
    assert restored == expected and "data.bin" in restored and restored["run.sh"][1]
    # ... and into the old worktree itself, which gives back its exact status (staged stays staged).
    listed = project.phaseloom("task", "snapshots", str(task.id), "--json")
    assert [s["n"] for s in json.loads(listed.stdout)] == [1]
    project.phaseloom("task", "restore", str(task.id), "--to", str(worktree))
    assert unsaved_changes(worktree) == expected_status
