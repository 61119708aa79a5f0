"""``phaseloom run`` with a custom command agent (``--agent-command``): what decides a task's outcome.

A command agent without MCP is judged by its output: exit 0 and a changed worktree (the phase
declares outputs). Bad runtimes are refused before any agent registers or any task is claimed.
"""

from __future__ import annotations

import sys

import pytest
from sqlalchemy import func, select

from phaseloom.db.models import Agent
from tests.conftest import service_unavailable
from tests.runtimes.agent_e2e import make_project

pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "p")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_backend_project(request, tmp_path, pg_server):
    if request.param == "sqlite":
        return make_project(tmp_path / "p")
    if isinstance(pg_server, Exception):
        service_unavailable(f"PostgreSQL not reachable: {pg_server}")
    return make_project(tmp_path / "p", url=pg_server.create_database())


def _agents(project) -> int:
    db = project.database()
    try:
        with db.sessions() as session:
            return session.scalar(select(func.count()).select_from(Agent))
    finally:
        db.dispose()


def test_agent_output_becomes_the_summary_and_the_commit_subject(any_backend_project):
    project = any_backend_project
    proc = project.run("command", None, "--agent-command",
                       "sh -c 'echo hello > hello.txt; echo \"Wrote hello.txt with a greeting\"'", max_seconds=90)
    assert proc.returncode == 0, proc.stderr
    [task] = project.tasks()
    assert task.status == "completed" and task.result["summary"] == "Wrote hello.txt with a greeting"
    assert "Wrote hello.txt with a greeting" in project.ticket_log()
    assert project.ticket_file("hello.txt") == "hello\n"
    assert not any(subject.startswith("$ ") for subject in project.ticket_log())  # never our log header


def test_an_agent_that_changes_nothing_has_not_done_the_work(project):
    project.run("command", None, "--agent-command", "sh -c 'echo all done, trust me'", max_seconds=90)
    [task] = project.tasks()
    assert task.status == "failed" and task.error.startswith("no_changes:")
    assert "changed nothing in its worktree" in task.error and "all done, trust me" in task.error


def test_a_usage_error_is_permanent_and_says_what_to_fix(project):
    argv = f"{sys.executable} -c \"import sys; print('error: unexpected argument --full-auto found'); sys.exit(2)\""
    project.run("command", None, "--agent-command", argv, max_seconds=90)
    [task] = project.tasks()
    assert (task.status, task.retry_count, task.error_class) == ("failed", 0, "permanent")
    assert task.error.startswith("usage:") and "--full-auto" in task.error


def test_a_rate_limit_gives_the_task_back_without_spending_a_retry(project):
    argv = f"{sys.executable} -c \"print('Error: 429 rate limit exceeded; retry after 600 seconds'); exit(1)\""
    project.run("command", None, "--agent-command", argv, max_seconds=8)
    [task] = project.tasks()
    assert (task.status, task.retry_count, task.error_class) == ("pending", 0, "rate_limited")
    wait = (task.next_attempt_at - task.created_at).total_seconds()
    assert 590 < wait < 700  # the provider's own wait, not the phase's one-second backoff


@pytest.mark.parametrize("args, message", [
    (("--runtime", "command:nope"), "unknown agent preset 'nope'"),
    (("--runtime", "warp-drive"), "unknown runtime 'warp-drive'"),
    (("--runtime", "command"), "--agent-command"),
    (("--agent-command", "no-such-agent-binary --go"), "'no-such-agent-binary' was not found on PATH"),
])
def test_a_bad_runtime_is_refused_before_anything_registers_or_claims(project, args, message):
    proc = project.phaseloom("run", "--workers", "1", "--validators", "0", "--quiet", "--until-idle", *args,
                             check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert _agents(project) == 0
    assert all(t.status == "pending" and t.assigned_agent_id is None for t in project.tasks())
