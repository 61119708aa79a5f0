"""The merge queue with real git on both databases: it lands only tested commits, and sends back what
would break main (a failing check on the merged result, a conflict) with a task that says why."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from phaseloom.db.models import SystemEvent, Task, TaskDiscovery
from phaseloom.services.merge_queue import MergeQueueService
from phaseloom.services.progress import ProgressService
from phaseloom.services.tickets import TicketService
from tests.services.merge_queue_support import (
    commit_on,
    finished_ticket,
    git,
    landing_project,
    queue_moves_of_main,
    commits_checked,
)


def merge_events(uow) -> list[tuple[str, int, dict]]:
    with uow:
        rows = uow.session.execute(select(SystemEvent.event_type, SystemEvent.ticket_id, SystemEvent.payload)
                                   .where(SystemEvent.event_type.like("merge.%")).order_by(SystemEvent.id)).all()
    return [(kind, ticket_id, payload) for kind, ticket_id, payload in rows]


def tasks_of(uow, ticket_id: int) -> list[Task]:
    with uow:
        return list(uow.session.scalars(select(Task).where(Task.ticket_id == ticket_id).order_by(Task.id)))


def test_two_tickets_that_pass_alone_but_break_together(uow, tmp_path):
    project, repo, log = landing_project(uow, tmp_path)
    first, why = finished_ticket(uow, project, repo, {"a.txt": "1\n"}, "raise a")
    assert why.startswith("gate of PHASE_REVIEW passed; queued to land on main")
    second, _ = finished_ticket(uow, project, repo, {"b.txt": "1\n"}, "raise b")
    initial = git(repo, "rev-parse", "main").strip()
    tickets, queue = TicketService(uow), MergeQueueService(uow, root=tmp_path / "workspaces")
    assert [(e.ticket_id, e.position, e.status) for e in queue.entries()] == [(first, 1, "queued"), (second, 2, "queued")]
    # Waiting: neither is done yet, and checking the gate again queues nothing twice.
    assert tickets.get(first).phase_id == "PHASE_REVIEW"
    assert ProgressService(uow).check_and_progress(first).reason.startswith("waiting in the merge queue")

    landed = queue.step()
    assert (landed.ticket_id, landed.status) == (first, "landed")
    main = git(repo, "rev-parse", "main").strip()
    assert main != initial and git(repo, "show", "main:a.txt") == "1\n"
    assert tickets.get(first).phase_id == "PHASE_DONE" and tickets.get(first).is_done
    assert (repo / "a.txt").read_text() == "1\n" and not git(repo, "status", "--porcelain")  # the checkout followed

    rejected = queue.step()
    assert (rejected.ticket_id, rejected.status) == (second, "rejected")
    assert git(repo, "rev-parse", "main").strip() == main  # main untouched by the failing merge
    assert tickets.get(second).phase_id == "PHASE_IMPLEMENTATION"
    [fix] = [t for t in tasks_of(uow, second) if t.phase_id == "PHASE_IMPLEMENTATION"]
    assert fix.status == "pending" and fix.title.startswith("integration_issue:")
    assert "FAILED: a + b = 2, more than 1" in fix.description and "exited 3" in fix.description
    assert "git merge main" in fix.description
    with uow:
        [found] = uow.session.scalars(select(TaskDiscovery).where(TaskDiscovery.ticket_id == second)).all()
    assert found.discovery_type == "integration_issue" and found.spawned_task_ids == [fix.id]
    assert queue.step() is None  # nothing waits any more

    # main only ever moved to a commit the check ran on; the rejected merge was tested too, never landed.
    assert queue_moves_of_main(repo) == [main] and set(queue_moves_of_main(repo)) <= set(commits_checked(log))
    assert len(commits_checked(log)) == 2 and commits_checked(log)[1] not in git(repo, "rev-list", "main").split()

    events = merge_events(uow)
    assert [(kind, ticket) for kind, ticket, _ in events] == [
        ("merge.queued", first), ("merge.queued", second), ("merge.tested", first), ("merge.landed", first),
        ("merge.tested", second), ("merge.rejected", second)]
    assert events[2][2]["passed"] is True and events[2][2]["commit"] == main
    assert events[4][2]["passed"] is False and events[4][2]["exit_code"] == 3
    assert "FAILED: a + b = 2" in events[5][2]["output"] and events[5][2]["task_id"] == fix.id
    finished = {e.ticket_id: e for e in queue.entries(finished=True)}
    assert finished[second].failed_check[-2:] == [str(tmp_path / "check.py"), str(log)]
    assert finished[first].landed_commit == main and finished[first].tested_commit == main


def test_a_conflict_sends_the_ticket_back_with_a_task_naming_the_files(uow, tmp_path):
    project, repo, log = landing_project(uow, tmp_path)
    first, _ = finished_ticket(uow, project, repo, {"a.txt": "1\n"}, "a is one")
    second, _ = finished_ticket(uow, project, repo, {"a.txt": "0\n# zero, said the other\n", "c.txt": "new\n"},
                                "a stays zero")
    queue = MergeQueueService(uow, root=tmp_path / "workspaces")
    assert queue.step().status == "landed"
    main = git(repo, "rev-parse", "main").strip()
    outcome = queue.step()
    assert outcome.status == "rejected" and "conflicts in a.txt" in outcome.reason
    assert git(repo, "rev-parse", "main").strip() == main and len(commits_checked(log)) == 1  # no check ran
    [fix] = [t for t in tasks_of(uow, second) if t.phase_id == "PHASE_IMPLEMENTATION"]
    assert "conflicts in these files:\n- a.txt\n" in fix.description and "c.txt" not in fix.description
    [entry] = [e for e in queue.entries(finished=True) if e.ticket_id == second]
    assert entry.conflicts == ["a.txt"] and entry.task_id == fix.id
    with uow:
        description = uow.session.scalar(select(TaskDiscovery.description).where(TaskDiscovery.ticket_id == second))
    assert "a.txt" in description
    # The scratch worktree is left clean for the next entry: a retried ticket lands.
    commit_on(repo, f"ticket/{second}", {"a.txt": "1\n", "c.txt": "new\n"}, "merged main, kept its a")
    assert TicketService(uow).get(second).phase_id == "PHASE_IMPLEMENTATION"


@pytest.mark.parametrize("strategy", ["merge", "squash", "rebase"])
def test_main_that_moves_during_the_test_is_tested_again_never_landed_untested(uow, tmp_path, strategy):
    project, repo, log = landing_project(uow, tmp_path, strategy=strategy, person_moves_main=True)
    ticket, _ = finished_ticket(uow, project, repo, {"a.txt": "1\n"}, "raise a")
    queue = MergeQueueService(uow, root=tmp_path / "workspaces")

    moved = queue.step()  # the check passes, but a person's commit landed on main meanwhile
    assert moved.status == "queued" and "main moved after the test" in moved.reason
    assert git(repo, "log", "-1", "--format=%s", "main").strip() == "a person's commit"
    assert queue_moves_of_main(repo) == []
    [entry] = queue.entries()
    assert (entry.status, entry.attempts, entry.tested_commit) == ("queued", 1, commits_checked(log)[0])

    landed = queue.step()
    assert landed.status == "landed"
    main = git(repo, "rev-parse", "main").strip()
    assert queue_moves_of_main(repo) == [main] and main == commits_checked(log)[1]
    assert commits_checked(log)[0] not in git(repo, "rev-list", "main").split()  # the stale test never landed
    assert git(repo, "show", "main:a.txt") == "1\n"
    assert "a person's commit" in git(repo, "log", "--format=%s", "main")
    parents = git(repo, "rev-list", "--parents", "-1", "main").split()[1:]
    assert len(parents) == (2 if strategy == "merge" else 1)
    assert TicketService(uow).get(ticket).phase_id == "PHASE_DONE"
    [tested_fail, tested_ok] = [p for kind, _, p in merge_events(uow) if kind == "merge.tested"]
    assert tested_fail["passed"] and tested_ok["passed"] and tested_ok["attempt"] == 2


def test_a_project_without_a_repository_stays_with_the_reason(uow, tmp_path):
    project, repo, _ = landing_project(uow, tmp_path)
    from phaseloom.db.models import Project

    with uow:
        uow.session.get(Project, project.id).repo_path = ""
    ticket = TicketService(uow).create_ticket(project.id, "nowhere to land")
    TicketService(uow).transition(ticket.id, "PHASE_REVIEW", reason="test setup")
    ProgressService(uow).start_ticket(ticket.id)
    from tests.services.gate_support import finish_phase_tasks

    finish_phase_tasks(uow, ticket.id, "PHASE_REVIEW")
    outcome = ProgressService(uow).check_and_progress(ticket.id)
    assert not outcome.moved and "has no repository" in outcome.reason
    assert TicketService(uow).get(ticket.id).phase_id == "PHASE_REVIEW"
    assert MergeQueueService(uow, root=tmp_path / "w").entries() == []


def test_the_board_shows_each_waiting_ticket_with_its_place_in_the_queue(uow, tmp_path):
    from phaseloom.services.dashboard import DashboardService

    project, repo, _ = landing_project(uow, tmp_path)
    first, _ = finished_ticket(uow, project, repo, {"a.txt": "1\n"}, "raise a")
    second, _ = finished_ticket(uow, project, repo, {"c.txt": "c\n"}, "add c")

    def badges() -> dict[int, int | None]:
        columns = DashboardService(uow).board(project.id)["columns"]
        return {card["id"]: card["merge_queue"] for column in columns for card in column["cards"]}

    assert badges() == {first: 1, second: 2}
    MergeQueueService(uow, root=tmp_path / "workspaces").step()
    assert badges() == {first: None, second: 1}


def test_the_ticket_page_shows_each_entry_waiting_landed_or_rejected_with_why(uow, tmp_path):
    from phaseloom.services.dashboard import DashboardService

    project, repo, _ = landing_project(uow, tmp_path)
    first, _ = finished_ticket(uow, project, repo, {"a.txt": "1\n"}, "raise a")
    second, _ = finished_ticket(uow, project, repo, {"b.txt": "1\n"}, "raise b")

    def entries(ticket_id: int) -> list[dict]:
        return DashboardService(uow).ticket_page(ticket_id)["merge_queue"]

    assert [(e["status"], e["position"]) for e in entries(second)] == [("queued", 2)]
    queue = MergeQueueService(uow, root=tmp_path / "workspaces")
    queue.step()
    assert [(e["status"], e["position"]) for e in entries(second)] == [("queued", 1)]
    [landed] = entries(first)
    assert landed["status"] == "landed" and landed["landed_commit"] == git(repo, "rev-parse", "main").strip()
    queue.step()  # a + b together fail the check: rejected, sent back with a task
    [rejected] = entries(second)
    assert rejected["status"] == "rejected" and rejected["position"] is None and rejected["task_id"]
    assert rejected["reason"].startswith("check ") and rejected["reason"].endswith("exited 3") and rejected["failed_check"]


def test_an_entry_a_dead_process_left_testing_is_tested_again_and_lands(uow, tmp_path):
    from phaseloom.db.models.merge_queue import MergeQueueEntry

    project, repo, log = landing_project(uow, tmp_path)
    ticket, _ = finished_ticket(uow, project, repo, {"a.txt": "1\n"}, "raise a")
    with uow:  # as a process killed mid-check leaves it (its scratch worktree half merged, too)
        entry = uow.session.scalar(select(MergeQueueEntry).where(MergeQueueEntry.ticket_id == ticket))
        entry.status, entry.attempts = "testing", 1
    queue = MergeQueueService(uow, root=tmp_path / "workspaces")
    scratch = queue.trials.scratch_path(repo)
    scratch.parent.mkdir(parents=True)
    git(repo, "worktree", "add", "-q", "--detach", str(scratch), "main")
    (scratch / "a.txt").write_text("half written\n")
    (scratch / "stray.txt").write_text("left over\n")

    outcome = queue.step()
    assert outcome.status == "landed"
    assert git(repo, "show", "main:a.txt") == "1\n" and "stray.txt" not in git(repo, "ls-tree", "-r", "main")
    [done] = queue.entries(finished=True)
    assert done.attempts == 2 and git(repo, "rev-parse", "main").strip() in commits_checked(log)


def test_a_ticket_moved_away_while_it_waited_is_dropped_not_landed(uow, tmp_path):
    project, repo, log = landing_project(uow, tmp_path)
    ticket, _ = finished_ticket(uow, project, repo, {"a.txt": "1\n"}, "raise a")
    TicketService(uow).send_back(ticket, "PHASE_IMPLEMENTATION", reason="a person changed their mind",
                                 initiated_by="user")
    before = git(repo, "rev-parse", "main").strip()
    outcome = MergeQueueService(uow, root=tmp_path / "workspaces").step()
    assert outcome.status == "rejected" and "the ticket left PHASE_REVIEW" in outcome.reason
    assert git(repo, "rev-parse", "main").strip() == before and commits_checked(log) == []
    assert TicketService(uow).get(ticket).phase_id == "PHASE_IMPLEMENTATION"
    assert [kind for kind, _, _ in merge_events(uow)] == ["merge.queued", "merge.rejected"]


def test_a_branch_git_cannot_merge_is_rejected_with_what_git_said(uow, tmp_path):
    project, repo, log = landing_project(uow, tmp_path)
    ticket, _ = finished_ticket(uow, project, repo, {"a.txt": "1\n"}, "raise a")
    git(repo, "branch", "-D", f"ticket/{ticket}")  # someone deleted it while it waited
    outcome = MergeQueueService(uow, root=tmp_path / "workspaces").step()
    assert outcome.status == "rejected" and f"branch ticket/{ticket} does not exist" in outcome.reason
    [fix] = [t for t in tasks_of(uow, ticket) if t.phase_id == "PHASE_IMPLEMENTATION"]
    assert f"branch ticket/{ticket} does not exist" in fix.description and commits_checked(log) == []
