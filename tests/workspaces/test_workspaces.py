from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from phaseloom.db.models import Project, SystemEvent, TaskDiscovery
from phaseloom.domain.errors import InvalidInput
from phaseloom.orchestrator.execution import record_integration_issue
from phaseloom.services.agents import AgentService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.workspaces import WorkspaceService, agent_branch, git, slug


@pytest.fixture
def db_url(tmp_path, sqlite_template):
    """SQLite only: git, subprocesses and HTTP behave the same whatever the database."""
    import shutil

    path = tmp_path / "phaseloom.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    (path / "README.md").write_text("# app\n")
    (path / "app.py").write_text("VALUE = 1\n")
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "initial"], cwd=path, check=True, env=env)
    return path


@pytest.fixture
def setup(uow, project, tmp_path):
    repo = make_repo(tmp_path / "repo")
    with uow:
        uow.session.get(Project, project.id).repo_path = str(repo)
    ticket = TicketService(uow).create_ticket(project.id, "Add feature")
    queue = QueueService(uow)
    agents = AgentService(uow)
    return dict(repo=repo, ticket=ticket, queue=queue, agents=agents,
                service=WorkspaceService(uow, root=tmp_path / "workspaces",
                                         report_conflict=record_integration_issue))


def _task(s, phase="PHASE_IMPLEMENTATION", title="build", agent_name="impl"):
    task = s["queue"].create_task(s["ticket"].id, phase, title)
    agent = s["agents"].register_agent(agent_name, agent_id=f"{agent_name}-a1b2c3")
    return task, agent


def test_branch_names_are_slugged():
    assert slug("PHASE_IMPLEMENTATION") == "implementation"
    assert agent_branch("PHASE_IMPLEMENTATION", "A1B2C3", 7) == "phase-implementation-a1b2c3-t7"


def test_prepare_creates_ticket_branch_and_worktree_then_merges_with_trailers(setup):
    s = setup
    task, agent = _task(s)
    ws = s["service"].prepare(task.id, agent.id)
    assert ws.branch == f"phase-implementation-impl-a1b2c3-t{task.id}"
    assert git(ws.path, "symbolic-ref", "--short", "HEAD").strip() == ws.branch
    assert git(s["repo"], "rev-parse", "ticket/1").strip() == git(s["repo"], "rev-parse", "main").strip()

    (ws.path / "src").mkdir()
    (ws.path / "src" / "feature.py").write_text("def feature():\n    return 42\n")  # left uncommitted
    outcome = s["service"].integrate(ws, summary="Implement the feature")

    assert outcome.merged and outcome.changed_files == ["src/feature.py"]
    assert git(s["repo"], "show", "ticket/1:src/feature.py").startswith("def feature")
    body = git(s["repo"], "log", "-1", "--format=%B", ws.branch)
    assert f"Phase: PHASE_IMPLEMENTATION\nTask: {task.id}" in body
    assert git(s["repo"], "log", "-1", "--format=%an", ws.branch).strip() == "impl"
    assert "src/feature.py" not in git(s["repo"], "ls-tree", "-r", "--name-only", "main")  # main untouched


def test_conflicting_merge_is_aborted_and_recorded(setup, uow):
    s = setup
    first, a1 = _task(s, title="one", agent_name="one")
    second, a2 = _task(s, title="two", agent_name="two")
    ws1 = s["service"].prepare(first.id, a1.id)
    ws2 = s["service"].prepare(second.id, a2.id)
    (ws1.path / "app.py").write_text("VALUE = 2\n")
    (ws2.path / "app.py").write_text("VALUE = 3\n")
    assert s["service"].integrate(ws1).merged
    before = git(s["repo"], "rev-parse", "ticket/1").strip()

    outcome = s["service"].integrate(ws2)

    assert not outcome.merged and outcome.conflicts == ["app.py"]
    assert git(s["repo"], "rev-parse", "ticket/1").strip() == before
    assert git(s["repo"], "show", f"{ws2.branch}:app.py") == "VALUE = 3\n"  # the work stays on its branch
    with uow:
        events = uow.session.scalars(select(SystemEvent).where(
            SystemEvent.event_type == "workspace.merge_conflict")).all()
        assert [e.payload["files"] for e in events] == [["app.py"]]
        found = uow.session.scalars(select(TaskDiscovery)).all()
    assert [(d.id, d.discovery_type, d.source_task_id) for d in found] == [
        (outcome.discovery_id, "integration_issue", second.id)]
    assert "app.py" in found[0].description and ws2.branch in found[0].description
    # a later, non-conflicting merge still works: the integration worktree was left clean
    third, a3 = _task(s, title="three", agent_name="three")
    ws3 = s["service"].prepare(third.id, a3.id)
    (ws3.path / "NOTES.md").write_text("notes\n")
    assert s["service"].integrate(ws3).merged


def test_broken_or_missing_worktree_is_repaired_not_reused(setup):
    s = setup
    task, agent = _task(s)
    ws = s["service"].prepare(task.id, agent.id)
    (ws.path / "done.txt").write_text("kept\n")
    s["service"].commit(ws, "partial work")

    # A crash wiped the worktree's git link: the folder is there but broken.
    (ws.path / ".git").unlink()
    again = s["service"].prepare(task.id, agent.id)
    assert again.repaired and (again.path / "done.txt").read_text() == "kept\n"
    assert git(again.path, "symbolic-ref", "--short", "HEAD").strip() == ws.branch
    assert list(again.path.parent.glob(f"{again.path.name}.broken-*"))  # set aside for a human

    # Deleted entirely: recreated from the branch.
    import shutil
    shutil.rmtree(again.path)
    third = s["service"].prepare(task.id, agent.id)
    assert third.repaired and (third.path / "done.txt").exists()
    # Healthy: reused as is.
    assert not s["service"].prepare(task.id, agent.id).repaired


def test_reported_paths_are_confined_to_the_worktree(setup, tmp_path):
    s = setup
    task, agent = _task(s)
    ws = s["service"].prepare(task.id, agent.id)
    (ws.path / "docs").mkdir()
    assert ws.relative("docs/x.md") == "docs/x.md"
    assert ws.confine("docs") == (ws.path / "docs").resolve()
    for bad in ("../repo/app.py", "/etc/passwd", "docs/../../x", ""):
        with pytest.raises(InvalidInput):
            ws.confine(bad)
    (tmp_path / "secret.txt").write_text("s")
    (ws.path / "link").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(InvalidInput, match="outside"):
        ws.confine("link")


def test_project_without_repository_is_refused(uow, project, tmp_path):
    ticket = TicketService(uow).create_ticket(project.id, "t")
    task = QueueService(uow).create_task(ticket.id, "PHASE_DESIGN", "d")
    agent = AgentService(uow).register_agent("a")
    with pytest.raises(InvalidInput, match="no repository"):
        WorkspaceService(uow, root=tmp_path).prepare(task.id, agent.id)


def test_a_merge_git_refuses_without_a_conflict_is_a_failure_with_gits_words_not_a_conflict(setup, uow):
    """An untracked file in the integration worktree blocks the merge; git says so and nothing conflicts
    (this was reported as a conflict with no files, git's words thrown away)."""
    s = setup
    task, agent = _task(s)
    ws = s["service"].prepare(task.id, agent.id)
    (ws.path / "feature.py").write_text("x = 1\n")
    target = s["service"].integration_worktree(s["repo"], 1)
    (target / "feature.py").write_text("in the way\n")
    before = git(s["repo"], "rev-parse", "ticket/1").strip()

    outcome = s["service"].integrate(ws, summary="Add the feature")

    assert not outcome.merged and outcome.conflicts == [] and outcome.discovery_id is None
    assert "untracked working tree files would be overwritten" in outcome.error
    assert git(s["repo"], "rev-parse", "ticket/1").strip() == before
    assert git(s["repo"], "show", f"{ws.branch}:feature.py") == "x = 1\n"  # the work is on its branch
    with uow:
        kinds = [e.event_type for e in uow.session.scalars(select(SystemEvent)).all()]
        failed = uow.session.scalars(select(SystemEvent).where(
            SystemEvent.event_type == "workspace.merge_failed")).one()
        assert "workspace.merge_conflict" not in kinds and uow.session.scalars(select(TaskDiscovery)).all() == []
    assert "feature.py" in failed.payload["git"]


def _count_git(monkeypatch) -> list[list[str]]:
    """Record every git process the workspace service starts, in the order they start (those it
    waits for and those it starts beside another: every ``subprocess.run`` starts a ``Popen``)."""
    calls: list[list[str]] = []
    real_popen = subprocess.Popen

    class CountingPopen(real_popen):
        def __init__(self, argv, *args, **kwargs):
            if argv and argv[0] == "git":
                calls.append(list(argv[1:3]))
            super().__init__(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", CountingPopen)
    return calls


def test_a_task_path_starts_few_git_processes(setup, monkeypatch):
    """prepare + integrate + the gate's look-up: 8 git processes for a new ticket (27 before git's
    files were read for branch, worktree and HEAD checks), of which two run beside another (the
    integration worktree's add beside the agent's, the diff listing the merged files beside the
    merge): the task waits for 6, as many as the benchmark's plain git loop. Then 4 when the runtime
    has just seen the worktree dirty, and none for a look-up of a healthy worktree."""
    s = setup
    task, agent = _task(s)
    calls = _count_git(monkeypatch)
    ws = s["service"].prepare(task.id, agent.id)
    (ws.path / "feature.py").write_text("x = 1\n")
    outcome = s["service"].integrate(ws, summary="Add the feature")
    assert outcome.merged and outcome.path == s["service"].integration_path(s["repo"], 1)
    assert outcome.changed_files == ["feature.py"]
    assert s["service"].integration_worktree(s["repo"], 1) == outcome.path
    assert [c[0] for c in calls] == ["branch", "worktree", "worktree",  # ticket branch; integration + agent's
                                     "add", "status", "commit",        # the agent's leftovers
                                     "diff", "merge"]                  # listed beside the merge
    assert outcome.commit == git(outcome.path, "rev-parse", "HEAD").strip()
    calls.clear()
    assert s["service"].integration_worktree(s["repo"], 1) == outcome.path
    assert calls == []
    calls.clear()
    (ws.path / "second.py").write_text("y = 2\n")
    second = s["service"].integrate(ws, summary="Add more", dirty=True)
    assert second.merged and second.changed_files == ["second.py"]
    # no status of the agent's worktree, nor of the integration worktree (no merge was interrupted)
    assert [c[0] for c in calls] == ["add", "commit", "diff", "merge"]
    assert git(outcome.path, "log", "-1", "--format=%s", "HEAD^2") == "Add more\n"


def test_a_branch_merged_already_is_found_merged_without_a_new_commit(setup):
    s = setup
    task, agent = _task(s)
    ws = s["service"].prepare(task.id, agent.id)
    (ws.path / "feature.py").write_text("x = 1\n")
    first = s["service"].integrate(ws, summary="Add the feature")
    again = s["service"].integrate(ws, summary="Add the feature")
    assert again.merged and again.commit == first.commit
    assert git(first.path, "rev-list", "--count", "HEAD").strip() == "3"  # initial, agent's, one merge


def test_a_change_seen_by_the_runtime_but_gone_commits_nothing_and_fails_nothing(setup):
    s = setup
    task, agent = _task(s)
    ws = s["service"].prepare(task.id, agent.id)
    assert s["service"].commit(ws, "nothing here", ) is None
    assert s["service"]._commit_all(ws, "stale news", dirty=True) is False


def test_a_worktree_switched_to_another_branch_is_not_taken_for_healthy(setup):
    s = setup
    task, agent = _task(s)
    ws = s["service"].prepare(task.id, agent.id)
    git(ws.path, "checkout", "-q", "-b", "elsewhere")
    again = s["service"].prepare(task.id, agent.id)
    assert again.repaired
    assert git(again.path, "symbolic-ref", "--short", "HEAD").strip() == ws.branch


def test_finding_an_existing_integration_worktree_does_not_wait_for_the_repository_lock(setup):
    """The loop looks the ticket's merged worktree up after every task; it waited for an agent's
    ``git worktree add``, which holds the repository's lock."""
    import threading
    import time

    s = setup
    service, repo = s["service"], s["repo"]
    first = service.integration_worktree(repo, s["ticket"].id)
    held, release = threading.Event(), threading.Event()

    def hold_the_lock():
        with service._lock(f"repo-{slug(str(repo.resolve()), 80)}"):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert held.wait(5)
        started = time.monotonic()
        assert service.integration_worktree(repo, s["ticket"].id) == first
        assert time.monotonic() - started < 2  # the lock is held for 10 s
    finally:
        release.set()
        holder.join()
