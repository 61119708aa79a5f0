"""Four real processes drain 2,000 tasks: every task is claimed exactly once, on both backends."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from phaseloom.db.engine import Database
from phaseloom.db.models import SystemEvent, Task, Ticket
from phaseloom.db.models.base import utcnow
from phaseloom.domain.priorities import Priority, claim_score
from phaseloom.services.agents import AgentService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork
from tests.queue.together import run_together

TASKS = 2_000
WORKERS = 4
PRIORITIES = list(Priority)


def seed_tasks(db: Database, ticket_id: int, count: int, phase_id: str = "PHASE_REQUIREMENTS") -> list[int]:
    """Queue ``count`` ready tasks in one bulk insert (the service path is not what is under test)."""
    with db.engine.connect() as conn:
        ticket = conn.execute(select(Ticket).where(Ticket.id == ticket_id)).one()
    now = utcnow()
    rows = []
    for n in range(count):
        priority = PRIORITIES[n % len(PRIORITIES)]
        rows.append(dict(
            ticket_id=ticket.id, project_id=ticket.project_id, workflow_id=ticket.workflow_id, phase_id=phase_id,
            title=f"task {n}", priority=priority.value, score=claim_score(priority, now.timestamp() - n),
            created_at=now, next_attempt_at=now, required_capabilities=[],
        ))
    with db.engine.begin() as conn:
        conn.execute(insert(Task), rows)
        return list(conn.scalars(select(Task.id).where(Task.ticket_id == ticket.id).order_by(Task.id)))


def drain(url: str, agent_id: str, log_path: str) -> None:
    """Worker process: claim and complete until the queue is empty, logging each claim as it happens."""
    db = Database.connect(url)
    queue = QueueService(UnitOfWork(db))
    with open(log_path, "a", buffering=1) as log:
        while (task := queue.claim_next_task(agent_id)) is not None:
            log.write(f"{task.id}\n")
            queue.complete_task(task.id, agent_id, {"by": agent_id})
    db.dispose()


@pytest.mark.slow
def test_four_processes_claim_every_task_exactly_once(db, uow, project, tmp_path: Path):
    ticket = TicketService(uow).create_ticket(project.id, "bulk")
    seeded = seed_tasks(db, ticket.id, TASKS)
    agents = [AgentService(uow).register_agent(f"worker-{n}").id for n in range(WORKERS)]
    logs = run_together(drain, db.url, agents, tmp_path, timeout=120)

    claims = {agent: [int(line) for line in path.read_text().split()] for agent, path in logs.items()}
    per_task = Counter(task_id for ids in claims.values() for task_id in ids)
    assert sorted(per_task) == seeded
    assert set(per_task.values()) == {1}
    assert all(claims[agent] for agent in agents), {a: len(ids) for a, ids in claims.items()}

    with uow:
        rows = uow.session.execute(select(Task.id, Task.status, Task.assigned_agent_id)).all()
        assigned_events = Counter(uow.session.scalars(
            select(SystemEvent.entity_id).where(SystemEvent.event_type == "task.assigned")))
        completed_events = uow.session.scalar(
            select(func.count()).select_from(SystemEvent).where(SystemEvent.event_type == "task.completed"))
    owner = {task_id: agent for agent, ids in claims.items() for task_id in ids}
    assert {(r.id, r.status, r.assigned_agent_id) for r in rows} == {(t, "completed", owner[t]) for t in seeded}
    assert assigned_events == Counter({str(t): 1 for t in seeded})
    assert completed_events == TASKS
