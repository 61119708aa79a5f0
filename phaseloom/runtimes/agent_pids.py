"""Pid files of running agents, so a worker that died (``kill -9``) does not leave its agents working.

An agent runs in its own session (its own process group), so killing its worker does not reach it.
Each started agent gets a file ``<log dir>/agents/<pid>.json`` naming its process group, its start
time and its worker's; the file is removed when the agent has been reaped. A worker starting (or
sweeping before it reaps expired leases) ends the process groups of files whose worker is gone.

A pid is only trusted with the start time read from ``/proc/<pid>/stat`` when it was recorded: a
pid the system has since given to another process has another start time, and is never signalled.
Where there is no ``/proc`` (macOS), nothing is recorded and nothing swept.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)
PID_FOLDER = "agents"
_PROC = Path("/proc")
# How long processes sent SIGKILL may take to be gone (they must be scheduled once to die).
_KILLED_GONE_SECONDS = 5.0


def pid_folder(log_dir: Path | str) -> Path:
    """Where the agents of workers logging to ``log_dir`` leave their pid files."""
    return Path(log_dir).resolve() / PID_FOLDER


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat); None if gone."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')': split after the last one.
    fields = stat[stat.rfind(")") + 2:].split()
    if len(fields) < 20 or fields[0] == "Z":  # a zombie has ended; only its parent's wait is missing
        return None
    return int(fields[19])


def is_same_process(pid: int, started: int | None) -> bool:
    return started is not None and start_time(pid) == started


@dataclass(frozen=True)
class AgentRecord:
    pid: int
    started: int            # the agent's start time, clock ticks since boot
    worker_pid: int
    worker_started: int
    task_id: int
    agent_id: str


def record(folder: Path, pid: int, task_id: int, agent_id: str) -> Path | None:
    """Write the pid file of an agent just started (its own group leader); None without /proc."""
    started, worker_started = start_time(pid), start_time(os.getpid())
    if started is None or worker_started is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{pid}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(AgentRecord(pid, started, os.getpid(), worker_started, task_id, agent_id))))
    tmp.replace(path)
    return path


def forget(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


def _read(path: Path) -> AgentRecord | None:
    try:
        return AgentRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def end_orphans(folder: Path, grace_seconds: float = 5.0) -> list[AgentRecord]:
    """End the agents whose worker is gone; returns those that were still running.

    A file whose worker still runs is another live worker's (workers may share a log folder), and
    is left alone; a file whose agent is gone, or whose pid now belongs to another process, is removed.
    """
    if not folder.is_dir():
        return []
    ended: list[AgentRecord] = []
    for path in sorted(folder.glob("*.json")):
        agent = _read(path)
        if agent is None:
            path.unlink(missing_ok=True)
            continue
        if is_same_process(agent.worker_pid, agent.worker_started):
            continue
        if is_same_process(agent.pid, agent.started):
            log.warning("ending agent pid %s of task %s, left running by worker pid %s that is gone",
                        agent.pid, agent.task_id, agent.worker_pid)
            end_group(agent, grace_seconds)
            ended.append(agent)
        path.unlink(missing_ok=True)
    return ended


def running_tasks(folder: Path) -> set[int]:
    """The tasks of the agents recorded in ``folder`` that still run."""
    if not folder.is_dir():
        return set()
    records = (_read(path) for path in folder.glob("*.json"))
    return {agent.task_id for agent in records if agent is not None and is_same_process(agent.pid, agent.started)}


def end_group(agent: AgentRecord, grace_seconds: float) -> None:
    """SIGTERM the agent's process group, SIGKILL it after ``grace_seconds`` if its leader still runs."""
    signal_group(agent.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and is_same_process(agent.pid, agent.started):
        time.sleep(0.05)
    # Its pid cannot have been reused while it or a member of its group lives: the group goes too.
    if is_same_process(agent.pid, agent.started) or group_has_members(agent.pid):
        signal_group(agent.pid, signal.SIGKILL)


def group_has_members(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (a zombie does not: it has ended)."""
    if not _PROC.is_dir():  # no /proc (macOS): ask the kernel, which counts zombies too
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()
            if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
                return True
    return False


def end_rest_of_group(pgid: int, grace_until: float) -> None:
    """After an agent (group leader ``pgid``) was signalled and has ended: wait until ``grace_until``
    (a monotonic time) for the rest of its group to end too, SIGKILL what still runs then, and wait
    for that to be gone. A signalled child is not gone the moment its parent is (it must be scheduled
    to die), and one that ignores SIGTERM would go on working on a task no longer its agent's.

    While a member lives, no new process can be given the number ``pgid``: signalling it reaches only
    this group.
    """
    if _wait_for_group_end(pgid, grace_until):
        return
    signal_group(pgid, signal.SIGKILL)
    if not _wait_for_group_end(pgid, time.monotonic() + _KILLED_GONE_SECONDS):
        log.warning("process group %s still has members after SIGKILL", pgid)


def _wait_for_group_end(pgid: int, until: float) -> bool:
    while group_has_members(pgid):
        if time.monotonic() >= until:
            return False
        time.sleep(0.02)
    return True


def signal_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to process group ``pgid``; a group that is gone (or not ours) is left alone."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
