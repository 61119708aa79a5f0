"""Waiting for and stopping an agent process: reaped with ``os.wait4`` so its own CPU and memory are measured."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from phaseloom.domain.resources import ResourceUsage, from_rusage
from phaseloom.runtimes import agent_launcher, agent_pids

KILL_GRACE_SECONDS = 5.0
_POLL_MAX_SECONDS = 0.05
_CAN_MEASURE = hasattr(os, "wait4")
_LAUNCHER = agent_launcher.__file__


def launch(argv: list[str], *, cwd: str, env: dict[str, str], **popen_kwargs) -> subprocess.Popen:
    """Start the agent through the launcher (see ``agent_launcher``), so its peak memory is its own.

    Raises FileNotFoundError or PermissionError for a program that is not there or not executable,
    as ``Popen`` would. Without ``os.wait4`` the agent is started directly (and is not measured).
    """
    program = _resolve(argv[0], cwd, env)
    if not _CAN_MEASURE:
        return subprocess.Popen([program, *argv[1:]], cwd=cwd, env=env, **popen_kwargs)
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen([sys.executable, "-I", "-S", _LAUNCHER, str(write_fd), program, *argv],
                                cwd=cwd, env=env, pass_fds=(write_fd,), **popen_kwargs)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    proc.usage_report_fd = read_fd  # read by reap() once the launcher has ended
    return proc


def _resolve(name: str, cwd: str, env: dict[str, str]) -> str:
    """The executable ``name`` means in ``cwd`` with ``env``'s PATH, as ``execvpe`` would find it."""
    if os.sep in name:
        path = os.path.join(cwd, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(name)
        if not os.access(path, os.X_OK):
            raise PermissionError(name)
        return os.path.abspath(path)
    search = env.get("PATH", os.defpath)
    found = shutil.which(name, path=search)
    if found:
        return found
    if any(os.path.isfile(os.path.join(folder, name)) for folder in search.split(os.pathsep) if folder):
        raise PermissionError(name)
    raise FileNotFoundError(name)


def reap(proc: subprocess.Popen, timeout: float | None) -> tuple[int, ResourceUsage]:
    """Wait for the agent like ``proc.wait`` (raising TimeoutExpired), but through ``os.wait4``.

    ``getrusage(RUSAGE_CHILDREN)`` would mix in every other child this process reaped meanwhile
    (parallel agents, git); ``wait4`` reports this child alone.
    """
    if not _CAN_MEASURE:
        return proc.wait(timeout=timeout), ResourceUsage.unmeasured(f"os.wait4 is not available on {sys.platform}")
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.0005
    while True:
        try:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored): as Popen.wait, call it exit 0
            proc.returncode = 0
            _launcher_report(proc)
            return 0, ResourceUsage.unmeasured("the agent was reaped before the runtime could measure it")
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
            report = _launcher_report(proc)
            if report is None:
                return proc.returncode, from_rusage(rusage, sys.platform)
            return proc.returncode, report
        if deadline is not None and time.monotonic() >= deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        time.sleep(delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, _POLL_MAX_SECONDS)


def _launcher_report(proc: subprocess.Popen) -> ResourceUsage | None:
    """What the launcher reported of its agent; None for an agent started without one."""
    fd = getattr(proc, "usage_report_fd", None)
    if fd is None:
        return None
    proc.usage_report_fd = None
    with os.fdopen(fd, "rb") as report:
        line = report.read().decode(errors="replace").split()
    if len(line) != 4:  # the launcher was killed (SIGKILL to the group) before its agent ended
        return ResourceUsage.unmeasured("the agent was killed before its usage could be read")
    reported = SimpleNamespace(ru_utime=float(line[1]), ru_stime=float(line[2]), ru_maxrss=int(line[3]))
    return from_rusage(reported, sys.platform)  # the three fields of a struct_rusage it reads


def stop(proc: subprocess.Popen) -> ResourceUsage:
    """Stop the agent and its process group: SIGTERM, then SIGKILL to what still runs after a grace
    period; returns once they are gone, with what the agent used until then."""
    send_signal(proc, signal.SIGTERM)
    grace_until = time.monotonic() + KILL_GRACE_SECONDS
    try:
        used = reap(proc, KILL_GRACE_SECONDS)[1]
    except subprocess.TimeoutExpired:
        send_signal(proc, signal.SIGKILL)
        used = reap(proc, None)[1]
    agent_pids.end_rest_of_group(proc.pid, grace_until)  # its children: signalled, but maybe not gone yet
    return used


def end_leftovers(proc: subprocess.Popen, grace_seconds: float = KILL_GRACE_SECONDS) -> bool:
    """After the agent ended on its own: end what it left running in its process group (a dev server,
    a watcher started with ``&``), which would go on changing its worktree after the merge and hold
    the machine's memory. True when something was left. One syscall when nothing was."""
    try:
        os.killpg(proc.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not agent_pids.group_has_members(proc.pid):  # only zombies, about to be reaped by their parent
        return False
    logging.getLogger(__name__).warning("agent pid %s left processes running in its group: ending them", proc.pid)
    agent_pids.signal_group(proc.pid, signal.SIGTERM)
    agent_pids.end_rest_of_group(proc.pid, time.monotonic() + grace_seconds)
    return True


def send_signal(proc: subprocess.Popen, sig: int) -> None:
    # Its process group, and the agent itself in case it left the group (its pid is ours until reaped).
    for send in (os.killpg, os.kill):
        try:
            send(proc.pid, sig)
        except ProcessLookupError:
            pass


# The agents this process runs now, by pid: (the process, its start time), so the worker's stop can
# end them (``end_all``) and never signals a pid that was reaped and given to another process.
_LIVE: dict[int, tuple[subprocess.Popen, int | None, str]] = {}
_LIVE_LOCK = threading.Lock()


def track(proc: subprocess.Popen, pid_folder: Path | None, task_id: int, agent_id: str) -> Path | None:
    """Note an agent just started, here and in a pid file a later worker finds if this one dies."""
    path = None
    if pid_folder is not None:
        try:
            path = agent_pids.record(pid_folder, proc.pid, task_id, agent_id)
        except OSError as exc:  # the agent runs already: a missing pid file must not orphan it here
            logging.getLogger(__name__).warning("could not write the pid file of agent pid %s: %s", proc.pid, exc)
    with _LIVE_LOCK:
        _LIVE[proc.pid] = (proc, agent_pids.start_time(proc.pid), agent_id)
    return path


def untrack(proc: subprocess.Popen, pid_file: Path | None) -> None:
    """The agent has been reaped: forget it."""
    with _LIVE_LOCK:
        _LIVE.pop(proc.pid, None)
    agent_pids.forget(pid_file)


def end_all(agent_ids: set[str], grace_seconds: float = KILL_GRACE_SECONDS) -> int:
    """End the agents these agent ids still run (their whole process groups); how many there were.

    Their runtimes' threads reap them and report the run as failed; this only makes sure that a
    worker that stops leaves no agent working on a task it no longer holds.
    """
    with _LIVE_LOCK:
        live = [(proc, started) for proc, started, agent_id in _LIVE.values() if agent_id in agent_ids]
    for proc, started in live:
        _signal_if_same(proc, started, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(_still_running(proc, started) for proc, started in live):
        time.sleep(0.05)
    for proc, started in live:
        _signal_if_same(proc, started, signal.SIGKILL)
    for proc, _ in live:  # children that outlived their agent (or ignore SIGTERM) go too
        agent_pids.end_rest_of_group(proc.pid, deadline)
    return len(live)


def _still_running(proc: subprocess.Popen, started: int | None) -> bool:
    if proc.returncode is not None:
        return False
    return started is None or agent_pids.is_same_process(proc.pid, started)


def _signal_if_same(proc: subprocess.Popen, started: int | None, sig: int) -> None:
    if proc.returncode is None and (started is None or agent_pids.is_same_process(proc.pid, started)):
        send_signal(proc, sig)
