"""The run loop: graceful stop releases what is still running; SIGTERM stops a real process cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from phaseloom.db.models import Agent
from phaseloom.orchestrator.loop import Orchestrator, OrchestratorConfig, PoolSpec
from phaseloom.runtimes.command import CommandRuntime
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork


def test_stop_waits_for_the_grace_period_then_returns_the_task_to_the_queue(db, uow, project, tmp_path):
    ticket = TicketService(uow).create_ticket(project.id, "slow work")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "takes forever")
    config = OrchestratorConfig(pools=(PoolSpec("slow", size=1, runtime="command"),), grace_seconds=0.5,
                                manage_tickets=False, workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")
    slow = CommandRuntime([sys.executable, "-c", "import time; time.sleep(3)"])
    orchestrator = Orchestrator(db, lambda spec: slow, config)
    orchestrator.start()
    assert orchestrator.tick() == 1
    time.sleep(0.3)
    assert QueueService(uow).get(task.id).status == "running"

    started = time.monotonic()
    orchestrator.shutdown()

    assert time.monotonic() - started < 3
    back = QueueService(uow).get(task.id)
    assert (back.status, back.assigned_agent_id, back.retry_count) == ("pending", None, 0)
    with UnitOfWork(db) as u:
        assert set(u.session.scalars(select(Agent.status))) == {"deregistered"}


def test_finished_run_completes_and_the_next_tick_dispatches_nothing(db, uow, project, tmp_path):
    ticket = TicketService(uow).create_ticket(project.id, "quick work")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "quick")
    config = OrchestratorConfig(pools=(PoolSpec("quick", size=2, runtime="command"),), manage_tickets=False,
                                workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")
    quick = CommandRuntime([sys.executable, "-c", "print('ok')"])
    orchestrator = Orchestrator(db, lambda spec: quick, config)
    orchestrator.run(until=lambda: QueueService(UnitOfWork(db)).get(task.id).status == "completed",
                     max_seconds=20)
    assert QueueService(uow).get(task.id).status == "completed"
    assert (tmp_path / "logs" / f"task-{task.id}.log").read_text().strip().endswith("ok")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigterm_stops_a_worker_process_cleanly(db_url, tmp_path):
    env = {**os.environ, "PHASELOOM_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, "-m", "phaseloom.cli.app", "worker", "--database-url", db_url,
                             "--workers", "2", "--max-seconds", "60"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    from phaseloom.db.engine import Database

    db = Database.connect(db_url)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with UnitOfWork(db) as u:
                if len(u.session.scalars(select(Agent).where(Agent.status == "idle")).all()) == 2:
                    break
            time.sleep(0.1)
        else:
            raise AssertionError(f"the worker never registered its agents: {proc.communicate(timeout=5)}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, proc.stdout.read()
        with UnitOfWork(db) as u:
            assert set(u.session.scalars(select(Agent.status))) == {"deregistered"}
    finally:
        if proc.poll() is None:
            proc.kill()
        db.dispose()


def test_one_tickets_error_is_evented_and_the_others_still_move_on(db, uow, project, tmp_path, monkeypatch):
    """On PostgreSQL an artifact race once made progress_tickets raise and `run` exit with 0 tickets done."""
    from phaseloom.db.models import SystemEvent, Task
    from phaseloom.services.progress import ProgressService

    broken = TicketService(uow).create_ticket(project.id, "breaks")
    fine = TicketService(uow).create_ticket(project.id, "fine")
    real_start = ProgressService.start_ticket

    def start_ticket(self, ticket_id, **kwargs):
        if ticket_id == broken.id:
            raise ValueError("a bug in one ticket")
        return real_start(self, ticket_id, **kwargs)

    monkeypatch.setattr(ProgressService, "start_ticket", start_ticket)
    config = OrchestratorConfig(pools=(), workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")
    orchestrator = Orchestrator(db, lambda spec: None, config)
    orchestrator.progress_tickets()

    with UnitOfWork(db) as u:
        assert u.session.scalars(select(Task.ticket_id).distinct()).all() == [fine.id]
        events = u.session.scalars(select(SystemEvent).where(SystemEvent.event_type == "ticket.progress_failed")).all()
        assert [(e.ticket_id, e.payload["error"]) for e in events] == [(broken.id, "ValueError: a bug in one ticket")]


def test_a_short_lease_is_renewed_often_enough_for_a_longer_agent(db, uow, project, tmp_path):
    """Heartbeats came every 10 s whatever the lease: with a 6 s lease a healthy 15 s agent was started
    4 times. Here a 3 s lease and an agent of 5 s: it must start once and complete (with a 10 s tick
    the lease ran out once; a shorter lease was flaky on a loaded CI machine)."""
    ticket = TicketService(uow).create_ticket(project.id, "steady work")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "two seconds")
    starts = tmp_path / "starts.txt"
    agent = CommandRuntime([sys.executable, "-c",
                            f"import time; open({str(starts)!r}, 'a').write('x'); time.sleep(5); print('ok')"])
    config = OrchestratorConfig(pools=(PoolSpec("steady", size=1, runtime="command"),), lease_seconds=3,
                                manage_tickets=False, workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")
    Orchestrator(db, lambda spec: agent, config).run(
        until=lambda: QueueService(UnitOfWork(db)).get(task.id).status in ("completed", "failed"), max_seconds=30)
    done = QueueService(uow).get(task.id)
    assert (done.status, done.retry_count, starts.read_text()) == ("completed", 0, "x")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_merge_git_refuses_fails_the_task_for_a_retry_with_gits_words(db, uow, project, tmp_path):
    """A merge git refuses without a conflict (an untracked file in the way in the integration
    worktree) was taken as a conflict with no files and the task completed unmerged."""
    from phaseloom.workspaces import WorkspaceService

    repo = _project_on_a_repo(db, project, tmp_path)
    ticket = TicketService(uow).create_ticket(project.id, "blocked merge")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "write hello")
    target = WorkspaceService(UnitOfWork(db), root=tmp_path / "ws").integration_worktree(repo, ticket.id)
    (target / "hello.txt").write_text("in the way\n")
    agent = CommandRuntime(["sh", "-c", "echo hi > hello.txt; echo wrote hello"])
    config = OrchestratorConfig(pools=(PoolSpec("w", size=1, runtime="command"),), manage_tickets=False,
                                workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")
    Orchestrator(db, lambda spec: agent, config).run(
        until=lambda: QueueService(UnitOfWork(db)).get(task.id).retry_count >= 1, max_seconds=30)
    back = QueueService(uow).get(task.id)
    assert back.status != "completed" and back.retry_count >= 1
    assert back.error.startswith("merge_failed:") and "untracked working tree files" in back.error


class _ReportingAgent:
    """An agent that writes a file in its worktree and reports it with its own complete_task."""

    name = "reporting"
    reports_via_mcp = False

    def __init__(self, db) -> None:
        self.db = db

    def run(self, assignment):
        from phaseloom.runtimes.base import RunOutcome

        (assignment.workdir / "notes.md").write_text("# what I found\n")
        QueueService(UnitOfWork(self.db)).complete_task(
            assignment.task_id, assignment.agent_id, result={"summary": "wrote the notes", "artifacts": ["notes.md"]})
        return RunOutcome(True, summary="wrote the notes")


def test_the_loop_collects_a_completed_tasks_reported_files_from_the_merged_branch(db, uow, project, tmp_path):
    """The agent's thread no longer collects outputs (it takes its next task at once): the loop does."""
    from phaseloom.db.models import Artifact

    _project_on_a_repo(db, project, tmp_path)
    ticket = TicketService(uow).create_ticket(project.id, "take notes")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "write the notes")
    config = OrchestratorConfig(pools=(PoolSpec("w", size=1, runtime="command"),), check_mcp=False,
                                workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")
    Orchestrator(db, lambda spec: _ReportingAgent(db), config).run(
        until=lambda: QueueService(UnitOfWork(db)).get(task.id).status == "completed", max_seconds=30)

    with UnitOfWork(db) as u:
        rows = u.session.scalars(select(Artifact).where(Artifact.task_id == task.id)).all()
        assert [(a.path, a.phase_id) for a in rows] == [("notes.md", "PHASE_REQUIREMENTS")]
        assert rows[0].content == "# what I found\n"  # read from the ticket branch the work was merged into


def test_leases_and_timeouts_are_looked_at_once_a_housekeeping_period_not_every_tick(db, uow, project, tmp_path,
                                                                                      monkeypatch):
    """A tick follows every finished task; each look for expired leases was a write transaction."""
    from phaseloom.queue import RetryService

    looks = []
    monkeypatch.setattr(QueueService, "reap_expired_leases", lambda self, **kw: looks.append("leases") or [])
    monkeypatch.setattr(RetryService, "fail_timed_out_tasks", lambda self, **kw: looks.append("timeouts") or [])
    for period, expected in ((60.0, 1), (0.0, 3)):
        looks.clear()
        config = OrchestratorConfig(pools=(), housekeeping_seconds=period, workspace_root=tmp_path / "ws",
                                    log_dir=tmp_path / "logs")
        orchestrator = Orchestrator(db, lambda spec: None, config)
        for _ in range(3):
            orchestrator.tick()
        assert looks.count("leases") == looks.count("timeouts") == expected, period


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_database_blip_after_the_merge_neither_reruns_the_agent_nor_loses_the_merge_event(db, uow, project,
                                                                                          tmp_path, monkeypatch):
    """Recording the merge was outside the retry: the task failed and its agent ran again, and the
    first merge had no workspace.merged event."""
    from sqlalchemy.exc import OperationalError

    from phaseloom.db.models import SystemEvent
    from phaseloom.workspaces import WorkspaceService, git

    repo = _project_on_a_repo(db, project, tmp_path)
    ticket = TicketService(uow).create_ticket(project.id, "blip")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "write hello")
    real_record, blips = WorkspaceService._record_merge, []

    def record_once_lost(self, ws, outcome):
        if not blips:
            blips.append(ws.task_id)
            raise OperationalError("INSERT INTO system_events", {}, Exception("server closed the connection"))
        return real_record(self, ws, outcome)

    monkeypatch.setattr(WorkspaceService, "_record_merge", record_once_lost)
    runs = tmp_path / "runs.txt"
    agent = CommandRuntime(["sh", "-c", f"echo run >> {runs}; echo hi > hello.txt; echo wrote hello"])
    config = OrchestratorConfig(pools=(PoolSpec("w", size=1, runtime="command"),), manage_tickets=False,
                                workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")
    Orchestrator(db, lambda spec: agent, config).run(
        until=lambda: QueueService(UnitOfWork(db)).get(task.id).status in ("completed", "failed"), max_seconds=30)

    done = QueueService(uow).get(task.id)
    assert blips == [task.id]
    assert (done.status, done.retry_count, runs.read_text()) == ("completed", 0, "run\n")
    with UnitOfWork(db) as u:
        merged = u.session.scalars(select(SystemEvent.payload).where(
            SystemEvent.event_type == "workspace.merged", SystemEvent.entity_id == str(task.id))).all()
    assert [m["files"] for m in merged] == [["hello.txt"]]
    assert git(repo, "show", f"ticket/{ticket.id}:hello.txt") == "hi\n"


def test_run_and_worker_move_their_started_heap_out_of_the_collectors_sight(db, uow, project, tmp_path,
                                                                          monkeypatch):
    """``phaseloom run``/``worker`` (freeze_heap): frozen once started and after each of the first two
    tasks; an orchestrator inside another program (freeze_heap off, the default) leaves its heap alone."""
    import gc

    from phaseloom.cli import context, run as cli_run

    freezes: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(1))
    quick = CommandRuntime([sys.executable, "-c", "print('ok')"])
    for freeze_heap, expected in ((False, 0), (True, 3)):
        freezes.clear()
        tasks = [QueueService(uow).create_task(TicketService(uow).create_ticket(project.id, f"quick {n}").id,
                                               "PHASE_REQUIREMENTS", "quick") for n in range(3)]

        def done(tasks=tasks) -> bool:
            return all(QueueService(UnitOfWork(db)).get(t.id).status == "completed" for t in tasks)

        config = OrchestratorConfig(pools=(PoolSpec("quick", size=1, runtime="command"),), manage_tickets=False,
                                    workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs", freeze_heap=freeze_heap)
        Orchestrator(db, lambda spec: quick, config).run(until=done, max_seconds=20)
        assert done() and len(freezes) == expected
    monkeypatch.setattr(context.state, "_db", db)  # the CLI's database: this test's
    built = cli_run._build(None, cli_run._pools(1, 0, "command", []), 1.0, manage=True, agent_command="true")
    assert built.config.freeze_heap


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_database_blip_after_the_agents_own_report_still_merges_its_work(db, uow, project, tmp_path, monkeypatch):
    """Reading the agent's report after its run was outside the retry: a PostgreSQL restart just then
    (seen in tests/faults/test_postgres_restart.py with MCP agents) left the task completed by its
    agent, its ticket moving on, and its work never merged."""
    from sqlalchemy.exc import OperationalError

    from phaseloom.db.models import SystemEvent
    from phaseloom.orchestrator import execution
    from phaseloom.workspaces import git

    repo = _project_on_a_repo(db, project, tmp_path)
    ticket = TicketService(uow).create_ticket(project.id, "blip")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "write the notes")
    real_report, blips = execution._agent_report, []

    def report_once_lost(db_, task_id):
        if not blips:
            blips.append(task_id)
            raise OperationalError("SELECT tasks", {}, Exception("server closed the connection unexpectedly"))
        return real_report(db_, task_id)

    monkeypatch.setattr(execution, "_agent_report", report_once_lost)
    config = OrchestratorConfig(pools=(PoolSpec("w", size=1, runtime="command"),), manage_tickets=False,
                                workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")
    orchestrator = Orchestrator(db, lambda spec: _ReportingAgent(db), config)
    orchestrator.run(until=lambda: not orchestrator.busy and blips == [task.id], max_seconds=30)

    assert QueueService(uow).get(task.id).status == "completed"
    with UnitOfWork(db) as u:
        merged = u.session.scalars(select(SystemEvent.payload).where(
            SystemEvent.event_type == "workspace.merged", SystemEvent.entity_id == str(task.id))).all()
    assert [m["files"] for m in merged] == [["notes.md"]]
    assert git(repo, "show", f"ticket/{ticket.id}:notes.md") == "# what I found\n"


def test_work_a_dead_worker_left_unmerged_holds_its_ticket_then_is_merged_by_another(db, uow, project, tmp_path):
    """The agent's own complete_task landed, then its worker died before merging: the task holds its
    ticket (awaiting_merge) until its lease runs out; then another loop's housekeeping merges the
    agent's branch, with the agent's words as subject, and lets the ticket go."""
    from datetime import timedelta

    from phaseloom.db.models import Task
    from phaseloom.db.models.base import utcnow
    from phaseloom.services.agents import AgentService
    from phaseloom.workspaces import WorkspaceService, git

    repo = _project_on_a_repo(db, project, tmp_path)
    ticket = TicketService(uow).create_ticket(project.id, "left work")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "write notes")
    dead = AgentService(uow).register_agent("dead-worker")
    claimed = QueueService(uow).claim_next_task(dead.id, lease_seconds=60)
    assert claimed.id == task.id
    QueueService(uow).start_task(task.id, dead.id, merge_after=True)
    ws = WorkspaceService(UnitOfWork(db), root=tmp_path / "ws").prepare(task.id, dead.id)
    (ws.path / "notes.md").write_text("# found\n")  # left uncommitted: the worker died here
    QueueService(uow).complete_task(task.id, dead.id, result={"summary": "wrote the notes"})
    QueueService(uow).heartbeat(task.id, dead.id, lease_seconds=60)  # its worker still renews the merge lease
    config = OrchestratorConfig(pools=(), workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")
    orchestrator = Orchestrator(db, lambda spec: None, config)
    mover_counts = orchestrator.tickets._task_counts()[(ticket.id, "PHASE_REQUIREMENTS")]
    assert mover_counts == {"merging": 1}  # held: not taken for done
    assert orchestrator.executor.merge_left_work() == []  # the lease is live: not taken over
    with UnitOfWork(db) as u:
        u.session.get(Task, task.id).lease_expires_at = utcnow() - timedelta(seconds=1)
    assert orchestrator.executor.merge_left_work() == [task.id]
    assert QueueService(uow).get(task.id).awaiting_merge is False
    assert git(repo, "show", f"ticket/{ticket.id}:notes.md") == "# found\n"
    assert "wrote the notes" in git(repo, "log", "--format=%s", f"ticket/{ticket.id}")
    assert orchestrator.tickets._task_counts()[(ticket.id, "PHASE_REQUIREMENTS")] == {"completed": 1}


def _project_on_a_repo(db, project, tmp_path):
    """The test's project put on a fresh git repository (one commit on main); the repository's path."""
    from phaseloom.db.models import Project
    from tests.workspaces.test_workspaces import make_repo

    repo = make_repo(tmp_path / "repo")
    with UnitOfWork(db) as u:
        row = u.session.get(Project, project.id)
        row.repo_path = str(repo)  # committed on leaving the block
        _let_requirements_write(u, row.workflow_id)
    return repo


def _let_requirements_write(u: UnitOfWork, workflow_id: int) -> None:
    """These tests' agents write files of their own (hello.txt, notes.md) in PHASE_REQUIREMENTS, which the
    shipped workflow makes read_only (they are about merging, not permissions): give the phase workspace_write."""
    from datetime import datetime, timezone

    from phaseloom.db.models import PhaseRow, WorkflowRow

    u.session.get(PhaseRow, (workflow_id, "PHASE_REQUIREMENTS")).permissions = "workspace_write"
    u.session.get(WorkflowRow, workflow_id).updated_at = datetime.now(timezone.utc)  # a new workflow-cache key
