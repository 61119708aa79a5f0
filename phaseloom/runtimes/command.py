"""The ``command`` runtime: run a CLI coding agent in the task's worktree and follow its output live.

The agent is a preset (``command:claude-code``, ``command:codex``…; see ``presets/``) or any argv
template (``"my-agent --prompt-file {prompt_file}"``, split like a shell would). Placeholders:
``{prompt}``, ``{prompt_file}``, ``{workdir}``, ``{run_dir}``, ``{task_id}``, ``{ticket_id}``,
``{phase_id}``, ``{api_url}``, ``{mcp_url}``; a value is always one argument, and every path is
absolute (the agent runs in its worktree, not in the orchestrator's folder). A preset's MCP
configuration launches ``phaseloom mcp`` over stdio with the agent's token, or points at a URL.

Output is appended to the task's log and fed, line by line while the agent runs, to the preset's
stream parser: the last tool call becomes the task's live activity, and at the end the session id,
usage, cost and final message become the outcome (see ``outcomes.py`` for how a run is judged).
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from phaseloom.db.retry import is_transient
from phaseloom.domain.costs import UsageReport, parse_usage_lines, spread_cost
from phaseloom.domain.environments import agent_environment, without_orchestrator_secrets
from phaseloom.domain.errors import InvalidInput, LeaseLost, PhaseloomError
from phaseloom.domain.resources import ResourceUsage
from phaseloom.runtimes import agent_pids, processes
from phaseloom.runtimes.base import Assignment, RunOutcome
from phaseloom.runtimes.outcomes import RunFacts, outcome_of
from phaseloom.runtimes.presets import PRESETS, McpLaunch, RenderedConfig, preset
from phaseloom.runtimes.presets.base import PermissionControls, stdio_launch
from phaseloom.runtimes.streams import PlainTextParser, StreamParser
from phaseloom.workspaces import git_files

log = logging.getLogger(__name__)
FOLLOW_SECONDS = 0.25     # how often its output is read
ACTIVITY_SECONDS = 1.0    # at most one activity write per this long
_TAIL = 2000
CONFIG_ARGS = "{config_args}"
PERMISSION_ARGS = "{permission_args}"
_PLACEHOLDERS = "prompt, prompt_file, workdir, run_dir, task_id, ticket_id, phase_id, api_url, mcp_url"


class _Values(dict):
    def __missing__(self, key: str) -> str:
        raise InvalidInput(f"unknown placeholder {{{key}}} in the agent command; use {_PLACEHOLDERS}")


def render_argv(template: list[str] | tuple[str, ...] | str, values: dict[str, str],
                config_args: tuple[str, ...] = (), permission_args: tuple[str, ...] = ()) -> list[str]:
    """Fill an argv template; each element stays one argument, ``{config_args}`` and ``{permission_args}``
    become the preset's."""
    parts = shlex.split(template) if isinstance(template, str) else list(template)
    if not parts:
        raise InvalidInput(_EMPTY)
    spliced = {CONFIG_ARGS: config_args, PERMISSION_ARGS: permission_args}
    argv: list[str] = []
    for part in parts:
        argv.extend(spliced[part]) if part in spliced else argv.append(part.format_map(_Values(values)))
    return argv


def _spliced(template: tuple[str, ...], placeholder: str, args: tuple[str, ...]) -> tuple[str, ...]:
    """``template`` with ``placeholder`` replaced by ``args``, kept literal when the template is filled."""
    literal = tuple(arg.replace("{", "{{").replace("}", "}}") for arg in args)
    return tuple(item for part in template for item in (literal if part == placeholder else (part,)))


_EMPTY = ("the command runtime needs an agent command: give --agent-command \"my-agent --prompt-file "
          f"{{prompt_file}}\", or use a preset: {', '.join(f'command:{n}' for n in sorted(PRESETS))}")


class CommandRuntime:
    name = "command"

    def __init__(self, argv: list[str] | tuple[str, ...] | str | None = None, *, preset_name: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        if argv is not None and preset_name is not None:
            raise InvalidInput("give the command runtime either an argv template or a preset name, not both")
        self.preset = preset(preset_name) if preset_name else None
        self.argv = self.preset.argv if self.preset else argv
        if not self.argv or (isinstance(self.argv, str) and not shlex.split(self.argv)):
            raise InvalidInput(_EMPTY)
        self.env = dict(env or {})

    @property
    def program(self) -> str:
        if self.preset:
            return self.preset.program
        return (shlex.split(self.argv) if isinstance(self.argv, str) else list(self.argv))[0]

    @property
    def resumes_sessions(self) -> bool:
        """Whether a run can resume the agent's own session (the preset knows its CLI's resume flags)."""
        return bool(self.preset and self.preset.resume_argv)

    @property
    def reports_via_mcp(self) -> bool:
        return bool(self.preset and self.preset.reports_via_mcp)

    def validate(self) -> None:
        """Refuse, before any agent registers, a runtime whose program is not installed."""
        if shutil.which(self.program) is None:
            fix = (f" (phaseloom doctor shows how to install it; tested: {self.preset.tested_version})"
                   if self.preset else "")
            raise InvalidInput(f"agent command {self.program!r} was not found on PATH{fix}")

    def prepare(self, assignment: Assignment) -> tuple[list[str], dict[str, str], Path]:
        """Write the prompt and MCP config to the run folder; return argv, environment and the folder."""
        run_dir = (assignment.log_path.parent / f"task-{assignment.task_id}").resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
        prompt_file = run_dir / "instructions.md"
        prompt_file.write_text(assignment.instructions)
        launch = (McpLaunch(url=assignment.mcp_url, token=assignment.agent_token) if assignment.mcp_url
                  else stdio_launch(assignment.database_url, assignment.agent_token, assignment.server_settings))
        # A command of one's own starts `phaseloom mcp` itself (no preset writes its MCP configuration):
        # over stdio it needs the database, which phaseloom's own variables (not passed on) no longer give.
        rendered = self.preset.config(launch, run_dir) if self.preset else RenderedConfig(env=dict(launch.env))
        for name, text in rendered.files.items():
            (run_dir / name).write_text(text)
        values = {"prompt": assignment.instructions, "prompt_file": str(prompt_file),
                  "workdir": str(Path(assignment.workdir).resolve()), "run_dir": str(run_dir),
                  "task_id": str(assignment.task_id), "ticket_id": str(assignment.ticket_id),
                  "phase_id": assignment.phase_id, "api_url": assignment.api_url, "mcp_url": assignment.mcp_url}
        controls = self._controls(assignment)
        template, permission_args = self.argv, controls.args
        if assignment.resume_session_id and self.resumes_sessions:
            # The resume argv is made from the permission flags themselves: Codex's `exec resume` takes
            # no --sandbox and turns it into its sandbox_mode override.
            template = self.preset.resume_argv(_spliced(self.argv, PERMISSION_ARGS, controls.args))
            permission_args = ()
            values.update(prompt=assignment.resume_message, session_id=assignment.resume_session_id)
        argv = render_argv(template, values, rendered.args, permission_args)
        # Nothing of phaseloom's own (its database URL, other tokens) but what this agent is given here;
        # a preset's CLI gets only what it reads (domain/environments), a command of one's own the rest.
        inherited = (agent_environment(os.environ, (*self.preset.env_names(os.environ), *assignment.agent_env))
                     if self.preset else without_orchestrator_secrets(os.environ))
        env = {**inherited, **assignment.environment(), **rendered.env, **controls.env, **self.env}
        # Node CLIs resolve their project from $PWD, which Popen(cwd=) leaves at the orchestrator's folder
        env["PWD"] = str(Path(assignment.workdir).resolve())
        return argv, env, run_dir

    def _controls(self, assignment: Assignment) -> PermissionControls:
        return self.preset.permission_controls(assignment.permissions) if self.preset else PermissionControls()

    def _permission_note(self, assignment: Assignment) -> str:
        """The phase's permissions and what the CLI was given for them, for the task's log."""
        controls = self._controls(assignment)
        given = " ".join([*controls.args, *(f"{name}=…" for name in controls.env)])
        return f"permissions {assignment.permissions.value}: {given or 'no flags of its own'}"

    def run(self, assignment: Assignment) -> RunOutcome:
        argv, env, _ = self.prepare(assignment)
        log_path = Path(assignment.log_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        parser = self.preset.parser() if self.preset else PlainTextParser()
        head = _git_head(assignment.workdir)
        with open(log_path, "ab") as log:
            # The prompt may be long and is in the run folder already; log the program only.
            log.write(f"$ {argv[0]} (+{len(argv) - 1} arguments) in {assignment.workdir}; "
                      f"{self._permission_note(assignment)}\n".encode())
            log.flush()
            follower = LogFollower(log_path, log.tell())
            try:
                proc = processes.launch(argv, cwd=assignment.workdir, env=env, stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            except (FileNotFoundError, PermissionError) as exc:
                why = "was not found on PATH" if isinstance(exc, FileNotFoundError) else "is not executable"
                return RunOutcome(False, error=f"agent command {argv[0]!r} {why}", error_class="usage",
                                  retryable=False)
            pid_file = processes.track(proc, agent_pids.pid_folder(log_path.parent), assignment.task_id,
                                       assignment.agent_id)
            try:
                code, resources = _Watch(proc, assignment, follower, parser).wait()
            except LeaseLost as exc:  # its agent has been stopped: another may have the task now
                return RunOutcome(False, error=f"the agent was stopped: {exc}", error_class="lease_lost",
                                  retryable=True)
            finally:
                processes.end_leftovers(proc)  # after a normal end too: nothing of the agent outlives its run
                processes.untrack(proc, pid_file)
        follower.feed(parser)
        changed, dirty = _changes(assignment.workdir, head)
        outcome = outcome_of(RunFacts(
            exit_code=code, state=parser.state, output_tail=follower.tail.strip(),
            timeout_seconds=assignment.timeout_seconds, program=Path(argv[0]).name,
            needs_agent_report=self.reports_via_mcp, worktree_changed=changed,
            expects_outputs=assignment.expects_outputs))
        outcome.resources = resources
        outcome.uncommitted_changes = dirty
        outcome.usage_reports = _usage(parser, follower.text_since_start())
        return outcome


class LogFollower:
    """Reads what the agent appended to its log since ``offset``, in whole lines."""

    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        self.start = self.offset = offset
        self._partial = b""
        self.tail = ""

    def feed(self, parser: StreamParser) -> None:
        try:
            with open(self.path, "rb") as log:
                log.seek(self.offset)
                data = log.read()
        except OSError:
            return
        self.offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            line = raw.decode(errors="replace").rstrip("\r")
            parser.feed(line)
            self.tail = (self.tail + line + "\n")[-_TAIL:]

    def text_since_start(self) -> str:
        try:
            with open(self.path, "rb") as log:
                log.seek(self.start)
                return log.read().decode(errors="replace")
        except OSError:
            return ""


class _Watch:
    """Waits for the agent while following its output, heartbeating and publishing its activity."""

    def __init__(self, proc: subprocess.Popen, assignment: Assignment, follower: LogFollower,
                 parser: StreamParser) -> None:
        self.proc, self.assignment, self.follower, self.parser = proc, assignment, follower, parser
        self._last_tick = self._last_activity = time.monotonic()
        self._published: tuple = (None, None)

    def wait(self) -> tuple[int | None, ResourceUsage]:
        """The exit code (None when the run timed out and its process group was killed) and what it used."""
        deadline = time.monotonic() + self.assignment.timeout_seconds
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None, processes.stop(self.proc)
                try:
                    return processes.reap(self.proc, min(FOLLOW_SECONDS, remaining))
                except subprocess.TimeoutExpired:
                    self._between_polls()
        except BaseException:
            processes.stop(self.proc)   # never leave an agent running behind a crashed or interrupted watch
            raise

    def _between_polls(self) -> None:
        self.follower.feed(self.parser)
        now = time.monotonic()
        state = self.parser.state
        seen = (state.activity, state.session_id)
        if self.assignment.on_activity and seen != self._published and now - self._last_activity >= ACTIVITY_SECONDS:
            self._published, self._last_activity = seen, now
            self._call(self.assignment.on_activity, *seen)
        if self.assignment.on_tick and now - self._last_tick >= self.assignment.tick_seconds:
            self._last_tick = now
            self._call(self.assignment.on_tick)

    def _call(self, callback, *args) -> None:
        # The agent may have reported already (complete_task ends the claim, so the heartbeat is
        # refused) while it is still writing its last events: the run goes on to its end, and its
        # usage is still read. The task's fate is settled from the database afterwards. A claim
        # that ended otherwise (LeaseLost: reaped, released) stops the agent: the task may be another's.
        try:
            callback(*args)
        except LeaseLost:
            raise  # the watch stops the agent
        except PhaseloomError as exc:
            log.debug("task %s: %s refused while its agent runs: %s", self.assignment.task_id,
                      getattr(callback, "__name__", "callback"), exc)
        except Exception as exc:
            # The database is away for a moment (a restart): the agent works on; the next tick
            # tries again, within the lease's slack (it heartbeats at most a third of the lease apart).
            if not is_transient(exc):
                raise
            log.warning("task %s: %s skipped, database unreachable: %s", self.assignment.task_id,
                        getattr(callback, "__name__", "callback"), str(exc).splitlines()[0][:200])


def _usage(parser: StreamParser, output: str) -> list[UsageReport]:
    """What the run cost: the stream's usage (with the CLI's own figure), else ``phaseloom_usage`` lines."""
    state = parser.state
    reports = list(state.usage) or parse_usage_lines(output)
    return spread_cost(reports, state.cost_usd)


def _git_head(workdir: Path) -> str | None:
    known = git_files.head_commit(workdir)
    if known:
        return known
    proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workdir, capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def _changes(workdir: Path, head: str | None) -> tuple[bool | None, bool | None]:
    """(did the agent change its worktree: uncommitted changes or commits of its own, are there
    uncommitted changes); (None, None) outside a git worktree."""
    if head is None:
        return None, None
    status = subprocess.run(["git", "status", "--porcelain"], cwd=workdir, capture_output=True, text=True)
    if status.returncode != 0:
        return _git_head(workdir) != head, None
    dirty = bool(status.stdout.strip())
    return dirty or _git_head(workdir) != head, dirty
