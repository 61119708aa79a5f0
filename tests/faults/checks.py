"""Assertions shared by the fault tests and the soak benchmark: nothing orphaned, run once, no event lost,
agents' own reports merged."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import select

from phaseloom.db.engine import Database
from phaseloom.db.models import SystemEvent, Task, Ticket
from phaseloom.db.unit_of_work import UnitOfWork
from tests.faults.support import phase_count, runs_per_task
from tests.runtimes.agent_e2e import git


def replay_events(base: str, token: str, since: int = 0, limit: int = 500) -> list[dict]:
    """Every event after ``since`` through ``GET /api/events?since=`` (the outbox replay), page by page."""
    events: list[dict] = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        while True:
            page = http.get("/api/events", params={"since": since, "limit": limit})
            assert page.status_code == 200, page.text
            body = page.json()
            events += body["events"]
            since = body["last_id"]
            if not body["has_more"]:
                return events


def assert_work_accounted_for(db: Database) -> dict[int, tuple[int, int, str]]:
    """Every ticket DONE through all its phases; every task completed, run once plus its recorded retries."""
    runs = runs_per_task(db)
    with UnitOfWork(db, readonly=True) as uow:
        phases = Counter(uow.session.scalars(select(Ticket.phase_id)))
        per_ticket = Counter(uow.session.scalars(select(Task.ticket_id)))
    assert set(phases) == {"PHASE_DONE"}, phases
    assert set(per_ticket.values()) == {phase_count(db)}, per_ticket  # one task per phase, none duplicated
    orphaned = {t: r for t, r in runs.items() if r[2] != "completed"}
    assert not orphaned, orphaned
    wrong = {t: r for t, r in runs.items() if r[0] != r[1] + 1}
    assert not wrong, f"tasks not run exactly once plus their retries (started, retries, status): {wrong}"
    return runs


def assert_outbox_consistent(db: Database, replayed: list[dict]) -> None:
    """The replay is exactly the table (no loss, no duplicate, in id order) and matches the state it records."""
    with UnitOfWork(db, readonly=True) as uow:
        stored = list(uow.session.scalars(select(SystemEvent.id).order_by(SystemEvent.id)))
    assert [e["id"] for e in replayed] == stored
    assert_events_once(db)


def assert_events_once(db: Database) -> None:
    """Each ticket moved once per phase, each task created and completed once (and merged once, if merged)."""
    with UnitOfWork(db, readonly=True) as uow:
        kinds = Counter((e.event_type, e.entity_id)
                        for e in uow.session.execute(select(SystemEvent.event_type, SystemEvent.entity_id)))
        tickets = list(uow.session.scalars(select(Ticket.id)))
        tasks = list(uow.session.scalars(select(Task.id)))
    phases = phase_count(db)
    for ticket in tickets:
        assert kinds[("ticket.status_transitioned", str(ticket))] == phases, ticket
    for task in tasks:
        assert kinds[("task.created", str(task))] == 1 and kinds[("task.completed", str(task))] == 1, task
        assert kinds[("workspace.merged", str(task))] <= 1, task


def assert_reported_and_merged(db: Database, repo: Path) -> None:
    """Every task was completed by its agent's own ``complete_task`` (``tests/faults/mcp_agent.py``'s words,
    not the runtime's) and its commit merged into its ticket's branch once; each branch ends with the
    ``hello.txt`` of its ticket's last task. Call it once the workers have stopped (their merges done)."""
    with UnitOfWork(db, readonly=True) as uow:
        tasks = list(uow.session.execute(select(Task.id, Task.ticket_id, Task.result).order_by(Task.id)))
        events = list(uow.session.execute(select(SystemEvent.id, SystemEvent.event_type, SystemEvent.entity_id)
                                          .where(SystemEvent.event_type.like("workspace.%")).order_by(SystemEvent.id)))
    by_ticket: dict[int, list[int]] = {}
    for task in tasks:
        assert (task.result or {}).get("summary") == f"wrote hello.txt for task {task.id}", (task.id, task.result)
        by_ticket.setdefault(task.ticket_id, []).append(task.id)
    merged = Counter(e.entity_id for e in events if e.event_type == "workspace.merged")
    for ticket, ids in by_ticket.items():
        assert all(merged[str(t)] == 1 for t in ids), (ticket, merged)
        subjects = git(repo, "log", "--format=%s", f"ticket/{ticket}").splitlines()
        assert all(subjects.count(f"wrote hello.txt for task {t}") == 1 for t in ids), (ticket, subjects)
        assert git(repo, "show", f"ticket/{ticket}:hello.txt") == f"hello from task {ids[-1]}\n", ticket
