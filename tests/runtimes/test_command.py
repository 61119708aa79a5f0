"""The command runtime with real subprocesses; presets checked against golden files."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from phaseloom.config import Settings
from phaseloom.domain.errors import InvalidInput
from phaseloom.runtimes.base import settle
from phaseloom.runtimes.command import CommandRuntime, render_argv
from phaseloom.runtimes.presets import PRESETS
from phaseloom.queue import QueueService
from tests.runtimes.conftest import make_assignment



@pytest.fixture
def db_url(tmp_path, sqlite_template):
    """SQLite only: git, subprocesses and HTTP behave the same whatever the database."""
    import shutil

    path = tmp_path / "phaseloom.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def test_render_splices_the_presets_config_args():
    argv = render_argv(["codex", "exec", "{config_args}", "{prompt}"], {"prompt": "p"}, ("-c", "a=1"))
    assert argv == ["codex", "exec", "-c", "a=1", "p"]


def test_an_empty_agent_command_is_refused_with_what_to_give():
    for empty in ("", [], "   "):
        with pytest.raises(InvalidInput, match="--agent-command"):
            CommandRuntime(empty)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_paths_are_absolute_and_the_token_stays_off_disk(name, tmp_path, monkeypatch):
    """Whether a CLI accepts its argv is shown by the end-to-end tests against the real binaries;
    this checks what holds for every preset: the agent runs in its worktree, so no path is relative."""
    from types import SimpleNamespace

    monkeypatch.chdir(tmp_path)
    task = SimpleNamespace(id=7, ticket_id=3, phase_id="PHASE_IMPLEMENTATION")
    (tmp_path / "wt").mkdir()
    assignment = make_assignment(task, SimpleNamespace(id="a1"), Path("wt"), log_path=Path("logs/t.log"),
                                 instructions="Do the task.", mcp_url="", database_url="sqlite:///rel/p.db")
    argv, env, run_dir = CommandRuntime(preset_name=name).prepare(assignment)
    assert run_dir.is_absolute()
    files = {p.name: p.read_text() for p in sorted(run_dir.iterdir()) if p.name != "instructions.md"}
    for value in [*argv, *files.values(), *env.values()]:
        assert "logs/task-7" not in value.replace(str(run_dir), "") and "sqlite:///rel" not in value
    if files or name != "aider":  # every MCP preset launches phaseloom's MCP on the absolute database
        assert f"sqlite:///{tmp_path}/rel/p.db" in json.dumps([argv, files, env])
    assert "tok-123" not in json.dumps(files)  # the token is passed by variable, never written to disk
    assert env["PHASELOOM_AGENT_TOKEN"] == "tok-123" and env["PHASELOOM_TASK_ID"] == "7"


AGENT = """
import os, pathlib, sys
pathlib.Path("greet.py").write_text("def greet():\\n    return 'hi'\\n")
print("task", os.environ["PHASELOOM_TASK_ID"], "mcp", os.environ["PHASELOOM_MCP_URL"])
print(open(sys.argv[1]).read().splitlines()[0])
sys.exit(int(sys.argv[2]))
"""


def test_successful_agent_completes_the_task(uow, claimed, tmp_path):
    task, agent = claimed
    workdir = tmp_path / "wt"
    workdir.mkdir()
    runtime = CommandRuntime([sys.executable, "-c", AGENT, "{prompt_file}", "0"])
    assignment = make_assignment(task, agent, workdir)
    outcome = settle(uow, assignment, runtime.run(assignment), Settings())
    assert outcome.completed and outcome.final_status == "completed" and not outcome.reported_by_agent
    assert (workdir / "greet.py").exists()
    log = assignment.log_path.read_text()
    assert f"task {task.id} mcp http://127.0.0.1:8765/mcp" in log and "# Do it" in log
    assert QueueService(uow).get(task.id).result["exit_code"] == 0


def test_non_zero_exit_is_a_classified_retryable_failure(uow, claimed, tmp_path):
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    assignment = make_assignment(task, agent, tmp_path / "wt")
    outcome = CommandRuntime([sys.executable, "-c", AGENT, "{prompt_file}", "3"]).run(assignment)
    assert (outcome.completed, outcome.error_class, outcome.exit_code) == (False, "exit_code", 3)
    settle(uow, assignment, outcome, Settings())
    back = QueueService(uow).get(task.id)
    assert back.status == "pending" and back.retry_count == 1 and "exit_code" in back.error


def test_timeout_kills_the_agent(claimed, tmp_path):
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    ticks = []
    assignment = make_assignment(task, agent, tmp_path / "wt", timeout_seconds=0.6, on_tick=lambda: ticks.append(1))
    started = time.monotonic()
    outcome = CommandRuntime([sys.executable, "-c", "import time; time.sleep(60)"]).run(assignment)
    assert outcome.error_class == "timeout" and not outcome.completed
    assert time.monotonic() - started < 8


# An agent that starts a background process (a dev server, a watcher) and exits at once, writing its pid.
LEAVES_A_CHILD = """import subprocess, sys
child = subprocess.Popen(["sleep", "300"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
open(sys.argv[1], "w").write(str(child.pid))
print("done")
"""


def test_what_an_agent_leaves_running_in_its_group_is_ended_with_its_run(claimed, tmp_path):
    from phaseloom.runtimes import agent_pids

    task, agent = claimed
    (tmp_path / "wt").mkdir()
    (tmp_path / "agent.py").write_text(LEAVES_A_CHILD)
    pid_file = tmp_path / "child.pid"
    assignment = make_assignment(task, agent, tmp_path / "wt")
    outcome = CommandRuntime([sys.executable, str(tmp_path / "agent.py"), str(pid_file)]).run(assignment)
    assert outcome.exit_code == 0
    child = int(pid_file.read_text())
    assert agent_pids.start_time(child) is None  # gone when the run returns, not left working on the worktree


def test_missing_program_is_a_permanent_failure(claimed, tmp_path):
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    outcome = CommandRuntime(["definitely-not-an-agent-cli"]).run(make_assignment(task, agent, tmp_path / "wt"))
    assert (outcome.error_class, outcome.retryable) == ("usage", False)
    assert "definitely-not-an-agent-cli" in outcome.error and "not found on PATH" in outcome.error


REPORTING_AGENT = """
import sys
from phaseloom.db.engine import Database
from phaseloom.services.agent_work import AgentWorkService
from phaseloom.db.unit_of_work import UnitOfWork
db = Database.connect(sys.argv[1])
AgentWorkService(UnitOfWork(db)).complete(sys.argv[2], "done through the service", ["greet.py"])
sys.exit(1)  # a crash after reporting must not undo the reported result
"""


def test_what_the_agent_reported_wins_over_the_exit_code(uow, db_url, claimed, tmp_path):
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    assignment = make_assignment(task, agent, tmp_path / "wt")
    runtime = CommandRuntime([sys.executable, "-c", REPORTING_AGENT, db_url, agent.id])
    outcome = settle(uow, assignment, runtime.run(assignment), Settings())
    assert outcome.reported_by_agent and outcome.final_status == "completed"
    assert QueueService(uow).get(task.id).result["summary"] == "done through the service"


LINGERING_AGENT = """
import sys, time
from phaseloom.db.engine import Database
from phaseloom.services.agent_work import AgentWorkService
from phaseloom.db.unit_of_work import UnitOfWork
AgentWorkService(UnitOfWork(Database.connect(sys.argv[1]))).complete(sys.argv[2], "reported early", [])
time.sleep(0.8)  # the CLI still writes its last events after its report: heartbeats are refused meanwhile
print('{{"phaseloom_usage": {{"model": "m", "input_tokens": 11, "output_tokens": 3}}}}')  # argv is a template
"""


def test_an_agent_that_reported_runs_to_its_end_and_its_usage_is_recorded(uow, db_url, claimed, tmp_path,
                                                                         monkeypatch):
    """Regression: the refused heartbeat after complete_task once aborted the watch, leaving the
    agent running unwatched and its token usage unrecorded."""
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    heartbeats = []

    def tick():
        heartbeats.append(1)
        QueueService(uow).heartbeat(task.id, agent.id)

    assignment = make_assignment(task, agent, tmp_path / "wt", on_tick=tick, tick_seconds=0.0)
    outcome = CommandRuntime([sys.executable, "-c", LINGERING_AGENT, db_url, agent.id]).run(assignment)
    assert outcome.exit_code == 0 and len(heartbeats) >= 2
    assert [(r.input_tokens, r.output_tokens) for r in outcome.usage_reports] == [(11, 3)]
    assert settle(uow, assignment, outcome, Settings()).reported_by_agent


def test_a_database_blip_during_a_heartbeat_does_not_stop_the_agent(claimed, tmp_path):
    """A heartbeat that met a PostgreSQL restart raised out of the watch, which stopped the agent:
    a healthy agent killed and its task run again for a blip its lease had slack for."""
    from sqlalchemy.exc import OperationalError

    task, agent = claimed
    (tmp_path / "wt").mkdir()
    ticks = []

    def tick():
        ticks.append(1)
        if len(ticks) == 1:
            raise OperationalError("UPDATE tasks", {}, Exception("server closed the connection unexpectedly"))

    assignment = make_assignment(task, agent, tmp_path / "wt", on_tick=tick, tick_seconds=0.0)
    outcome = CommandRuntime([sys.executable, "-c", "import time; time.sleep(0.8); print('finished')"]).run(assignment)
    assert outcome.exit_code == 0 and "finished" in (tmp_path / "logs" / "t.log").read_text()
    assert len(ticks) >= 2  # the watch went on heartbeating after the blip


HUNGRY_AGENT = """
import time
block = bytearray(96 * 1024 * 1024)  # zero pages cost nothing until written: touch every one
for i in range(0, len(block), 4096):
    block[i] = 1
end = time.process_time() + 0.4
while time.process_time() < end:
    pass
"""


def test_the_agents_cpu_time_and_peak_memory_are_recorded_with_its_run(uow, claimed, tmp_path):
    from sqlalchemy import select

    from phaseloom.db.models.resources import RunResources

    task, agent = claimed
    (tmp_path / "wt").mkdir()
    assignment = make_assignment(task, agent, tmp_path / "wt", attempt=2)
    outcome = settle(uow, assignment, CommandRuntime([sys.executable, "-c", HUNGRY_AGENT]).run(assignment), Settings())
    assert outcome.completed
    with uow:
        [row] = uow.session.scalars(select(RunResources).where(RunResources.task_id == task.id)).all()
        assert (row.agent_id, row.attempt, row.unmeasured_reason) == (agent.id, 2, "")
        # The busy loop alone is 0.4 s of CPU; the touched block alone is 96 MiB resident. The agent is
        # forked from the small launcher, not from this test worker (which may hold the embedding model),
        # so its peak is its own: the block and a Python interpreter.
        assert 0.4 <= row.cpu_seconds < 10
        assert 96 * 1024 <= row.peak_memory_kib < 160 * 1024


def test_a_stopped_agent_is_still_measured(claimed, tmp_path):
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    assignment = make_assignment(task, agent, tmp_path / "wt", timeout_seconds=1.0)
    burn = "import time\nwhile True: time.process_time()"
    outcome = CommandRuntime([sys.executable, "-c", burn]).run(assignment)
    assert outcome.error_class == "timeout"
    # Up to a second of busy loop; a busy machine may grant it less, but never nothing.
    assert outcome.resources.cpu_seconds > 0.05 and outcome.resources.peak_memory_kib > 0


def test_without_wait4_nothing_is_measured_and_the_run_says_so(uow, claimed, tmp_path, monkeypatch):
    from sqlalchemy import select

    from phaseloom.db.models.resources import RunResources
    from phaseloom.runtimes import processes

    monkeypatch.setattr(processes, "_CAN_MEASURE", False)  # as on a platform without os.wait4
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    assignment = make_assignment(task, agent, tmp_path / "wt")
    outcome = settle(uow, assignment, CommandRuntime([sys.executable, "-c", "pass"]).run(assignment), Settings())
    assert outcome.completed
    with uow:
        row = uow.session.scalar(select(RunResources).where(RunResources.task_id == task.id))
        assert (row.cpu_seconds, row.peak_memory_kib) == (None, None)
        assert "os.wait4 is not available" in row.unmeasured_reason
