"""Waiting for and stopping an agent process: reaped with ``os.wait4`` so its own CPU and memory are measured."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from phaseloom.domain.resources import ResourceUsage, from_rusage

KILL_GRACE_SECONDS = 5.0
_POLL_MAX_SECONDS = 0.05
_CAN_MEASURE = hasattr(os, "wait4")


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
            return 0, ResourceUsage.unmeasured("the agent was reaped before the runtime could measure it")
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
            return proc.returncode, from_rusage(rusage, sys.platform)
        if deadline is not None and time.monotonic() >= deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        time.sleep(delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, _POLL_MAX_SECONDS)


def stop(proc: subprocess.Popen) -> ResourceUsage:
    """Stop the agent: SIGTERM, then SIGKILL after a grace period; what it used until then."""
    send_signal(proc, signal.SIGTERM)
    try:
        return reap(proc, KILL_GRACE_SECONDS)[1]
    except subprocess.TimeoutExpired:
        send_signal(proc, signal.SIGKILL)
        return reap(proc, None)[1]


def send_signal(proc: subprocess.Popen, sig: int) -> None:
    # Its process group, and the agent itself in case it left the group (its pid is ours until reaped).
    for send in (os.killpg, os.kill):
        try:
            send(proc.pid, sig)
        except ProcessLookupError:
            pass
