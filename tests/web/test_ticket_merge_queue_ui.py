"""The ticket page shows the ticket's merge-queue entries: waiting with its place, landed, rejected with why."""

from __future__ import annotations

from phaseloom.db.models import Ticket
from phaseloom.db.models.merge_queue import MergeQueueEntry
from phaseloom.db.unit_of_work import UnitOfWork


def test_the_ticket_page_shows_its_queue_entries_and_why_one_was_rejected(page, site):
    server, demo, db = site
    with UnitOfWork(db) as uow:
        ticket = uow.session.get(Ticket, demo.testing_ticket)
        common = dict(project_id=ticket.project_id, repo_path="/repos/demo", into="main", from_phase_id="PHASE_REVIEW")
        uow.session.add_all([
            MergeQueueEntry(ticket_id=ticket.id, branch=f"ticket/{ticket.id}",
                            status="rejected", attempts=1, conflicts=["src/a.py", "README.md"],
                            reason="conflicts in src/a.py, README.md with main", task_id=demo.running_task, **common),
            MergeQueueEntry(ticket_id=ticket.id, branch=f"ticket/{ticket.id}", status="queued", **common),
        ])

    page.goto(f"{server.url}/ticket?id={demo.testing_ticket}")
    page.wait_for_selector("#ticket[data-loaded]")
    listed = page.locator("#h-merge-queue + table").inner_text()
    assert "queued, next to be tested" in listed
    assert "rejected: conflicts in src/a.py, README.md with main" in listed
    assert "conflicts: src/a.py, README.md" in listed and f"#{demo.running_task}" in listed
    assert page.locator("[data-merge-status=rejected]").count() == 1
