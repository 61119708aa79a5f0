"""What phaseloom undoes or removes in a worktree is snapshotted first (real git, a real database)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from phaseloom.db.models import Project, SystemEvent, Task
from phaseloom.db.models.base import utcnow
from phaseloom.domain.errors import InvalidInput
from phaseloom.orchestrator.execution import record_integration_issue
from phaseloom.queue import QueueService
from phaseloom.services.agents import AgentService
from phaseloom.services.snapshots import SnapshotService
from phaseloom.services.tickets import TicketService
from phaseloom.workspaces import Retention, WorkspaceService, WorktreeKeeper, git, snapshots, unsaved_changes
from tests.workspaces.test_workspaces import make_repo


@pytest.fixture
def db_url(tmp_path, sqlite_template):
    import shutil

    path = tmp_path / "phaseloom.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def s(uow, project, tmp_path):
    repo = make_repo(tmp_path / "repo")
    with uow:
        uow.session.get(Project, project.id).repo_path = str(repo)
    ticket = TicketService(uow).create_ticket(project.id, "Add feature")
    root = tmp_path / "workspaces"
    return dict(repo=repo, ticket=ticket, queue=QueueService(uow), agents=AgentService(uow), root=root,
                service=WorkspaceService(uow, root=root, report_conflict=record_integration_issue),
                keeper=WorktreeKeeper(uow, root=root))


def _task(s, title="build", agent_name="impl"):
    task = s["queue"].create_task(s["ticket"].id, "PHASE_IMPLEMENTATION", title)
    agent = s["agents"].register_agent(agent_name, agent_id=f"{agent_name}-a1b2c3")
    return task, agent


def _finish(uow, task_id: int, status: str, ago: timedelta) -> None:
    with uow:
        task = uow.session.get(Task, task_id)
        task.status, task.completed_at = status, utcnow() - ago


def test_a_merge_aborted_on_a_conflict_leaves_a_snapshot_of_the_conflicted_state(s):
    first, a1 = _task(s, "one", "one")
    second, a2 = _task(s, "two", "two")
    ws1, ws2 = s["service"].prepare(first.id, a1.id), s["service"].prepare(second.id, a2.id)
    (ws1.path / "app.py").write_text("VALUE = 2\n")
    (ws2.path / "app.py").write_text("VALUE = 3\n")
    assert s["service"].integrate(ws1).merged

    outcome = s["service"].integrate(ws2)

    assert not outcome.merged and outcome.conflicts == ["app.py"]
    [snap] = snapshots(s["repo"], second.id)
    assert "aborted on a conflict in app.py" in snap.reason and snap.index is None
    conflicted = git(s["repo"], "show", f"{snap.commit}:app.py")
    assert "<<<<<<<" in conflicted and "VALUE = 2" in conflicted and "VALUE = 3" in conflicted
    assert not unsaved_changes(outcome.path)  # the merge was aborted after the snapshot


def test_an_interrupted_merge_is_snapshotted_before_its_worktree_is_reset(s):
    task, agent = _task(s)
    ws = s["service"].prepare(task.id, agent.id)
    (ws.path / "feature.py").write_text("x = 1\n")
    target = s["service"].integration_worktree(s["repo"], 1)
    (target / "app.py").write_text("half merged\n")  # what a merge killed midway left
    (s["root"] / "_locks" / f"repo-ticket-{ws.ticket_id}.merging").touch()

    assert s["service"].integrate(ws, summary="Add the feature").merged

    [snap] = snapshots(s["repo"], task.id)
    assert snap.reason.startswith("interrupted merge") and git(s["repo"], "show", f"{snap.commit}:app.py") == "half merged\n"


def test_a_worktree_on_the_wrong_branch_is_snapshotted_before_it_is_set_aside(s):
    task, agent = _task(s)
    ws = s["service"].prepare(task.id, agent.id)
    git(ws.path, "checkout", "-q", "-b", "elsewhere")
    (ws.path / "stray.txt").write_text("written on the wrong branch\n")

    repaired = s["service"].prepare(task.id, agent.id)

    assert repaired.repaired
    [snap] = snapshots(s["repo"], task.id)
    assert snap.reason.startswith("repair") and git(s["repo"], "show", f"{snap.commit}:stray.txt").startswith("written")


def test_an_abandoned_worktree_is_saved_then_made_clean_but_a_new_holder_s_is_left_alone(s, uow):
    task, agent = _task(s)
    ws = s["service"].prepare(task.id, agent.id)
    (ws.path / "app.py").write_text("VALUE = 'mid-edit'\n")
    (ws.path / "new.txt").write_text("untracked\n")
    (ws.path / "keep.log").write_text("ignored? no: nothing ignores it\n")
    lock = ws.path / git(ws.path, "rev-parse", "--git-path", "index.lock").strip()
    lock.write_text("")  # a git add the agent ran when it was killed

    [snap] = s["keeper"].save_abandoned(task.id, "lease lost")

    assert not unsaved_changes(ws.path) and (ws.path / "app.py").read_text() == "VALUE = 1\n"
    assert git(s["repo"], "show", f"{snap.commit}:new.txt") == "untracked\n"
    with uow:
        [event] = uow.session.scalars(select(SystemEvent).where(SystemEvent.event_type == "workspace.snapshot")).all()
    assert event.payload["n"] == 1 and event.payload["files"] == 3
    # Claimed again by the same agent, working in this folder: not touched.
    claimed = s["queue"].claim_next_task(agent.id, lease_seconds=60)
    assert claimed.id == task.id
    (ws.path / "app.py").write_text("VALUE = 'the new run'\n")
    assert s["keeper"].save_abandoned(task.id, "late reap") == []
    assert (ws.path / "app.py").read_text() == "VALUE = 'the new run'\n"


def test_retention_removes_finished_worktrees_after_their_age_snapshotting_unsaved_work(s, uow):
    old_done, a1 = _task(s, "old", "one")
    young_done, a2 = _task(s, "young", "two")
    running, a3 = _task(s, "running", "three")
    paths = {t.id: s["service"].prepare(t.id, a.id).path for t, a in ((old_done, a1), (young_done, a2), (running, a3))}
    (paths[old_done.id] / "left.txt").write_text("never committed\n")
    _finish(uow, old_done.id, "completed", timedelta(days=8))
    _finish(uow, young_done.id, "failed", timedelta(days=1))

    assert s["keeper"].clean_finished(Retention.parse("keep")) == []
    removed = s["keeper"].clean_finished(Retention.parse("7d"))

    assert removed == [paths[old_done.id]] and not paths[old_done.id].exists()
    assert paths[young_done.id].exists() and paths[running.id].exists()
    [snap] = snapshots(s["repo"], old_done.id)
    assert snap.reason.startswith("workspace retention")
    assert git(s["repo"], "show", f"{snap.commit}:left.txt") == "never committed\n"
    assert git(s["repo"], "branch", "--list", f"*-t{old_done.id}").strip()  # the branch stays
    assert s["keeper"].clean_finished(Retention.parse("on_finish")) == [paths[young_done.id]]
    assert snapshots(s["repo"], young_done.id) == []  # clean and on its branch: nothing to save
    assert paths[running.id].exists()


def test_retention_settings_are_checked():
    assert Retention.parse("12h").after == timedelta(hours=12) and Retention.parse("keep").keep_forever
    with pytest.raises(InvalidInput, match="workspace_retention 'soon'"):
        Retention.parse("soon")


def test_restore_through_the_service_refuses_what_it_cannot_do_and_changes_nothing(s, uow, tmp_path):
    task, agent = _task(s)
    ws = s["service"].prepare(task.id, agent.id)
    service = SnapshotService(uow)
    assert service.list(task.id) == []
    with pytest.raises(InvalidInput, match="has no snapshots"):
        service.restore(task.id)
    (ws.path / "app.py").write_text("VALUE = 'saved'\n")
    s["keeper"].save_abandoned(task.id, "lease lost")
    (ws.path / "mine.txt").write_text("the user's\n")
    with pytest.raises(InvalidInput, match="unsaved changes"):
        service.restore(task.id)
    assert (ws.path / "app.py").read_text() == "VALUE = 1\n" and (ws.path / "mine.txt").exists()
    (ws.path / "mine.txt").unlink()

    done = service.restore(task.id, 1)

    assert done.into_worktree and done.path == ws.path and (ws.path / "app.py").read_text() == "VALUE = 'saved'\n"
    other = make_repo(tmp_path / "other")
    with pytest.raises(InvalidInput, match="another repository"):
        service.restore(task.id, to=other)
    s["service"].remove(ws)
    with pytest.raises(InvalidInput, match="is gone; restore into a folder with --to PATH"):
        service.restore(task.id, 1)
    assert service.restore(task.id, 1, to=tmp_path / "out").path == (tmp_path / "out").resolve()
    assert (tmp_path / "out" / "app.py").read_text() == "VALUE = 'saved'\n"


def test_work_its_agent_reported_done_is_saved_but_left_for_the_merge_that_takes_it_over(s, uow):
    task, agent = _task(s)
    ws = s["service"].prepare(task.id, agent.id)
    (ws.path / "done.py").write_text("DONE = True\n")  # reported done, its worker gone before the merge
    with uow:
        row = uow.session.get(Task, task.id)
        row.status, row.assigned_agent_id, row.awaiting_merge = "completed", agent.id, True

    [snap] = s["keeper"].save_abandoned(task.id, "lease lost", ended_agent=agent.id)

    assert (ws.path / "done.py").read_text() == "DONE = True\n"
    assert git(s["repo"], "show", f"{snap.commit}:done.py") == "DONE = True\n"
    assert s["service"].integrate(ws).merged and git(s["repo"], "show", "ticket/1:done.py") == "DONE = True\n"


def test_retention_removes_the_integration_worktree_of_a_ticket_done_long_enough_saving_what_only_it_holds(s, uow):
    from phaseloom.db.models import Ticket

    task, agent = _task(s)
    ws = s["service"].prepare(task.id, agent.id)
    (ws.path / "feature.py").write_text("DONE = True\n")
    s["service"].integrate(ws, summary="the feature")
    integration = s["service"].integration_path(s["repo"], s["ticket"].id)
    assert integration.is_dir()
    (integration / "note.txt").write_text("written in the integration worktree by hand\n")
    _finish(uow, task.id, "completed", timedelta(days=8))

    assert s["keeper"].clean_finished(Retention.parse("7d")) == [ws.path]  # the ticket is not done yet
    assert integration.is_dir()
    with uow:
        uow.session.get(Ticket, s["ticket"].id).completed_at = utcnow() - timedelta(days=2)
    assert s["keeper"].clean_finished(Retention.parse("7d")) == []  # done, but not long enough
    removed = s["keeper"].clean_finished(Retention.parse("1d"))

    assert removed == [integration] and not integration.exists()
    [snap] = snapshots(s["repo"], task.id)
    assert git(s["repo"], "show", f"{snap.commit}:note.txt").startswith("written in the integration")
    assert git(s["repo"], "show", f"ticket/{s['ticket'].id}:feature.py") == "DONE = True\n"  # the branch stays


def test_retention_removes_a_folder_a_repair_set_aside_only_once_its_state_is_on_a_ref(s):
    import time

    task, agent = _task(s)
    ws = s["service"].prepare(task.id, agent.id)
    git(ws.path, "checkout", "-q", "-b", "elsewhere")
    (ws.path / "stray.txt").write_text("written on the wrong branch\n")
    s["service"].prepare(task.id, agent.id)  # repaired: the folder is set aside, snapshotted first
    [saved_aside] = ws.path.parent.glob(f"{ws.path.name}.broken-*[0-9]")
    assert saved_aside.with_name(f"{saved_aside.name}.saved").is_file()
    # A folder set aside without its state on a ref (no note): it may hold the only copy of something.
    unknown = ws.path.with_name(f"{ws.path.name}.broken-{int(time.time() * 1000) - 10_000}")
    unknown.mkdir()
    (unknown / "only-copy.txt").write_text("precious\n")

    assert s["keeper"].clean_finished(Retention.parse("1d")) == []  # too young
    assert s["keeper"].clean_finished(Retention.parse("on_finish")) == [saved_aside]

    assert not saved_aside.exists() and not saved_aside.with_name(f"{saved_aside.name}.saved").exists()
    assert (unknown / "only-copy.txt").read_text() == "precious\n" and ws.path.is_dir()
    [snap] = snapshots(s["repo"], task.id)
    assert git(s["repo"], "show", f"{snap.commit}:stray.txt").startswith("written")
