"""The ticket page lists the snapshots of its tasks' worktrees (a real Chromium, real git)."""

from __future__ import annotations

from phaseloom.db.models import Project
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.workspaces import WorkspaceService, WorktreeKeeper
from tests.workspaces.test_workspaces import make_repo


def test_the_ticket_page_lists_snapshots_with_the_command_to_restore_each(page, site, tmp_path):
    server, demo, db = site
    with UnitOfWork(db) as uow:
        uow.session.get(Project, demo.project_id).repo_path = str(make_repo(tmp_path / "repo"))
    ws = WorkspaceService(UnitOfWork(db), root=tmp_path / "ws").prepare(demo.running_task, "ana")
    (ws.path / "draft.py").write_text("half written\n")
    # ana still holds the task in the database: as when its worker died and its agent was just ended.
    [saved] = WorktreeKeeper(UnitOfWork(db), root=tmp_path / "ws").save_abandoned(demo.running_task, "lease lost",
                                                                                  ended_agent="ana")

    page.goto(f"{server.url}/ticket?id={demo.testing_ticket}")
    page.wait_for_selector("#ticket[data-loaded]")

    listed = page.locator("#h-snapshots + table").inner_text()
    assert f"#{demo.running_task}" in listed and "lease lost" in listed
    assert f"phaseloom task restore {demo.running_task} 1" in listed and saved.commit[:12] in listed
