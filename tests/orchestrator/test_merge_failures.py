"""A merge that does not happen never passes for done work, whether the agent reported through MCP or not."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from phaseloom.db.models import SystemEvent, Ticket
from phaseloom.orchestrator.loop import Orchestrator, OrchestratorConfig, PoolSpec
from phaseloom.runtimes.base import RunOutcome
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.workspaces import WorkspaceService, git
from tests.orchestrator.test_loop import _project_on_a_repo

# The agent's own complete_task (what an MCP agent does before it exits), or the runtime's outcome only.
BOTH_PATHS = pytest.mark.parametrize("reports", [True, False], ids=["complete_task", "exit_code"])


class _HelloAgent:
    """Writes hello.txt in its worktree; with ``reports``, finishes the task itself as an MCP agent does."""

    name = "hello"
    reports_via_mcp = False  # no MCP server to check in these tests: the report is made directly

    def __init__(self, db, reports: bool, meanwhile=None) -> None:
        self.db, self.reports, self.meanwhile = db, reports, meanwhile

    def run(self, assignment):
        (assignment.workdir / "hello.txt").write_text("hi\n")
        if self.meanwhile:
            self.meanwhile()
        if self.reports:
            QueueService(UnitOfWork(self.db)).complete_task(assignment.task_id, assignment.agent_id,
                                                            result={"summary": "wrote hello"})
        return RunOutcome(True, summary="wrote hello", needs_agent_report=self.reports)


def _run(db, tmp_path, reports: bool, until, meanwhile=None) -> None:
    config = OrchestratorConfig(pools=(PoolSpec("w", size=1, runtime="command"),), check_mcp=False,
                                workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")
    agent = _HelloAgent(db, reports, meanwhile)
    Orchestrator(db, lambda spec: agent, config).run(until=until, max_seconds=30)


def _events(db, event_type: str, task_id: int) -> list[dict]:
    with UnitOfWork(db) as u:
        return list(u.session.scalars(select(SystemEvent.payload).where(
            SystemEvent.event_type == event_type, SystemEvent.entity_id == str(task_id))))


@BOTH_PATHS
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_merge_git_refuses_fails_the_task_for_a_retry_and_keeps_the_work_on_its_branch(db, uow, project,
                                                                                         tmp_path, reports):
    """With the agent's own complete_task in, a merge git refused (an untracked file in the way) left the
    task completed and its ticket free to move on, with only a workspace.merge_failed event to tell."""
    repo = _project_on_a_repo(db, project, tmp_path)
    ticket = TicketService(uow).create_ticket(project.id, "blocked merge")
    TicketService(uow).transition(ticket.id, "PHASE_REQUIREMENTS")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "write hello", max_retries=1)
    target = WorkspaceService(UnitOfWork(db), root=tmp_path / "ws").integration_worktree(repo, ticket.id)
    (target / "hello.txt").write_text("in the way\n")

    _run(db, tmp_path, reports, until=lambda: QueueService(UnitOfWork(db)).get(task.id).status == "failed")

    back = QueueService(uow).get(task.id)
    assert (back.status, back.retry_count, back.awaiting_merge) == ("failed", 1, False)  # retried once, then spent
    assert back.error.startswith("merge_failed:") and "untracked working tree files" in back.error
    [merge_failed, *_] = _events(db, "workspace.merge_failed", task.id)
    branch = merge_failed["branch"]
    assert git(repo, "show", f"{branch}:hello.txt") == "hi\n"  # the agent's work is kept on its branch
    assert "hello.txt" not in git(repo, "ls-tree", "--name-only", f"ticket/{ticket.id}").split()
    assert [e["will_retry"] for e in _events(db, "task.failed", task.id)] == [True, False]
    with UnitOfWork(db) as u:
        assert u.session.get(Ticket, ticket.id).phase_id == "PHASE_REQUIREMENTS"  # the ticket did not move on


@BOTH_PATHS
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_merge_conflict_completes_the_task_and_reports_the_files(db, uow, project, tmp_path, reports):
    """A conflict is no failure to retry (the agent would write the same again): the task completes, the
    branch keeps the work and the conflict names its files, on both paths alike."""
    repo = _project_on_a_repo(db, project, tmp_path)
    ticket = TicketService(uow).create_ticket(project.id, "conflicting merge")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "write hello")
    target = WorkspaceService(UnitOfWork(db), root=tmp_path / "ws").integration_worktree(repo, ticket.id)

    def another_hello_merged_meanwhile() -> None:
        (target / "hello.txt").write_text("someone else's hello\n")
        git(target, "add", "hello.txt")
        git(target, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "another hello")

    def settled() -> bool:
        now = QueueService(UnitOfWork(db)).get(task.id)
        return now.status in ("completed", "failed") and not now.awaiting_merge

    _run(db, tmp_path, reports, until=settled, meanwhile=another_hello_merged_meanwhile)

    back = QueueService(uow).get(task.id)
    assert (back.status, back.retry_count) == ("completed", 0)
    assert [e["files"] for e in _events(db, "workspace.merge_conflict", task.id)] == [["hello.txt"]]
    assert _events(db, "workspace.merge_failed", task.id) == []
    branch = _events(db, "workspace.prepared", task.id)[0]["branch"]
    assert git(repo, "show", f"{branch}:hello.txt") == "hi\n"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_work_a_dead_worker_left_that_would_not_merge_fails_its_task_for_a_retry(db, uow, project, tmp_path):
    """The housekeeping that merges work a dead worker left marked such a task merged even when git
    refused: it stayed completed, its work in no ticket."""
    from datetime import timedelta

    from phaseloom.db.models import Task
    from phaseloom.db.models.base import utcnow
    from phaseloom.services.agents import AgentService

    repo = _project_on_a_repo(db, project, tmp_path)
    ticket = TicketService(uow).create_ticket(project.id, "left work")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "write hello")
    dead = AgentService(uow).register_agent("dead-worker")
    assert QueueService(uow).claim_next_task(dead.id, lease_seconds=60).id == task.id
    QueueService(uow).start_task(task.id, dead.id, merge_after=True)
    workspaces = WorkspaceService(UnitOfWork(db), root=tmp_path / "ws")
    (workspaces.prepare(task.id, dead.id).path / "hello.txt").write_text("hi\n")
    (workspaces.integration_worktree(repo, ticket.id) / "hello.txt").write_text("in the way\n")
    QueueService(uow).complete_task(task.id, dead.id, result={"summary": "wrote hello"})
    with UnitOfWork(db) as u:
        u.session.get(Task, task.id).lease_expires_at = utcnow() - timedelta(seconds=1)
    config = OrchestratorConfig(pools=(), workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")

    assert Orchestrator(db, lambda spec: None, config).executor.merge_left_work() == []  # nothing merged

    back = QueueService(uow).get(task.id)
    assert (back.status, back.retry_count, back.awaiting_merge) == ("pending", 1, False)
    assert back.error.startswith("merge_failed:") and "untracked working tree files" in back.error
    branch = _events(db, "workspace.merge_failed", task.id)[0]["branch"]
    assert git(repo, "show", f"{branch}:hello.txt") == "hi\n"
