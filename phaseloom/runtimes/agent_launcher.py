"""Starts one agent and reports what that agent alone used: run as a script, standard library only.

Why a launcher at all: Linux counts in a child's peak resident memory (``ru_maxrss``) the memory of
the process it was forked from, up to its ``exec`` (the kernel folds the old address space's high
water mark in). An agent started straight from the orchestrator, which may hold an embedding model
and hundreds of MiB, would be reported as at least that big. This small, freshly executed Python
forks the agent instead, so the agent's peak starts from the launcher's few MiB.

    python -I -S agent_launcher.py REPORT_FD PROGRAM ARGV...

``PROGRAM`` is the agent's executable, already resolved by the caller; ``ARGV`` its argv, argv[0]
included. The launcher waits for the agent with ``os.wait4`` and writes one line to ``REPORT_FD``:
``<wait status> <user seconds> <system seconds> <maxrss>`` (an agent that could not be executed
exits 126 or 127, as a shell would say, after a line on stderr). Then it ends as the agent ended (same exit code, or the same signal),
so whoever started it sees the agent's own end. SIGTERM, SIGINT and SIGHUP sent to the process
group reach the agent too: the launcher itself outlives them to report, and only SIGKILL ends it
early (then nothing is reported and the run is unmeasured).
"""

from __future__ import annotations

import os
import signal
import sys

_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _ignore(signum, frame) -> None:  # a handler, not SIG_IGN: exec resets handlers, not ignored signals
    return None


def main(argv: list[str]) -> int:
    report_fd, program, agent_argv = int(argv[0]), argv[1], argv[2:]
    for sig in _FORWARDED:
        signal.signal(sig, _ignore)
    pid = os.fork()
    if pid == 0:
        os.close(report_fd)
        try:
            os.execv(program, agent_argv)
        except OSError as exc:
            os.write(2, f"phaseloom: cannot start {agent_argv[0]!r}: {exc.strerror}\n".encode())
            os._exit(126 if isinstance(exc, PermissionError) else 127)
    while True:
        try:
            _, status, usage = os.wait4(pid, 0)
            break
        except InterruptedError:
            continue
    os.write(report_fd, f"{status} {usage.ru_utime!r} {usage.ru_stime!r} {usage.ru_maxrss}\n".encode())
    os.close(report_fd)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
