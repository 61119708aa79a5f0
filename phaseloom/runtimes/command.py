"""The ``command`` runtime: run any CLI coding agent in the task's worktree.

The agent is an argv template (``["claude", "-p", "{prompt}"]``, or a string split like a shell
would, ``"codex exec {prompt_file}"``) rendered per task. Placeholders: ``{prompt}`` (the
instructions), ``{prompt_file}`` (the same, in a file), ``{workdir}``, ``{run_dir}``,
``{task_id}``, ``{ticket_id}``, ``{phase_id}``, ``{api_url}``, ``{mcp_url}``. A value is always
one argument, whatever spaces it holds. Output goes to the task's log; the exit code decides
completion, unless the agent already reported through the API or MCP (then that result wins,
see :func:`phaseloom.runtimes.base.settle`).

The agent is reaped with ``os.wait4``, so the outcome carries the CPU time and peak memory of
exactly that process (and of the children it waited for; detached descendants are not counted).
Where ``os.wait4`` does not exist the outcome says the figures were not measurable.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from phaseloom.domain.costs import UsageReport, parse_usage_lines
from phaseloom.domain.errors import InvalidInput
from phaseloom.domain.resources import ResourceUsage, from_rusage
from phaseloom.runtimes.base import Assignment, RunOutcome
from phaseloom.runtimes.presets import RenderedConfig, preset

TICK_SECONDS = 10.0
KILL_GRACE_SECONDS = 5.0
_LOG_TAIL = 2000
_POLL_MAX_SECONDS = 0.05
_CAN_MEASURE = hasattr(os, "wait4")


class _Values(dict):
    def __missing__(self, key: str) -> str:
        raise InvalidInput(f"unknown placeholder {{{key}}} in the agent command; "
                           "use prompt, prompt_file, workdir, run_dir, task_id, ticket_id, phase_id, api_url, mcp_url")


def render_argv(template: list[str] | tuple[str, ...] | str, values: dict[str, str]) -> list[str]:
    """Fill an argv template; each element stays one argument."""
    parts = shlex.split(template) if isinstance(template, str) else list(template)
    if not parts:
        raise InvalidInput("the agent command is empty")
    return [part.format_map(_Values(values)) for part in parts]


class CommandRuntime:
    name = "command"

    def __init__(self, argv: list[str] | tuple[str, ...] | str | None = None, *, preset_name: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        if (argv is None) == (preset_name is None):
            raise InvalidInput("give the command runtime either an argv template or a preset name")
        self.preset = preset(preset_name) if preset_name else None
        self.argv = self.preset.argv if self.preset else argv
        self.env = dict(env or {})

    def prepare(self, assignment: Assignment) -> tuple[list[str], dict[str, str], Path]:
        """Write the prompt and MCP config to the run folder; return argv, environment and the folder."""
        run_dir = assignment.log_path.parent / f"task-{assignment.task_id}"
        run_dir.mkdir(parents=True, exist_ok=True)
        prompt_file = run_dir / "instructions.md"
        prompt_file.write_text(assignment.instructions)
        rendered = self.preset.config(assignment.mcp_url, run_dir) if self.preset else RenderedConfig()
        for name, text in rendered.files.items():
            (run_dir / name).write_text(text)
        values = {"prompt": assignment.instructions, "prompt_file": str(prompt_file),
                  "workdir": str(assignment.workdir), "run_dir": str(run_dir), "task_id": str(assignment.task_id),
                  "ticket_id": str(assignment.ticket_id), "phase_id": assignment.phase_id,
                  "api_url": assignment.api_url, "mcp_url": assignment.mcp_url}
        argv = render_argv(self.argv, values)
        env = {**os.environ, **assignment.environment(), **rendered.env, **self.env}
        return argv, env, run_dir

    def run(self, assignment: Assignment) -> RunOutcome:
        """Run the agent; usage lines it prints (``{"phaseloom_usage": …}``) become the outcome's usage reports."""
        assignment.log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = assignment.log_path.stat().st_size if assignment.log_path.exists() else 0
        outcome = self._run(assignment)
        outcome.usage_reports = _usage_reports(assignment.log_path, offset)
        return outcome

    def _run(self, assignment: Assignment) -> RunOutcome:
        argv, env, _ = self.prepare(assignment)
        assignment.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(assignment.log_path, "ab") as log:
            # The prompt may be long and is in the run folder already; log the program only.
            log.write(f"$ {argv[0]} (+{len(argv) - 1} arguments) in {assignment.workdir}\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(argv, cwd=assignment.workdir, env=env, stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            except FileNotFoundError:
                return RunOutcome(False, error=f"agent command {argv[0]!r} was not found on PATH",
                                  error_class="not_found", retryable=False)
            except PermissionError:
                return RunOutcome(False, error=f"agent command {argv[0]!r} is not executable",
                                  error_class="not_found", retryable=False)
            code, resources = self._wait(proc, assignment)
        outcome = _outcome(code, assignment, _tail(assignment.log_path))
        outcome.resources = resources
        return outcome

    def _wait(self, proc: subprocess.Popen, assignment: Assignment) -> tuple[int | None, ResourceUsage]:
        """The exit code (None when the run timed out and its process group was killed) and what it used."""
        deadline = time.monotonic() + assignment.timeout_seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, _stop(proc)
            try:
                return _reap(proc, min(TICK_SECONDS, remaining))
            except subprocess.TimeoutExpired:
                if assignment.on_tick:
                    assignment.on_tick()


def _outcome(code: int | None, assignment: Assignment, tail: str) -> RunOutcome:
    if code is None:
        return RunOutcome(False, error=f"the agent ran longer than {assignment.timeout_seconds:g}s and was stopped",
                          error_class="timeout", summary=tail)
    if code == 0:
        return RunOutcome(True, summary=tail or "the agent finished", exit_code=0)
    return RunOutcome(False, error=f"the agent exited with code {code}: {tail[-500:]}", error_class="exit_code",
                      exit_code=code, summary=tail)


def _reap(proc: subprocess.Popen, timeout: float | None) -> tuple[int, ResourceUsage]:
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


def _stop(proc: subprocess.Popen) -> ResourceUsage:
    """Stop the agent: SIGTERM, then SIGKILL after a grace period; what it used until then."""
    _signal(proc, signal.SIGTERM)
    try:
        return _reap(proc, KILL_GRACE_SECONDS)[1]
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL)
        return _reap(proc, None)[1]


def _signal(proc: subprocess.Popen, sig: int) -> None:
    # Its process group, and the agent itself in case it left the group (its pid is ours until reaped).
    for send in (os.killpg, os.kill):
        try:
            send(proc.pid, sig)
        except ProcessLookupError:
            pass


def _usage_reports(path: Path, offset: int) -> list[UsageReport]:
    """The usage lines this run printed (the log is shared by every attempt, so read from ``offset``)."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            return parse_usage_lines(log.read().decode(errors="replace"))
    except OSError:
        return []


def _tail(path: Path) -> str:
    try:
        data = path.read_bytes()[-_LOG_TAIL:]
    except OSError:
        return ""
    return data.decode(errors="replace").strip()
