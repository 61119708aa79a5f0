"""Assertions shared by the fault tests and the soak benchmark: nothing orphaned, run once, no event lost."""

from __future__ import annotations

from collections import Counter

import httpx
from sqlalchemy import select

from phaseloom.db.engine import Database
from phaseloom.db.models import SystemEvent, Task, Ticket
from phaseloom.services.unit_of_work import UnitOfWork
from tests.faults.support import PHASES, runs_per_task


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
    """Every ticket DONE through all four phases; every task completed, run once plus its recorded retries."""
    runs = runs_per_task(db)
    with UnitOfWork(db, readonly=True) as uow:
        phases = Counter(uow.session.scalars(select(Ticket.phase_id)))
        per_ticket = Counter(uow.session.scalars(select(Task.ticket_id)))
    assert set(phases) == {"PHASE_DONE"}, phases
    assert set(per_ticket.values()) == {len(PHASES)}, per_ticket  # one task per phase, none duplicated
    orphaned = {t: r for t, r in runs.items() if r[2] != "completed"}
    assert not orphaned, orphaned
    wrong = {t: r for t, r in runs.items() if r[0] != r[1] + 1}
    assert not wrong, f"tasks not run exactly once plus their retries (started, retries, status): {wrong}"
    return runs


def assert_outbox_consistent(db: Database, replayed: list[dict]) -> None:
    """The replay is exactly the table (no loss, no duplicate, in id order) and matches the state it records."""
    with UnitOfWork(db, readonly=True) as uow:
        stored = list(uow.session.execute(select(SystemEvent.id, SystemEvent.event_type, SystemEvent.entity_id)
                                          .order_by(SystemEvent.id)))
        tickets = list(uow.session.scalars(select(Ticket.id)))
        tasks = list(uow.session.scalars(select(Task.id)))
    assert [e["id"] for e in replayed] == [s.id for s in stored]
    kinds = Counter((s.event_type, s.entity_id) for s in stored)
    for ticket in tickets:
        assert kinds[("ticket.status_transitioned", str(ticket))] == len(PHASES), ticket
    for task in tasks:
        assert kinds[("task.created", str(task))] == 1 and kinds[("task.completed", str(task))] == 1, task
